"""`/v1/models`: list, show, promote, shadow, drift; roles, tenant isolation, bad input."""

from __future__ import annotations

from dataclasses import replace

import pytest
from tests.risk.model_fixtures import artifact

from payguard.audit.interfaces import Actor, AuditAction
from payguard.services import Services
from payguard.tenancy.interfaces import Role


def tenant_id(services: Services, name: str = "acme") -> str:
    found = services.tenants.get_tenant_by_name(name)
    assert found is not None
    return found.id


def register(services: Services, name: str = "acme", count: int = 1) -> None:
    for n in range(count):
        services.models.register(
            tenant_id(services, name),
            replace(artifact(), data_hash=f"sha256:{n}"),
            actor=Actor.system("test"),
        )


def test_list_and_show_without_blobs(client, services, tenant) -> None:
    admin = tenant()
    empty = client.get("/v1/models", headers=admin)
    assert empty.status_code == 200
    assert empty.json() == {"champion": None, "shadow": None, "models": []}

    register(services, count=2)
    listed = client.get("/v1/models", headers=tenant(role=Role.ANALYST))
    assert listed.status_code == 200
    body = listed.json()
    assert [m["version"] for m in body["models"]] == [2, 1]
    first = body["models"][1]
    assert first["status"] == "candidate"
    assert first["data_hash"] == "sha256:0"
    assert first["columns"] == len(artifact().columns)
    assert first["metrics"]["model"]["average_precision"] == 0.91
    assert "onnx" not in first and "booster" not in first

    shown = client.get("/v1/models/1", headers=admin)
    assert shown.status_code == 200
    detail = shown.json()
    assert detail["column_names"] == list(artifact().columns)
    assert detail["params"]["trees"] == 30
    assert "onnx" not in detail and "booster" not in detail


def test_promote_puts_the_model_on_assessments(client, services, tenant, payment) -> None:
    admin = tenant()
    register(services)
    before = client.post("/v1/assessments", json=payment(), headers=admin).json()
    assert before["model"] is None and before["shadow"] is None

    promoted = client.post("/v1/models/1/promote", headers=admin)
    assert promoted.status_code == 200, promoted.text
    assert promoted.json() == {"champion": 1, "shadow": None}

    risky = client.post(
        "/v1/assessments",
        json=payment(amount={"value": "4800.00", "currency": "SGD"}),
        headers=admin,
    ).json()
    assert risky["model"]["version"] == "1" and risky["model"]["score"] > 0.8
    assert any(r["code"].startswith("MODEL_") for r in risky["reasons"])

    audit = services.audit.list(tenant_id=tenant_id(services), action=AuditAction.MODEL_PROMOTE)
    assert audit and audit[0].actor.startswith("apikey:")


def test_shadow_shows_on_the_stored_assessment(client, services, tenant, payment) -> None:
    admin = tenant()
    register(services)
    put = client.put("/v1/models/shadow", json={"version": 1}, headers=admin)
    assert put.status_code == 200, put.text
    assert put.json() == {"champion": None, "shadow": 1}

    created = client.post(
        "/v1/assessments",
        json=payment(amount={"value": "4800.00", "currency": "SGD"}),
        headers=admin,
    ).json()
    assert created["model"] is None
    assert not any(r["code"].startswith("MODEL_") for r in created["reasons"])
    read = client.get(f"/v1/assessments/{created['assessment_id']}", headers=admin).json()
    assert read["shadow"]["version"] == "1" and read["shadow"]["score"] > 0.8

    cleared = client.put("/v1/models/shadow", json={"version": None}, headers=admin)
    assert cleared.json() == {"champion": None, "shadow": None}
    listed = client.get("/v1/models", headers=admin).json()
    assert listed["shadow"] is None and listed["models"][0]["status"] == "candidate"


def test_the_champion_cannot_shadow_itself(client, services, tenant) -> None:
    admin = tenant()
    register(services)
    client.post("/v1/models/1/promote", headers=admin)
    refused = client.put("/v1/models/shadow", json={"version": 1}, headers=admin)
    assert refused.status_code == 422
    assert refused.json()["error"]["field"] == "version"


