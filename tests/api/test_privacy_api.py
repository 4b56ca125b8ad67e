"""`/v1/privacy/scan` and `/v1/privacy/redact`: findings without values, redaction by policy
with the tenant's own hashes and tokens, every call audited with counts only, roles, and
malformed, missing, oversized and hostile input answered 4xx naming the field."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable, Iterator
from typing import Any, get_args

import pytest
from fastapi.testclient import TestClient

from payguard.api.app import create_app
from payguard.audit.interfaces import Actor, AuditAction
from payguard.core.clock import FrozenClock
from payguard.services import Services, build_services
from payguard.settings import Settings
from payguard.shield.interfaces import Entity
from payguard.tenancy.interfaces import Role
from payguard.wire.privacy import (
    MAX_DOCUMENT_DEPTH,
    MAX_TEXT_BYTES,
    EntityActionsIn,
    EntityName,
    EntityThresholdsIn,
)

Headers = dict[str, str]

CARD = "4111 1111 1111 1111"
PHONE = "+86 138 0013 8000"
EMAIL = "jane.tan@example.com"
TEXT = f"Card {CARD}, phone {PHONE}, email {EMAIL}, born 1987-03-04"
VALUES = [CARD, CARD.replace(" ", ""), "13800138000", EMAIL, "1987-03-04"]
PEM = (
    "-----BEGIN RSA PRIVATE KEY-----\n"
    + "\n".join(["MIIBOgIBAAJBAKj34GkxFhD90vcNLYLInFEX6Ppy1tPf9Cnzj4p4WGeKLs1Pt8Qu"] * 6)
    + "\n-----END RSA PRIVATE KEY-----"
)


def scan(client: TestClient, headers: Headers, **body: Any) -> Any:
    answer = client.post("/v1/privacy/scan", json=body, headers=headers)
    assert answer.status_code == 200, answer.text
    return answer.json()


def redact(client: TestClient, headers: Headers, **body: Any) -> Any:
    answer = client.post("/v1/privacy/redact", json=body, headers=headers)
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_the_wire_names_every_entity() -> None:
    names = {e.value for e in Entity}
    assert set(get_args(EntityName)) == names
    assert set(EntityActionsIn.model_fields) == names
    assert set(EntityThresholdsIn.model_fields) == names


# -- scan -----------------------------------------------------------------------------------


def test_scan_returns_spans_and_never_the_values(client: TestClient, tenant: Any) -> None:
    answer = client.post("/v1/privacy/scan", json={"text": TEXT}, headers=tenant())
    assert answer.status_code == 200, answer.text
    findings = answer.json()["findings"]
    assert [(f["entity"], TEXT[f["start"] : f["end"]]) for f in findings] == [
        ("card", CARD),
        ("phone", PHONE),
        ("email", EMAIL),
        ("date_of_birth", "1987-03-04"),
    ]
    assert set(findings[0]) == {"entity", "start", "end", "score", "recognizer"}
    for value in VALUES:
        assert value not in answer.text


def test_scan_a_document_gives_each_findings_path(client: TestClient, tenant: Any) -> None:
    document = {"customer": {"phone": "13800138000", "e-mail": EMAIL}, "cards": [CARD]}
    findings = scan(client, tenant(), document=document)["findings"]
    assert [(f["path"], f["entity"], f["start"], f["end"]) for f in findings] == [
        ("$.customer.phone", "phone", 0, 11),
        ("$.customer['e-mail']", "email", 0, len(EMAIL)),
        ("$.cards[0]", "card", 0, len(CARD)),
    ]


def test_keys_are_scanned_and_never_echoed_in_paths(client: TestClient, tenant: Any) -> None:
    # A map keyed by phone numbers: the keys' findings are reported (`key: true`, offsets
    # into the key), and every path shows such a key as `[phone]`, never the number.
    document = {"contacts": {"13800138000": {"mail": EMAIL}, "tel 13900139000": "x"}}
    answer = client.post("/v1/privacy/scan", json={"document": document}, headers=tenant())
    assert answer.status_code == 200, answer.text
    findings = answer.json()["findings"]
    assert [(f["path"], f["entity"], f.get("key"), f["start"], f["end"]) for f in findings] == [
        ("$.contacts['[phone]']", "phone", True, 0, 11),
        ("$.contacts['[phone]'].mail", "email", None, 0, len(EMAIL)),
        ("$.contacts['tel [phone]']", "phone", True, 4, 15),
    ]
    assert "13800138000" not in answer.text and "13900139000" not in answer.text
    out = redact(client, tenant(), document=document, policy={"entities": {"phone": "redact"}})
    assert out["document"] == {
        "contacts": {"[phone]": {"mail": "j***@example.com"}, "tel [phone]": "x"}
    }


def test_scan_filters_entities_and_applies_thresholds(client: TestClient, tenant: Any) -> None:
    headers = tenant()
    only = scan(client, headers, text=TEXT, entities=["card", "email"])["findings"]
    assert [f["entity"] for f in only] == ["card", "email"]
    text = "from 203.0.113.77 and 2001:db8::1"
    sure = scan(client, headers, text=text, thresholds={"ip_address": 0.7})["findings"]
    assert [text[f["start"] : f["end"]] for f in sure] == ["2001:db8::1"]


# -- redact ---------------------------------------------------------------------------------


def test_redact_text_under_the_default_policy(client: TestClient, tenant: Any) -> None:
    headers = tenant()
    token = client.post("/v1/tokens", json={"kind": "pan", "value": CARD}, headers=headers)
    assert token.status_code == 201, token.text
    out = redact(client, headers, text=TEXT)
    card_token = token.json()["tokens"][0]["token"]
    assert out["text"] == (
        f"Card {card_token}, phone +86*******8000, email j***@example.com, born 1987"
    )
    assert out["document"] is None
    assert out["findings"] == 4
    assert out["counts"] == {
        "card": {"tokenize": 1},
        "date_of_birth": {"generalize": 1},
        "email": {"mask": 1},
        "phone": {"mask": 1},
    }
    assert out["vault_refused"] == {}


def test_redact_a_document_by_policy(client: TestClient, tenant: Any) -> None:
    document = {
        "customer": {"email": EMAIL, "phone": "13800138000", "age": 37, "vip": True},
        "cards": [CARD, 4111111111111111],
        "note": "call 13800138000",
    }
    out = redact(
        client,
        tenant(),
        document=document,
        policy={"entities": {"email": "hash", "phone": "redact", "card": "mask"}},
    )
    hashed = out["document"]["customer"]["email"]
    assert hashed.startswith("h:") and len(hashed) == 18
    assert out["document"] == {
        "customer": {"email": hashed, "phone": "[phone]", "age": 37, "vip": True},
        "cards": ["411111******1111", "411111******1111"],
        "note": "call [phone]",
    }
    assert out["text"] is None
    assert out["counts"] == {"card": {"mask": 2}, "email": {"hash": 1}, "phone": {"redact": 2}}


def test_tokens_are_the_same_across_documents_and_differ_between_tenants(
    client: TestClient, tenant: Any
) -> None:
    acme, other = tenant("acme"), tenant("other")
    policy = {"entities": {"email": "tokenize", "phone": "tokenize"}}
    first = redact(client, acme, text=f"card {CARD} mail {EMAIL}", policy=policy)["text"]
    second = redact(client, acme, document={"c": CARD, "m": EMAIL}, policy=policy)["document"]
    assert first == f"card {second['c']} mail {second['m']}"
    assert second["m"].startswith("tok_email_")
    theirs = redact(client, other, document={"c": CARD, "m": EMAIL}, policy=policy)["document"]
    assert theirs["c"] != second["c"] and theirs["m"] != second["m"]


def test_hashes_are_the_same_within_a_tenant_and_differ_between_tenants(
    client: TestClient, tenant: Any
) -> None:
    policy = {"entities": {"email": "hash", "card": "hash"}}
    acme, other = tenant("acme"), tenant("other")
    one = redact(client, acme, text=f"{EMAIL} {CARD}", policy=policy)["text"]
    again = redact(client, acme, text=f"{EMAIL.upper()} {CARD.replace(' ', '')}", policy=policy)
    theirs = redact(client, other, text=f"{EMAIL} {CARD}", policy=policy)["text"]
    assert again["text"] == one
    assert theirs.split()[0] != one.split()[0] and theirs.split()[1] != one.split()[1]


def test_a_value_the_vault_refuses_is_redacted_and_counted(
    client: TestClient, tenant: Any, services: Services
) -> None:
    headers = tenant()
    out = redact(
        client,
        headers,
        text=f"key:\n{PEM}\nand card {CARD}",
        policy={"entities": {"secret": "tokenize"}},
    )
    assert out["text"].startswith("key:\n[secret]\nand card ")
    assert out["vault_refused"] == {"secret": 1}
    assert out["counts"]["secret"] == {"redact": 1}
    assert out["counts"]["card"] == {"tokenize": 1}


# -- audit ----------------------------------------------------------------------------------


def test_every_call_is_audited_with_counts_and_no_values(
    client: TestClient, tenant: Any, services: Services
) -> None:
    headers = tenant()
    scan(client, headers, text=TEXT)
    scan(client, headers, document={"m": EMAIL})
    redact(client, headers, text=TEXT, policy={"entities": {"email": "tokenize"}})
    tenant_id = services.tenants.get_tenant_by_name("acme").id  # type: ignore[union-attr]
    scans = services.audit.list(tenant_id=tenant_id, action=AuditAction.PRIVACY_SCAN)
    redacts = services.audit.list(tenant_id=tenant_id, action=AuditAction.PRIVACY_REDACT)
    assert [r.target for r in scans] == ["privacy:document", "privacy:text"]
    assert scans[1].details == {
        "findings": 4,
        "entities": {"card": 1, "date_of_birth": 1, "email": 1, "phone": 1},
    }
    assert [r.target for r in redacts] == ["privacy:text"]
    assert redacts[0].details["counts"]["email"] == {"tokenize": 1}
    assert redacts[0].actor.startswith("apikey:")
    created = services.audit.list(tenant_id=tenant_id, action=AuditAction.TOKEN_CREATE)
    assert {r.target for r in created} == {"token:pan", "token:email"}
    everything = json.dumps(
        [
            {"target": r.target, "details": r.details}
            for r in services.audit.list(tenant_id=tenant_id, limit=1000)
        ]
    )
    for value in [*VALUES, "jane.tan", "13800138000", "1111111111111111"]:
        assert value not in everything


# -- roles ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "scans", "redacts"),
    [(Role.ADMIN, 200, 200), (Role.SERVICE, 200, 200), (Role.ANALYST, 200, 403)],
)
def test_roles(client: TestClient, tenant: Any, role: Role, scans: int, redacts: int) -> None:
    headers = tenant("acme", role)
    assert client.post("/v1/privacy/scan", json={"text": TEXT}, headers=headers).status_code == (
        scans
    )
    answer = client.post("/v1/privacy/redact", json={"text": TEXT}, headers=headers)
    assert answer.status_code == redacts
    if redacts == 403:
        assert answer.json()["error"]["code"]
        for value in VALUES:
            assert value not in answer.text


@pytest.mark.parametrize("path", ["/v1/privacy/scan", "/v1/privacy/redact"])
def test_no_key_is_401(client: TestClient, path: str) -> None:
    assert client.post(path, json={"text": TEXT}).status_code == 401


# -- bad input ------------------------------------------------------------------------------

BAD: list[tuple[str, Any, str]] = [
    ("neither", {}, "body"),
    ("both", {"text": "a", "document": {"b": 1}}, "body"),
    ("text null", {"text": None}, "body"),
    ("text number", {"text": 5}, "text"),
    ("text list", {"text": ["a"]}, "text"),
    ("text object", {"text": {"a": 1}}, "text"),
    ("document string", {"document": "a"}, "document"),
    ("document list", {"document": [1]}, "document"),
    ("control character", {"text": "a\x01b"}, "text"),
    ("NUL", {"text": "a\x00b"}, "text"),
    ("escape", {"text": "a\x1b[31mb"}, "text"),
    ("control in document", {"document": {"a": "x\x07"}}, "document"),
    ("control in a key", {"document": {"a\x00": "x"}}, "document"),
    ("unknown field", {"text": "a", "mode": "fast"}, "mode"),
    (
        "too deep",
        {"document": json.loads('{"a":' * (MAX_DOCUMENT_DEPTH + 1) + "1" + "}" * 33)},
        "document",
    ),
]


@pytest.mark.parametrize("path", ["/v1/privacy/scan", "/v1/privacy/redact"])
@pytest.mark.parametrize(("body", "field"), [(b, f) for _, b, f in BAD], ids=[n for n, _, _ in BAD])
def test_bad_input_is_422_naming_the_field(
    client: TestClient, tenant: Any, path: str, body: Any, field: str
) -> None:
    answer = client.post(path, json=body, headers=tenant())
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"]["field"] == field


@pytest.mark.parametrize(
    ("policy", "field"),
    [
        ({"entities": {"card": "burn"}}, "policy.entities.card"),
        ({"entities": {"cards": "mask"}}, "policy.entities.cards"),
        ({"entities": {"card": ["mask"]}}, "policy.entities.card"),
        ({"entities": ["card"]}, "policy.entities"),
        ({"thresholds": {"card": 2}}, "policy.thresholds.card"),
        ({"thresholds": {"card": "high"}}, "policy.thresholds.card"),
        ({"action": "mask"}, "policy.action"),
        ("mask", "policy"),
    ],
)
def test_a_bad_policy_is_422_naming_the_field(
    client: TestClient, tenant: Any, policy: Any, field: str
) -> None:
    answer = client.post(
        "/v1/privacy/redact", json={"text": TEXT, "policy": policy}, headers=tenant()
    )
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"]["field"] == field


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"text": "a", "entities": ["nope"]}, "entities[0]"),
        ({"text": "a", "entities": []}, "entities"),
        ({"text": "a", "thresholds": {"phone": -1}}, "thresholds.phone"),
        ({"text": "a", "policy": {}}, "policy"),
    ],
)
def test_bad_scan_options_are_422_naming_the_field(
    client: TestClient, tenant: Any, body: Any, field: str
) -> None:
    answer = client.post("/v1/privacy/scan", json=body, headers=tenant())
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"]["field"] == field


@pytest.mark.parametrize("path", ["/v1/privacy/scan", "/v1/privacy/redact"])
@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"{",
        b"not json",
        b"[]",
        b"null",
        b'"text"',
        b"\xff\xfe",
        b'{"text": "a\\ud800"}',
        b'{"document": {"a": "\\udfff"}}',
        b'{"document": {"a": NaN}}',
        b'{"document": {"a": Infinity}}',
        b'{"document": {"a": 1' + b"0" * 5000 + b"}}",
        b'{"document": ' + b"[" * 20000 + b"]" * 20000 + b"}",
        b'{"text": "a", "text": 5}',
    ],
)
def test_malformed_and_hostile_bodies_are_4xx(
    client: TestClient, tenant: Any, path: str, raw: bytes
) -> None:
    headers = {**tenant(), "Content-Type": "application/json"}
    answer = client.post(path, content=raw, headers=headers)
    assert answer.status_code in (400, 422), answer.text
    assert answer.json()["error"]["code"]


@pytest.mark.parametrize("path", ["/v1/privacy/scan", "/v1/privacy/redact"])
def test_a_body_over_the_bulk_limit_is_413(client: TestClient, tenant: Any, path: str) -> None:
    # The privacy endpoints take bodies up to `max_bulk_body_bytes` (4 MiB by default), not
    # the 64 KiB of the others: a 70 KB text is scanned, a 5 MB body refused unread.
    answer = client.post(path, json={"text": "x" * 70_000 + f" {EMAIL}"}, headers=tenant())
    assert answer.status_code == 200, answer.text[:300]
    answer = client.post(path, json={"text": "x" * 5_000_000}, headers=tenant())
    assert answer.status_code == 413
    assert answer.json()["error"]["code"] == "payload_too_large"


def test_other_endpoints_keep_the_small_body_limit(client: TestClient, tenant: Any) -> None:
    answer = client.post(
        "/v1/tokens", json={"kind": "generic", "values": ["x" * 70_000]}, headers=tenant()
    )
    assert answer.status_code == 413


@pytest.fixture
def big_client(clock: FrozenClock) -> Iterator[tuple[TestClient, Callable[[], Headers]]]:
    """An app whose body limit admits more than the 1 MiB a text may have."""
    with tempfile.TemporaryDirectory() as tmp:
        services = build_services(
            Settings(database_url=f"sqlite:///{tmp}/big.db", max_body_bytes=4 * 1024 * 1024),
            clock=clock,
        )
        _, key = services.tenants.create_tenant("big", actor=Actor.system("test"))
        with TestClient(create_app(services), raise_server_exceptions=False) as client:
            yield client, lambda: {"Authorization": f"Bearer {key}"}
        services.close()


def test_a_text_over_one_mebibyte_is_refused(
    big_client: tuple[TestClient, Callable[[], Headers]],
) -> None:
    client, headers = big_client
    fits = "x" * (MAX_TEXT_BYTES - 100) + f" {EMAIL}"
    answer = client.post("/v1/privacy/scan", json={"text": fits}, headers=headers())
    assert answer.status_code == 200, answer.text[:300]
    assert len(answer.json()["findings"]) == 1
    wide = "的" * (MAX_TEXT_BYTES // 3 + 1)  # under a million characters, over 1 MiB of UTF-8
    for text in ("x" * (MAX_TEXT_BYTES + 1), wide):
        answer = client.post("/v1/privacy/redact", json={"text": text}, headers=headers())
        assert answer.status_code == 422, answer.text[:300]
        assert answer.json()["error"]["field"] == "text"
        assert text[:50] not in answer.text
