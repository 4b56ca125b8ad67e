"""`/v1/vault/policy` (issue 14): an admin reads and replaces the tenant's vault policy, and
tokenize and detokenize follow it at once; bad documents get a 4xx naming the field,
other roles a 403, other tenants see nothing, and every change is audited."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from payguard.audit.interfaces import AuditAction, AuditOutcome
from payguard.services import Services
from payguard.tenancy.interfaces import Role
from payguard.vault.policy import MAX_DETOKENIZE_RATE, MAX_PURPOSES
from payguard.wire import vault_policy as wire

PAN = "4111111111111111"
EMAIL = "ann@example.com"
URL = "/v1/vault/policy"
Headers = Callable[..., dict[str, str]]


def _put(client: TestClient, headers: dict[str, str], body: Any) -> Any:
    return client.put(URL, json=body, headers=headers)


def _detokenize(client: TestClient, headers: dict[str, str], token: str, purpose: str) -> Any:
    return client.post(
        "/v1/tokens/detokenize", json={"tokens": [token], "purpose": purpose}, headers=headers
    )


def test_the_wire_limits_agree_with_the_vault() -> None:
    assert wire.MAX_PURPOSES == MAX_PURPOSES
    assert wire.MAX_DETOKENIZE_RATE == MAX_DETOKENIZE_RATE


def test_get_shows_the_default_as_version_zero(client: TestClient, tenant: Headers) -> None:
    got = client.get(URL, headers=tenant("acme"))
    assert got.status_code == 200, got.text
    body = got.json()
    assert body["version"] == 0 and body["created_by"] is None
    assert body["styles"]["pan"] == {
        "default": "fpe_deterministic",
        "allowed": ["fpe_deterministic", "vault_deterministic", "vault_random"],
    }
    assert body["styles"]["email"]["allowed"] == ["vault_deterministic", "vault_random"]
    assert body["detokenize"] == {
        "admin": ["customer_support", "dispute", "fraud_investigation"],
        "analyst": ["fraud_investigation"],
    }
    assert body["detokenize_rate_per_minute"] == 5000


def test_put_changes_the_default_style_tokenize_uses(client: TestClient, tenant: Headers) -> None:
    admin = tenant("acme")
    before = client.post("/v1/tokens", json={"kind": "pan", "value": PAN}, headers=admin)
    assert before.json()["tokens"][0]["style"] == "fpe_deterministic"

    put = _put(
        client,
        admin,
        {"styles": {"pan": {"default": "vault_random", "allowed": ["vault_random"]}}},
    )
    assert put.status_code == 200, put.text
    assert put.json()["version"] == 1
    assert put.json()["styles"]["pan"] == {"default": "vault_random", "allowed": ["vault_random"]}
    assert put.json()["created_by"].startswith("apikey:")

    after = client.post("/v1/tokens", json={"kind": "pan", "value": PAN}, headers=admin)
    assert after.status_code == 201, after.text
    assert after.json()["tokens"][0]["style"] == "vault_random"
    refused = client.post(
        "/v1/tokens",
        json={"kind": "pan", "value": PAN, "style": "fpe_deterministic"},
        headers=admin,
    )
    assert refused.status_code == 422 and refused.json()["error"]["field"] == "style"
    assert client.get(URL, headers=admin).json()["version"] == 1


def test_put_changes_who_may_detokenize_for_what(client: TestClient, tenant: Headers) -> None:
    admin = tenant("acme")
    analyst = tenant("acme", Role.ANALYST)
    made = client.post("/v1/tokens", json={"kind": "email", "value": EMAIL}, headers=admin)
    token = made.json()["tokens"][0]["token"]
    assert _detokenize(client, analyst, token, "dispute").status_code == 403
    assert _detokenize(client, analyst, token, "fraud_investigation").status_code == 200

    put = _put(client, admin, {"detokenize": {"analyst": ["dispute"], "admin": []}})
    assert put.status_code == 200, put.text

    allowed = _detokenize(client, analyst, token, "dispute")
    assert allowed.status_code == 200, allowed.text
    assert allowed.json()["values"][0]["value"] == EMAIL
    assert _detokenize(client, analyst, token, "fraud_investigation").status_code == 403
    denied = _detokenize(client, admin, token, "dispute")
    assert denied.status_code == 403 and denied.json()["error"]["code"] == "detokenize_denied"


def test_the_rate_limit_comes_from_the_policy(client: TestClient, tenant: Headers) -> None:
    admin = tenant("acme")
    token = client.post("/v1/tokens", json={"kind": "email", "value": EMAIL}, headers=admin)
    token_text = token.json()["tokens"][0]["token"]
    assert _put(client, admin, {"detokenize_rate_per_minute": 1}).status_code == 200
    assert _detokenize(client, admin, token_text, "dispute").status_code == 200
    limited = _detokenize(client, admin, token_text, "dispute")
    assert limited.status_code == 429 and "at most 1 values" in limited.json()["error"]["message"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (
            {"styles": {"iban": {"default": "vault_random", "allowed": ["vault_random"]}}},
            "styles.iban",
        ),
        (
            {"styles": {"pan": {"default": "clear", "allowed": ["vault_random"]}}},
            "styles.pan.default",
        ),
        (
            {
                "styles": {
                    "email": {"default": "fpe_deterministic", "allowed": ["fpe_deterministic"]}
                }
            },
            "styles.email.allowed[0]",
        ),
        (
            {"styles": {"pan": {"default": "vault_random", "allowed": ["vault_deterministic"]}}},
            "styles.pan.default",
        ),
        ({"styles": {"pan": {"default": "vault_random"}}}, "styles.pan.allowed"),
        ({"detokenize": {"root": ["dispute"]}}, "detokenize.root"),
        ({"detokenize": {"analyst": ["dispute", "Bad Purpose"]}}, "detokenize.analyst[1]"),
        ({"detokenize": {"analyst": "dispute"}}, "detokenize.analyst"),
        (
            {"detokenize": {"analyst": [f"p{chr(97 + i)}" for i in range(26)] * 2}},
            "detokenize.analyst",
        ),
        ({"detokenize": {"analyst": ["dispute", "dispute"]}}, "detokenize.analyst[1]"),
        ({"detokenize_rate_per_minute": 0}, "detokenize_rate_per_minute"),
        ({"detokenize_rate_per_minute": "lots"}, "detokenize_rate_per_minute"),
        ({"detokenize_rate_per_minute": 10**12}, "detokenize_rate_per_minute"),
        ({"styles": {}, "owner": "me"}, "owner"),
        ({"styles": ["pan"]}, "styles"),
        ([], "body"),
    ],
)
def test_a_bad_document_gets_a_422_naming_the_field(
    client: TestClient, tenant: Headers, services: Services, body: Any, field: str
) -> None:
    admin = tenant("acme")
    answer = _put(client, admin, body)
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"]["field"] == field
    assert client.get(URL, headers=admin).json()["version"] == 0


def test_malformed_missing_and_oversized_bodies(client: TestClient, tenant: Headers) -> None:
    admin = tenant("acme")
    headers = {**admin, "Content-Type": "application/json"}
    malformed = client.put(URL, content=b'{"styles": {', headers=headers)
    assert malformed.status_code == 400 and malformed.json()["error"]["field"] == "body"
    missing = client.put(URL, headers=admin)
    assert missing.status_code == 422 and missing.json()["error"]["field"] == "body"
    huge = b'{"detokenize": {"analyst": [' + b'"dispute",' * 20_000 + b'"dispute"]}}'
    too_big = client.put(URL, content=huge, headers=headers)
    assert too_big.status_code == 413
    deep = b'{"styles": ' * 2000 + b"{}" + b"}" * 2000
    nested = client.put(URL, content=deep, headers=headers)
    assert 400 <= nested.status_code < 500
    assert client.get(URL, headers=admin).json()["version"] == 0


@pytest.mark.parametrize("role", [Role.ANALYST, Role.SERVICE])
def test_only_an_admin_reads_or_changes_the_policy(
    client: TestClient, tenant: Headers, role: Role
) -> None:
    tenant("acme")
    other = tenant("acme", role)
    assert client.get(URL, headers=other).status_code == 403
    put = _put(client, other, {"detokenize": {role.value: ["dispute"]}})
    assert put.status_code == 403
    assert client.get(URL, headers=tenant("acme")).json()["version"] == 0
    assert client.get(URL).status_code == 401


def test_another_tenant_never_sees_or_gets_the_policy(client: TestClient, tenant: Headers) -> None:
    acme, globex = tenant("acme"), tenant("globex")
    assert _put(client, acme, {"detokenize": {"admin": []}}).status_code == 200
    theirs = client.get(URL, headers=globex).json()
    assert theirs["version"] == 0 and "admin" in theirs["detokenize"]
    made = client.post("/v1/tokens", json={"kind": "email", "value": EMAIL}, headers=globex)
    token = made.json()["tokens"][0]["token"]
    assert _detokenize(client, globex, token, "dispute").status_code == 200


def test_every_change_is_audited(client: TestClient, tenant: Headers, services: Services) -> None:
    admin = tenant("acme")
    assert _put(client, admin, {"detokenize": {"analyst": ["dispute"]}}).status_code == 200
    assert _put(client, admin, {"detokenize_rate_per_minute": 0}).status_code == 422
    owner = services.tenants.get_tenant_by_name("acme")
    assert owner is not None
    records = services.audit.list(tenant_id=owner.id, action=AuditAction.VAULT_POLICY)
    outcomes = sorted((r.outcome, r.target) for r in records)
    assert (AuditOutcome.SUCCESS, "vault_policy:v1") in outcomes
    success = next(r for r in records if r.outcome is AuditOutcome.SUCCESS)
    assert success.details["document"] == {"detokenize": {"analyst": ["dispute"]}}
    assert success.actor.startswith("apikey:")
