"""What `RedisEntityStateStore` does beyond the shared contract: key layout, round trips,
marker expiry, purging, and failing fast when Redis is away."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis
from redis.crc import key_slot

from payguard.adapters.kv.redis import MARKER_TTL_SECONDS, RedisEntityStateStore
from payguard.core.errors import BackendUnavailable
from payguard.risk.interfaces import EntityState


@pytest.fixture
def client(redis_url: str) -> Iterator[redis.Redis]:
    raw = redis.Redis.from_url(redis_url)
    yield raw
    raw.close()


@pytest.fixture
def store(redis_url: str, namespace: str) -> Iterator[RedisEntityStateStore]:
    redis_store = RedisEntityStateStore(redis_url, namespace=namespace)
    yield redis_store
    redis_store.purge_namespace()
    redis_store.close()


@pytest.mark.redis
def test_one_tenants_keys_share_a_cluster_slot(
    store: RedisEntityStateStore, client: redis.Redis, namespace: str
) -> None:
    store.apply(
        "partner-a",
        "m1",
        [EntityState("account:a1", 0, {}), EntityState("device:d1", 0, {})],
    )

    keys = sorted(client.scan_iter(match=f"{{{namespace}:*", count=1000))

    assert keys == [
        f"{{{namespace}:partner-a}}:marker:m1".encode(),
        f"{{{namespace}:partner-a}}:state:account:a1".encode(),
        f"{{{namespace}:partner-a}}:state:device:d1".encode(),
    ]
    assert len({key_slot(key) for key in keys}) == 1


@pytest.mark.redis
def test_markers_expire_after_thirty_days(
    store: RedisEntityStateStore, client: redis.Redis, namespace: str
) -> None:
    store.apply("partner-a", "m1", [EntityState("account:a1", 0, {})])

    ttl = client.ttl(f"{{{namespace}:partner-a}}:marker:m1")
    assert MARKER_TTL_SECONDS - 60 < int(ttl) <= MARKER_TTL_SECONDS
    assert MARKER_TTL_SECONDS == 30 * 24 * 3600
    assert client.ttl(f"{{{namespace}:partner-a}}:state:account:a1") == -1


@pytest.mark.redis
def test_load_and_apply_are_one_round_trip_each(
    store: RedisEntityStateStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.apply("t", "warm-up", [])  # loads the script into Redis once
    store.load("t", ["warm-up"])  # the first load also checks the epoch (then every 5 s)
    commands: list[Any] = []
    send: Callable[..., Any] = store._client.execute_command

    def counting(*args: Any, **options: Any) -> Any:
        commands.append(args[0])
        return send(*args, **options)

    monkeypatch.setattr(store._client, "execute_command", counting)
    keys = [f"account:a{i}" for i in range(5)]

    states = store.load("t", keys)
    store.apply("t", "m1", [EntityState(k, s.version, {"n": 1}) for k, s in states.items()])

    assert commands == ["MGET", "EVALSHA"]


@pytest.mark.redis
def test_purge_removes_only_its_own_namespace(
    redis_url: str, namespace: str, store: RedisEntityStateStore
) -> None:
    other = RedisEntityStateStore(redis_url, namespace=namespace + "x")
    try:
        store.apply("t", "m1", [EntityState("k", 0, {"n": 1})])
        other.apply("t", "m1", [EntityState("k", 0, {"n": 2})])

        assert store.purge_namespace() == 2

        assert store.load("t", ["k"])["k"].version == 0
        assert other.load("t", ["k"])["k"] == EntityState("k", 1, {"n": 2})
    finally:
        other.purge_namespace()
        other.close()


def test_an_unreachable_redis_is_backend_unavailable_quickly() -> None:
    store = RedisEntityStateStore(
        "redis://:s3cret@127.0.0.1:1/0", namespace="payguard", timeout=1.0
    )
    started = time.monotonic()

    with pytest.raises(BackendUnavailable) as caught:
        store.load("t", ["k"])
    with pytest.raises(BackendUnavailable):
        store.apply("t", "m1", [EntityState("k", 0, {})])

    assert time.monotonic() - started < 30
    assert "s3cret" not in caught.value.message
    store.close()


@pytest.mark.parametrize("namespace", ["", "a:b", "a{b}", "a*", "a b"])
def test_a_namespace_that_could_overlap_another_is_refused(namespace: str) -> None:
    with pytest.raises(ValueError, match="namespace"):
        RedisEntityStateStore("redis://127.0.0.1:1/0", namespace=namespace)


@pytest.mark.redis
def test_a_key_written_twice_in_one_write_is_refused(store: RedisEntityStateStore) -> None:
    with pytest.raises(ValueError, match="at most once"):
        store.apply("t", "m1", [EntityState("k", 0, {"n": 1}), EntityState("k", 0, {"n": 2})])

    assert store.load("t", ["k"])["k"].version == 0
