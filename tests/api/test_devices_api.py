"""End to end: posture reports in (unsigned, signed, Play Integrity, App Attest), device
health out, and the engine reflecting it in features, decisions and warnings."""

from __future__ import annotations

import base64
import secrets
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient
from tests.devices.softattest import SoftAppAttest, SoftPlayIntegrity

from payguard.api.app import create_app
from payguard.auth import devicekeys
from payguard.core.clock import FrozenClock
from payguard.devices.service import canonical, client_data, report_path
from payguard.risk.engine import dense
from payguard.services import Services, build_services
from payguard.settings import Settings

PACKAGE = "com.example.pay"
GENUINE = "ab" * 32
HEALTHY = {
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
    "vpn": False,
    "proxy": False,
    "sensors_plausible": True,
}


@pytest.fixture
def play() -> SoftPlayIntegrity:
    return SoftPlayIntegrity()


@pytest.fixture
def apple(clock: FrozenClock) -> SoftAppAttest:
    return SoftAppAttest(now=clock.now())


@pytest.fixture
def services(tmp_path, clock: FrozenClock, play, apple) -> Iterator[Services]:
    decryption, verification = play.console_keys
    settings = Settings(
        database_url=f"sqlite:///{tmp_path}/api.db",
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
    )
    built = build_services(settings, clock=clock)
    yield built
    built.close()


