"""Hostile input to `/v1/devices/...`: malformed, missing, unknown, oversized, mistyped and
out-of-range input is a 4xx naming the field, never a 500; roles are enforced; a refused
report or list change writes nothing; the network-wide community lists keep hashes only."""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from tests.devices.softattest import SoftAppAttest, SoftPlayIntegrity

from payguard.api.app import create_app
from payguard.audit.interfaces import Actor
from payguard.core.clock import FrozenClock
from payguard.devices.service import canonical, client_data
from payguard.services import Services, build_services
from payguard.settings import Settings
from payguard.tenancy.interfaces import Role

PACKAGE = "com.example.pay"
GENUINE = "ab" * 32
HASHED = "e" * 64
NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
JSON = {"Content-Type": "application/json"}
POSTURE: dict[str, Any] = {
    "platform": "android",
    "os_version": "14",
    "security_patch": "2026-02-05",
    "rooted": False,
    "emulator": False,
    "debugger": False,
    "hooking": False,
    "screen_lock": True,
    "disk_encrypted": True,
    "protection_on": True,
    "protection_updated_at": "2026-03-01",
    "risky_apps": [],
    "app_package": PACKAGE,
    "app_signing_digest": GENUINE,
    "app_version": "5.2.1",
    "vpn": False,
    "proxy": False,
    "sensors_plausible": True,
}
BOOLEANS = [
    "rooted",
    "emulator",
    "debugger",
    "hooking",
    "screen_lock",
    "disk_encrypted",
    "protection_on",
    "vpn",
    "proxy",
    "sensors_plausible",
]
REPORT: dict[str, Any] = {
    "nonce": "n" * 22,
    "reported_at": NOW.isoformat(),
    "account_id": "acct-1",
    "fingerprint": "fp-1",
    "posture": POSTURE,
}
APPS: dict[str, Any] = {"apps": [{"package": PACKAGE, "signing_digests": [GENUINE]}]}
COMMUNITY: dict[str, Any] = {
    "entries": [{"kind": "device_fingerprint", "identifier": "fp-bad", "confidence": 90}]
}
REMOVE: dict[str, Any] = {"kind": "device_fingerprint", "hashed": [HASHED]}
LOOKUP: dict[str, Any] = {"kind": "device_fingerprint", "identifiers": ["fp-bad"]}

# Every devices endpoint that reads a JSON body: a valid body, and the fields it cannot do
# without.
ENDPOINTS: list[tuple[str, str, dict[str, Any], list[str]]] = [
    ("POST", "/v1/devices/dev-x/reports", REPORT, ["nonce", "reported_at", "posture"]),
    ("PUT", "/v1/devices/apps", APPS, ["apps"]),
    ("POST", "/v1/devices/community", COMMUNITY, ["entries"]),
    ("POST", "/v1/devices/community/remove", REMOVE, ["kind", "hashed"]),
    ("POST", "/v1/devices/community/lookup", LOOKUP, ["kind", "identifiers"]),
]
IDS = [f"{method} {path}" for method, path, _, _ in ENDPOINTS]
WITH_REQUIRED = [
    (method, path, body, field) for method, path, body, required in ENDPOINTS for field in required
]


def dumps(body: Any) -> bytes:
    """Compact JSON as a hostile client sends it (lone surrogates escaped as `\\udXXX`)."""
    return json.dumps(body, separators=(",", ":")).encode()


def sha(identifier: str) -> str:
    return hashlib.sha256(identifier.strip().lower().encode()).hexdigest()


def field_error(response, field: str, status: int = 422) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["field"] == field, error
    return error


# -- a shared deployment for the validation matrix -----------------------------------------


