"""Group commit: concurrent assessments share transactions without losing or double-counting."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator

import pytest

from payguard.audit.interfaces import Actor
from payguard.core.errors import BackendUnavailable, StateConflict
from payguard.services import Services, build_services
from payguard.settings import Settings


@pytest.fixture(params=["sqlite", "postgres"])
def services(request, tmp_path, clock) -> Iterator[Services]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/c.db"
    else:
        url = request.getfixturevalue("postgres_own_url")
    built = build_services(Settings(database_url=url, group_commit=True), clock=clock)
    yield built
    built.close()


@pytest.fixture
def tenant_id(services: Services) -> str:
    return services.tenants.create_tenant(
        f"acme-{uuid.uuid4().hex[:8]}", actor=Actor.system("test")
    )[0].id


def _gather(*coroutines):  # type: ignore[no-untyped-def]
    async def run():  # type: ignore[no-untyped-def]
        return await asyncio.gather(*coroutines, return_exceptions=True)

    return asyncio.run(run())


def test_concurrent_events_of_one_entity_all_count(services, tenant_id, make_event) -> None:
    events = [make_event(seconds=i) for i in range(40)]
    results = _gather(*(services.assessments.assess_async(tenant_id, e) for e in events))
    assert all(not isinstance(r, BaseException) for r in results), results
    counts = sorted(d.features["account_payments_1h"] for d, _ in results)
    assert counts == list(range(1, 41))
    state = services.assessments.store.load_states(tenant_id, ["account:acct-1"])
    assert state["account:acct-1"].version == 40


def test_concurrent_duplicates_decide_once(services, tenant_id, make_event) -> None:
    event = make_event()
    results = _gather(*(services.assessments.assess_async(tenant_id, event) for _ in range(10)))
    ids = {decision.assessment_id for decision, _ in results}
    assert len(ids) == 1
    assert sorted(replayed for _, replayed in results) == [False] + [True] * 9
    state = services.assessments.store.load_states(tenant_id, ["account:acct-1"])
    assert state["account:acct-1"].version == 1


def test_a_failed_batch_fails_its_callers_and_the_next_one_starts_clean(
    services, tenant_id, make_event, monkeypatch
) -> None:
    store = services.assessments.store
    real = store.record_many
    calls = {"n": 0}

    def flaky(items):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] == 1:
            raise BackendUnavailable("disk full")
        return real(items)

    monkeypatch.setattr(store, "record_many", flaky)
    first = _gather(
        *(services.assessments.assess_async(tenant_id, make_event(seconds=i)) for i in range(5))
    )
    assert all(isinstance(r, BackendUnavailable) for r in first)
    again = _gather(services.assessments.assess_async(tenant_id, make_event(seconds=10)))
    decision, _ = again[0]
    assert decision.features["account_payments_1h"] == 1  # nothing from the failed batch


def test_writes_built_on_a_failed_write_are_recomputed(
    services, tenant_id, make_event, monkeypatch
) -> None:
    store = services.assessments.store
    real = store.record_many
    state = {"failed": False}

    def first_item_conflicts(items):  # type: ignore[no-untyped-def]
        if not state["failed"]:
            state["failed"] = True
            _head, *rest = items
            return [StateConflict("injected"), *[StateConflict("built on it") for _ in rest]]
        return real(items)

    monkeypatch.setattr(store, "record_many", first_item_conflicts)
    results = _gather(
        *(services.assessments.assess_async(tenant_id, make_event(seconds=i)) for i in range(6))
    )
    assert all(not isinstance(r, BaseException) for r in results), results
    counts = sorted(d.features["account_payments_1h"] for d, _ in results)
    assert counts == list(range(1, 7))
