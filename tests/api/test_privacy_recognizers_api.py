"""`/v1/privacy/recognizers`: an admin stores the tenant's own recognizers (YAML) and every
scan and redaction of that tenant runs them at once; any role reads them; bad documents get
a 4xx naming the field and store nothing; other roles may not write; other tenants never see
or use them; every change is audited."""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from payguard.api.app import create_app
from payguard.audit.interfaces import Actor, AuditAction, AuditOutcome
from payguard.core.clock import FrozenClock
from payguard.services import Services, build_services
from payguard.settings import Settings
from payguard.shield.custom import MAX_SOURCE_BYTES
from payguard.tenancy.interfaces import Role

URL = "/v1/privacy/recognizers"
Headers = Callable[..., dict[str, str]]

MEMBER = """\
recognizers:
  - name: member_id
    entity: custom
    patterns:
      - regex: "MBR-[0-9]{8}"
        score: 0.6
    context:
      words: [member]
"""
TEXT = "member MBR-12345678 paid with card 4111 1111 1111 1111"


def _put(client: TestClient, headers: dict[str, str], body: Any) -> Any:
    return client.put(URL, json=body, headers=headers)


def _scan(client: TestClient, headers: dict[str, str], **body: Any) -> list[dict[str, Any]]:
    answer = client.post("/v1/privacy/scan", json=body, headers=headers)
    assert answer.status_code == 200, answer.text
    findings: list[dict[str, Any]] = answer.json()["findings"]
    return findings


def _version(client: TestClient, headers: dict[str, str]) -> int:
    got = client.get(URL, headers=headers)
    assert got.status_code == 200, got.text
    version: int = got.json()["custom"]["version"]
    return version


def test_get_lists_the_builtin_recognizers_and_no_custom_set(
    client: TestClient, tenant: Headers
) -> None:
    got = client.get(URL, headers=tenant("acme"))
    assert got.status_code == 200, got.text
    body = got.json()
    builtin = {r["name"]: r["entities"] for r in body["builtin"]}
    assert builtin["card"] == ["card"] and builtin["intl_phone"] == ["phone"]
    assert body["custom"] == {
        "version": 0,
        "created_at": None,
        "created_by": None,
        "yaml": None,
        "recognizers": [],
    }


def test_put_then_scan_finds_the_partners_entity(client: TestClient, tenant: Headers) -> None:
    admin = tenant("acme")
    before = _scan(client, admin, text=TEXT)
    assert [f["entity"] for f in before] == ["card"]

    put = _put(client, admin, {"yaml": MEMBER})
    assert put.status_code == 200, put.text
    custom = put.json()["custom"]
    assert custom["version"] == 1 and custom["yaml"] == MEMBER
    assert custom["recognizers"] == [{"name": "member_id", "entity": "custom"}]
    assert custom["created_by"].startswith("apikey:") and custom["created_at"]
    assert client.get(URL, headers=admin).json() == put.json()

    found = _scan(client, admin, text=TEXT)
    member = next(f for f in found if f["recognizer"] == "member_id")
    assert member["entity"] == "custom"
    assert TEXT[member["start"] : member["end"]] == "MBR-12345678"
    assert "MBR-12345678" not in str(found)
    assert {f["entity"] for f in found} == {"custom", "card"}
    # The entities filter applies to the partner's recognizers too.
    assert [f["entity"] for f in _scan(client, admin, text=TEXT, entities=["card"])] == ["card"]
    only = _scan(client, admin, text=TEXT, entities=["custom"])
    assert [f["recognizer"] for f in only] == ["member_id"]
    # And they run over documents.
    in_doc = _scan(client, admin, document={"member": {"id": "MBR-12345678"}})
    assert [(f["path"], f["recognizer"]) for f in in_doc] == [("$.member.id", "member_id")]