@dataclass
class Deployment:
    client: TestClient
    headers: dict[str, str]
    services: Services
    clock: FrozenClock
    play: SoftPlayIntegrity
    apple: SoftAppAttest
    devices: Iterator[int]

    def send(self, method: str, path: str, body: Any = None, **kwargs: Any):
        headers = {**self.headers, **kwargs.pop("headers", {})}
        if body is not None:
            kwargs["content"] = body if isinstance(body, bytes) else dumps(body)
            headers = {**JSON, **headers}
        return self.client.request(method, path, headers=headers, **kwargs)

    def fresh(self) -> str:
        """A device id no test has reported yet."""
        return f"fresh-{next(self.devices)}"

    def report(self, posture: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
        return {
            "nonce": secrets.token_urlsafe(16),
            "reported_at": self.clock.now().isoformat(),
            "account_id": "acct-1",
            "fingerprint": "fp-1",
            "posture": dict(POSTURE if posture is None else posture),
            **extra,
        }

    def post_report(self, device: str, body: Any):
        return self.send("POST", f"/v1/devices/{device}/reports", body)

    def unrecorded(self, device: str) -> None:
        """The device was never recorded, and no report of it was audited."""
        shown = self.send("GET", f"/v1/devices/{device}/health")
        assert shown.status_code == 404, shown.text
        audit = self.send("GET", "/v1/audit", params={"action": "device:report", "limit": 1000})
        assert f"device:{device}" not in [r["target"] for r in audit.json()]


@pytest.fixture(scope="module")
def shared(tmp_path_factory) -> Iterator[Deployment]:
    """One deployment, with Play Integrity and App Attest configured, for the many cases that
    are refused (and so change nothing); each report goes to a device of its own."""
    tmp = tmp_path_factory.mktemp("devices-input")
    clock = FrozenClock(NOW)
    play = SoftPlayIntegrity()
    apple = SoftAppAttest(now=clock.now())
    decryption, verification = play.console_keys
    built = build_services(
        Settings(
            database_url=f"sqlite:///{tmp}/input.db",
            cache_ttl_seconds=0,
            argon2_time_cost=1,
            argon2_memory_kib=8192,
            play_integrity_keys={
                PACKAGE: {"decryption_key": decryption, "verification_key": verification}
            },
            app_attest_team_id=apple.config().team_id,
            app_attest_bundle_id=apple.config().bundle_id,
            app_attest_roots=[apple.root_pem],
            app_attest_production=apple.config().production,
        ),
        clock=clock,
    )
    _, key = built.tenants.create_tenant("acme", actor=Actor.system("test"))
    try:
        with TestClient(create_app(built), raise_server_exceptions=False) as client:
            yield Deployment(
                client=client,
                headers={"Authorization": f"Bearer {key}"},
                services=built,
                clock=clock,
                play=play,
                apple=apple,
                devices=itertools.count(),
            )
    finally:
        built.close()


def community_empty(dep: Deployment, identifiers: list[str], kind: str = "device_fingerprint"):
    found = dep.send(
        "POST", "/v1/devices/community/lookup", {"kind": kind, "identifiers": identifiers}
    )
    assert found.status_code == 200, found.text
    assert found.json()["entries"] == []


# -- malformed, not an object, missing, unknown, oversized ---------------------------------


@pytest.mark.parametrize("raw", [b"{", b'{"a": 1,}', b"{'a': 1}", b"not json", b"\xff\xfe{}"])
@pytest.mark.parametrize(("method", "path", "body", "required"), ENDPOINTS, ids=IDS)
def test_malformed_json_is_400_naming_the_body(shared, method, path, body, required, raw) -> None:
    response = shared.send(method, path, raw)
    error = field_error(response, "body", 400)
    assert error["code"] == "malformed_json"
    shared.unrecorded("dev-x")


@pytest.mark.parametrize("raw", [b"", b"[]", b"null", b'"text"', b"42", b"[{}]"])
@pytest.mark.parametrize(("method", "path", "body", "required"), ENDPOINTS, ids=IDS)
def test_a_body_that_is_not_an_object_is_422(shared, method, path, body, required, raw) -> None:
    field_error(shared.send(method, path, raw), "body")


@pytest.mark.parametrize(
    ("method", "path", "body", "missing"),
    WITH_REQUIRED,
    ids=[f"{m} {p} -{f}" for m, p, _, f in WITH_REQUIRED],
)
def test_a_missing_required_field_is_422_naming_it(shared, method, path, body, missing) -> None:
    partial = {k: v for k, v in body.items() if k != missing}
    error = field_error(shared.send(method, path, partial), missing)
    assert error["code"] == "validation_failed"
    shared.unrecorded("dev-x")


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        (
            "POST",
            "/v1/devices/dev-x/reports",
            {**REPORT, "posture": {k: v for k, v in POSTURE.items() if k != "platform"}},
            "posture.platform",
        ),
        (
            "POST",
            "/v1/devices/dev-x/reports",
            {**REPORT, "posture": {**POSTURE, "risky_apps": [{"package": "com.anydesk"}]}},
            "posture.risky_apps[0].kind",
        ),
        (
            "POST",
            "/v1/devices/dev-x/reports",
            {**REPORT, "signature": {"timestamp": 1}},
            "signature.signature",
        ),
        (
            "POST",
            "/v1/devices/dev-x/reports",
            {**REPORT, "signature": {"signature": "AAAA"}},
            "signature.timestamp",
        ),
        (
            "POST",
            "/v1/devices/dev-x/reports",
            {**REPORT, "play_integrity": {}},
            "play_integrity.token",
        ),
        (
            "POST",
            "/v1/devices/dev-x/reports",
            {**REPORT, "app_attest": {"assertion": "AAAA"}},
            "app_attest.key_id",
        ),
        ("PUT", "/v1/devices/apps", {"apps": [{"signing_digests": [GENUINE]}]}, "apps[0].package"),
        ("PUT", "/v1/devices/apps", {"apps": [{"package": PACKAGE}]}, "apps[0].signing_digests"),
        ("POST", "/v1/devices/community", {"entries": [{"hashed": HASHED}]}, "entries[0].kind"),
    ],
)
def test_a_missing_nested_field_is_422_naming_its_path(shared, method, path, body, field) -> None:
    field_error(shared.send(method, path, body), field)
    shared.unrecorded("dev-x")


@pytest.mark.parametrize("name", ["bogus", "__proto__", "tenant_id", "Nonce", "device_id"])
@pytest.mark.parametrize(("method", "path", "body", "required"), ENDPOINTS, ids=IDS)
def test_an_unknown_field_is_422_naming_it(shared, method, path, body, required, name) -> None:
    field_error(shared.send(method, path, {**body, name: True}), name)
    shared.unrecorded("dev-x")


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        (
            "POST",
            "/v1/devices/dev-x/reports",
            {**REPORT, "posture": {**POSTURE, "surprise": 1}},
            "posture.surprise",
        ),
        (
            "POST",
            "/v1/devices/dev-x/reports",
            {**REPORT, "posture": {**POSTURE, "risky_apps": [{"kind": "overlay", "x": 1}]}},
            "posture.risky_apps[0].x",
        ),
        (
            "POST",
            "/v1/devices/dev-x/reports",
            {**REPORT, "signature": {"signature": "AAAA", "timestamp": 1, "alg": "none"}},
            "signature.alg",
        ),
        (
            "POST",
            "/v1/devices/dev-x/reports",
            {**REPORT, "play_integrity": {"token": "x", "verdict": "strong"}},
            "play_integrity.verdict",
        ),
        (
            "POST",
            "/v1/devices/dev-x/reports",
            {**REPORT, "app_attest": {"key_id": "k", "assertion": "AAAA", "trusted": True}},
            "app_attest.trusted",
        ),
        (
            "PUT",
            "/v1/devices/apps",
            {"apps": [{"package": PACKAGE, "signing_digests": [GENUINE], "tenant_id": "x"}]},
            "apps[0].tenant_id",
        ),
        (
            "POST",
            "/v1/devices/community",
            {"entries": [{"kind": "app_digest", "hashed": HASHED, "source": "feed:google"}]},
            "entries[0].source",
        ),
        (
            "POST",
            "/v1/devices/community",
            {"entries": [{"kind": "app_digest", "hashed": HASHED, "added_at": NOW.isoformat()}]},
            "entries[0].added_at",
        ),
    ],
)
def test_an_unknown_nested_field_is_422_naming_its_path(shared, method, path, body, field) -> None:
    field_error(shared.send(method, path, body), field)
    shared.unrecorded("dev-x")
    community_empty(shared, ["fp-bad"])


@pytest.mark.parametrize(("method", "path", "body", "required"), ENDPOINTS, ids=IDS)
def test_a_body_over_64_kib_is_413(shared, method, path, body, required) -> None:
    response = shared.send(method, path, {**body, "padding": "x" * (64 * 1024)})
    assert response.status_code == 413, response.text
    assert response.json()["error"]["code"] == "payload_too_large"
    shared.unrecorded("dev-x")


def test_a_report_whose_posture_alone_is_over_64_kib_is_413(shared) -> None:
    device = shared.fresh()
    posture = {**POSTURE, "os_version": "x" * (65 * 1024)}
    response = shared.post_report(device, shared.report(posture))
    assert response.status_code == 413, response.text
    shared.unrecorded(device)


# -- collection limits ---------------------------------------------------------------------


