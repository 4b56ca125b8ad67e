from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from payguard.devices.apps import AppCheck
from payguard.devices.interfaces import (
    AttestationFacts,
    AttestationKind,
    CommunityEntry,
    CommunityKind,
    DeviceLevel,
    Platform,
    PostureReport,
    RiskyApp,
    RiskyAppKind,
)
from payguard.devices.posture import FACTS, facts

NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


def entry(kind: CommunityKind, confidence: int, **kw: Any) -> CommunityEntry:
    return CommunityEntry(
        kind=kind,
        hashed="ab" * 32,
        source="tenant-a",
        confidence=confidence,
        added_at=NOW - timedelta(days=3),
        **kw,
    )


def test_nothing_known_gives_the_neutral_facts() -> None:
    assert facts(None, now=NOW) == FACTS


def test_neutral_facts_are_what_the_brief_says() -> None:
    assert FACTS["reported"] is False
    assert FACTS["platform"] == ""
    assert FACTS["os_major"] == -1
    assert FACTS["patch_age_days"] == -1
    assert FACTS["protection_age_days"] == -1
    assert FACTS["assurance"] == "low"
    assert FACTS["attestation"] == "none"
    assert FACTS["device_level"] == "none"
    assert FACTS["accounts_30d"] == 0
    assert FACTS["community_confidence"] == 0
    for name in ("risky_apps", "app_access_risk", "community_kinds"):
        assert FACTS[name] == []


def test_facts_lists_are_fresh() -> None:
    out = facts(None, now=NOW)
    out["risky_apps"].append("x")
    assert FACTS["risky_apps"] == []


def test_every_fact_is_always_present_with_its_neutral_type() -> None:
    full = facts(
        PostureReport(platform=Platform.IOS, os_version="17.4.1"),
        now=NOW,
        attestation=AttestationFacts(
            kind=AttestationKind.APP_ATTEST, device_level=DeviceLevel.DEVICE
        ),
        signed=True,
        accounts_30d=2,
        community=[entry(CommunityKind.DEVICE_FINGERPRINT, 70)],
        app=AppCheck(genuine=True, fake=False, lookalike_of=None, reason=None),
    )
    assert full.keys() == FACTS.keys()
    for name, neutral in FACTS.items():
        assert type(full[name]) is type(neutral), name


def test_an_empty_report_is_reported_but_otherwise_neutral() -> None:
    out = facts(PostureReport(platform=Platform.ANDROID), now=NOW)
    assert out["reported"] is True
    assert out["platform"] == "android"
    assert {k: v for k, v in out.items() if k not in ("reported", "platform")} == {
        k: v for k, v in FACTS.items() if k not in ("reported", "platform")
    }


@pytest.mark.parametrize(
    ("report", "name", "expected"),
    [
        ({"rooted": True}, "rooted", True),
        ({"rooted": False}, "rooted", False),
        ({"emulator": True}, "emulator", True),
        ({"debugger": True}, "debugger", True),
        ({"hooking": True}, "hooking", True),
        ({"screen_lock": False}, "screen_lock_off", True),
        ({"screen_lock": True}, "screen_lock_off", False),
        ({"disk_encrypted": False}, "disk_unencrypted", True),
        ({"disk_encrypted": True}, "disk_unencrypted", False),
        ({"protection_on": False}, "protection_off", True),
        ({"protection_on": True}, "protection_off", False),
        ({"vpn": True}, "vpn", True),
        ({"proxy": True}, "proxy", True),
        ({"sensors_plausible": False}, "sensors_implausible", True),
        ({"sensors_plausible": True}, "sensors_implausible", False),
        ({"security_patch": NOW - timedelta(days=425)}, "patch_age_days", 425),
        ({"security_patch": datetime(2026, 2, 1)}, "patch_age_days", 29),  # naive = UTC
        ({"security_patch": NOW + timedelta(days=40)}, "patch_age_days", 0),  # in the future
        ({"protection_updated_at": NOW - timedelta(days=31, hours=2)}, "protection_age_days", 31),
        ({"os_version": "14"}, "os_major", 14),
        ({"os_version": "17.4.1"}, "os_major", 17),
        ({"os_version": "Android 9"}, "os_major", 9),
        ({"os_version": "beta"}, "os_major", -1),
        ({"os_version": "123456789"}, "os_major", -1),
    ],
)
def test_report_fields_map_to_facts(report: dict[str, Any], name: str, expected: object) -> None:
    assert facts(PostureReport(platform=Platform.ANDROID, **report), now=NOW)[name] == expected


def test_risky_apps() -> None:
    report = PostureReport(
        platform=Platform.ANDROID,
        risky_apps=(
            RiskyApp(RiskyAppKind.SCREEN_CAPTURE, "com.rec"),
            RiskyApp(RiskyAppKind.REMOTE_ACCESS, "com.anydesk.anydeskandroid"),
            RiskyApp(RiskyAppKind.REMOTE_ACCESS, "com.teamviewer.quicksupport.market"),
        ),
    )
    out = facts(report, now=NOW)
    assert out["risky_apps"] == ["remote_access", "screen_capture"]
    assert out["remote_access_app"] is True
    assert out["screen_capture_app"] is True
    assert out["overlay_app"] is False