def test_redact_redacts_the_partners_entity(client: TestClient, tenant: Headers) -> None:
    admin = tenant("acme")
    assert _put(client, admin, {"yaml": MEMBER}).status_code == 200
    answer = client.post(
        "/v1/privacy/redact", json={"text": "member MBR-12345678 joined"}, headers=admin
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["text"] == "member [custom] joined"
    assert answer.json()["counts"] == {"custom": {"redact": 1}}


def test_an_empty_set_removes_them(client: TestClient, tenant: Headers) -> None:
    admin = tenant("acme")
    assert _put(client, admin, {"yaml": MEMBER}).status_code == 200
    emptied = _put(client, admin, {"yaml": "recognizers: []\n"})
    assert emptied.status_code == 200, emptied.text
    assert emptied.json()["custom"]["version"] == 2
    assert emptied.json()["custom"]["recognizers"] == []
    assert [f["entity"] for f in _scan(client, admin, text=TEXT)] == ["card"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"yaml": 5}, "yaml"),
        ({"yaml": None}, "yaml"),
        ({"yaml": ["recognizers: []"]}, "yaml"),
        ({"yaml": ""}, "yaml"),
        ({}, "yaml"),
        ({"yaml": "recognizers: []", "extra": 1}, "extra"),
        ([], "body"),
        ({"yaml": "recognizers: [\n"}, "recognizers"),
        ({"yaml": "- just\n- a list\n"}, "recognizers"),
        ({"yaml": "a: &a [*a, *a]\nb: &b [*a, *a]"}, "recognizers"),
        ({"yaml": "a: !!python/object/apply:os.system [id]"}, "recognizers"),
        (
            {"yaml": "recognizers: [{name: a, patterns: [{regex: '(a+)+$', score: 0.5}]}]"},
            "recognizers[0].patterns[0].regex",
        ),
        (
            {"yaml": "recognizers: [{name: a, patterns: [{regex: '[a-z]+@', score: 0.5}]}]"},
            "recognizers[0].patterns[0].regex",
        ),
        (
            {"yaml": "recognizers: [{name: a, patterns: [{regex: 'A1', score: 1.5}]}]"},
            "recognizers[0].patterns[0].score",
        ),
        (
            {"yaml": "recognizers: [{name: card, patterns: [{regex: 'A1', score: 0.5}]}]"},
            "recognizers[0].name",
        ),
        (
            {"yaml": "recognizers: [{name: a, entity: nope, patterns: [{regex: A1, score: 1}]}]"},
            "recognizers[0].entity",
        ),
    ],
)
def test_a_bad_document_gets_a_422_naming_the_field(
    client: TestClient, tenant: Headers, body: Any, field: str
) -> None:
    admin = tenant("acme")
    answer = _put(client, admin, body)
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"]["field"] == field
    assert _version(client, admin) == 0


def test_malformed_missing_and_oversized_bodies(client: TestClient, tenant: Headers) -> None:
    admin = tenant("acme")
    headers = {**admin, "Content-Type": "application/json"}
    malformed = client.put(URL, content=b'{"yaml": "recog', headers=headers)
    assert malformed.status_code == 400 and malformed.json()["error"]["field"] == "body"
    missing = client.put(URL, headers=admin)
    assert missing.status_code == 422 and missing.json()["error"]["field"] == "body"
    # A document over 64 KiB is a 422 on `yaml`; a body over the bulk limit (4 MiB) a 413,
    # refused unread.
    over = _put(client, admin, {"yaml": "recognizers: []\n#" + "x" * 70_000})
    assert over.status_code == 422 and over.json()["error"]["field"] == "yaml"
    too_big = _put(client, admin, {"yaml": "recognizers: []\n#" + "x" * 5_000_000})
    assert too_big.status_code == 413
    surrogate = client.put(URL, content=b'{"yaml": "recognizers: [] # \\ud800"}', headers=headers)
    assert surrogate.status_code == 422 and surrogate.json()["error"]["field"] == "yaml"
    nul = _put(client, admin, {"yaml": "recognizers: []\nx: \x00"})
    assert nul.status_code == 422 and nul.json()["error"]["field"] == "recognizers"
    assert _version(client, admin) == 0


@pytest.fixture
def big_client(clock: FrozenClock) -> Iterator[tuple[TestClient, Callable[[], dict[str, str]]]]:
    """An app whose body limit admits more than a recognizer document may hold."""
    with tempfile.TemporaryDirectory() as tmp:
        services = build_services(
            Settings(database_url=f"sqlite:///{tmp}/big.db", max_body_bytes=1024 * 1024),
            clock=clock,
        )
        _, key = services.tenants.create_tenant("big", actor=Actor.system("test"))
        with TestClient(create_app(services), raise_server_exceptions=False) as client:
            yield client, lambda: {"Authorization": f"Bearer {key}"}
        services.close()


