from __future__ import annotations

from datetime import timedelta

import pytest

from payguard.audit.interfaces import Actor
from payguard.core.errors import ValidationFailed
from payguard.tenancy.interfaces import Role


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "Bearer",
        "Bearer nonsense",
        "Basic dXNlcjpwYXNz",
        "Bearer pgk_0123456789abcdef_" + "A" * 43,
        "Bearer pgk_0123456789abcdef_" + "A" * 42 + "\u00e9",
    ],
)
def test_bad_credentials_are_401_and_audited(client, services, header, payment) -> None:
    headers = {} if header is None else {"Authorization": header.encode("utf-8")}
    response = client.post("/v1/assessments", json=payment(), headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    failures = services.audit.list(tenant_id=None, limit=10)
    assert failures and failures[0].action == "apikey:auth_failed"
    assert "pgk_" not in str(failures[0].details)


def test_wrong_secret_for_a_real_key_is_refused(client, tenant, payment) -> None:
    headers = tenant()
    token = headers["Authorization"]
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    assert (
        client.post(
            "/v1/assessments", json=payment(), headers={"Authorization": forged}
        ).status_code
        == 401
    )


def test_revoked_and_expired_keys_are_refused(client, services, clock, payment) -> None:
    tenant, _ = services.tenants.create_tenant("acme", actor=Actor.system("test"))
    key, raw = services.tenants.issue_key(tenant.id, role=Role.SERVICE, actor=Actor.system("test"))
    headers = {"Authorization": f"Bearer {raw}"}
    assert client.post("/v1/assessments", json=payment(), headers=headers).status_code == 201
    services.tenants.revoke_key(key.id, actor=Actor.system("test"))
    assert client.post("/v1/assessments", json=payment(), headers=headers).status_code == 401
    _, short = services.tenants.issue_key(
        tenant.id,
        role=Role.SERVICE,
        actor=Actor.system("test"),
        expires_at=clock.now() + timedelta(minutes=1),
    )
    headers = {"Authorization": f"Bearer {short}"}
    assert client.post("/v1/assessments", json=payment(), headers=headers).status_code == 201
    clock.advance(timedelta(minutes=2))
    assert client.post("/v1/assessments", json=payment(), headers=headers).status_code == 401
    with pytest.raises(ValidationFailed):
        services.tenants.issue_key(
            tenant.id, role=Role.SERVICE, actor=Actor.system("test"), expires_at=clock.now()
        )
    assert len(services.tenants.keys(tenant.id)) == 3  # the admin key, and the two above


def test_health_and_openapi_need_no_key(client) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["checks"]["database"] is True
    spec = client.get("/openapi.json").json()
    assert "/v1/assessments" in spec["paths"]
    assert "/v1/rules/backtest" in spec["paths"]


def test_openapi_references_all_resolve(client) -> None:
    spec = client.get("/openapi.json").json()
    components = spec["components"]["schemas"]

    def refs(node: object) -> list[str]:
        if isinstance(node, dict):
            found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
            return found + [r for value in node.values() for r in refs(value)]
        if isinstance(node, list):
            return [r for value in node for r in refs(value)]
        return []

    for ref in refs(spec):
        assert ref.startswith("#/components/schemas/"), ref
        assert ref.rsplit("/", 1)[1] in components, ref
    body = spec["paths"]["/v1/assessments"]["post"]["requestBody"]["content"]["application/json"]
    assert body["schema"] == {"$ref": "#/components/schemas/AssessmentRequest"}
    assert "event_id" in components["AssessmentRequest"]["properties"]