@pytest.mark.parametrize("role", [Role.ANALYST, Role.SERVICE])
def test_only_admins_change_models(client, services, tenant, role) -> None:
    tenant()
    register(services)
    headers = tenant(role=role)
    assert client.post("/v1/models/1/promote", headers=headers).status_code == 403
    assert client.put("/v1/models/shadow", json={"version": 1}, headers=headers).status_code == 403
    assert services.models.serving(tenant_id(services)) == (None, None)
    denied = services.audit.list(tenant_id=tenant_id(services), action=AuditAction.ACCESS_DENIED)
    assert len(denied) == 2


def test_service_keys_cannot_read_models(client, services, tenant) -> None:
    tenant()
    headers = tenant(role=Role.SERVICE)
    for path in ("/v1/models", "/v1/models/1", "/v1/models/drift"):
        assert client.get(path, headers=headers).status_code == 403


def test_models_are_per_tenant(client, services, tenant) -> None:
    acme = tenant("acme")
    other = tenant("globex")
    register(services, "acme")
    assert client.get("/v1/models", headers=other).json()["models"] == []
    assert client.get("/v1/models/1", headers=other).status_code == 404
    assert client.post("/v1/models/1/promote", headers=other).status_code == 404
    assert client.put("/v1/models/shadow", json={"version": 1}, headers=other).status_code == 404
    assert client.get("/v1/models/1", headers=acme).status_code == 200
    assert services.models.serving(tenant_id(services, "acme")) == (None, None)


def test_unknown_versions_are_404(client, services, tenant) -> None:
    admin = tenant()
    register(services)
    for response in (
        client.get("/v1/models/2", headers=admin),
        client.post("/v1/models/2/promote", headers=admin),
        client.put("/v1/models/shadow", json={"version": 2}, headers=admin),
    ):
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize(
    "body",
    [
        b"{}",
        b'{"version": "1"}',
        b'{"version": 0}',
        b'{"version": -3}',
        b'{"version": 1.5}',
        b'{"version": true}',
        b'{"version": 99999999999999999999}',
        b'{"version": [1]}',
        b'{"version": 1, "force": true}',
        b'{"version": 1',
    ],
)
def test_bad_shadow_bodies_name_the_field(client, services, tenant, body) -> None:
    admin = {**tenant(), "Content-Type": "application/json"}
    register(services)
    response = client.put("/v1/models/shadow", content=body, headers=admin)
    assert 400 <= response.status_code < 500, response.text
    error = response.json()["error"]
    if response.status_code == 422:
        assert error["field"] in ("version", "force")
    assert services.models.serving(tenant_id(services))[1] is None


@pytest.mark.parametrize(
    "path",
    [
        "/v1/models/0",
        "/v1/models/-1",
        "/v1/models/abc",
        "/v1/models/1.5",
        "/v1/models/99999999999999999999",
        "/v1/models/1%20OR%201=1",
        "/v1/models/..%2F..%2Fetc",
    ],
)
def test_hostile_versions_are_4xx(client, tenant, path) -> None:
    response = client.get(path, headers=tenant())
    assert 400 <= response.status_code < 500
    assert response.json()["error"]["code"]


def test_drift_needs_a_champion_and_reports_per_day(client, services, tenant, payment) -> None:
    admin = tenant()
    assert client.get("/v1/models/drift", headers=admin).status_code == 404
    register(services)
    client.post("/v1/models/1/promote", headers=admin)
    for n in range(4):
        client.post(
            "/v1/assessments",
            json=payment(amount={"value": f"{100 + 1000 * n}.00", "currency": "SGD"}),
            headers=admin,
        )
    response = client.get("/v1/models/drift?days=7", headers=tenant(role=Role.ANALYST))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["version"] == 1 and body["days"] == 7
    assert [day["events"] for day in body["by_day"]] == [4]
    day = body["by_day"][0]
    assert day["day"] == "2026-03-02"
    assert day["score_psi"] >= 0
    assert set(day["features"]) == {"amount", "device_distinct_accounts_1h"}


@pytest.mark.parametrize("query", ["days=0", "days=91", "days=abc", "days=1e9", "days="])
def test_bad_drift_windows_are_422(client, tenant, query) -> None:
    response = client.get(f"/v1/models/drift?{query}", headers=tenant())
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "days"