@pytest.fixture
def client(services: Services) -> Iterator[TestClient]:
    with TestClient(create_app(services), raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def headers(tenant) -> dict[str, str]:
    made = tenant()
    return made


def report(clock: FrozenClock, posture: dict[str, Any] | None = None, **extra: Any) -> dict:
    return {
        "nonce": secrets.token_urlsafe(16),
        "reported_at": clock.now().isoformat(),
        "account_id": "acct-1",
        "fingerprint": "fp-1",
        "posture": dict(HEALTHY if posture is None else posture),
        **extra,
    }


def post(client, headers, body: dict, device: str = "dev-1"):
    return client.post(f"/v1/devices/{device}/reports", json=body, headers=headers)


def reasons(response) -> list[str]:
    return [s["reason"] for s in response.json()["health"]["signals"]]


def test_an_unsigned_clean_report_is_healthy_but_low_assurance(client, headers, clock) -> None:
    made = post(client, headers, report(clock))
    assert made.status_code == 201, made.text
    health = made.json()["health"]
    assert health["assurance"] == "low"
    assert health["status"] == "healthy" and 70 <= health["score"] < 100
    shown = client.get("/v1/devices/dev-1/health", headers=headers)
    assert shown.status_code == 200
    assert shown.json()["health"] == health and len(shown.json()["history"]) == 1
    assert shown.json()["accounts"] == 1


def test_a_signed_report_is_signed_assurance_and_a_bad_signature_is_refused(
    client, headers, clock
) -> None:
    client.post("/v1/auth/users", json={"user_id": "acct-1"}, headers=headers)
    key = Ed25519PrivateKey.generate()
    bound = client.post(
        "/v1/auth/users/acct-1/devices",
        json={
            "device_id": "dev-1",
            "algorithm": "ed25519",
            "public_key": base64.b64encode(key.public_key().public_bytes_raw()).decode(),
        },
        headers=headers,
    )
    assert bound.status_code == 201, bound.text
    body = report(clock)
    stamp = int(clock.now().timestamp())
    message = devicekeys.signed_message(
        method="POST",
        path=report_path("dev-1"),
        body=canonical(body["posture"]),
        timestamp=stamp,
        nonce=body["nonce"],
    )
    signed = {
        **body,
        "signature": {
            "signature": base64.b64encode(key.sign(message)).decode(),
            "timestamp": stamp,
        },
    }
    made = post(client, headers, signed)
    assert made.status_code == 201, made.text
    assert made.json()["health"]["assurance"] == "signed"
    assert made.json()["health"]["score"] == 100
    # Another posture under the same signature: refused, and the nonce is not used up.
    tampered = {
        **signed,
        "nonce": secrets.token_urlsafe(16),
        "posture": {**HEALTHY, "rooted": True},
    }
    refused = post(client, headers, tampered)
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "factor_rejected"


def test_replayed_and_stale_reports_are_refused(client, headers, clock) -> None:
    body = report(clock)
    assert post(client, headers, body).status_code == 201
    again = post(client, headers, body)
    assert again.status_code == 409
    stale = report(clock)
    stale["reported_at"] = (clock.now() - timedelta(minutes=6)).isoformat()
    old = post(client, headers, stale)
    assert old.status_code == 422 and old.json()["error"]["field"] == "reported_at"


@pytest.mark.parametrize(
    ("level", "status"),
    [("strong", "healthy"), ("device", "healthy"), ("basic", "at_risk"), ("none", "compromised")],
)
def test_play_integrity_levels(client, headers, clock, play, level: str, status: str) -> None:
    body = report(clock)
    verdict = play.verdict(level, nonce=body["nonce"], package=PACKAGE, timestamp=clock.now())
    made = post(client, headers, {**body, "play_integrity": {"token": play.token(verdict)}})
    assert made.status_code == 201, made.text
    assert made.json()["health"]["assurance"] == "attested"
    assert made.json()["health"]["status"] == status, made.json()
    # A token minted for another nonce is refused.
    other = report(clock)
    wrong = play.token(
        play.verdict(level, nonce="not-this-one-0000", package=PACKAGE, timestamp=clock.now())
    )
    refused = post(client, headers, {**other, "play_integrity": {"token": wrong}})
    assert refused.status_code == 422
    assert refused.json()["error"]["field"] == "play_integrity.token"


def test_app_attest_then_assertions_with_a_rising_counter(client, headers, clock, apple) -> None:
    ios = {**HEALTHY, "platform": "ios", "os_version": "18.1"}
    first = report(clock, ios)
    attestation = apple.attest(first["nonce"].encode())
    made = post(
        client,
        headers,
        {**first, "app_attest": {"key_id": attestation.key_id, "attestation": attestation.b64}},
    )
    assert made.status_code == 201, made.text
    assert made.json()["health"]["assurance"] == "attested"
    later = report(clock, ios)
    data = client_data("dev-1", later["nonce"], canonical(later["posture"]))
    assertion = base64.b64encode(apple.assert_(data, attestation.key_id)).decode()
    answered = post(
        client,
        headers,
        {**later, "app_attest": {"key_id": attestation.key_id, "assertion": assertion}},
    )
    assert answered.status_code == 201, answered.text
    # The same assertion again (under a fresh nonce it no longer covers) is refused.
    replay = {
        **report(clock, ios),
        "app_attest": {"key_id": attestation.key_id, "assertion": assertion},
    }
    assert post(client, headers, replay).status_code == 422


def test_a_compromised_device_forces_aal3_and_warns(
    client, headers, clock, payment, services
) -> None:
    screen_sharing = {
        **HEALTHY,
        "rooted": True,
        "risky_apps": [{"kind": "remote_access", "package": "com.anydesk.anydeskandroid"}],
    }
    made = post(client, headers, report(clock, screen_sharing))
    assert made.json()["health"]["status"] == "compromised"
    decided = client.post(
        "/v1/assessments",
        json=payment(occurred_at=(clock.now() + timedelta(seconds=1)).isoformat()),
        headers=headers,
    ).json()
    assert decided["decision"] == "challenge", decided
    assert decided["step_up"]["level"] == "AAL3"
    assert "DEVICE_COMPROMISED" in [r["code"] for r in decided["reasons"]]
    assert decided["warnings"], "the user is warned during the transaction"
    tenant_id = services.tenants.authenticate(
        headers["Authorization"][7:], source_ip=None
    ).tenant_id
    features = dense(services.assessments.get(tenant_id, decided["assessment_id"]).features)
    assert features["device_compromised"] is True and features["device_health_score"] < 40
    assert "DEVICE_ROOTED" in features["device_health_reasons"]


def test_a_community_listed_device_is_compromised_for_every_partner(
    client, tenant, clock, payment
) -> None:
    first = tenant("bank-a")
    second = tenant("wallet-b")
    listed = client.post(
        "/v1/devices/community",
        json={
            "entries": [{"kind": "device_fingerprint", "identifier": "fp-farm", "confidence": 90}]
        },
        headers=first,
    )
    assert listed.status_code == 201, listed.text
    # Wallet B never saw a report from this device, yet its payment is challenged.
    decided = client.post(
        "/v1/assessments",
        json=payment(device={"id": "dev-9", "fingerprint": "FP-FARM"}),
        headers=second,
    ).json()
    assert decided["decision"] == "challenge" and decided["step_up"]["level"] == "AAL3"
    # And its report of the device is judged compromised.
    made = post(client, second, {**report(clock), "fingerprint": "fp-farm"}, device="dev-9")
    assert made.json()["health"]["status"] == "compromised"
    assert "DEVICE_COMMUNITY_LISTED" in reasons(made)
    # Only the hash is kept.
    found = client.post(
        "/v1/devices/community/lookup",
        json={"kind": "device_fingerprint", "identifiers": ["fp-farm"]},
        headers=second,
    ).json()["entries"]
    assert len(found) == 1 and "fp-farm" not in str(found)


def test_fake_app_against_the_registered_genuine_app(client, headers, clock) -> None:
    registered = client.put(
        "/v1/devices/apps",
        json={"apps": [{"package": PACKAGE, "signing_digests": [GENUINE]}]},
        headers=headers,
    )
    assert registered.status_code == 200, registered.text
    fake = {**HEALTHY, "app_signing_digest": "cd" * 32}
    made = post(client, headers, report(clock, fake))
    assert made.json()["health"]["status"] == "compromised"
    assert post(client, headers, report(clock)).json()["health"]["status"] == "healthy"


def test_device_data_is_isolated_per_tenant(client, tenant, clock) -> None:
    first = tenant("bank-a")
    second = tenant("wallet-b")
    assert post(client, first, report(clock)).status_code == 201
    assert client.get("/v1/devices/dev-1/health", headers=second).status_code == 404
    assert client.get("/v1/devices/dev-1/health", headers=first).status_code == 200


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"posture": {"platform": "windows"}}, "posture.platform"),
        ({"posture": {**HEALTHY, "rooted": "yes"}}, "posture.rooted"),
        ({"posture": {**HEALTHY, "surprise": 1}}, "posture.surprise"),
        ({"posture": {**HEALTHY, "app_signing_digest": "zz"}}, "posture.app_signing_digest"),
        ({"nonce": "short"}, "nonce"),
        ({"reported_at": "yesterday"}, "reported_at"),
        (
            {"posture": {**HEALTHY, "risky_apps": [{"kind": "remote_access"}] * 51}},
            "posture.risky_apps",
        ),
    ],
)
def test_bad_reports_name_the_field(client, headers, clock, change, field) -> None:
    refused = post(client, headers, {**report(clock), **change})
    assert refused.status_code == 422, refused.text
    error = refused.json()["error"]
    fields = [e["field"] for e in error.get("errors", [])] or [error.get("field")]
    assert any(f == field or f.startswith(field) for f in fields), error
    assert client.get("/v1/devices/dev-1/health", headers=headers).status_code == 404


