"""Two workers on one database: each sees the other's writes and rule changes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from payguard.adapters.kv.memory import CachingAssessmentStore
from payguard.api.app import create_app
from payguard.audit.interfaces import Actor
from payguard.services import build_services
from payguard.settings import Settings

RULES = """
rules:
  - {id: big, when: amount >= 500.0, action: review, score: 600, reason: BIG, message: Big.}
"""


@pytest.fixture(params=[True, False], ids=["state-cache", "no-state-cache"])
def workers(tmp_path, clock, request) -> Iterator[tuple[TestClient, TestClient, dict[str, str]]]:
    """Two workers' services on one database, with and without the in-process state cache
    (a cached state goes stale every time the other worker writes it)."""
    settings = Settings(
        database_url=f"sqlite:///{tmp_path}/shared.db",
        cache_ttl_seconds=0,
        state_cache=request.param,
    )
    first = build_services(settings, clock=clock)
    second = build_services(settings, clock=clock)
    tenant, key = first.tenants.create_tenant("acme", actor=Actor.system("test"))
    request.node.stash_services = (first, tenant.id)
    headers = {"Authorization": f"Bearer {key}"}
    with (
        TestClient(create_app(first)) as a,
        TestClient(create_app(second)) as b,
    ):
        yield a, b, headers
    first.close()
    second.close()


def test_alternating_workers_count_every_event_once(workers, payment, request) -> None:
    a, b, headers = workers
    results = []
    for i in range(12):
        client = a if i % 2 == 0 else b
        response = client.post("/v1/assessments", json=payment(event_id=f"w-{i}"), headers=headers)
        assert response.status_code == 201, response.text
        results.append(response.json())
    # With the cache, each worker's copy was stale every other event: version checks caught it.
    services, tenant_id = request.node.stash_services
    last = services.assessments.get(tenant_id, results[-1]["assessment_id"])
    assert last.features["account_payments_1h"] == 12
    replay = a.post("/v1/assessments", json=payment(event_id="w-3"), headers=headers)
    assert replay.json()["replayed"] is True


def test_features_see_the_other_workers_writes(workers, payment) -> None:
    a, b, headers = workers
    for i in range(5):
        client = a if i % 2 == 0 else b
        client.post(
            "/v1/assessments",
            json=payment(
                amount={"value": "0.50", "currency": "SGD"},
                payee=None,
                merchant={"id": "m-1"},
                occurred_at=f"2026-03-02T17:20:0{i}+08:00",
            ),
            headers=headers,
        )
    burst = a.post(
        "/v1/assessments",
        json=payment(
            amount={"value": "0.50", "currency": "SGD"},
            payee=None,
            merchant={"id": "m-1"},
            occurred_at="2026-03-02T17:20:06+08:00",
        ),
        headers=headers,
    ).json()
    assert burst["decision"] == "block"  # six tiny payments within a minute across workers


def test_rule_change_on_one_worker_applies_on_the_other(workers, payment) -> None:
    a, b, headers = workers
    assert a.put("/v1/rules", json={"source": RULES}, headers=headers).status_code == 200
    big = payment(amount={"value": "750.00", "currency": "SGD"})
    assert b.post("/v1/assessments", json=big, headers=headers).json()["decision"] == "review"


@pytest.mark.parametrize(
    ("workers", "state_cache", "cached"),
    [(1, None, True), (2, None, False), (2, True, True), (1, False, False)],
)
def test_the_state_cache_is_on_for_one_worker_unless_set(
    tmp_path, workers: int, state_cache: bool | None, cached: bool
) -> None:
    settings = Settings(
        database_url=f"sqlite:///{tmp_path}/w.db", workers=workers, state_cache=state_cache
    )
    services = build_services(settings)
    try:
        assert isinstance(services.assessments.store, CachingAssessmentStore) is cached
    finally:
        services.close()
