"""`RedisEntityStateStore` when Redis misbehaves: hung, unreachable, or back without its data
(the epoch key), and the rebuild's overwrite."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
import redis
from structlog.testing import capture_logs

from payguard.adapters.kv.redis import RedisEntityStateStore
from payguard.core.errors import BackendUnavailable, StateConflict
from payguard.risk.interfaces import EntityState


@pytest.fixture
def hung_redis() -> Iterator[str]:
    """A TCP port that accepts connections (the kernel completes them from the listen
    backlog) and never answers a byte: a Redis that hangs."""
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    try:
        yield f"redis://127.0.0.1:{server.getsockname()[1]}/0"
    finally:
        server.close()


@pytest.fixture
def client(redis_url: str) -> Iterator[redis.Redis]:
    raw = redis.Redis.from_url(redis_url)
    yield raw
    raw.close()


class Ticks:
    """A timer the test moves by hand."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _store(redis_url: str, namespace: str, **options: object) -> RedisEntityStateStore:
    return RedisEntityStateStore(redis_url, namespace=namespace, **options)  # type: ignore[arg-type]


@pytest.fixture
def stores(redis_url: str) -> Iterator[list[RedisEntityStateStore]]:
    made: list[RedisEntityStateStore] = []
    yield made
    for store in made:
        store.purge_namespace()
        store.close()


def test_a_hung_redis_fails_every_call_with_backend_unavailable(hung_redis: str) -> None:
    store = RedisEntityStateStore(hung_redis, namespace="payguard", timeout=0.1)
    try:
        with pytest.raises(BackendUnavailable):
            store.load("t", ["k"])
        with pytest.raises(BackendUnavailable):
            store.apply("t", "m1", [EntityState("k", 0, {})])
        with pytest.raises(BackendUnavailable):
            store.check_state()
        assert store.ping() is False
    finally:
        store.close()


def test_the_default_timeout_is_half_a_second() -> None:
    store = RedisEntityStateStore("redis://127.0.0.1:1/0", namespace="payguard")
    try:
        options = store._client.connection_pool.connection_kwargs
        assert options["socket_timeout"] == 0.5
        assert options["socket_connect_timeout"] == 0.5
    finally:
        store.close()


def test_an_unreachable_redis_does_not_answer_a_ping() -> None:
    store = RedisEntityStateStore("redis://127.0.0.1:1/0", namespace="payguard", timeout=0.1)
    try:
        assert store.ping() is False
    finally:
        store.close()


@pytest.mark.redis
def test_a_new_namespace_starts_its_epoch(
    redis_url: str, namespace: str, client: redis.Redis, stores: list[RedisEntityStateStore]
) -> None:
    store = _store(redis_url, namespace, has_history=lambda: False)
    stores.append(store)

    assert store.ping() is True
    assert store.check_state() is True
    assert client.get(f"{{{namespace}}}:epoch") is not None
    assert store.state_lost is False and store.lost_detected == 0


@pytest.mark.redis
def test_state_lost_while_running_is_logged_reported_and_counted_until_rebuilt(
    redis_url: str, namespace: str, client: redis.Redis, stores: list[RedisEntityStateStore]
) -> None:
    store = _store(redis_url, namespace)  # no history probe: only what this process saw
    stores.append(store)
    assert store.check_state() is True
    store.apply("t", "m1", [EntityState("account:a", 0, {"n": 1})])

    assert store.purge_namespace() == 3  # this namespace's keys only: state, marker, epoch
    with capture_logs() as logs:
        assert store.check_state() is False
        assert store.check_state() is False  # still lost: nothing rewrote the epoch

    assert store.state_lost is True
    assert store.lost_detected == 1  # one loss, however often it is seen
    lost = [entry for entry in logs if entry["event"] == "kv.state_lost"]
    assert len(lost) == 1 and lost[0]["log_level"] == "error"
    assert lost[0]["namespace"] == namespace
    assert client.get(f"{{{namespace}}}:epoch") is None

    store.mark_rebuilt()

    assert store.state_lost is False and store.check_state() is True
    assert store.lost_detected == 1


@pytest.mark.redis
def test_a_restarted_process_sees_the_loss_when_decisions_exist(
    redis_url: str, namespace: str, client: redis.Redis, stores: list[RedisEntityStateStore]
) -> None:
    store = _store(redis_url, namespace, has_history=lambda: True)
    stores.append(store)

    assert store.check_state() is False
    assert store.state_lost is True
    # The epoch is not started over: the next restart must see the loss too.
    assert client.get(f"{{{namespace}}}:epoch") is None
    again = _store(redis_url, namespace, has_history=lambda: True)
    stores.append(again)
    assert again.check_state() is False


@pytest.mark.redis
def test_load_checks_the_epoch_once_per_interval(
    redis_url: str, namespace: str, client: redis.Redis, stores: list[RedisEntityStateStore]
) -> None:
    ticks = Ticks()
    store = _store(redis_url, namespace, epoch_check_seconds=10.0, timer=ticks)
    stores.append(store)
    store.load("t", ["k"])  # the first load checks (and starts the epoch)
    client.delete(f"{{{namespace}}}:epoch")

    ticks.now = 5.0
    store.load("t", ["k"])
    assert store.state_lost is False  # not checked yet

    ticks.now = 10.0
    store.load("t", ["k"])
    assert store.state_lost is True


@pytest.mark.redis
def test_replace_overwrites_one_version_above_so_stale_writes_fail(
    redis_url: str, namespace: str, stores: list[RedisEntityStateStore]
) -> None:
    store = _store(redis_url, namespace)
    stores.append(store)
    store.apply("t", "m1", [EntityState("a", 0, {"n": 1})])
    store.apply("t", "m2", [EntityState("a", 1, {"n": 2})])

    store.replace("t", [EntityState("a", 0, {"n": 7}), EntityState("b", 0, {"n": 8})])

    loaded = store.load("t", ["a", "b"])
    assert loaded["a"] == EntityState("a", 3, {"n": 7})
    assert loaded["b"] == EntityState("b", 1, {"n": 8})
    with pytest.raises(StateConflict):
        store.apply("t", "m3", [EntityState("a", 2, {"n": 3})])  # read before the rebuild
    with pytest.raises(ValueError, match="at most once"):
        store.replace("t", [EntityState("a", 0, {}), EntityState("a", 0, {})])