def test_risky_apps_are_at_most_50(shared) -> None:
    device = shared.fresh()
    many = [{"kind": "remote_access", "package": f"com.app{i}"} for i in range(51)]
    refused = shared.post_report(device, shared.report({**POSTURE, "risky_apps": many}))
    field_error(refused, "posture.risky_apps")
    shared.unrecorded(device)
    kept = shared.post_report(device, shared.report({**POSTURE, "risky_apps": many[:50]}))
    assert kept.status_code == 201, kept.text


def test_community_entries_are_at_most_1000(client, tenant) -> None:
    headers = {**tenant(), **JSON}
    entries = [{"kind": "app_digest", "identifier": f"i{i}"} for i in range(1001)]
    refused = client.post(
        "/v1/devices/community", content=dumps({"entries": entries}), headers=headers
    )
    field_error(refused, "entries")
    found = client.post(
        "/v1/devices/community/lookup",
        json={"kind": "app_digest", "identifiers": ["i0", "i999", "i1000"]},
        headers=headers,
    )
    assert found.json()["entries"] == []
    kept = client.post(
        "/v1/devices/community", content=dumps({"entries": entries[:1000]}), headers=headers
    )
    assert kept.status_code == 201, kept.text
    assert kept.json()["changed"] == 1000 and len(kept.json()["hashed"]) == 1000


def test_an_empty_community_change_is_422(shared) -> None:
    field_error(shared.send("POST", "/v1/devices/community", {"entries": []}), "entries")
    field_error(
        shared.send("POST", "/v1/devices/community/remove", {**REMOVE, "hashed": []}), "hashed"
    )
    field_error(
        shared.send("POST", "/v1/devices/community/lookup", {**LOOKUP, "identifiers": []}),
        "identifiers",
    )


def test_lookup_identifiers_are_at_most_1000(shared) -> None:
    identifiers = [f"id-{i}" for i in range(1001)]
    refused = shared.send(
        "POST", "/v1/devices/community/lookup", {**LOOKUP, "identifiers": identifiers}
    )
    field_error(refused, "identifiers")
    answered = shared.send(
        "POST", "/v1/devices/community/lookup", {**LOOKUP, "identifiers": identifiers[:1000]}
    )
    assert answered.status_code == 200 and answered.json() == {"entries": []}


def test_more_than_1000_hashes_to_remove_do_not_fit_in_a_body(shared) -> None:
    # 1001 hashes are over 64 KiB of JSON: the body limit refuses them before the schema does.
    response = shared.send(
        "POST", "/v1/devices/community/remove", {**REMOVE, "hashed": [HASHED] * 1001}
    )
    assert response.status_code == 413, response.text


def test_apps_are_at_most_50_with_at_most_10_digests_each(client, tenant) -> None:
    headers = tenant()
    digests = [f"{i:02x}" * 32 for i in range(11)]
    many = [{"package": f"com.example.app{i}", "signing_digests": [GENUINE]} for i in range(51)]
    field_error(client.put("/v1/devices/apps", json={"apps": many}, headers=headers), "apps")
    too_many_digests = {"apps": [{"package": PACKAGE, "signing_digests": digests}]}
    field_error(
        client.put("/v1/devices/apps", json=too_many_digests, headers=headers),
        "apps[0].signing_digests",
    )
    assert client.get("/v1/devices/apps", headers=headers).json() == {"apps": []}
    kept = client.put(
        "/v1/devices/apps",
        json={"apps": [{**many[0], "signing_digests": digests[:10]}, *many[1:50]]},
        headers=headers,
    )
    assert kept.status_code == 200, kept.text
    assert len(kept.json()["apps"]) == 50
    assert len(kept.json()["apps"][0]["signing_digests"]) == 10


# -- wrong types ---------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["true", "false", 1, 0, 1.0, "yes", [True], {"v": True}])
@pytest.mark.parametrize("name", BOOLEANS)
def test_posture_booleans_are_strict(shared, name, value) -> None:
    device = shared.fresh()
    refused = shared.post_report(device, shared.report({**POSTURE, name: value}))
    field_error(refused, f"posture.{name}")
    shared.unrecorded(device)


