"""AssessmentService: what happens when a write loses a race with another worker."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterator, Sequence
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from payguard.audit.interfaces import Actor
from payguard.core.decisions import Decision
from payguard.core.errors import Conflict, IdempotencyMismatch, StateConflict
from payguard.core.events import Payee
from payguard.core.money import Money
from payguard.risk.commit import GroupCommitter
from payguard.risk.interfaces import AssessmentStore, Decide, EntityState
from payguard.risk.models.null import NullScorer
from payguard.risk.service import MAX_BACKOFF, AssessmentService, backoff
from payguard.services import Services, build_services
from payguard.settings import Settings


class LosesRaces:
    """A store whose first `losses` optimistic writes fail as if another worker got there
    first; `decide_and_record` (the held-states path) fails `held_losses` times."""

    def __init__(self, inner: AssessmentStore, losses: int, held_losses: int = 0) -> None:
        self.inner = inner
        self.losses = losses
        self.held_losses = held_losses
        self.writes = 0
        self.held = 0

    def record(self, decision: Decision, updates: Sequence[EntityState]) -> Decision:
        self.writes += 1
        if self.losses:
            self.losses -= 1
            raise StateConflict("another worker wrote this entity first")
        return self.inner.record(decision, updates)

    def record_many(
        self, items: Sequence[tuple[Decision, Sequence[EntityState]]]
    ) -> list[Decision | StateConflict]:
        results: list[Decision | StateConflict] = []
        for decision, updates in items:
            try:
                results.append(self.record(decision, updates))
            except StateConflict as exc:
                results.append(exc)
        return results

    def decide_and_record(
        self, tenant_id: str, keys: Sequence[str], decide: Decide
    ) -> tuple[Decision, Decision]:
        self.held += 1
        if self.held_losses:
            self.held_losses -= 1
            raise StateConflict("this store cannot hold states and lost again")
        return self.inner.decide_and_record(tenant_id, keys, decide)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


@pytest.fixture
def services(tmp_path, clock) -> Iterator[Services]:
    built = build_services(Settings(database_url=f"sqlite:///{tmp_path}/s.db"), clock=clock)
    yield built
    built.close()


def _service(
    services: Services, store: LosesRaces, retries: int, *, group_commit: bool = False
) -> AssessmentService:
    return AssessmentService(
        store=store,  # type: ignore[arg-type]
        rules=services.rules,
        lists=services.lists,
        scorer=NullScorer(),
        bus=services.bus,
        audit=services.audit,
        clock=services.clock,
        retries=retries,
        committer=GroupCommitter(store) if group_commit else None,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize("group_commit", [False, True], ids=["one-by-one", "group-commit"])
def test_a_lost_race_is_decided_again_with_the_states_held(
    services, make_event, group_commit: bool
) -> None:
    tenant, _ = services.tenants.create_tenant("acme", actor=Actor.system("test"))
    store = LosesRaces(services.assessments.store, losses=1)
    service = _service(services, store, retries=3, group_commit=group_commit)
    event = make_event()

    decision, replayed = asyncio.run(service.assess_async(tenant.id, event))

    assert not replayed and store.writes == 1 and store.held == 1
    assert services.assessments.get(tenant.id, decision.assessment_id) == decision
    assert decision.features["account_events_1h"] == 1  # counted once
    state = services.assessments.store.load_states(tenant.id, ["account:acct-1"])
    assert state["account:acct-1"].version == 1


def test_a_store_that_keeps_losing_is_retried_then_a_conflict(services, make_event) -> None:
    tenant, _ = services.tenants.create_tenant("acme", actor=Actor.system("test"))
    store = LosesRaces(services.assessments.store, losses=1, held_losses=2)
    service = _service(services, store, retries=3)
    event = make_event()

    with pytest.raises(Conflict):
        service.assess(tenant.id, event)
    assert store.writes == 1 and store.held == 2  # one optimistic try, then retries - 1
    assert services.assessments.store.get_by_event(tenant.id, event.event_id) is None

    store.losses, store.held_losses = 1, 1
    decision, _ = service.assess(tenant.id, make_event())  # loses twice, then lands
    assert store.writes == 2 and store.held == 4
    assert services.assessments.get(tenant.id, decision.assessment_id) == decision


@given(st.integers(min_value=1, max_value=64))
def test_backoff_is_random_doubling_and_bounded(attempt: int) -> None:
    wait = backoff(attempt)
    assert 0 <= wait <= min(MAX_BACKOFF, 0.0005 * 2 ** (attempt - 1))


def _committed_service(services: Services) -> AssessmentService:
    store = services.assessments.store
    return AssessmentService(
        store=store,
        rules=services.rules,
        lists=services.lists,
        scorer=NullScorer(),
        bus=services.bus,
        audit=services.audit,
        clock=services.clock,
        committer=GroupCommitter(store),
    )


async def _both(service: AssessmentService, tenant_id: str, events: list[Any]) -> list[Any]:
    return await asyncio.gather(
        *(service.assess_async(tenant_id, event) for event in events), return_exceptions=True
    )


def test_concurrent_repeats_of_one_event_id_in_one_batch(services, make_event) -> None:
    """Two requests with one event_id in the same group commit: the same event is a replay
    of the winner; another event under that id is refused, whichever of them won."""
    tenant, _ = services.tenants.create_tenant("acme", actor=Actor.system("test"))
    service = _committed_service(services)
    first = make_event()
    same = dataclasses.replace(first)
    other = dataclasses.replace(first, amount=Money(Decimal("999.00"), "SGD"))

    (won, replayed_a), (again, replayed_b) = asyncio.run(_both(service, tenant.id, [first, same]))
    assert {replayed_a, replayed_b} == {False, True}
    assert won.assessment_id == again.assessment_id

    for pair in ([make_event(), None], [None, make_event()]):
        event = next(e for e in pair if e is not None)
        different = dataclasses.replace(event, payee=Payee("payee-2"))
        events = [event if e is not None else different for e in pair]
        results = asyncio.run(_both(service, tenant.id, events))
        stored = [r for r in results if not isinstance(r, BaseException)]
        refused = [r for r in results if isinstance(r, BaseException)]
        assert len(stored) == 1 and stored[0][1] is False
        assert len(refused) == 1 and isinstance(refused[0], IdempotencyMismatch)
        winner = services.assessments.store.get_by_event(tenant.id, event.event_id)
        assert winner.assessment_id == stored[0][0].assessment_id
    # The first one's different twin, after the fact, is refused too.
    with pytest.raises(IdempotencyMismatch):
        service.assess(tenant.id, other)