def test_a_document_over_64_kib_is_refused_naming_yaml(
    big_client: tuple[TestClient, Callable[[], dict[str, str]]],
) -> None:
    client, headers = big_client
    fits = "recognizers: []\n#" + "x" * (MAX_SOURCE_BYTES - 100)
    assert _put(client, headers(), {"yaml": fits}).status_code == 200
    wide = "recognizers: []\n#" + "\u7684" * (MAX_SOURCE_BYTES // 3)  # over 64 KiB of UTF-8
    for source in ("recognizers: []\n#" + "x" * MAX_SOURCE_BYTES, wide):
        answer = _put(client, headers(), {"yaml": source})
        assert answer.status_code == 422, answer.text[:300]
        assert answer.json()["error"]["field"] == "yaml"
    assert _version(client, headers()) == 1


@pytest.mark.parametrize("role", [Role.ANALYST, Role.SERVICE])
def test_any_role_reads_only_an_admin_writes(
    client: TestClient, tenant: Headers, role: Role
) -> None:
    admin = tenant("acme")
    other = tenant("acme", role)
    assert _put(client, admin, {"yaml": MEMBER}).status_code == 200
    got = client.get(URL, headers=other)
    assert got.status_code == 200 and got.json()["custom"]["version"] == 1
    refused = _put(client, other, {"yaml": "recognizers: []"})
    assert refused.status_code == 403
    assert _version(client, admin) == 1
    assert client.get(URL).status_code == 401
    assert client.put(URL, json={"yaml": "recognizers: []"}).status_code == 401


def test_another_tenant_never_sees_or_uses_them(client: TestClient, tenant: Headers) -> None:
    acme, globex = tenant("acme"), tenant("globex")
    assert _put(client, acme, {"yaml": MEMBER}).status_code == 200
    theirs = client.get(URL, headers=globex).json()["custom"]
    assert theirs["version"] == 0 and theirs["yaml"] is None and theirs["recognizers"] == []
    assert [f["entity"] for f in _scan(client, globex, text=TEXT)] == ["card"]
    answer = client.post("/v1/privacy/redact", json={"text": TEXT}, headers=globex)
    assert "MBR-12345678" in answer.json()["text"]
    # Their own set is version 1 of their own, and leaves acme's alone.
    other = MEMBER.replace("member_id", "globex_id")
    assert _put(client, globex, {"yaml": other}).json()["custom"]["version"] == 1
    assert client.get(URL, headers=acme).json()["custom"]["recognizers"] == [
        {"name": "member_id", "entity": "custom"}
    ]


def test_every_change_is_audited(client: TestClient, tenant: Headers, services: Services) -> None:
    admin = tenant("acme")
    assert _put(client, admin, {"yaml": MEMBER}).status_code == 200
    bad = "recognizers: [{name: a, patterns: [{regex: '(a+)+$', score: 0.5}]}]"
    assert _put(client, admin, {"yaml": bad}).status_code == 422
    owner = services.tenants.get_tenant_by_name("acme")
    assert owner is not None
    records = services.audit.list(tenant_id=owner.id, action=AuditAction.PRIVACY_RECOGNIZERS)
    assert sorted((r.outcome.value, r.target) for r in records) == [
        ("failure", "privacy_recognizers"),
        ("success", "privacy_recognizers:v1"),
    ]
    success = next(r for r in records if r.outcome is AuditOutcome.SUCCESS)
    assert success.details == {"version": 1, "count": 1, "recognizers": {"member_id": "custom"}}
    assert success.actor.startswith("apikey:")
    failure = next(r for r in records if r.outcome is AuditOutcome.FAILURE)
    assert failure.details["field"] == "recognizers[0].patterns[0].regex"
    # Scans record counts per entity, never the value.
    _scan(client, admin, text=TEXT)
    [scan] = services.audit.list(tenant_id=owner.id, action=AuditAction.PRIVACY_SCAN)[:1]
    assert scan.details["entities"] == {"card": 1, "custom": 1}
    assert "MBR" not in str(scan.details)