@pytest.mark.parametrize("name", BOOLEANS)
def test_posture_booleans_may_be_null_or_left_out(shared, name) -> None:
    device = shared.fresh()
    left_out = {k: v for k, v in POSTURE.items() if k != name}
    assert shared.post_report(device, shared.report(left_out)).status_code == 201
    nulled = shared.post_report(device, shared.report({**POSTURE, name: None}))
    assert nulled.status_code == 201, nulled.text


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"nonce": 1234567890123456789}, "nonce"),
        ({"account_id": 5}, "account_id"),
        ({"fingerprint": 5}, "fingerprint"),
        ({"reported_at": None}, "reported_at"),
        ({"posture": 5}, "posture"),
        ({"posture": "android"}, "posture"),
        ({"posture": [POSTURE]}, "posture"),
        ({"posture": {**POSTURE, "platform": 1}}, "posture.platform"),
        ({"posture": {**POSTURE, "os_version": 14}}, "posture.os_version"),
        ({"posture": {**POSTURE, "app_version": 5.2}}, "posture.app_version"),
        ({"posture": {**POSTURE, "app_package": 1}}, "posture.app_package"),
        ({"posture": {**POSTURE, "app_signing_digest": 12345}}, "posture.app_signing_digest"),
        ({"posture": {**POSTURE, "risky_apps": "remote_access"}}, "posture.risky_apps"),
        ({"posture": {**POSTURE, "risky_apps": ["remote_access"]}}, "posture.risky_apps[0]"),
        (
            {"posture": {**POSTURE, "risky_apps": [{"kind": "overlay", "package": 7}]}},
            "posture.risky_apps[0].package",
        ),
        ({"posture": {**POSTURE, "security_patch": True}}, "posture.security_patch"),
        ({"signature": "AAAA"}, "signature"),
        ({"signature": {"signature": 5, "timestamp": 1}}, "signature.signature"),
        ({"signature": {"signature": "AAAA", "timestamp": 1.5}}, "signature.timestamp"),
        ({"signature": {"signature": "AAAA", "timestamp": "soon"}}, "signature.timestamp"),
        ({"play_integrity": "token"}, "play_integrity"),
        ({"play_integrity": {"token": 5}}, "play_integrity.token"),
        ({"app_attest": {"key_id": 5, "assertion": "AAAA"}}, "app_attest.key_id"),
        ({"app_attest": {"key_id": "k", "attestation": 5}}, "app_attest.attestation"),
        ({"app_attest": {"key_id": "k", "assertion": ["AAAA"]}}, "app_attest.assertion"),
    ],
)
def test_wrong_types_in_a_report_are_422(shared, change, field) -> None:
    device = shared.fresh()
    field_error(shared.post_report(device, {**shared.report(), **change}), field)
    shared.unrecorded(device)


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        ("PUT", "/v1/devices/apps", {"apps": "com.example.pay"}, "apps"),
        ("PUT", "/v1/devices/apps", {"apps": [PACKAGE]}, "apps[0]"),
        (
            "PUT",
            "/v1/devices/apps",
            {"apps": [{"package": PACKAGE, "signing_digests": GENUINE}]},
            "apps[0].signing_digests",
        ),
        (
            "PUT",
            "/v1/devices/apps",
            {"apps": [{"package": 1, "signing_digests": [GENUINE]}]},
            "apps[0].package",
        ),
        (
            "PUT",
            "/v1/devices/apps",
            {"apps": [{"package": PACKAGE, "signing_digests": [1]}]},
            "apps[0].signing_digests[0]",
        ),
        ("POST", "/v1/devices/community", {"entries": {"kind": "app_digest"}}, "entries"),
        ("POST", "/v1/devices/community", {"entries": ["fp-bad"]}, "entries[0]"),
        (
            "POST",
            "/v1/devices/community",
            {"entries": [{"kind": 5, "identifier": "fp-bad"}]},
            "entries[0].kind",
        ),
        (
            "POST",
            "/v1/devices/community",
            {"entries": [{"kind": "app_digest", "identifier": 5}]},
            "entries[0].identifier",
        ),
        (
            "POST",
            "/v1/devices/community",
            {"entries": [{"kind": "app_digest", "hashed": 5}]},
            "entries[0].hashed",
        ),
        (
            "POST",
            "/v1/devices/community",
            {"entries": [{"kind": "app_digest", "identifier": "fp-bad", "note": 5}]},
            "entries[0].note",
        ),
        (
            "POST",
            "/v1/devices/community",
            {"entries": [{"kind": "app_digest", "identifier": "fp-bad", "expires_at": 5.5}]},
            "entries[0].expires_at",
        ),
        ("POST", "/v1/devices/community/remove", {**REMOVE, "hashed": HASHED}, "hashed"),
        ("POST", "/v1/devices/community/remove", {**REMOVE, "hashed": [5]}, "hashed[0]"),
        ("POST", "/v1/devices/community/remove", {**REMOVE, "kind": 5}, "kind"),
        (
            "POST",
            "/v1/devices/community/lookup",
            {**LOOKUP, "identifiers": "fp-bad"},
            "identifiers",
        ),
        ("POST", "/v1/devices/community/lookup", {**LOOKUP, "identifiers": [5]}, "identifiers[0]"),
        ("POST", "/v1/devices/community/lookup", {**LOOKUP, "kind": None}, "kind"),
    ],
)
def test_wrong_types_in_apps_and_community_are_422(shared, method, path, body, field) -> None:
    field_error(shared.send(method, path, body), field)
    community_empty(shared, ["fp-bad"])
    assert shared.send("GET", "/v1/devices/apps").json() == {"apps": []}


# -- hostile values in reports -------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"posture": {**POSTURE, "app_version": "5.2\x00.1"}}, "posture.app_version"),
        ({"posture": {**POSTURE, "os_version": "14\x00"}}, "posture.os_version"),
        ({"posture": {**POSTURE, "os_version": "\ud800"}}, "posture.os_version"),
        ({"posture": {**POSTURE, "app_version": "v" * 65}}, "posture.app_version"),
        ({"posture": {**POSTURE, "os_version": "1" * 65}}, "posture.os_version"),
        ({"posture": {**POSTURE, "platform": "windows"}}, "posture.platform"),
        ({"posture": {**POSTURE, "platform": "Android"}}, "posture.platform"),
        ({"posture": {**POSTURE, "platform": ""}}, "posture.platform"),
        ({"posture": {**POSTURE, "platform": None}}, "posture.platform"),
        ({"posture": {**POSTURE, "security_patch": "2026-13-45"}}, "posture.security_patch"),
        ({"posture": {**POSTURE, "security_patch": "2026-02-30"}}, "posture.security_patch"),
        ({"posture": {**POSTURE, "security_patch": "last month"}}, "posture.security_patch"),
        ({"posture": {**POSTURE, "security_patch": ""}}, "posture.security_patch"),
        (
            {"posture": {**POSTURE, "protection_updated_at": "2026-00-01"}},
            "posture.protection_updated_at",
        ),
        ({"posture": {**POSTURE, "app_package": "com example"}}, "posture.app_package"),
        ({"posture": {**POSTURE, "app_package": "com/example"}}, "posture.app_package"),
        ({"posture": {**POSTURE, "app_package": ""}}, "posture.app_package"),
        ({"posture": {**POSTURE, "app_package": "p" * 257}}, "posture.app_package"),
        ({"posture": {**POSTURE, "app_signing_digest": "zz"}}, "posture.app_signing_digest"),
        (
            {"posture": {**POSTURE, "app_signing_digest": "ab" * 31}},
            "posture.app_signing_digest",
        ),
        (
            {"posture": {**POSTURE, "app_signing_digest": GENUINE + "\n"}},
            "posture.app_signing_digest",
        ),
        (
            {"posture": {**POSTURE, "risky_apps": [{"kind": "keylogger"}]}},
            "posture.risky_apps[0].kind",
        ),
        (
            {"posture": {**POSTURE, "risky_apps": [{"kind": "overlay", "package": "a b"}]}},
            "posture.risky_apps[0].package",
        ),
        ({"reported_at": "2026-03-02T09:30:00"}, "reported_at"),
        ({"reported_at": "2026-03-02"}, "reported_at"),
        ({"reported_at": "yesterday"}, "reported_at"),
        ({"reported_at": ""}, "reported_at"),
        ({"reported_at": (NOW - timedelta(minutes=6)).isoformat()}, "reported_at"),
        ({"reported_at": (NOW + timedelta(minutes=6)).isoformat()}, "reported_at"),
        ({"reported_at": "0001-01-01T00:00:00+14:00"}, "reported_at"),
        ({"reported_at": "9999-12-31T23:59:59-14:00"}, "reported_at"),
        ({"nonce": "n" * 15}, "nonce"),
        ({"nonce": "n" * 129}, "nonce"),
        ({"nonce": ""}, "nonce"),
        ({"nonce": "has spaces in it!"}, "nonce"),
        ({"nonce": "n" * 15 + "="}, "nonce"),
        ({"nonce": "n" * 15 + "/"}, "nonce"),
        ({"nonce": "n" * 15 + "+"}, "nonce"),
        ({"nonce": "n" * 16 + "\n"}, "nonce"),
        ({"nonce": "n" * 15 + "\x00"}, "nonce"),
        ({"nonce": "ü" * 16}, "nonce"),
        ({"account_id": "acct 1"}, "account_id"),
        ({"account_id": "a" * 129}, "account_id"),
        ({"account_id": "../acct"}, "account_id"),
        ({"fingerprint": ""}, "fingerprint"),
        ({"fingerprint": "f" * 257}, "fingerprint"),
        ({"fingerprint": "\ud800"}, "fingerprint"),
        ({"signature": {"signature": "", "timestamp": 1}}, "signature.signature"),
        ({"signature": {"signature": "A" * 257, "timestamp": 1}}, "signature.signature"),
        ({"signature": {"signature": "AAAA", "timestamp": -1}}, "signature.timestamp"),
        ({"signature": {"signature": "AAAA", "timestamp": 2**40 + 1}}, "signature.timestamp"),
        ({"play_integrity": {"token": ""}}, "play_integrity.token"),
        ({"play_integrity": {"token": "t" * (16 * 1024 + 1)}}, "play_integrity.token"),
        ({"app_attest": {"key_id": "", "assertion": "AAAA"}}, "app_attest.key_id"),
        ({"app_attest": {"key_id": "k" * 129, "assertion": "AAAA"}}, "app_attest.key_id"),
        ({"app_attest": {"key_id": "k", "attestation": ""}}, "app_attest.attestation"),
        ({"app_attest": {"key_id": "k", "assertion": "A" * 4097}}, "app_attest.assertion"),
        ({"app_attest": {"key_id": "\ud800", "assertion": "AAAA"}}, "app_attest.key_id"),
    ],
)
def test_hostile_report_values_are_422_naming_the_field(shared, change, field) -> None:
    device = shared.fresh()
    field_error(shared.post_report(device, {**shared.report(), **change}), field)
    shared.unrecorded(device)