def test_a_partner_cannot_remove_or_overwrite_another_partners_entry(client, tenant) -> None:
    first = tenant("bank-a")
    second = tenant("wallet-b")
    added = client.post(
        "/v1/devices/community",
        json={"entries": [{"kind": "device_fingerprint", "identifier": "fp-x", "confidence": 90}]},
        headers=first,
    ).json()
    hashed = added["hashed"][0]
    overwrite = client.post(
        "/v1/devices/community",
        json={"entries": [{"kind": "device_fingerprint", "hashed": hashed, "confidence": 1}]},
        headers=second,
    )
    assert overwrite.status_code == 201 and overwrite.json()["changed"] == 0
    removed = client.post(
        "/v1/devices/community/remove",
        json={"kind": "device_fingerprint", "hashed": [hashed]},
        headers=second,
    )
    assert removed.status_code == 200 and removed.json()["changed"] == 0
    found = client.post(
        "/v1/devices/community/lookup",
        json={"kind": "device_fingerprint", "identifiers": ["fp-x"]},
        headers=second,
    ).json()["entries"]
    assert [e["confidence"] for e in found] == [90]
    own = client.post(
        "/v1/devices/community/remove",
        json={"kind": "device_fingerprint", "hashed": [hashed]},
        headers=first,
    )
    assert own.json()["changed"] == 1
