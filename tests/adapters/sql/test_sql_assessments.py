"""Contract tests for `SqlEntityStateStore` and `SqlAssessmentStore` on every SQL backend.

The assessment store runs in both of its modes: entity state in the same database (one
transaction) and entity state in an external store (here the SQL state store standing in
for Redis). `write_states` runs against every assessment store the composition root can
build: SQL with its own state, with memory or Redis state, and behind the in-process cache.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from payguard.adapters.kv.memory import CachingAssessmentStore, MemoryEntityStateStore
from payguard.adapters.sql import tables
from payguard.adapters.sql.assessments import SqlAssessmentStore, SqlEntityStateStore
from payguard.core.decisions import (
    FRAUD_OUTCOMES,
    Action,
    AssuranceLevel,
    Decision,
    ModelScore,
    Outcome,
    Reason,
    RuleHit,
    StepUp,
)
from payguard.core.errors import NotFound, StateConflict
from payguard.risk.interfaces import (
    AssessmentStore,
    Decide,
    EntityState,
    EntityStateStore,
    Relabel,
)

DecisionFactory = Callable[..., Decision]
T0 = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


@pytest.fixture
def states(sql_engine: sa.Engine) -> EntityStateStore:
    return SqlEntityStateStore(sql_engine)


@pytest.fixture(params=["embedded", "external"])
def mode(request: pytest.FixtureRequest) -> str:
    """Where the assessment store keeps entity state: its own database, or another store."""
    param: str = request.param
    return param


@pytest.fixture
def store(mode: str, sql_engine: sa.Engine) -> AssessmentStore:
    if mode == "embedded":
        return SqlAssessmentStore(sql_engine)
    return SqlAssessmentStore(sql_engine, external_states=SqlEntityStateStore(sql_engine))


def _seed(engine: sa.Engine, tenant: str, **data: int) -> None:
    """Give each key version 1 with `{"n": value}`."""
    updates = [EntityState(key, 0, {"n": value}) for key, value in data.items()]
    assert SqlEntityStateStore(engine).apply(tenant, f"seed:{uuid.uuid4().hex}", updates)


# --- entity state store ------------------------------------------------------------------


def test_unknown_keys_load_as_version_zero(states: EntityStateStore, tenant: str) -> None:
    loaded = states.load(tenant, ["account:a", "device:d"])
    assert loaded == {
        "account:a": EntityState("account:a", 0, {}),
        "device:d": EntityState("device:d", 0, {}),
    }
    assert states.load(tenant, []) == {}


def test_apply_creates_then_updates_with_version_check(
    states: EntityStateStore, tenant: str
) -> None:
    assert states.apply(tenant, "m1", [EntityState("account:a", 0, {"n": 1, "seen": ["x"]})])
    first = states.load(tenant, ["account:a"])["account:a"]
    assert first == EntityState("account:a", 1, {"n": 1, "seen": ["x"]})

    assert states.apply(tenant, "m2", [EntityState("account:a", 1, {"n": 2})])
    assert states.load(tenant, ["account:a"])["account:a"] == EntityState("account:a", 2, {"n": 2})


def test_stale_version_raises_and_writes_nothing(
    sql_engine: sa.Engine, states: EntityStateStore, tenant: str
) -> None:
    _seed(sql_engine, tenant, **{"account:a": 1, "device:d": 1})
    with pytest.raises(StateConflict):
        states.apply(
            tenant,
            "m-stale",
            [
                EntityState("account:a", 1, {"n": 2}),  # current
                EntityState("device:d", 7, {"n": 2}),  # stale
                EntityState("payee:p", 0, {"n": 2}),  # new
            ],
        )
    loaded = states.load(tenant, ["account:a", "device:d", "payee:p"])
    assert loaded["account:a"] == EntityState("account:a", 1, {"n": 1})
    assert loaded["device:d"] == EntityState("device:d", 1, {"n": 1})
    assert loaded["payee:p"] == EntityState("payee:p", 0, {})
    # The marker was rolled back too, so a corrected retry goes through.
    assert states.apply(tenant, "m-stale", [EntityState("device:d", 1, {"n": 3})])


def test_creating_an_existing_key_conflicts(
    sql_engine: sa.Engine, states: EntityStateStore, tenant: str
) -> None:
    _seed(sql_engine, tenant, **{"account:a": 1})
    with pytest.raises(StateConflict):
        states.apply(tenant, "m", [EntityState("account:a", 0, {"n": 9})])
    assert states.load(tenant, ["account:a"])["account:a"].data == {"n": 1}


def test_updating_a_missing_key_conflicts(states: EntityStateStore, tenant: str) -> None:
    with pytest.raises(StateConflict):
        states.apply(tenant, "m", [EntityState("account:a", 3, {"n": 9})])
    assert states.load(tenant, ["account:a"])["account:a"].version == 0


def test_a_marker_applies_once(states: EntityStateStore, tenant: str) -> None:
    assert states.apply(tenant, "event-1", [EntityState("account:a", 0, {"n": 1})])
    # A replay, even with different content and stale versions, writes nothing.
    assert not states.apply(tenant, "event-1", [EntityState("account:a", 0, {"n": 99})])
    assert states.load(tenant, ["account:a"])["account:a"] == EntityState("account:a", 1, {"n": 1})


def test_state_is_per_tenant(states: EntityStateStore, tenant: str, other_tenant: str) -> None:
    assert states.apply(tenant, "same-marker", [EntityState("account:a", 0, {"owner": "A"})])
    # Same marker and key in another tenant: independent.
    assert states.apply(other_tenant, "same-marker", [EntityState("account:a", 0, {"owner": "B"})])
    assert states.load(tenant, ["account:a"])["account:a"].data == {"owner": "A"}
    assert states.load(other_tenant, ["account:a"])["account:a"].data == {"owner": "B"}
    with pytest.raises(StateConflict):
        states.apply(other_tenant, "m", [EntityState("account:a", 5, {"owner": "B"})])
    assert states.load(tenant, ["account:a"])["account:a"].version == 1


# --- assessment store --------------------------------------------------------------------


def test_record_then_get_by_id_and_event(
    store: AssessmentStore, tenant: str, make_decision: DecisionFactory
) -> None:
    decision = make_decision(tenant)
    assert store.record(decision, [EntityState("account:acct-1", 0, {"n": 1})]) == decision
    assert store.get(tenant, decision.assessment_id) == decision
    assert store.get_by_event(tenant, decision.event_id) == decision
    assert store.load_states(tenant, ["account:acct-1"])["account:acct-1"] == EntityState(
        "account:acct-1", 1, {"n": 1}
    )
    assert store.get(tenant, "nope") is None
    assert store.get_by_event(tenant, "nope") is None


def test_duplicate_event_returns_the_first_decision_and_leaves_state(
    store: AssessmentStore, tenant: str, make_decision: DecisionFactory
) -> None:
    first = make_decision(tenant, event_id="evt-1", score=10)
    store.record(first, [EntityState("account:acct-1", 0, {"n": 1})])

    again = make_decision(tenant, event_id="evt-1", score=90, decision=Action.BLOCK)
    stored = store.record(again, [EntityState("account:acct-1", 1, {"n": 2})])

    assert stored == first
    assert store.get(tenant, again.assessment_id) is None
    assert store.load_states(tenant, ["account:acct-1"])["account:acct-1"] == EntityState(
        "account:acct-1", 1, {"n": 1}
    )


def test_record_many_isolates_each_item(
    store: AssessmentStore, tenant: str, make_decision: DecisionFactory
) -> None:
    """One batch: a new write, a chained write on the same entity, a duplicate event and a
    stale write; each ends as `record` would have ended it, the others unharmed."""
    earlier = make_decision(tenant, event_id="evt-dup")
    store.record(earlier, [EntityState("account:dup", 0, {"n": 1})])

    fresh = make_decision(tenant)
    chained = make_decision(tenant)
    duplicate = make_decision(tenant, event_id="evt-dup")
    stale = make_decision(tenant)
    results = store.record_many(
        [
            (fresh, [EntityState("account:a", 0, {"n": 1})]),
            (chained, [EntityState("account:a", 1, {"n": 2})]),
            (duplicate, [EntityState("account:dup", 1, {"n": 99})]),
            (stale, [EntityState("account:b", 7, {"n": 1})]),
        ]
    )

    assert results[0] == fresh and results[1] == chained
    assert results[2] == earlier
    assert isinstance(results[3], StateConflict)
    states = store.load_states(tenant, ["account:a", "account:dup", "account:b"])
    assert states["account:a"] == EntityState("account:a", 2, {"n": 2})
    assert states["account:dup"] == EntityState("account:dup", 1, {"n": 1})
    assert states["account:b"].version == 0
    assert store.get(tenant, stale.assessment_id) is None
    assert store.get(tenant, duplicate.assessment_id) is None


def test_record_many_writes_a_clean_batch_whole(
    store: AssessmentStore, tenant: str, make_decision: DecisionFactory
) -> None:
    """A batch with no duplicate and no stale write (the one-transaction fast path)."""
    decisions = [make_decision(tenant) for _ in range(3)]
    results = store.record_many(
        [
            (decisions[0], [EntityState("account:c", 0, {"n": 1})]),
            (decisions[1], [EntityState("account:c", 1, {"n": 2}), EntityState("ip:i", 0, {})]),
            (decisions[2], [EntityState("account:c", 2, {"n": 3})]),
        ]
    )

    assert results == decisions
    assert [store.get(tenant, d.assessment_id) for d in decisions] == decisions
    states = store.load_states(tenant, ["account:c", "ip:i"])
    assert states["account:c"] == EntityState("account:c", 3, {"n": 3})
    assert states["ip:i"].version == 1


def _counting(tenant: str, make_decision: DecisionFactory, key: str, **fields: Any) -> Decide:
    def decide(states: Mapping[str, EntityState]) -> tuple[Decision, list[EntityState]]:
        state = states[key]
        n = state.data.get("n", 0) + 1
        return make_decision(tenant, **fields), [EntityState(key, state.version, {"n": n})]

    return decide


def test_decide_and_record_reads_decides_and_writes(
    store: AssessmentStore, tenant: str, make_decision: DecisionFactory
) -> None:
    store.record(make_decision(tenant), [EntityState("account:h", 0, {"n": 1})])

    stored, decided = store.decide_and_record(
        tenant, ["account:h"], _counting(tenant, make_decision, "account:h", event_id="evt-h")
    )

    assert stored == decided
    assert store.get(tenant, decided.assessment_id) == decided
    assert store.load_states(tenant, ["account:h"])["account:h"] == EntityState(
        "account:h", 2, {"n": 2}
    )
    # The same event again: the earlier decision stands and no state is written twice.
    again, other = store.decide_and_record(
        tenant, ["account:h"], _counting(tenant, make_decision, "account:h", event_id="evt-h")
    )
    assert again == decided and other.assessment_id != decided.assessment_id
    assert store.load_states(tenant, ["account:h"])["account:h"].version == 2


def test_workers_deciding_with_held_states_never_lose_a_race(
    mode: str, sql_engine: sa.Engine, tenant: str, make_decision: DecisionFactory
) -> None:
    """Several workers (each its own store) counting on one busy entity at once: with the
    states held, no write is stale in one database; with external state some lose and retry.
    Either way every event is counted exactly once."""
    workers, each = 4, 15
    # The entity exists already: two first-ever writes of one entity can still collide on
    # PostgreSQL (there is no row to lock yet), and the caller retries those.
    _seed(sql_engine, tenant, **{"merchant:busy": 0})

    def work(_: int) -> int:
        store = (
            SqlAssessmentStore(sql_engine)
            if mode == "embedded"
            else SqlAssessmentStore(sql_engine, external_states=SqlEntityStateStore(sql_engine))
        )
        lost = 0
        for _ in range(each):
            while True:
                try:
                    store.decide_and_record(
                        tenant, ["merchant:busy"], _counting(tenant, make_decision, "merchant:busy")
                    )
                    break
                except StateConflict:
                    lost += 1
        return lost

    with ThreadPoolExecutor(max_workers=workers) as pool:
        lost = sum(pool.map(work, range(workers)))

    if mode == "embedded":
        assert lost == 0
    state = SqlAssessmentStore(sql_engine).load_states(tenant, ["merchant:busy"])
    assert state["merchant:busy"].data == {"n": workers * each}


def test_stale_state_raises_and_stores_nothing(
    sql_engine: sa.Engine, store: AssessmentStore, tenant: str, make_decision: DecisionFactory
) -> None:
    _seed(sql_engine, tenant, **{"account:acct-1": 1, "device:d": 1})
    decision = make_decision(tenant)
    with pytest.raises(StateConflict):
        store.record(
            decision,
            [
                EntityState("account:acct-1", 1, {"n": 2}),
                EntityState("device:d", 0, {"n": 2}),  # stale: it exists
            ],
        )
    assert store.get(tenant, decision.assessment_id) is None
    assert store.get_by_event(tenant, decision.event_id) is None
    loaded = store.load_states(tenant, ["account:acct-1", "device:d"])
    assert [s.version for s in loaded.values()] == [1, 1]
    # Recomputed with fresh versions, the same event goes through.
    assert store.record(decision, [EntityState("device:d", 1, {"n": 2})]) == decision


def test_two_writers_from_the_same_read_one_wins(
    sql_engine: sa.Engine, store: AssessmentStore, tenant: str, make_decision: DecisionFactory
) -> None:
    _seed(sql_engine, tenant, **{"account:acct-1": 1})
    read = store.load_states(tenant, ["account:acct-1"])["account:acct-1"]
    store.record(make_decision(tenant), [EntityState(read.key, read.version, {"n": 2})])
    loser = make_decision(tenant)
    with pytest.raises(StateConflict):
        store.record(loser, [EntityState(read.key, read.version, {"n": 2})])
    assert store.get(tenant, loser.assessment_id) is None


def test_concurrent_writers_lose_no_update(
    store: AssessmentStore, tenant: str, make_decision: DecisionFactory
) -> None:
    writers, each = 4, 8

    def write(_: int) -> int:
        conflicts = 0
        for _n in range(each):
            decision = make_decision(tenant)
            while True:
                counter = store.load_states(tenant, ["account:acct-1"])["account:acct-1"]
                n = counter.data.get("n", 0)
                try:
                    store.record(
                        decision, [EntityState(counter.key, counter.version, {"n": n + 1})]
                    )
                    break
                except StateConflict:
                    conflicts += 1
        return conflicts

    with ThreadPoolExecutor(max_workers=writers) as pool:
        list(pool.map(write, range(writers)))

    counter = store.load_states(tenant, ["account:acct-1"])["account:acct-1"]
    assert counter == EntityState("account:acct-1", writers * each, {"n": writers * each})
    assert len(list(store.iter_decisions(tenant))) == writers * each


def _count_frauds(outcome: Outcome, seen: list[Outcome | None] | None = None) -> Relabel:
    """An `adjust` that keeps a fraud counter on every key, as the feature code does."""

    def adjust(states: Mapping[str, EntityState], previous: Outcome | None) -> list[EntityState]:
        if seen is not None:
            seen.append(previous)
        delta = int(outcome in FRAUD_OUTCOMES) - int(previous in FRAUD_OUTCOMES)
        if delta == 0:
            return []
        return [
            EntityState(
                key, state.version, {**state.data, "frauds": state.data.get("frauds", 0) + delta}
            )
            for key, state in states.items()
        ]

    return adjust


def test_record_outcome_labels_and_adjusts_from_the_previous_outcome(
    store: AssessmentStore, tenant: str, make_decision: DecisionFactory
) -> None:
    decision = make_decision(tenant)
    store.record(decision, [EntityState("account:acct-1", 0, {"frauds": 0})])
    keys = ["account:acct-1", "device:d-1"]
    at = T0 + timedelta(days=3)
    seen: list[Outcome | None] = []

    labelled, previous = store.record_outcome(
        tenant, decision.assessment_id, Outcome.FRAUD, at, keys, _count_frauds(Outcome.FRAUD, seen)
    )
    assert previous is None and seen == [None]
    assert labelled.outcome is Outcome.FRAUD
    assert labelled.assessment_id == decision.assessment_id
    assert store.get(tenant, decision.assessment_id) == labelled
    states = store.load_states(tenant, keys)
    assert states["account:acct-1"] == EntityState("account:acct-1", 2, {"frauds": 1})
    assert states["device:d-1"] == EntityState("device:d-1", 1, {"frauds": 1})

    # The same report again: it adjusts from FRAUD to FRAUD, so nothing is counted twice.
    again, previous = store.record_outcome(
        tenant, decision.assessment_id, Outcome.FRAUD, at, keys, _count_frauds(Outcome.FRAUD)
    )
    assert previous is Outcome.FRAUD and again.outcome is Outcome.FRAUD
    assert store.load_states(tenant, keys)["account:acct-1"].data == {"frauds": 1}

    # A later, different label replaces it and takes the count back.
    relabelled, previous = store.record_outcome(
        tenant,
        decision.assessment_id,
        Outcome.LEGIT,
        at + timedelta(hours=1),
        keys,
        _count_frauds(Outcome.LEGIT),
    )
    assert previous is Outcome.FRAUD and relabelled.outcome is Outcome.LEGIT
    assert store.get(tenant, decision.assessment_id) == relabelled
    assert {s.data["frauds"] for s in store.load_states(tenant, keys).values()} == {0}


def test_racing_relabels_leave_counters_that_match_the_final_label(
    store: AssessmentStore, tenant: str, make_decision: DecisionFactory
) -> None:
    """Two relabels of one assessment at once (fraud vs legit), many times over: whichever
    lands last, the counter agrees with it, because each adjusts from the label it replaced."""
    keys = ["account:race"]
    for round_ in range(15):
        decision = make_decision(tenant)
        store.record(decision, [])
        start = threading.Barrier(2)

        def relabel(
            outcome: Outcome,
            decision: Decision = decision,
            start: threading.Barrier = start,
            round_: int = round_,
        ) -> None:
            start.wait()
            for _ in range(50):
                try:
                    store.record_outcome(
                        tenant,
                        decision.assessment_id,
                        outcome,
                        T0 + timedelta(seconds=round_),
                        keys,
                        _count_frauds(outcome),
                    )
                    return
                except StateConflict:
                    continue
            raise AssertionError("never landed")

        with ThreadPoolExecutor(max_workers=2) as pool:
            list(pool.map(relabel, [Outcome.FRAUD, Outcome.LEGIT]))

        counted = sum(
            1
            for d in store.iter_decisions(tenant)
            if d.outcome is Outcome.FRAUD and d.account_id == decision.account_id
        )
        frauds = store.load_states(tenant, keys)["account:race"].data.get("frauds", 0)
        assert frauds == counted, (round_, frauds, counted)


def test_record_outcome_adjusts_again_when_an_external_state_changed_meanwhile(
    mode: str, store: AssessmentStore, tenant: str, make_decision: DecisionFactory, sql_engine
) -> None:
    decision = make_decision(tenant)
    store.record(decision, [EntityState("account:acct-1", 0, {"frauds": 0, "n": 1})])
    calls: list[Outcome | None] = []
    count = _count_frauds(Outcome.FRAUD)

    def adjust(states: Mapping[str, EntityState], previous: Outcome | None) -> list[EntityState]:
        calls.append(previous)
        updates = count(states, previous)
        if len(calls) == 1 and mode != "embedded":
            # An assessment writes the entity between this read and the write.
            _bump(sql_engine, tenant, "account:acct-1", states["account:acct-1"])
        return updates

    labelled, previous = store.record_outcome(
        tenant, decision.assessment_id, Outcome.FRAUD, T0, ["account:acct-1"], adjust
    )

    assert labelled.outcome is Outcome.FRAUD and previous is None
    state = store.load_states(tenant, ["account:acct-1"])["account:acct-1"]
    assert state.data == {"frauds": 1, "n": 1}
    if mode == "embedded":
        assert calls == [None]  # read and written under one lock
        assert state.version == 2
    else:
        assert calls == [None, None]  # the same transition, computed again on fresh state
        assert state.version == 3


def _bump(engine: sa.Engine, tenant: str, key: str, seen: EntityState) -> None:
    assert SqlEntityStateStore(engine).apply(
        tenant, f"bump:{uuid.uuid4().hex}", [EntityState(key, seen.version, dict(seen.data))]
    )


def test_record_outcome_of_an_unknown_assessment_is_not_found(
    store: AssessmentStore, tenant: str
) -> None:
    with pytest.raises(NotFound):
        store.record_outcome(
            tenant, "missing", Outcome.LEGIT, T0, ["account:a"], _count_frauds(Outcome.FRAUD)
        )
    assert store.load_states(tenant, ["account:a"])["account:a"].version == 0


def test_tenants_never_see_each_other(
    store: AssessmentStore, tenant: str, other_tenant: str, make_decision: DecisionFactory
) -> None:
    mine = make_decision(tenant, event_id="evt-shared")
    store.record(mine, [EntityState("account:acct-1", 0, {"owner": "A"})])

    assert store.get(other_tenant, mine.assessment_id) is None
    assert store.get_by_event(other_tenant, mine.event_id) is None
    assert list(store.iter_decisions(other_tenant)) == []
    assert store.load_states(other_tenant, ["account:acct-1"])["account:acct-1"].version == 0
    with pytest.raises(NotFound):
        store.record_outcome(
            other_tenant,
            mine.assessment_id,
            Outcome.FRAUD,
            T0,
            ["account:acct-1"],
            _count_frauds(Outcome.FRAUD),
        )

    # The same event id in another tenant is a different event, not a duplicate.
    theirs = make_decision(other_tenant, event_id="evt-shared")
    assert store.record(theirs, [EntityState("account:acct-1", 0, {"owner": "B"})]) == theirs
    assert store.get_by_event(tenant, "evt-shared") == mine
    assert store.load_states(tenant, ["account:acct-1"])["account:acct-1"].data == {"owner": "A"}
    untouched = store.get(tenant, mine.assessment_id)
    assert untouched is not None
    assert untouched.outcome is None


def test_iter_decisions_in_time_order_with_window_and_limit(
    store: AssessmentStore, tenant: str, make_decision: DecisionFactory
) -> None:
    recorded = [make_decision(tenant, occurred_at=T0 + timedelta(minutes=m)) for m in (5, 1, 3)]
    for decision in recorded:
        store.record(decision, [])
    in_order = sorted(recorded, key=lambda d: d.occurred_at)

    assert list(store.iter_decisions(tenant)) == in_order
    assert list(store.iter_decisions(tenant, limit=2)) == in_order[:2]
    assert list(store.iter_decisions(tenant, limit=0)) == []
    window = store.iter_decisions(
        tenant, since=T0 + timedelta(minutes=3), until=T0 + timedelta(minutes=5)
    )
    assert list(window) == [in_order[1]]
    # A bound in another zone means the same instant.
    plus_three = timezone(timedelta(hours=3))
    since = (T0 + timedelta(minutes=2)).astimezone(plus_three)
    assert list(store.iter_decisions(tenant, since=since)) == in_order[1:]


def test_the_document_column_holds_the_decision_as_json(
    sql_engine: sa.Engine, store: AssessmentStore, tenant: str, make_decision: DecisionFactory
) -> None:
    decision = make_decision(tenant, decision=Action.REVIEW, score=55)
    store.record(decision, [])
    a = tables.assessments
    with sql_engine.connect() as conn:
        row = conn.execute(
            sa.select(a.c.decision, a.c.score, a.c.occurred_at, a.c.document).where(
                a.c.tenant_id == tenant
            )
        ).one()
    assert row.decision == "review"
    assert row.score == 55
    assert row.occurred_at == decision.occurred_at
    assert row.occurred_at.tzinfo == UTC
    assert tables.from_json(row.document)["assessment_id"] == decision.assessment_id


# --- state writes without a decision, on every implementation -----------------------------


@pytest.fixture(
    params=[
        "embedded",
        "external-sql",
        "external-memory",
        pytest.param("external-redis", marks=pytest.mark.redis),
        "cached",
    ]
)
def every_store(request: pytest.FixtureRequest, sql_engine: sa.Engine) -> Iterator[AssessmentStore]:
    """Every `AssessmentStore` the composition root builds (and the SQL state store standing
    in for Redis), over each SQL backend."""
    kind = request.param
    if kind == "embedded":
        yield SqlAssessmentStore(sql_engine)
    elif kind == "external-sql":
        yield SqlAssessmentStore(sql_engine, external_states=SqlEntityStateStore(sql_engine))
    elif kind == "external-memory":
        yield SqlAssessmentStore(sql_engine, external_states=MemoryEntityStateStore())
    elif kind == "external-redis":
        from payguard.adapters.kv.redis import RedisEntityStateStore

        redis_states = RedisEntityStateStore(
            request.getfixturevalue("redis_url"), namespace=request.getfixturevalue("namespace")
        )
        try:
            yield SqlAssessmentStore(sql_engine, external_states=redis_states)
        finally:
            redis_states.purge_namespace()
            redis_states.close()
    else:
        yield CachingAssessmentStore(SqlAssessmentStore(sql_engine))


def test_write_states_creates_then_updates_with_version_check(
    every_store: AssessmentStore, tenant: str
) -> None:
    store = every_store
    store.write_states(tenant, [EntityState("account:w", 0, {"x": [0, 0, None, 1.5]})])
    assert store.load_states(tenant, ["account:w"])["account:w"] == EntityState(
        "account:w", 1, {"x": [0, 0, None, 1.5]}
    )
    store.write_states(tenant, [EntityState("account:w", 1, {"n": 2})])
    assert store.load_states(tenant, ["account:w"])["account:w"] == EntityState(
        "account:w", 2, {"n": 2}
    )
    store.write_states(tenant, [])  # nothing to write is not an error


def test_a_stale_state_write_raises_and_writes_nothing(
    every_store: AssessmentStore, tenant: str, make_decision: DecisionFactory
) -> None:
    store = every_store
    store.record(
        make_decision(tenant),
        [EntityState("account:s", 0, {"n": 1}), EntityState("device:s", 0, {"n": 1})],
    )
    with pytest.raises(StateConflict):
        store.write_states(
            tenant,
            [
                EntityState("account:s", 1, {"n": 2}),  # current
                EntityState("device:s", 0, {"n": 2}),  # stale: it exists
                EntityState("payee:s", 0, {"n": 2}),  # new
            ],
        )
    loaded = store.load_states(tenant, ["account:s", "device:s", "payee:s"])
    assert loaded == {
        "account:s": EntityState("account:s", 1, {"n": 1}),
        "device:s": EntityState("device:s", 1, {"n": 1}),
        "payee:s": EntityState("payee:s", 0, {}),
    }
    with pytest.raises(StateConflict):
        store.write_states(tenant, [EntityState("account:never", 4, {"n": 1})])
    assert store.load_states(tenant, ["account:never"])["account:never"].version == 0


def test_a_state_write_and_a_decision_from_the_same_read_one_wins(
    every_store: AssessmentStore, tenant: str, make_decision: DecisionFactory
) -> None:
    store = every_store
    store.record(make_decision(tenant), [EntityState("account:r", 0, {"n": 1})])
    read = store.load_states(tenant, ["account:r"])["account:r"]

    store.write_states(tenant, [EntityState(read.key, read.version, {"n": 1, "reset": True})])
    loser = make_decision(tenant)
    with pytest.raises(StateConflict):
        store.record(loser, [EntityState(read.key, read.version, {"n": 2})])
    assert store.get(tenant, loser.assessment_id) is None

    read = store.load_states(tenant, ["account:r"])["account:r"]
    assert read == EntityState("account:r", 2, {"n": 1, "reset": True})
    store.record(make_decision(tenant), [EntityState(read.key, read.version, {"n": 2})])
    with pytest.raises(StateConflict):
        store.write_states(tenant, [EntityState(read.key, read.version, {"reset": True})])
    assert store.load_states(tenant, ["account:r"])["account:r"] == EntityState(
        "account:r", 3, {"n": 2}
    )


def test_state_writes_are_per_tenant(
    every_store: AssessmentStore, tenant: str, other_tenant: str
) -> None:
    store = every_store
    store.write_states(tenant, [EntityState("account:t", 0, {"owner": "A"})])
    store.write_states(other_tenant, [EntityState("account:t", 0, {"owner": "B"})])
    assert store.load_states(tenant, ["account:t"])["account:t"].data == {"owner": "A"}
    assert store.load_states(other_tenant, ["account:t"])["account:t"].data == {"owner": "B"}


def test_state_writes_and_decisions_racing_lose_no_update(
    every_store: AssessmentStore, tenant: str, make_decision: DecisionFactory
) -> None:
    """Threads counting on one entity, half through decisions and half through bare state
    writes: every increment lands exactly once, whichever kind of write wins each race."""
    store = every_store
    writers, each = 4, 6
    key = "account:busy"

    def write(n: int) -> None:
        for _ in range(each):
            decision = make_decision(tenant)
            while True:
                counter = store.load_states(tenant, [key])[key]
                update = [EntityState(key, counter.version, {"n": counter.data.get("n", 0) + 1})]
                try:
                    if n % 2:
                        store.write_states(tenant, update)
                    else:
                        store.record(decision, update)
                    break
                except StateConflict:
                    continue

    with ThreadPoolExecutor(max_workers=writers) as pool:
        list(pool.map(write, range(writers)))

    assert store.load_states(tenant, [key])[key] == EntityState(
        key, writers * each, {"n": writers * each}
    )
    assert len(list(store.iter_decisions(tenant))) == writers * each // 2


# --- round trip ----------------------------------------------------------------------------

# PostgreSQL text cannot hold NUL; orjson refuses lone surrogates.
_text = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=20)
_json_scalar = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | _text
)
_json = st.recursive(
    _json_scalar,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_text, inner, max_size=4),
    max_leaves=12,
)
_zones = st.sampled_from([UTC, timezone(timedelta(hours=3)), timezone(timedelta(hours=-5))])
_times = st.datetimes(
    min_value=datetime(1971, 1, 1), max_value=datetime(2199, 12, 31), timezones=_zones
)
_actions = st.sampled_from(list(Action))


@st.composite
def decisions(draw: st.DrawFn, tenant_id: str) -> Decision:
    return Decision(
        assessment_id=uuid.uuid4().hex,
        tenant_id=tenant_id,
        event_id=draw(_text.filter(bool)),
        event_type=draw(st.sampled_from(["login", "payment", "payee_add", "withdrawal"])),
        account_id=draw(_text),
        decision=draw(_actions),
        score=draw(st.integers(0, 1000)),
        reasons=tuple(draw(st.lists(st.builds(Reason, _text, _text), max_size=3))),
        warnings=tuple(draw(st.lists(_text, max_size=3))),
        step_up=draw(
            st.none()
            | st.builds(
                StepUp,
                st.sampled_from(list(AssuranceLevel)),
                st.lists(_text, max_size=3).map(tuple),
            )
        ),
        rule_hits=tuple(
            draw(
                st.lists(
                    st.builds(RuleHit, _text, _actions, st.integers(-1000, 1000), _text),
                    max_size=3,
                )
            )
        ),
        model=draw(
            st.none()
            | st.builds(ModelScore, _text, st.floats(allow_nan=False, allow_infinity=False))
        ),
        rule_set_version=draw(st.integers(0, 10_000)),
        occurred_at=draw(_times),
        decided_at=draw(_times),
        features=draw(st.dictionaries(_text, _json, max_size=6)),
        event=draw(st.dictionaries(_text, _json, max_size=6)),
        outcome=draw(st.none() | st.sampled_from(list(Outcome))),
    )


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_any_decision_round_trips(store: AssessmentStore, data: st.DataObject) -> None:
    tenant_id = f"t-{uuid.uuid4().hex}"
    decision: Decision = data.draw(decisions(tenant_id))
    assert store.record(decision, []) == decision
    assert store.get(tenant_id, decision.assessment_id) == decision
    assert store.get_by_event(tenant_id, decision.event_id) == decision
    assert list(store.iter_decisions(tenant_id)) == [decision]