@pytest.mark.parametrize(
    ("segment", "statuses"),
    [
        ("a%2Fb", {404}),
        ("a b", {422}),
        ("a%20b", {422}),
        ("dev%00", {422}),
        ("dev%0A", {422}),
        ("%2E%2E", {404, 422}),
        (".hidden", {422}),
        ("-x", {422}),
        ("d" * 129, {422}),
        ("%F0%9F%92%A5", {422}),
        ("dev%3Cscript%3E", {422}),
    ],
)
def test_hostile_device_ids_in_paths_are_4xx(shared, segment, statuses) -> None:
    posted = shared.post_report(segment, shared.report())
    assert posted.status_code in statuses, posted.text
    shown = shared.send("GET", f"/v1/devices/{segment}/health")
    assert shown.status_code in statuses, shown.text
    for response in (posted, shown):
        assert response.json()["error"]["code"] in {"not_found", "validation_failed"}
        assert "<script>" not in response.text


def test_every_character_a_device_id_may_hold_is_accepted(shared) -> None:
    device = "Dev.1_a:b@c+d-" + "e" * 100
    assert shared.send("GET", f"/v1/devices/{device}/health").status_code == 404
    made = shared.post_report(device, shared.report())
    assert made.status_code == 201, made.text
    assert made.json()["device_id"] == device
    assert shared.send("GET", f"/v1/devices/{device}/health").json()["device_id"] == device


# -- attestations --------------------------------------------------------------------------


def key_id(seed: bytes = b"k") -> str:
    """A well-formed App Attest key id (base64 of a SHA-256) no device ever attested."""
    return base64.b64encode(hashlib.sha256(seed).digest()).decode()


IOS = {**POSTURE, "platform": "ios", "os_version": "18.1"}
# Reports the service refuses after the schema let them through: (change, status, field or
# error code).
REFUSALS: dict[str, tuple[dict[str, Any], int, str]] = {
    "play token garbage": (
        {"play_integrity": {"token": "garbage"}},
        422,
        "play_integrity.token",
    ),
    "play token not a jwe": (
        {"play_integrity": {"token": "a.b.c.d.e"}},
        422,
        "play_integrity.token",
    ),
    "play token for a package without keys": (
        {
            "posture": {**POSTURE, "app_package": "com.other.app"},
            "play_integrity": {"token": "garbage"},
        },
        422,
        "play_integrity",
    ),
    "play token without a package": (
        {
            "posture": {k: v for k, v in POSTURE.items() if k != "app_package"},
            "play_integrity": {"token": "garbage"},
        },
        422,
        "play_integrity",
    ),
    "app attest with neither proof": (
        {"posture": IOS, "app_attest": {"key_id": key_id()}},
        422,
        "app_attest",
    ),
    "assertion by a key never attested": (
        {"posture": IOS, "app_attest": {"key_id": key_id(), "assertion": "AAAA"}},
        422,
        "app_attest.key_id",
    ),
    "attestation garbage": (
        {"posture": IOS, "app_attest": {"key_id": key_id(), "attestation": "garbage"}},
        422,
        "app_attest.attestation",
    ),
    "attestation for a key id that is not base64": (
        {"posture": IOS, "app_attest": {"key_id": "not base64!", "attestation": "AAAA"}},
        422,
        "app_attest.key_id",
    ),
    "both play integrity and app attest": (
        {
            "play_integrity": {"token": "garbage"},
            "app_attest": {"key_id": key_id(), "assertion": "AAAA"},
        },
        422,
        "app_attest",
    ),
    "signed but no key bound": (
        {"signature": {"signature": "AAAA", "timestamp": int(NOW.timestamp())}},
        401,
        "factor_rejected",
    ),
}


@pytest.mark.parametrize("case", list(REFUSALS))
def test_a_refused_report_records_nothing_and_keeps_its_nonce(shared, case) -> None:
    change, status, expected = REFUSALS[case]
    device = shared.fresh()
    body = shared.report()
    refused = shared.post_report(device, {**body, **change})
    assert refused.status_code == status, refused.text
    error = refused.json()["error"]
    assert expected in (error.get("field"), error["code"]), error
    shared.unrecorded(device)
    # The refused report did not use up its nonce: the genuine report with it goes through.
    clean = shared.post_report(device, body)
    assert clean.status_code == 201, clean.text
    assert len(shared.send("GET", f"/v1/devices/{device}/health").json()["history"]) == 1


