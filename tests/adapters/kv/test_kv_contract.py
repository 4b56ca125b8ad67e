"""The `EntityStateStore` contract, run against every implementation.

memory always; SQLite always (once the SQL adapter exists); Redis and PostgreSQL when
`PAYGUARD_TEST_REDIS_URL` / `PAYGUARD_TEST_POSTGRES_URL` are set.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from payguard.adapters.kv.memory import MemoryEntityStateStore
from payguard.core.errors import StateConflict
from payguard.risk.interfaces import EntityState, EntityStateStore

# JSON as every backend can hold it: 64-bit integers, finite floats, any string.
json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=16,
)
json_objects = st.dictionaries(st.text(max_size=12), json_values, max_size=6)


@pytest.fixture(scope="session")
def postgres_engine(postgres_url: str) -> Iterator[Any]:
    sql_engine = pytest.importorskip("payguard.adapters.sql.engine")
    engine = sql_engine.create_sql_engine(postgres_url)
    sql_engine.migrate(engine)
    yield engine
    engine.dispose()


@pytest.fixture(
    params=[
        "memory",
        pytest.param("redis", marks=pytest.mark.redis),
        "sqlite",
        pytest.param("postgres", marks=pytest.mark.postgres),
    ]
)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[EntityStateStore]:
    kind = request.param
    if kind == "memory":
        yield MemoryEntityStateStore()
    elif kind == "redis":
        from payguard.adapters.kv.redis import RedisEntityStateStore

        redis_store = RedisEntityStateStore(
            request.getfixturevalue("redis_url"), namespace=request.getfixturevalue("namespace")
        )
        try:
            yield redis_store
        finally:
            redis_store.purge_namespace()
            redis_store.close()
    elif kind == "sqlite":
        assessments = pytest.importorskip("payguard.adapters.sql.assessments")
        sql_engine = pytest.importorskip("payguard.adapters.sql.engine")
        engine = sql_engine.create_sql_engine(f"sqlite:///{tmp_path / 'state.db'}")
        sql_engine.migrate(engine)
        try:
            yield assessments.SqlEntityStateStore(engine)
        finally:
            engine.dispose()
    else:
        # The schema outlives the test: every test works in a tenant of its own.
        engine = request.getfixturevalue("postgres_engine")
        assessments = pytest.importorskip("payguard.adapters.sql.assessments")
        yield assessments.SqlEntityStateStore(engine)


@pytest.fixture
def tenant() -> str:
    return f"tenant-{uuid.uuid4().hex[:12]}"


def _marker() -> str:
    return f"assessment:{uuid.uuid4().hex}"


def test_absent_keys_load_as_version_zero_and_empty(store: EntityStateStore, tenant: str) -> None:
    loaded = store.load(tenant, ["account:a1", "device:d1"])

    assert loaded == {
        "account:a1": EntityState("account:a1", 0, {}),
        "device:d1": EntityState("device:d1", 0, {}),
    }


def test_loading_no_keys_returns_nothing(store: EntityStateStore, tenant: str) -> None:
    assert store.load(tenant, []) == {}


def test_apply_then_load_round_trips(store: EntityStateStore, tenant: str) -> None:
    updates = [
        EntityState("account:a1", 0, {"count_1h": 3, "sum": 120.5, "seen": ["p1", "p2"]}),
        EntityState("payee:p1", 0, {"first_seen": "2026-03-02T09:30:00+00:00", "flags": None}),
    ]

    assert store.apply(tenant, _marker(), updates) is True

    loaded = store.load(tenant, ["account:a1", "payee:p1", "device:none"])
    assert loaded["account:a1"] == EntityState("account:a1", 1, updates[0].data)
    assert loaded["payee:p1"] == EntityState("payee:p1", 1, updates[1].data)
    assert loaded["device:none"] == EntityState("device:none", 0, {})


def test_each_write_stores_the_next_version(store: EntityStateStore, tenant: str) -> None:
    for expected in range(4):
        assert store.apply(
            tenant, _marker(), [EntityState("account:a1", expected, {"n": expected})]
        )

    assert store.load(tenant, ["account:a1"])["account:a1"] == EntityState(
        "account:a1", 4, {"n": 3}
    )


def test_a_stale_version_raises_and_writes_nothing(store: EntityStateStore, tenant: str) -> None:
    store.apply(tenant, _marker(), [EntityState("account:a1", 0, {"n": 1})])
    before = store.load(tenant, ["account:a1", "device:d1"])

    with pytest.raises(StateConflict):
        store.apply(
            tenant,
            _marker(),
            [
                EntityState("device:d1", 0, {"n": 99}),  # fresh: would succeed on its own
                EntityState("account:a1", 0, {"n": 99}),  # stale: stored version is 1
            ],
        )

    assert store.load(tenant, ["account:a1", "device:d1"]) == before


def test_state_created_since_it_was_read_is_a_conflict(
    store: EntityStateStore, tenant: str
) -> None:
    store.apply(tenant, _marker(), [EntityState("account:a1", 0, {"by": "first"})])

    with pytest.raises(StateConflict):
        store.apply(tenant, _marker(), [EntityState("account:a1", 0, {"by": "second"})])

    assert store.load(tenant, ["account:a1"])["account:a1"].data == {"by": "first"}


def test_a_version_ahead_of_the_store_is_a_conflict(store: EntityStateStore, tenant: str) -> None:
    with pytest.raises(StateConflict):
        store.apply(tenant, _marker(), [EntityState("account:a1", 5, {"n": 1})])

    assert store.load(tenant, ["account:a1"])["account:a1"].version == 0


def test_a_conflicting_write_does_not_use_up_its_marker(
    store: EntityStateStore, tenant: str
) -> None:
    store.apply(tenant, _marker(), [EntityState("account:a1", 0, {"n": 1})])
    marker = _marker()
    with pytest.raises(StateConflict):
        store.apply(tenant, marker, [EntityState("account:a1", 0, {"n": 2})])

    assert store.apply(tenant, marker, [EntityState("account:a1", 1, {"n": 2})]) is True
    assert store.load(tenant, ["account:a1"])["account:a1"] == EntityState(
        "account:a1", 2, {"n": 2}
    )


def test_a_replayed_marker_returns_false_and_writes_nothing(
    store: EntityStateStore, tenant: str
) -> None:
    marker = _marker()
    assert store.apply(tenant, marker, [EntityState("account:a1", 0, {"n": 1})]) is True

    # The same versions (a plain retry) and fresh versions are both ignored.
    assert store.apply(tenant, marker, [EntityState("account:a1", 0, {"n": 1})]) is False
    assert store.apply(tenant, marker, [EntityState("account:a1", 1, {"n": 2})]) is False
    assert store.apply(tenant, marker, [EntityState("device:d1", 0, {"n": 3})]) is False

    loaded = store.load(tenant, ["account:a1", "device:d1"])
    assert loaded["account:a1"] == EntityState("account:a1", 1, {"n": 1})
    assert loaded["device:d1"] == EntityState("device:d1", 0, {})


def test_a_write_without_updates_still_uses_its_marker(
    store: EntityStateStore, tenant: str
) -> None:
    marker = _marker()

    assert store.apply(tenant, marker, []) is True
    assert store.apply(tenant, marker, []) is False


@pytest.mark.parametrize(
    ("tenant_a", "key_a", "tenant_b", "key_b"),
    [
        ("partner-a", "account:a1", "partner-b", "account:a1"),
        # Ids that would collide if a store glued tenant and key together naively.
        ("t", "x}:state:y", "t}:state:x", "y"),
        ("t:1", "account:a1", "t", "1:account:a1"),
        ("ténant {ü}", "clé:ü", "ténant {ü}x", "clé:ü"),
    ],
)
def test_tenants_never_see_each_others_state(
    store: EntityStateStore, tenant_a: str, key_a: str, tenant_b: str, key_b: str
) -> None:
    suffix = uuid.uuid4().hex[:8]  # fresh tenants, as PostgreSQL keeps its rows across tests
    tenant_a, tenant_b = tenant_a + suffix, tenant_b + suffix
    store.apply(tenant_a, _marker(), [EntityState(key_a, 0, {"owner": "a"})])

    assert store.load(tenant_b, [key_b])[key_b] == EntityState(key_b, 0, {})
    assert store.apply(tenant_b, _marker(), [EntityState(key_b, 0, {"owner": "b"})]) is True
    assert store.load(tenant_a, [key_a])[key_a] == EntityState(key_a, 1, {"owner": "a"})
    assert store.load(tenant_b, [key_b])[key_b] == EntityState(key_b, 1, {"owner": "b"})


def test_markers_are_scoped_by_tenant(store: EntityStateStore, tenant: str) -> None:
    marker = _marker()
    other = tenant + "-other"

    assert store.apply(tenant, marker, [EntityState("account:a1", 0, {"n": 1})]) is True
    assert store.apply(other, marker, [EntityState("account:a1", 0, {"n": 1})]) is True


def test_stored_state_is_not_shared_with_callers(store: EntityStateStore, tenant: str) -> None:
    update = EntityState("account:a1", 0, {"seen": ["p1"]})
    store.apply(tenant, _marker(), [update])
    update.data["seen"].append("written-after-apply")

    loaded = store.load(tenant, ["account:a1"])["account:a1"]
    loaded.data["seen"].append("changed-after-load")

    assert store.load(tenant, ["account:a1"])["account:a1"].data == {"seen": ["p1"]}


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(data=json_objects)
def test_any_json_object_round_trips(
    store: EntityStateStore, tenant: str, data: dict[str, Any]
) -> None:
    key = f"account:{uuid.uuid4().hex}"

    assert store.apply(tenant, _marker(), [EntityState(key, 0, data)]) is True

    assert store.load(tenant, [key])[key] == EntityState(key, 1, data)


@pytest.mark.parametrize("start_version", [0, 1])
def test_exactly_one_of_competing_writers_wins(
    store: EntityStateStore, tenant: str, start_version: int
) -> None:
    key = "account:contended"
    if start_version:
        store.apply(tenant, _marker(), [EntityState(key, 0, {"writer": -1})])
    writers = 8
    barrier = threading.Barrier(writers)
    outcomes: list[object] = [None] * writers

    def write(index: int) -> None:
        barrier.wait(timeout=30)
        try:
            outcomes[index] = store.apply(
                tenant, _marker(), [EntityState(key, start_version, {"writer": index})]
            )
        except Exception as exc:  # collected and asserted below
            outcomes[index] = exc

    threads = [threading.Thread(target=write, args=(i,)) for i in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    winners = [i for i, outcome in enumerate(outcomes) if outcome is True]
    losers = [outcome for outcome in outcomes if isinstance(outcome, StateConflict)]
    assert len(winners) == 1, outcomes
    assert len(losers) == writers - 1, outcomes
    assert store.load(tenant, [key])[key] == EntityState(
        key, start_version + 1, {"writer": winners[0]}
    )
