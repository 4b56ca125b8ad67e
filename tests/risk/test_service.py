"""AssessmentService: what happens when a write loses a race with another worker."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from payguard.api.app import Services, build_services
from payguard.core.decisions import Decision
from payguard.core.errors import Conflict
from payguard.risk.interfaces import AssessmentStore, EntityState, StateConflict
from payguard.risk.models.null import NullScorer
from payguard.risk.service import MAX_BACKOFF, AssessmentService, backoff
from payguard.settings import Settings


class LosesRaces:
    """A store whose first `losses` writes fail as if another worker got there first."""

    def __init__(self, inner: AssessmentStore, losses: int) -> None:
        self.inner = inner
        self.losses = losses
        self.writes = 0

    def record(self, decision: Decision, updates: Sequence[EntityState]) -> Decision:
        self.writes += 1
        if self.losses:
            self.losses -= 1
            raise StateConflict("another worker wrote this entity first")
        return self.inner.record(decision, updates)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


@pytest.fixture
def services(tmp_path, clock) -> Iterator[Services]:
    built = build_services(Settings(database_url=f"sqlite:///{tmp_path}/s.db"), clock=clock)
    yield built
    built.close()


def _service(services: Services, store: LosesRaces, retries: int) -> AssessmentService:
    return AssessmentService(
        store=store,  # type: ignore[arg-type]
        rules=services.rules,
        lists=services.lists,
        scorer=NullScorer(),
        bus=services.bus,
        audit=services.audit,
        clock=services.clock,
        retries=retries,
    )


@pytest.mark.parametrize("run_async", [False, True], ids=["sync", "async"])
def test_a_lost_race_is_decided_again_and_stored_once(
    services, make_event, run_async: bool
) -> None:
    tenant, _ = services.tenants.create_tenant("acme", actor="test")
    store = LosesRaces(services.assessments.store, losses=2)
    service = _service(services, store, retries=3)
    event = make_event()

    if run_async:
        decision, replayed = asyncio.run(service.assess_async(tenant.id, event))
    else:
        decision, replayed = service.assess(tenant.id, event)

    assert not replayed and store.writes == 3
    assert services.assessments.get(tenant.id, decision.assessment_id) == decision
    assert decision.features["account_events_1h"] == 1  # counted once


@pytest.mark.parametrize("run_async", [False, True], ids=["sync", "async"])
def test_losing_every_race_is_a_conflict_with_nothing_stored(
    services, make_event, run_async: bool
) -> None:
    tenant, _ = services.tenants.create_tenant("acme", actor="test")
    store = LosesRaces(services.assessments.store, losses=3)
    service = _service(services, store, retries=3)
    event = make_event()

    with pytest.raises(Conflict):
        if run_async:
            asyncio.run(service.assess_async(tenant.id, event))
        else:
            service.assess(tenant.id, event)

    assert store.writes == 3
    assert services.assessments.store.get_by_event(tenant.id, event.event_id) is None


@given(st.integers(min_value=1, max_value=64))
def test_backoff_is_random_doubling_and_bounded(attempt: int) -> None:
    wait = backoff(attempt)
    assert 0 <= wait <= min(MAX_BACKOFF, 0.0005 * 2 ** (attempt - 1))
