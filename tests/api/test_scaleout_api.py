"""The same API flow on the scale-out backends: PostgreSQL, Redis and NATS JetStream."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from payguard.adapters.bus.nats import NatsEventBus
from payguard.adapters.kv.redis import RedisEntityStateStore
from payguard.api.app import create_app
from payguard.audit.interfaces import Actor
from payguard.core.bus import DECISION_MADE
from payguard.services import build_services
from payguard.settings import Settings


@pytest.fixture
def scaled(postgres_own_url, redis_url, nats_url, namespace, clock) -> Iterator[TestClient]:
    settings = Settings(
        database_url=postgres_own_url,
        kv_url=redis_url,
        bus_url=nats_url,
        namespace=namespace,
        cache_ttl_seconds=0,
    )
    services = build_services(settings, clock=clock)
    try:
        with TestClient(create_app(services), raise_server_exceptions=False) as client:
            tenant, key = services.tenants.create_tenant(
                f"acme-{namespace}", actor=Actor.system("test")
            )
            client.app.state.tenant_key = key
            client.app.state.tenant_id = tenant.id
            yield client
    finally:
        services.close()
        RedisEntityStateStore(redis_url, namespace=namespace).purge_namespace()
        cleanup = NatsEventBus(nats_url, namespace=namespace)
        cleanup.delete_stream()
        cleanup.close()


def test_full_flow_on_postgres_redis_nats(scaled, payment) -> None:
    headers = {"Authorization": f"Bearer {scaled.app.state.tenant_key}"}
    services = scaled.app.state.services
    received: list[dict[str, object]] = []
    services.bus.subscribe(DECISION_MADE, lambda s, m: received.append(m), durable="e2e-test")

    first = scaled.post("/v1/assessments", json=payment(event_id="pg-1"), headers=headers)
    assert first.status_code == 201, first.text
    again = scaled.post("/v1/assessments", json=payment(event_id="pg-1"), headers=headers)
    assert again.status_code == 200 and again.json()["replayed"] is True
    second = scaled.post("/v1/assessments", json=payment(), headers=headers).json()
    # Not `tenants()[0]`: other tests' tenants share this run's PostgreSQL schema.
    tenant_id = scaled.app.state.tenant_id
    stored = services.assessments.get(tenant_id, second["assessment_id"])
    assert stored.features["account_payments_1h"] == 2  # the duplicate counted once

    label = scaled.post(
        f"/v1/assessments/{first.json()['assessment_id']}/outcome",
        json={"outcome": "fraud"},
        headers=headers,
    )
    assert label.status_code == 200
    later = scaled.post(
        "/v1/assessments", json=payment(account_id="acct-2", device={"id": "d2"}), headers=headers
    ).json()
    assert "PAYEE_REPORTED" in [r["code"] for r in later["reasons"]]

    put = scaled.put(
        "/v1/lists/blocked_accounts/items",
        json={"kind": "account", "items": ["acct-3"]},
        headers=headers,
    )
    assert put.status_code == 200
    blocked = scaled.post("/v1/assessments", json=payment(account_id="acct-3"), headers=headers)
    assert blocked.json()["decision"] == "block"

    services.bus.flush(10)
    deadline = time.monotonic() + 30
    while len(received) < 4 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert {m["event_id"] for m in received} >= {"pg-1", blocked.json()["event_id"]}