def test_play_integrity_attestation() -> None:
    attestation = AttestationFacts(
        kind=AttestationKind.PLAY_INTEGRITY,
        device_level=DeviceLevel.BASIC,
        app_recognition="UNRECOGNIZED_VERSION",
        licensing="UNLICENSED",
        play_protect="HIGH_RISK",
        app_access_risk=("KNOWN_INSTALLED", "UNKNOWN_CAPTURING"),
    )
    out = facts(None, now=NOW, attestation=attestation)
    assert out["reported"] is False
    assert out["attested"] is True
    assert out["assurance"] == "attested"
    assert out["attestation"] == "play_integrity"
    assert out["device_level"] == "basic"
    assert out["app_recognition"] == "UNRECOGNIZED_VERSION"
    assert out["app_unrecognized"] is True
    assert out["licensing"] == "UNLICENSED"
    assert out["unlicensed"] is True
    assert out["play_protect"] == "HIGH_RISK"
    assert out["play_protect_risk"] is True
    assert out["app_access_risk"] == ["KNOWN_INSTALLED", "UNKNOWN_CAPTURING"]


@pytest.mark.parametrize(
    ("verdict", "risk"),
    [
        ("NO_ISSUES", False),
        ("NO_DATA", False),
        ("UNEVALUATED", False),
        ("", False),
        ("POSSIBLE_RISK", True),
        ("MEDIUM_RISK", True),
        ("HIGH_RISK", True),
    ],
)
def test_play_protect_risk(verdict: str, risk: bool) -> None:
    attestation = AttestationFacts(kind=AttestationKind.PLAY_INTEGRITY, play_protect=verdict)
    assert facts(None, now=NOW, attestation=attestation)["play_protect_risk"] is risk


def test_a_recognized_app_is_not_unrecognized() -> None:
    attestation = AttestationFacts(
        kind=AttestationKind.PLAY_INTEGRITY,
        device_level=DeviceLevel.STRONG,
        app_recognition="PLAY_RECOGNIZED",
        licensing="LICENSED",
    )
    out = facts(None, now=NOW, attestation=attestation)
    assert out["app_unrecognized"] is False
    assert out["unlicensed"] is False
    assert out["device_level"] == "strong"


def test_attestation_of_kind_none_does_not_count() -> None:
    out = facts(None, now=NOW, attestation=AttestationFacts(kind=AttestationKind.NONE))
    assert out["attested"] is False
    assert out["attestation"] == "none"


@pytest.mark.parametrize(
    ("reported", "signed", "attested", "assurance"),
    [
        (False, False, False, "low"),
        (False, True, False, "low"),  # nothing was signed
        (True, False, False, "low"),
        (True, True, False, "signed"),
        (True, False, True, "attested"),
        (True, True, True, "attested"),
        (False, False, True, "attested"),
    ],
)
def test_assurance(reported: bool, signed: bool, attested: bool, assurance: str) -> None:
    out = facts(
        PostureReport(platform=Platform.ANDROID) if reported else None,
        now=NOW,
        signed=signed,
        attestation=AttestationFacts(kind=AttestationKind.APP_ATTEST) if attested else None,
    )
    assert out["signed"] is (signed and reported)
    assert out["attested"] is attested
    assert out["assurance"] == assurance


def test_accounts() -> None:
    assert facts(None, now=NOW, accounts_30d=6)["accounts_30d"] == 6
    assert facts(None, now=NOW, accounts_30d=-3)["accounts_30d"] == 0


def test_community_entries() -> None:
    out = facts(
        None,
        now=NOW,
        community=[
            entry(CommunityKind.FAKE_APP_SIGNATURE, 40),
            entry(CommunityKind.DEVICE_FINGERPRINT, 90, expires_at=NOW + timedelta(days=1)),
            entry(CommunityKind.APP_DIGEST, 100, expires_at=NOW - timedelta(seconds=1)),
        ],
    )
    assert out["community_hit"] is True
    assert out["community_kinds"] == ["device_fingerprint", "fake_app_signature"]
    assert out["community_confidence"] == 90


def test_expired_community_entries_are_no_hit() -> None:
    expired = entry(CommunityKind.APP_DIGEST, 100, expires_at=NOW)
    out = facts(None, now=NOW, community=[expired])
    assert out["community_hit"] is False
    assert out["community_kinds"] == []
    assert out["community_confidence"] == 0


@pytest.mark.parametrize(
    ("check", "fake", "lookalike", "unknown"),
    [
        (AppCheck(genuine=True, fake=False, lookalike_of=None, reason=None), False, False, False),
        (AppCheck(genuine=None, fake=False, lookalike_of=None, reason=None), False, False, False),
        (AppCheck(genuine=False, fake=True, lookalike_of=None, reason="x"), True, False, False),
        (AppCheck(genuine=False, fake=False, lookalike_of=None, reason="x"), False, False, True),
        (
            AppCheck(genuine=None, fake=False, lookalike_of="com.venmo", reason="x"),
            False,
            True,
            False,
        ),
        (
            AppCheck(genuine=False, fake=False, lookalike_of="com.venmo", reason="x"),
            False,
            True,
            True,
        ),
    ],
)
def test_app_check(check: AppCheck, fake: bool, lookalike: bool, unknown: bool) -> None:
    out = facts(None, now=NOW, app=check)
    assert (out["fake_app"], out["lookalike_app"], out["app_unknown"]) == (fake, lookalike, unknown)