def test_play_integrity_tokens_minted_for_something_else_are_refused(shared) -> None:
    play, clock = shared.play, shared.clock
    for nonce, package in [("another-nonce-0000", PACKAGE), (None, "com.other.app")]:
        device = shared.fresh()
        body = shared.report()
        verdict = play.verdict(
            "strong", nonce=nonce or body["nonce"], package=package, timestamp=clock.now()
        )
        refused = shared.post_report(
            device, {**body, "play_integrity": {"token": play.token(verdict)}}
        )
        field_error(refused, "play_integrity.token")
        shared.unrecorded(device)
    # A token from a different Play Console project (other keys) is garbage to this one.
    device = shared.fresh()
    body = shared.report()
    stranger = SoftPlayIntegrity()
    token = stranger.token(
        stranger.verdict("strong", nonce=body["nonce"], package=PACKAGE, timestamp=clock.now())
    )
    field_error(
        shared.post_report(device, {**body, "play_integrity": {"token": token}}),
        "play_integrity.token",
    )
    shared.unrecorded(device)


def test_a_genuine_play_token_beside_an_app_attest_proof_is_refused(shared) -> None:
    device = shared.fresh()
    body = shared.report()
    verdict = shared.play.verdict(
        "strong", nonce=body["nonce"], package=PACKAGE, timestamp=shared.clock.now()
    )
    attestation = shared.apple.attest(body["nonce"].encode())
    both = {
        **body,
        "play_integrity": {"token": shared.play.token(verdict)},
        "app_attest": {"key_id": attestation.key_id, "attestation": attestation.b64},
    }
    field_error(shared.post_report(device, both), "app_attest")
    shared.unrecorded(device)
    made = shared.post_report(device, {**body, "play_integrity": both["play_integrity"]})
    assert made.status_code == 201, made.text
    assert made.json()["health"]["assurance"] == "attested"


def test_an_app_attest_key_is_the_device_it_was_attested_for(shared) -> None:
    owner, other = shared.fresh(), shared.fresh()
    first = shared.report(IOS)
    attestation = shared.apple.attest(first["nonce"].encode())
    proof = {"key_id": attestation.key_id, "attestation": attestation.b64}
    made = shared.post_report(owner, {**first, "app_attest": proof})
    assert made.status_code == 201, made.text
    # An attestation made for another challenge: refused.
    stale = shared.report(IOS)
    field_error(shared.post_report(other, {**stale, "app_attest": proof}), "app_attest.attestation")
    # The owner's key asserting for another device: never attested there.
    later = shared.report(IOS)
    data = client_data(other, later["nonce"], canonical(later["posture"]))
    assertion = base64.b64encode(shared.apple.assert_(data, attestation.key_id)).decode()
    borrowed = {**later, "app_attest": {"key_id": attestation.key_id, "assertion": assertion}}
    field_error(shared.post_report(other, borrowed), "app_attest.key_id")
    shared.unrecorded(other)
    # An assertion with a key id the device did not attest: the same.
    mine = shared.report(IOS)
    data = client_data(owner, mine["nonce"], canonical(mine["posture"]))
    assertion = base64.b64encode(shared.apple.assert_(data, attestation.key_id)).decode()
    wrong_key = {**mine, "app_attest": {"key_id": key_id(b"other"), "assertion": assertion}}
    field_error(shared.post_report(owner, wrong_key), "app_attest.key_id")
    assert len(shared.send("GET", f"/v1/devices/{owner}/health").json()["history"]) == 1


def test_attestations_without_configuration_are_422(client, tenant, clock) -> None:
    headers = tenant()
    base = {
        "nonce": secrets.token_urlsafe(16),
        "reported_at": clock.now().isoformat(),
        "posture": POSTURE,
    }
    play = client.post(
        "/v1/devices/dev-1/reports",
        json={**base, "play_integrity": {"token": "garbage"}},
        headers=headers,
    )
    field_error(play, "play_integrity")
    apple = client.post(
        "/v1/devices/dev-1/reports",
        json={**base, "posture": IOS, "app_attest": {"key_id": key_id(), "attestation": "AAAA"}},
        headers=headers,
    )
    field_error(apple, "app_attest")
    assert client.get("/v1/devices/dev-1/health", headers=headers).status_code == 404


# -- hostile values in community entries ---------------------------------------------------


def entry(**fields: Any) -> dict[str, Any]:
    return {"kind": "device_fingerprint", **fields}


@pytest.mark.parametrize(
    ("entries", "field"),
    [
        ([entry(hashed="E" * 64)], "entries[0].hashed"),
        ([entry(hashed="e" * 63)], "entries[0].hashed"),
        ([entry(hashed="e" * 65)], "entries[0].hashed"),
        ([entry(hashed="g" * 64)], "entries[0].hashed"),
        ([entry(hashed=" " + "e" * 63)], "entries[0].hashed"),
        ([entry(hashed="e" * 64 + "\n")], "entries[0].hashed"),
        ([entry(hashed="")], "entries[0].hashed"),
        ([entry(identifier="fp-bad", hashed=HASHED)], "entries[0]"),
        ([entry()], "entries[0]"),
        ([entry(identifier=None, hashed=None)], "entries[0]"),
        ([entry(identifier="fp-bad"), entry(identifier="x", hashed=HASHED)], "entries[1]"),
        ([entry(identifier="")], "entries[0].identifier"),
        ([entry(identifier="i" * 513)], "entries[0].identifier"),
        ([entry(identifier="\ud800")], "entries[0].identifier"),
        ([entry(identifier="fp-bad", note="nul\x00note")], "entries[0].note"),
        ([entry(identifier="fp-bad", note="\udfff")], "entries[0].note"),
        ([entry(identifier="fp-bad", note="n" * 301)], "entries[0].note"),
        ([entry(identifier="fp-bad", confidence=101)], "entries[0].confidence"),
        ([entry(identifier="fp-bad", confidence=-1)], "entries[0].confidence"),
        ([entry(identifier="fp-bad", confidence=80.5)], "entries[0].confidence"),
        ([entry(identifier="fp-bad", confidence=None)], "entries[0].confidence"),
        ([entry(identifier="fp-bad", confidence="high")], "entries[0].confidence"),
        ([entry(identifier="fp-bad", confidence=2**64)], "entries[0].confidence"),
        ([{"kind": "windows", "identifier": "fp-bad"}], "entries[0].kind"),
        ([{"kind": "DEVICE_FINGERPRINT", "identifier": "fp-bad"}], "entries[0].kind"),
        ([{"kind": "", "identifier": "fp-bad"}], "entries[0].kind"),
        (
            [entry(identifier="fp-bad", expires_at="2026-03-02T09:29:59+00:00")],
            "entries[0].expires_at",
        ),
        ([entry(identifier="fp-bad", expires_at=NOW.isoformat())], "entries[0].expires_at"),
        (
            [entry(identifier="fp-bad", expires_at="2000-01-01T00:00:00Z")],
            "entries[0].expires_at",
        ),
        (
            [entry(identifier="fp-bad", expires_at="2027-01-01T00:00:00")],
            "entries[0].expires_at",
        ),
        ([entry(identifier="fp-bad", expires_at="next year")], "entries[0].expires_at"),
        (
            [entry(identifier="fp-good"), entry(identifier="fp-bad", expires_at="2020-01-01Z")],
            "entries[1].expires_at",
        ),
    ],
)
def test_hostile_community_entries_are_422_naming_the_entry(shared, entries, field) -> None:
    refused = shared.send("POST", "/v1/devices/community", {"entries": entries})
    field_error(refused, field)
    community_empty(shared, ["fp-bad", "fp-good", "x", "i" * 512])
    assert "fp-bad" not in refused.text and "fp-good" not in refused.text


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**REMOVE, "hashed": ["E" * 64]}, "hashed[0]"),
        ({**REMOVE, "hashed": [HASHED, "e" * 63]}, "hashed[1]"),
        ({**REMOVE, "hashed": ["fp-bad"]}, "hashed[0]"),
        ({**REMOVE, "hashed": [HASHED + "\x00"]}, "hashed[0]"),
        ({**REMOVE, "kind": "windows"}, "kind"),
        ({**LOOKUP, "kind": "fingerprint"}, "kind"),
        ({**LOOKUP, "identifiers": [""]}, "identifiers[0]"),
        ({**LOOKUP, "identifiers": ["ok", "i" * 513]}, "identifiers[1]"),
        ({**LOOKUP, "identifiers": ["\ud800"]}, "identifiers[0]"),
    ],
)
def test_hostile_removals_and_lookups_are_422(shared, body, field) -> None:
    path = "/v1/devices/community/remove" if "hashed" in body else "/v1/devices/community/lookup"
    field_error(shared.send("POST", path, body), field)


