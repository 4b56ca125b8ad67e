"""`CachingAssessmentStore` in front of a fake inner store that counts what reaches it."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime

import pytest

from payguard.adapters.kv.memory import CachingAssessmentStore, MemoryEntityStateStore
from payguard.core.decisions import Action, Decision, Outcome
from payguard.core.errors import BackendUnavailable, NotFound, StateConflict
from payguard.risk.interfaces import AssessmentStore, EntityState, Relabel

TENANT = "partner-a"
AT = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


class FakeAssessmentStore:
    """An `AssessmentStore` over `MemoryEntityStateStore` that records every state read."""

    def __init__(self) -> None:
        self.states = MemoryEntityStateStore()
        self.decisions: dict[tuple[str, str], Decision] = {}
        self.loads: list[list[str]] = []
        self.fail_next_record: Exception | None = None
        self.on_load: Callable[[], object] | None = None

    def load_states(self, tenant_id: str, keys: Sequence[str]) -> dict[str, EntityState]:
        self.loads.append(list(keys))
        states = self.states.load(tenant_id, keys)
        if self.on_load is not None:
            hook, self.on_load = self.on_load, None
            hook()
        return states

    def record(self, decision: Decision, updates: Sequence[EntityState]) -> Decision:
        if self.fail_next_record is not None:
            error, self.fail_next_record = self.fail_next_record, None
            raise error
        earlier = self.get_by_event(decision.tenant_id, decision.event_id)
        if earlier is not None:
            return earlier
        self.states.apply(decision.tenant_id, f"assessment:{decision.event_id}", updates)
        self.decisions[(decision.tenant_id, decision.assessment_id)] = decision
        return decision

    def write_states(self, tenant_id: str, updates: Sequence[EntityState]) -> None:
        self.states.apply(tenant_id, f"states:{uuid.uuid4().hex}", updates)

    def record_outcome(
        self,
        tenant_id: str,
        assessment_id: str,
        outcome: Outcome,
        at: datetime,
        keys: Sequence[str],
        adjust: Relabel,
    ) -> tuple[Decision, Outcome | None]:
        decision = self.get(tenant_id, assessment_id)
        if decision is None:
            raise NotFound(f"unknown assessment {assessment_id!r}")
        updates = adjust(self.states.load(tenant_id, keys), decision.outcome)
        self.states.apply(tenant_id, f"outcome:{assessment_id}:{outcome}", updates)
        self.decisions[(tenant_id, assessment_id)] = dataclasses.replace(decision, outcome=outcome)
        return self.decisions[(tenant_id, assessment_id)], decision.outcome

    def finalize(self, tenant_id: str, assessment_id: str, final: Action, at: datetime) -> Decision:
        decision = self.decisions[(tenant_id, assessment_id)]
        self.decisions[(tenant_id, assessment_id)] = dataclasses.replace(
            decision, final=final, final_at=at
        )
        return self.decisions[(tenant_id, assessment_id)]

    def get(self, tenant_id: str, assessment_id: str) -> Decision | None:
        return self.decisions.get((tenant_id, assessment_id))

    def get_by_event(self, tenant_id: str, event_id: str) -> Decision | None:
        for (tenant, _), decision in self.decisions.items():
            if tenant == tenant_id and decision.event_id == event_id:
                return decision
        return None

    def iter_decisions(
        self,
        tenant_id: str,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 10_000,
    ) -> Iterator[Decision]:
        found = sorted(
            (d for (t, _), d in self.decisions.items() if t == tenant_id),
            key=lambda d: d.occurred_at,
        )
        return iter(found[:limit])


def _decision(assessment_id: str, event_id: str, tenant_id: str = TENANT) -> Decision:
    return Decision(
        assessment_id=assessment_id,
        tenant_id=tenant_id,
        event_id=event_id,
        event_type="payment",
        account_id="a1",
        decision=Action.ALLOW,
        score=10,
        reasons=(),
        warnings=(),
        step_up=None,
        rule_hits=(),
        model=None,
        rule_set_version=1,
        occurred_at=AT,
        decided_at=AT,
    )


@pytest.fixture
def inner() -> FakeAssessmentStore:
    return FakeAssessmentStore()


@pytest.fixture
def cache(inner: FakeAssessmentStore) -> CachingAssessmentStore:
    return CachingAssessmentStore(inner)


def test_the_fake_is_an_assessment_store(inner: FakeAssessmentStore) -> None:
    store: AssessmentStore = inner
    assert store.load_states(TENANT, []) == {}


def test_a_cache_hit_does_not_reach_the_inner_store(
    cache: CachingAssessmentStore, inner: FakeAssessmentStore
) -> None:
    inner.states.apply(TENANT, "seed", [EntityState("account:a1", 0, {"n": 1})])

    first = cache.load_states(TENANT, ["account:a1", "device:d1"])
    second = cache.load_states(TENANT, ["account:a1", "device:d1"])

    assert inner.loads == [["account:a1", "device:d1"]]
    assert (
        first
        == second
        == {
            "account:a1": EntityState("account:a1", 1, {"n": 1}),
            "device:d1": EntityState("device:d1", 0, {}),
        }
    )


def test_only_the_misses_are_fetched_in_one_call(
    cache: CachingAssessmentStore, inner: FakeAssessmentStore
) -> None:
    cache.load_states(TENANT, ["account:a1"])

    loaded = cache.load_states(TENANT, ["device:d1", "account:a1", "payee:p1"])

    assert inner.loads == [["account:a1"], ["device:d1", "payee:p1"]]
    assert list(loaded) == ["device:d1", "account:a1", "payee:p1"]


def test_entries_are_scoped_by_tenant(
    cache: CachingAssessmentStore, inner: FakeAssessmentStore
) -> None:
    inner.states.apply(TENANT, "seed", [EntityState("account:a1", 0, {"owner": "a"})])
    cache.load_states(TENANT, ["account:a1"])

    other = cache.load_states("partner-b", ["account:a1"])

    assert other["account:a1"] == EntityState("account:a1", 0, {})
    assert inner.loads[-1] == ["account:a1"]


def test_a_recorded_write_is_served_from_the_cache(
    cache: CachingAssessmentStore, inner: FakeAssessmentStore
) -> None:
    state = cache.load_states(TENANT, ["account:a1"])["account:a1"]
    decision = _decision("as-1", "ev-1")

    stored = cache.record(decision, [EntityState("account:a1", state.version, {"n": 1})])

    assert stored is decision
    assert cache.load_states(TENANT, ["account:a1"])["account:a1"] == EntityState(
        "account:a1", 1, {"n": 1}
    )
    assert inner.loads == [["account:a1"]]


def test_a_stale_entry_conflicts_then_the_next_load_is_fresh(
    cache: CachingAssessmentStore, inner: FakeAssessmentStore
) -> None:
    cache.load_states(TENANT, ["account:a1", "device:d1"])
    # Another worker writes behind this process's back.
    inner.states.apply(TENANT, "elsewhere", [EntityState("account:a1", 0, {"n": 7})])
    stale = cache.load_states(TENANT, ["account:a1", "device:d1"])
    assert stale["account:a1"].version == 0

    with pytest.raises(StateConflict):
        cache.record(
            _decision("as-1", "ev-1"),
            [EntityState(k, s.version, {"n": 1}) for k, s in stale.items()],
        )

    fresh = cache.load_states(TENANT, ["account:a1", "device:d1"])
    assert fresh["account:a1"] == EntityState("account:a1", 1, {"n": 7})
    assert inner.loads[-1] == ["account:a1", "device:d1"]
    # The retry on fresh state goes through and is cached.
    cache.record(
        _decision("as-2", "ev-1"), [EntityState(k, s.version, {"n": 8}) for k, s in fresh.items()]
    )
    loads_before = len(inner.loads)
    assert cache.load_states(TENANT, ["account:a1"])["account:a1"].version == 2
    assert len(inner.loads) == loads_before


def test_a_duplicate_event_forgets_the_keys_instead_of_caching_them(
    cache: CachingAssessmentStore, inner: FakeAssessmentStore
) -> None:
    first = _decision("as-1", "ev-1")
    cache.record(first, [EntityState("account:a1", 0, {"n": 1})])

    stored = cache.record(_decision("as-2", "ev-1"), [EntityState("account:a1", 1, {"n": 2})])

    assert stored is first
    loads_before = len(inner.loads)
    assert cache.load_states(TENANT, ["account:a1"])["account:a1"] == EntityState(
        "account:a1", 1, {"n": 1}
    )
    assert len(inner.loads) == loads_before + 1


def test_a_failed_record_forgets_the_keys(
    cache: CachingAssessmentStore, inner: FakeAssessmentStore
) -> None:
    cache.load_states(TENANT, ["account:a1"])
    inner.fail_next_record = BackendUnavailable("database went away")

    with pytest.raises(BackendUnavailable):
        cache.record(_decision("as-1", "ev-1"), [EntityState("account:a1", 0, {"n": 1})])

    cache.load_states(TENANT, ["account:a1"])
    assert inner.loads == [["account:a1"], ["account:a1"]]


def test_a_state_write_is_served_from_the_cache(
    cache: CachingAssessmentStore, inner: FakeAssessmentStore
) -> None:
    cache.record(_decision("as-1", "ev-1"), [EntityState("account:a1", 0, {"n": 1})])

    cache.write_states(TENANT, [EntityState("account:a1", 1, {"n": 1, "x": [0, 0, None, 1.0]})])

    assert cache.load_states(TENANT, ["account:a1"])["account:a1"] == EntityState(
        "account:a1", 2, {"n": 1, "x": [0, 0, None, 1.0]}
    )
    assert inner.states.load(TENANT, ["account:a1"])["account:a1"].version == 2
    assert inner.loads == []


def test_a_stale_state_write_conflicts_then_the_next_load_is_fresh(
    cache: CachingAssessmentStore, inner: FakeAssessmentStore
) -> None:
    stale = cache.load_states(TENANT, ["account:a1"])["account:a1"]
    # Another worker writes behind this process's back.
    inner.states.apply(TENANT, "elsewhere", [EntityState("account:a1", 0, {"n": 7})])

    with pytest.raises(StateConflict):
        cache.write_states(TENANT, [EntityState("account:a1", stale.version, {"n": 1})])

    fresh = cache.load_states(TENANT, ["account:a1"])["account:a1"]
    assert fresh == EntityState("account:a1", 1, {"n": 7})
    assert inner.loads == [["account:a1"], ["account:a1"]]


def test_an_outcome_write_forgets_the_keys(
    cache: CachingAssessmentStore, inner: FakeAssessmentStore
) -> None:
    cache.record(_decision("as-1", "ev-1"), [EntityState("account:a1", 0, {"n": 1})])

    labelled, previous = cache.record_outcome(
        TENANT,
        "as-1",
        Outcome.FRAUD,
        AT,
        ["account:a1"],
        lambda states, _: [EntityState("account:a1", states["account:a1"].version, {"fraud": 1})],
    )

    assert labelled.outcome is Outcome.FRAUD and previous is None
    assert cache.load_states(TENANT, ["account:a1"])["account:a1"] == EntityState(
        "account:a1", 2, {"fraud": 1}
    )
    assert inner.loads == [["account:a1"]]


def test_cached_state_is_the_written_state_shared_read_only(
    cache: CachingAssessmentStore, inner: FakeAssessmentStore
) -> None:
    """The cache hands out what was written without copying: the AssessmentStore contract
    makes loaded state read-only, and the feature code always builds new dicts."""
    update = EntityState("account:a1", 0, {"seen": ["p1"]})
    cache.record(_decision("as-1", "ev-1"), [update])

    loaded = cache.load_states(TENANT, ["account:a1"])["account:a1"]

    assert loaded.version == 1
    assert loaded.data == {"seen": ["p1"]}
    assert inner.loads == []


def test_the_least_recently_used_entries_are_evicted(inner: FakeAssessmentStore) -> None:
    cache = CachingAssessmentStore(inner, max_entries=2)
    cache.load_states(TENANT, ["k1", "k2"])
    cache.load_states(TENANT, ["k1"])  # k1 is now more recent than k2

    cache.load_states(TENANT, ["k3"])  # evicts k2
    cache.load_states(TENANT, ["k1", "k2"])

    assert inner.loads == [["k1", "k2"], ["k3"], ["k2"]]


def test_an_older_read_does_not_replace_a_newer_write(
    cache: CachingAssessmentStore, inner: FakeAssessmentStore
) -> None:
    # A slow read: the inner store answers with version 0, but before that answer reaches the
    # cache another thread records version 1 through it.
    inner.on_load = lambda: cache.record(
        _decision("as-1", "ev-1"), [EntityState("account:a1", 0, {"n": 1})]
    )
    assert cache.load_states(TENANT, ["account:a1"])["account:a1"].version == 0

    assert cache.load_states(TENANT, ["account:a1"])["account:a1"] == EntityState(
        "account:a1", 1, {"n": 1}
    )
    assert len(inner.loads) == 1


def test_reads_of_decisions_go_to_the_inner_store(
    cache: CachingAssessmentStore, inner: FakeAssessmentStore
) -> None:
    decision = _decision("as-1", "ev-1")
    cache.record(decision, [])

    assert cache.get(TENANT, "as-1") == decision
    assert cache.get_by_event(TENANT, "ev-1") == decision
    assert list(cache.iter_decisions(TENANT)) == [decision]
    assert cache.get("partner-b", "as-1") is None


def test_the_cache_is_an_assessment_store(cache: CachingAssessmentStore) -> None:
    store: AssessmentStore = cache
    assert store.load_states(TENANT, []) == {}
