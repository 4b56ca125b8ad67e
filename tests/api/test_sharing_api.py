"""`/v1/sharing` end to end (issue 15): register, consent, export, report over HTTP; roles;
tenant isolation; and bad input (malformed JSON, missing, extra and unknown fields, hostile
strings, oversized exports) answered with a 4xx naming the field, never a 500, never
half-written."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from payguard.api.app import create_app
from payguard.core.clock import FrozenClock
from payguard.services import Services, build_services
from payguard.settings import Settings
from payguard.sharing import service as sharing_service
from payguard.tenancy.interfaces import Role
from payguard.wire import sharing as wire

Headers = Callable[..., dict[str, str]]

RECIPIENT = {
    "id": "insurer-ax",
    "name": "AX Insurance",
    "min_k": 2,
    "quasi_identifiers": ["age", "zip"],
}
REQUEST = {
    "id": "claims-review",
    "recipient": "insurer-ax",
    "purpose": "claims_review",
    "fields": {"age": "generalize", "zip": "generalize", "email": "tokenize", "total": "raw"},
    "retention_days": 90,
}
EXPIRES = "2026-09-01T00:00:00Z"


def _records(count: int) -> list[dict[str, Any]]:
    return [
        {
            "subject_id": f"cust-{n}",
            "age": 34,
            "zip": "018956",
            "email": f"u{n}@example.com",
            "total": n,
            "secret": "do not share",
        }
        for n in range(count)
    ]


def _setup(client: TestClient, admin: dict[str, str], subjects: int = 3) -> None:
    assert client.post("/v1/sharing/recipients", json=RECIPIENT, headers=admin).status_code == 201
    assert client.post("/v1/sharing/requests", json=REQUEST, headers=admin).status_code == 201
    for n in range(subjects):
        answer = client.post(
            "/v1/sharing/consents",
            json={"subject_id": f"cust-{n}", "request_id": "claims-review", "expires_at": EXPIRES},
            headers=admin,
        )
        assert answer.status_code == 201, answer.text


def test_the_wire_limits_agree_with_the_service() -> None:
    assert wire.MAX_RECORDS == sharing_service.MAX_RECORDS
    assert wire.MAX_FIELDS == sharing_service.MAX_FIELDS
    assert wire.MAX_VALUE_LENGTH == sharing_service.MAX_VALUE_LENGTH


def test_register_consent_export_report(client: TestClient, tenant: Headers) -> None:
    admin = tenant()
    backend = tenant(role=Role.SERVICE)
    _setup(client, admin)
    listed = client.get("/v1/sharing/requests", headers=admin).json()["requests"]
    assert [r["id"] for r in listed] == ["claims-review"]
    one = client.get("/v1/sharing/requests/claims-review", headers=admin).json()
    assert one["fields"]["email"] == "tokenize" and one["closed_at"] is None
    assert client.get("/v1/sharing/recipients", headers=admin).json()["recipients"][0]["min_k"] == 2

    answer = client.post(
        "/v1/sharing/exports",
        json={"request_id": "claims-review", "records": _records(4)},
        headers=backend,
    )
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert body["exported"] == 3 and body["dropped_without_consent"] == 1 and body["k"] == 3
    assert body["recipient"] == "insurer-ax" and body["purpose"] == "claims_review"
    for record in body["records"]:
        assert set(record) == {"age", "zip", "email", "total"}
        assert record["age"] == "[30, 40)" and record["email"].startswith("tok_email_")
    assert "do not share" not in answer.text and "example.com" not in answer.text

    revoked = client.delete("/v1/sharing/consents/cust-0/claims-review", headers=backend)
    assert revoked.status_code == 200 and revoked.json()["revoked_at"] is not None
    report = client.get("/v1/sharing/subjects/cust-0", headers=backend).json()
    assert report["consents"][0]["revoked_at"] is not None
    assert report["consents"][0]["recipient"] == "insurer-ax"
    [export] = report["exports"]
    assert export["export_id"] == body["export_id"] and export["purpose"] == "claims_review"
    assert export["recipient"] == "insurer-ax"
    assert export["fields"] == ["age", "email", "total", "zip"]

    # Below the recipient's k (2 consenting subjects left, one record): nothing leaves.
    refused = client.post(
        "/v1/sharing/exports",
        json={"request_id": "claims-review", "records": _records(2)},
        headers=backend,
    )
    assert refused.status_code == 422
    error = refused.json()["error"]
    assert error["code"] == "k_anonymity_too_low" and "1-anonymous" in error["message"]
    assert "records" not in refused.json()
    assert len(client.get("/v1/sharing/subjects/cust-1", headers=backend).json()["exports"]) == 1

    closed = client.delete("/v1/sharing/requests/claims-review", headers=admin)
    assert closed.status_code == 200 and closed.json()["closed_at"] is not None
    after = client.post(
        "/v1/sharing/exports",
        json={"request_id": "claims-review", "records": _records(3)},
        headers=backend,
    )
    assert after.status_code == 409 and after.json()["error"]["code"] == "request_closed"


def test_roles(client: TestClient, tenant: Headers) -> None:
    admin, analyst, backend = tenant(), tenant(role=Role.ANALYST), tenant(role=Role.SERVICE)
    for headers in (analyst, backend):
        assert (
            client.post("/v1/sharing/recipients", json=RECIPIENT, headers=headers).status_code
            == 403
        )
    _setup(client, admin, subjects=0)
    for headers in (analyst, backend):
        assert client.post("/v1/sharing/requests", json=REQUEST, headers=headers).status_code == 403
        assert (
            client.delete("/v1/sharing/requests/claims-review", headers=headers).status_code == 403
        )
    consent = {"subject_id": "c-1", "request_id": "claims-review", "expires_at": EXPIRES}
    assert client.post("/v1/sharing/consents", json=consent, headers=analyst).status_code == 403
    assert client.post("/v1/sharing/consents", json=consent, headers=backend).status_code == 201
    export = {"request_id": "claims-review", "records": []}
    assert client.post("/v1/sharing/exports", json=export, headers=analyst).status_code == 403
    assert client.get("/v1/sharing/subjects/c-1", headers=analyst).status_code == 403
    assert client.get("/v1/sharing/requests", headers=analyst).status_code == 200
    assert client.get("/v1/sharing/subjects/c-1").status_code == 401


def test_tenant_b_sees_nothing_of_tenant_a(client: TestClient, tenant: Headers) -> None:
    a, b = tenant("acme"), tenant("globex")
    _setup(client, a)
    client.post(
        "/v1/sharing/exports",
        json={"request_id": "claims-review", "records": _records(3)},
        headers=a,
    )
    assert client.get("/v1/sharing/requests", headers=b).json() == {"requests": []}
    assert client.get("/v1/sharing/recipients", headers=b).json() == {"recipients": []}
    assert client.get("/v1/sharing/requests/claims-review", headers=b).status_code == 404
    assert client.delete("/v1/sharing/requests/claims-review", headers=b).status_code == 404
    assert client.delete("/v1/sharing/consents/cust-0/claims-review", headers=b).status_code == 404
    report = client.get("/v1/sharing/subjects/cust-0", headers=b).json()
    assert report == {"subject_id": "cust-0", "consents": [], "exports": []}
    answer = client.post(
        "/v1/sharing/exports",
        json={"request_id": "claims-review", "records": _records(3)},
        headers=b,
    )
    assert answer.status_code == 404
    consent = {"subject_id": "cust-0", "request_id": "claims-review", "expires_at": EXPIRES}
    assert client.post("/v1/sharing/consents", json=consent, headers=b).status_code == 404
    request = {**REQUEST, "id": "mine"}
    assert client.post("/v1/sharing/requests", json=request, headers=b).status_code == 404
    # Tenant A still has its one export, untouched.
    assert len(client.get("/v1/sharing/subjects/cust-0", headers=a).json()["exports"]) == 1


HOSTILE = "<script>alert(1)</script>'; DROP TABLE x;--"


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/v1/sharing/recipients", {**RECIPIENT, "id": HOSTILE}, "id"),
        ("/v1/sharing/recipients", {**RECIPIENT, "min_k": 0}, "min_k"),
        ("/v1/sharing/recipients", {**RECIPIENT, "min_k": True}, "min_k"),
        (
            "/v1/sharing/recipients",
            {**RECIPIENT, "quasi_identifiers": [HOSTILE]},
            "quasi_identifiers[0]",
        ),
        ("/v1/sharing/recipients", {**RECIPIENT, "extra": 1}, "extra"),
        ("/v1/sharing/recipients", {"id": "x"}, "name"),
        ("/v1/sharing/recipients", {**RECIPIENT, "name": "\x00"}, "name"),
        ("/v1/sharing/requests", {**REQUEST, "purpose": "Claims Review"}, "purpose"),
        ("/v1/sharing/requests", {**REQUEST, "fields": {HOSTILE: "raw"}}, "fields"),
        ("/v1/sharing/requests", {**REQUEST, "fields": {"email": "encrypt"}}, "fields"),
        ("/v1/sharing/requests", {**REQUEST, "fields": {}}, "fields"),
        ("/v1/sharing/requests", {**REQUEST, "fields": {"pan": "raw"}}, "fields.pan"),
        ("/v1/sharing/requests", {**REQUEST, "retention_days": 3651}, "retention_days"),
        ("/v1/sharing/requests", {**REQUEST, "legal_basis": "contract"}, "legal_basis"),
        (
            "/v1/sharing/requests",
            {k: v for k, v in REQUEST.items() if k != "recipient"},
            "recipient",
        ),
        (
            "/v1/sharing/consents",
            {"subject_id": "c", "request_id": "claims-review", "expires_at": "2027-01-01"},
            "expires_at",
        ),
        (
            "/v1/sharing/consents",
            {
                "subject_id": "c",
                "request_id": "claims-review",
                "expires_at": "2020-01-01T00:00:00Z",
            },
            "expires_at",
        ),
        (
            "/v1/sharing/consents",
            {"subject_id": HOSTILE, "request_id": "claims-review", "expires_at": EXPIRES},
            "subject_id",
        ),
        ("/v1/sharing/exports", {"request_id": "claims-review"}, "records"),
        (
            "/v1/sharing/exports",
            {"request_id": "claims-review", "records": [{"age": 3}]},
            "records[0].subject_id",
        ),
        (
            "/v1/sharing/exports",
            {"request_id": "claims-review", "records": [{"subject_id": HOSTILE}]},
            "records[0].subject_id",
        ),
        ("/v1/sharing/exports", {"request_id": "claims-review", "records": ["x"]}, "records[0]"),
        (
            "/v1/sharing/exports",
            {"request_id": "claims-review", "records": [{"subject_id": "cust-0", "age": {"a": 1}}]},
            "records[0]",
        ),
        (
            "/v1/sharing/exports",
            {
                "request_id": "claims-review",
                "records": [{"subject_id": "cust-0", "age": "x" * 257}],
            },
            "records[0]",
        ),
    ],
)
def test_bad_input_is_a_422_naming_the_field(
    client: TestClient, tenant: Headers, path: str, body: dict[str, Any], field: str
) -> None:
    admin = tenant()
    _setup(client, admin, subjects=1)
    answer = client.post(path, json=body, headers=admin)
    assert answer.status_code == 422, answer.text
    error = answer.json()["error"]
    assert error["field"] == field, error
    assert "<script>" not in answer.text and "DROP TABLE" not in answer.text
    assert client.get("/v1/sharing/subjects/cust-0", headers=admin).json()["exports"] == []


def test_unknown_ids_are_404s_and_malformed_json_a_400(client: TestClient, tenant: Headers) -> None:
    admin = tenant()
    assert client.get("/v1/sharing/requests/nope", headers=admin).status_code == 404
    assert client.get("/v1/sharing/requests/bad%20id", headers=admin).status_code == 422
    assert client.delete("/v1/sharing/consents/a/b", headers=admin).status_code == 404
    answer = client.post(
        "/v1/sharing/exports", json={"request_id": "nope", "records": []}, headers=admin
    )
    assert answer.status_code == 404
    assert client.post("/v1/sharing/requests", json=REQUEST, headers=admin).status_code == 404
    malformed = client.post(
        "/v1/sharing/exports",
        content=b'{"request_id": "x", "records": [',
        headers={**admin, "content-type": "application/json"},
    )
    assert malformed.status_code == 400 and malformed.json()["error"]["code"] == "malformed_json"
    _setup(client, admin, subjects=0)
    again = client.post("/v1/sharing/recipients", json=RECIPIENT, headers=admin)
    assert again.status_code == 409


@pytest.fixture
def roomy_services(tmp_path: Path, clock: FrozenClock) -> Iterator[Services]:
    settings = Settings(
        database_url=f"sqlite:///{tmp_path}/roomy.db",
        cache_ttl_seconds=0,
        max_body_bytes=8 * 1024 * 1024,
    )
    built = build_services(settings, clock=clock)
    yield built
    built.close()


def test_an_export_over_10000_records_is_a_413_and_stores_nothing(
    roomy_services: Services, client: TestClient, tenant: Headers
) -> None:
    with TestClient(create_app(roomy_services), raise_server_exceptions=False) as roomy:
        from payguard.audit.interfaces import Actor

        _, key = roomy_services.tenants.create_tenant("big", actor=Actor.system("test"))
        admin = {"Authorization": f"Bearer {key}"}
        _setup(roomy, admin, subjects=0)
        records = [{"subject_id": f"s-{n}"} for n in range(10_001)]
        answer = roomy.post(
            "/v1/sharing/exports",
            json={"request_id": "claims-review", "records": records},
            headers=admin,
        )
        assert answer.status_code == 413, answer.text[:300]
        ok = roomy.post(
            "/v1/sharing/exports",
            json={"request_id": "claims-review", "records": records[:10_000]},
            headers=admin,
        )
        assert ok.status_code == 201 and ok.json()["dropped_without_consent"] == 10_000
    # With the default body limit the server refuses it before reading it.
    admin = tenant()
    answer = client.post(
        "/v1/sharing/exports",
        json={"request_id": "claims-review", "records": records},
        headers=admin,
    )
    assert answer.status_code == 413