def test_a_refused_community_add_stores_none_of_its_good_entries(client, tenant) -> None:
    headers = tenant()
    good = [entry(identifier=f"fp-good-{i}") for i in range(5)]
    for bad, field in [
        (entry(hashed="E" * 64), "entries[2].hashed"),
        (entry(identifier="fp-bad", hashed=HASHED), "entries[2]"),
        (entry(identifier="fp-bad", expires_at="2020-01-01T00:00:00Z"), "entries[2].expires_at"),
        (entry(identifier="fp-bad", confidence=101), "entries[2].confidence"),
        (entry(identifier="fp-bad", note="a\x00b"), "entries[2].note"),
        (entry(), "entries[2]"),
    ]:
        body = {"entries": [*good[:2], bad, *good[2:]]}
        refused = client.post(
            "/v1/devices/community", content=dumps(body), headers={**headers, **JSON}
        )
        field_error(refused, field)
    found = client.post(
        "/v1/devices/community/lookup",
        json={"kind": "device_fingerprint", "identifiers": [e["identifier"] for e in good]},
        headers=headers,
    )
    assert found.status_code == 200 and found.json()["entries"] == []
    audited = client.get("/v1/audit", params={"action": "community:add"}, headers=headers)
    assert audited.json() == []
    # Nothing half-written: the good entries alone are all new.
    made = client.post("/v1/devices/community", json={"entries": good}, headers=headers)
    assert made.status_code == 201 and made.json()["changed"] == 5


def test_a_refused_apps_registration_keeps_the_previous_one(client, tenant) -> None:
    headers = tenant()
    assert client.put("/v1/devices/apps", json=APPS, headers=headers).status_code == 200
    for apps, field in [
        (
            [*APPS["apps"], {"package": "com.fake", "signing_digests": ["zz"]}],
            "apps[1].signing_digests[0]",
        ),
        ([{"package": "com fake", "signing_digests": [GENUINE]}], "apps[0].package"),
        ([{"package": "com.fake", "signing_digests": []}], "apps[0].signing_digests"),
        ([{"package": "", "signing_digests": [GENUINE]}], "apps[0].package"),
        ([{"package": "p" * 257, "signing_digests": [GENUINE]}], "apps[0].package"),
    ]:
        field_error(client.put("/v1/devices/apps", json={"apps": apps}, headers=headers), field)
    assert client.get("/v1/devices/apps", headers=headers).json() == APPS
    audited = client.get("/v1/audit", params={"action": "device:genuine_apps"}, headers=headers)
    assert len(audited.json()) == 1


def test_digests_are_kept_as_lowercase_hex_whatever_their_spelling(client, tenant) -> None:
    headers = tenant()
    colons = ":".join(["AB"] * 32)
    made = client.put(
        "/v1/devices/apps",
        json={"apps": [{"package": PACKAGE, "signing_digests": [colons, GENUINE.upper()]}]},
        headers=headers,
    )
    assert made.status_code == 200, made.text
    assert made.json()["apps"] == [{"package": PACKAGE, "signing_digests": [GENUINE]}]


# -- roles ---------------------------------------------------------------------------------


def _report(clock: FrozenClock) -> dict[str, Any]:
    return {
        "nonce": secrets.token_urlsafe(16),
        "reported_at": clock.now().isoformat(),
        "posture": POSTURE,
    }


def _calls(clock: FrozenClock) -> dict[str, tuple[str, str, Any]]:
    return {
        "report": ("POST", "/v1/devices/dev-1/reports", _report(clock)),
        "health": ("GET", "/v1/devices/dev-1/health", None),
        "put apps": ("PUT", "/v1/devices/apps", APPS),
        "get apps": ("GET", "/v1/devices/apps", None),
        "community": ("POST", "/v1/devices/community", COMMUNITY),
        "remove": ("POST", "/v1/devices/community/remove", REMOVE),
        "lookup": ("POST", "/v1/devices/community/lookup", LOOKUP),
    }


ALLOWED: dict[Role, set[str]] = {
    Role.ADMIN: {"report", "health", "put apps", "get apps", "community", "remove", "lookup"},
    Role.ANALYST: {"health", "get apps", "lookup"},
    Role.SERVICE: {"report", "health"},
}


@pytest.mark.parametrize("role", [Role.ANALYST, Role.SERVICE, Role.ADMIN])
def test_each_role_may_do_only_its_part(client, tenant, clock, role) -> None:
    admin = tenant()
    seeded = client.post("/v1/devices/dev-1/reports", json=_report(clock), headers=admin)
    assert seeded.status_code == 201, seeded.text
    headers = tenant(role=role)
    denied = 0
    for name, (method, path, body) in _calls(clock).items():
        response = client.request(method, path, json=body, headers=headers)
        if name in ALLOWED[role]:
            assert response.status_code in (200, 201), (name, response.text)
        else:
            assert response.status_code == 403, (name, response.text)
            assert response.json()["error"]["code"] == "forbidden"
            denied += 1
    # The refused calls changed nothing and each was audited.
    if role is not Role.ADMIN:
        assert client.get("/v1/devices/apps", headers=admin).json() == {"apps": []}
        found = client.post("/v1/devices/community/lookup", json=LOOKUP, headers=admin)
        assert found.json()["entries"] == []
    history = client.get("/v1/devices/dev-1/health", headers=admin).json()["history"]
    assert len(history) == (2 if "report" in ALLOWED[role] else 1)
    audited = client.get("/v1/audit", params={"action": "access:denied"}, headers=admin).json()
    assert len(audited) == denied


@pytest.mark.parametrize("role", [Role.ANALYST, Role.SERVICE])
def test_a_role_refusal_comes_before_looking_at_the_body(client, tenant, role) -> None:
    headers = tenant(role=role)
    for method, path in [
        ("PUT", "/v1/devices/apps"),
        ("POST", "/v1/devices/community"),
        ("POST", "/v1/devices/community/remove"),
    ]:
        response = client.request(method, path, json={"bogus": 1}, headers=headers)
        assert response.status_code == 403, response.text
    if role is Role.ANALYST:
        refused = client.post("/v1/devices/dev-1/reports", json={"bogus": 1}, headers=headers)
        assert refused.status_code == 403, refused.text


@pytest.mark.parametrize(
    "authorization",
    [None, "", "Bearer", "Bearer ", "Bearer pg_not-a-key", "Basic dXNlcjpwYXNz", "bearer\x00x"],
)
def test_no_valid_key_is_401_everywhere(client, tenant, clock, authorization) -> None:
    tenant()
    headers = {} if authorization is None else {"Authorization": authorization}
    for name, (method, path, body) in _calls(clock).items():
        response = client.request(method, path, json=body, headers=headers)
        assert response.status_code == 401, (name, response.text)
        assert response.json()["error"]["code"] == "unauthenticated"
        assert response.headers["WWW-Authenticate"] == "Bearer"


# -- the community lists are network-wide and keep hashes only -----------------------------

RAW = "Farm-Phone-7Q2X"


def test_one_partners_entry_is_every_partners_and_only_its_hash_is_kept(
    client, tenant, clock, tmp_path
) -> None:
    first, second = tenant("bank-a"), tenant("wallet-b")
    responses = []
    added = client.post(
        "/v1/devices/community",
        json={"entries": [entry(identifier=RAW, confidence=90, note="SIM farm")]},
        headers=first,
    )
    assert added.status_code == 201, added.text
    assert added.json() == {"changed": 1, "hashed": [sha(RAW)]}
    responses.append(added)
    # Another partner finds it, however it spells the identifier.
    for spelling in (RAW, RAW.lower(), f"  {RAW.upper()}\t"):
        found = client.post(
            "/v1/devices/community/lookup",
            json={"kind": "device_fingerprint", "identifiers": ["unlisted", spelling]},
            headers=second,
        )
        assert found.status_code == 200, found.text
        entries = found.json()["entries"]
        assert [e["hashed"] for e in entries] == [sha(RAW)]
        assert entries[0]["confidence"] == 90 and entries[0]["note"] == "SIM farm"
        assert entries[0]["source"].startswith("tenant:")
        responses.append(found)
    # ...but not under another kind.
    other_kind = client.post(
        "/v1/devices/community/lookup",
        json={"kind": "app_digest", "identifiers": [RAW]},
        headers=second,
    )
    assert other_kind.json()["entries"] == []
    # The second partner's report of the device is judged against it.
    reported = client.post(
        "/v1/devices/dev-9/reports",
        json={**_report(clock), "fingerprint": RAW},
        headers=second,
    )
    assert reported.status_code == 201, reported.text
    assert "DEVICE_COMMUNITY_LISTED" in [s["reason"] for s in reported.json()["health"]["signals"]]
    responses.append(reported)
    responses.append(client.get("/v1/devices/dev-9/health", headers=second))
    # A refused add of the same identifier does not echo it either.
    refused = client.post(
        "/v1/devices/community",
        json={"entries": [entry(identifier=RAW, expires_at="2020-01-01T00:00:00Z")]},
        headers=second,
    )
    assert refused.status_code == 422
    responses.append(refused)
    responses.append(
        client.post(
            "/v1/devices/community/remove",
            json={"kind": "device_fingerprint", "hashed": [sha(RAW)]},
            headers=first,
        )
    )
    assert responses[-1].json()["changed"] == 1
    for headers in (first, second):
        audit = client.get("/v1/audit", params={"limit": 1000}, headers=headers)
        assert audit.status_code == 200 and audit.json()
        responses.append(audit)
    actions = [r["action"] for r in responses[-2].json()]
    assert {"community:add", "community:remove"} <= set(actions)
    for response in responses:
        assert RAW.lower() not in response.text.lower(), response.text
    # Nor in the store (the search does find what the store does keep in the clear).
    stored = b"".join(path.read_bytes() for path in sorted(tmp_path.glob("api.db*")))
    assert PACKAGE.encode() in stored
    assert RAW.lower().encode() not in stored.lower()


# -- bugs ----------------------------------------------------------------------------------


@pytest.mark.parametrize("expires_at", ["9999-12-31T23:59:59-14:00", "9999-12-31T20:00:00-05:00"])
def test_an_expiry_past_the_last_representable_instant_is_422(client, tenant, expires_at) -> None:
    headers = tenant()
    body = {
        "entries": [entry(identifier="fp-good"), entry(identifier="fp-far", expires_at=expires_at)]
    }
    refused = client.post("/v1/devices/community", json=body, headers=headers)
    field_error(refused, "entries[1].expires_at")
    found = client.post(
        "/v1/devices/community/lookup",
        json={"kind": "device_fingerprint", "identifiers": ["fp-good", "fp-far"]},
        headers=headers,
    )
    assert found.json()["entries"] == []


@pytest.mark.parametrize("identifier", ["   ", "\t", " \n "])
def test_a_blank_identifier_is_refused(client, tenant, clock, identifier) -> None:
    headers = tenant()
    refused = client.post(
        "/v1/devices/community",
        content=dumps({"entries": [entry(identifier=identifier)]}),
        headers={**headers, **JSON},
    )
    field_error(refused, "entries[0].identifier")
    # A blank fingerprint is refused in reports too, so no device can match a blank entry.
    reported = client.post(
        "/v1/devices/dev-2/reports",
        json={**_report(clock), "fingerprint": " "},
        headers=tenant("other-bank"),
    )
    field_error(reported, "fingerprint")
