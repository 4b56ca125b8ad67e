from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from payguard.core.errors import PayloadTooLarge, ValidationFailed
from payguard.devices.apps import AppCheck
from payguard.devices.interfaces import (
    AttestationFacts,
    AttestationKind,
    CommunityEntry,
    CommunityKind,
    DeviceLevel,
    HealthStatus,
    Platform,
    PostureReport,
    RiskyApp,
    RiskyAppKind,
)
from payguard.devices.policy import HealthPolicy, default_policy, default_source
from payguard.devices.posture import FACTS, facts

NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
S = HealthStatus

#: A clean, signed and Play-attested Android 14 phone patched a month ago.
CLEAN: dict[str, Any] = {
    **FACTS,
    "reported": True,
    "platform": "android",
    "os_major": 14,
    "patch_age_days": 30,
    "protection_age_days": 1,
    "signed": True,
    "attested": True,
    "assurance": "attested",
    "attestation": "play_integrity",
    "device_level": "strong",
    "app_recognition": "PLAY_RECOGNIZED",
    "licensing": "LICENSED",
    "play_protect": "NO_ISSUES",
}

#: Facts that fire exactly one signal of the default policy over CLEAN.
TRIGGERS: dict[str, dict[str, Any]] = {
    "fake_app": {"fake_app": True},
    "rooted": {"rooted": True},
    "hooking": {"hooking": True},
    "community_listed": {"community_hit": True, "community_confidence": 80},
    "integrity_failed": {"device_level": "none"},
    "emulator": {"emulator": True},
    "app_unrecognized": {"app_unrecognized": True, "app_recognition": "UNRECOGNIZED_VERSION"},
    "lookalike_app": {"lookalike_app": True},
    "app_unknown": {"app_unknown": True},
    "debugger": {"debugger": True},
    "integrity_basic": {"device_level": "basic"},
    "integrity_virtual": {"device_level": "virtual"},
    "play_protect_risk": {"play_protect_risk": True, "play_protect": "MEDIUM_RISK"},
    "unlicensed": {"unlicensed": True, "licensing": "UNLICENSED"},
    "screen_sharing_active": {"app_access_risk": ["KNOWN_INSTALLED", "UNKNOWN_CONTROLLING"]},
    "remote_access_app": {"remote_access_app": True, "risky_apps": ["remote_access"]},
    "screen_capture_app": {"screen_capture_app": True, "risky_apps": ["screen_capture"]},
    "overlay_app": {"overlay_app": True, "risky_apps": ["overlay"]},
    "patch_very_old": {"patch_age_days": 366},
    "patch_old": {"patch_age_days": 181},
    "os_outdated": {"os_major": 9},
    "screen_lock_off": {"screen_lock_off": True},
    "disk_unencrypted": {"disk_unencrypted": True},
    "protection_off": {"protection_off": True},
    "sensors_implausible": {"sensors_implausible": True},
    "vpn_or_proxy": {"vpn": True},
    "community_suspected": {"community_hit": True, "community_confidence": 49},
    "many_accounts": {"accounts_30d": 5},
    "low_assurance": {
        "signed": False,
        "attested": False,
        "assurance": "low",
        "attestation": "none",
        "device_level": "none",
    },
}


def ids(policy: HealthPolicy) -> list[str]:
    return [signal.spec.id for signal in policy.signals]


# --- the default policy ----------------------------------------------------------------------


def test_default_policy_compiles_once() -> None:
    policy = default_policy()
    assert policy is default_policy()
    assert len(policy.signals) >= 25
    assert policy.thresholds.at_risk_below == 70
    assert policy.thresholds.compromised_below == 40


def test_every_default_signal_has_a_trigger() -> None:
    assert sorted(TRIGGERS) == sorted(ids(default_policy()))


def test_a_clean_device_fires_nothing() -> None:
    health = default_policy().evaluate(CLEAN)
    assert (health.score, health.status, health.signals) == (100, S.HEALTHY, ())
    assert health.assurance == "attested"


@pytest.mark.parametrize("signal_id", sorted(TRIGGERS))
def test_each_default_signal_fires_on_its_fact(signal_id: str) -> None:
    policy = default_policy()
    spec = next(s.spec for s in policy.signals if s.spec.id == signal_id)
    health = policy.evaluate({**CLEAN, **TRIGGERS[signal_id]})
    assert [signal.id for signal in health.signals] == [signal_id]
    (signal,) = health.signals
    assert signal.reason == spec.reason
    assert signal.weight == spec.weight
    assert health.score == 100 - spec.weight
    assert "{" not in signal.explanation
    assert "{" not in signal.remedy
    if spec.compromised:
        assert health.status == S.COMPROMISED


def test_overlays_seen_by_play_integrity_count_as_an_overlay_app() -> None:
    health = default_policy().evaluate({**CLEAN, "app_access_risk": ["UNKNOWN_OVERLAYS"]})
    assert [signal.id for signal in health.signals] == ["overlay_app"]


def test_stale_protection_counts_as_off() -> None:
    health = default_policy().evaluate({**CLEAN, "protection_age_days": 31})
    assert [signal.id for signal in health.signals] == ["protection_off"]


def test_old_ios_is_outdated() -> None:
    health = default_policy().evaluate({**CLEAN, "platform": "ios", "os_major": 14})
    assert [signal.id for signal in health.signals] == ["os_outdated"]
    assert health.signals[0].explanation == "iOS 14 no longer receives security fixes."
    assert default_policy().evaluate({**CLEAN, "platform": "ios", "os_major": 15}).signals == ()


# --- posture combinations, end to end --------------------------------------------------------


def android(**overrides: Any) -> PostureReport:
    """A clean Android 14 phone patched a month ago, changed by `overrides`."""
    values: dict[str, Any] = {
        "platform": Platform.ANDROID,
        "os_version": "14",
        "security_patch": NOW - timedelta(days=30),
        "rooted": False,
        "emulator": False,
        "debugger": False,
        "hooking": False,
        "screen_lock": True,
        "disk_encrypted": True,
        "protection_on": True,
        "protection_updated_at": NOW - timedelta(days=1),
        "vpn": False,
        "proxy": False,
        "sensors_plausible": True,
        "app_package": "com.example.wallet",
    }
    values.update(overrides)
    return PostureReport(**values)


def integrity(level: DeviceLevel = DeviceLevel.DEVICE, **kw: Any) -> AttestationFacts:
    return AttestationFacts(
        kind=AttestationKind.PLAY_INTEGRITY,
        device_level=level,
        app_recognition="PLAY_RECOGNIZED",
        licensing="LICENSED",
        play_protect="NO_ISSUES",
        **kw,
    )


LISTED = CommunityEntry(
    kind=CommunityKind.DEVICE_FINGERPRINT,
    hashed="cd" * 32,
    source="feed",
    confidence=90,
    added_at=NOW - timedelta(days=1),
)
FAKE = AppCheck(genuine=False, fake=True, lookalike_of=None, reason="repackaged")
SIGNED = {"signed": True}

CASES = [
    # (name, report, facts() keywords, score, status, signal ids strongest first)
    ("clean, signed", android(), SIGNED, 100, S.HEALTHY, ()),
    ("clean, unsigned", android(), {}, 90, S.HEALTHY, ("low_assurance",)),
    ("clean, attested", android(), {"attestation": integrity()}, 100, S.HEALTHY, ()),
    ("vpn", android(vpn=True), SIGNED, 95, S.HEALTHY, ("vpn_or_proxy",)),
    (
        "patch 8 months old",
        android(security_patch=NOW - timedelta(days=240)),
        SIGNED,
        90,
        S.HEALTHY,
        ("patch_old",),
    ),
    ("screen lock off", android(screen_lock=False), SIGNED, 65, S.AT_RISK, ("screen_lock_off",)),
    (
        "screen lock off, unencrypted",
        android(screen_lock=False, disk_encrypted=False),
        SIGNED,
        45,
        S.AT_RISK,
        ("screen_lock_off", "disk_unencrypted"),
    ),
    (
        "patch 14 months old",
        android(security_patch=datetime(2025, 1, 5, tzinfo=UTC)),
        SIGNED,
        65,
        S.AT_RISK,
        ("patch_very_old",),
    ),
    (
        "Android 9 patched 30 months ago",
        android(os_version="9", security_patch=NOW - timedelta(days=913)),
        SIGNED,
        40,
        S.AT_RISK,
        ("patch_very_old", "os_outdated"),
    ),
    (
        "Android 9 patched 30 months ago, unsigned",
        android(os_version="9", security_patch=NOW - timedelta(days=913)),
        {},
        30,
        S.COMPROMISED,
        ("patch_very_old", "os_outdated", "low_assurance"),
    ),
    ("rooted", android(rooted=True), SIGNED, 40, S.COMPROMISED, ("rooted",)),
    (
        "rooted and hooked",
        android(rooted=True, hooking=True),
        SIGNED,
        0,
        S.COMPROMISED,
        ("rooted", "hooking"),
    ),
    ("emulator", android(emulator=True), SIGNED, 45, S.AT_RISK, ("emulator",)),
    (
        "emulator with synthetic sensors",
        android(emulator=True, sensors_plausible=False),
        SIGNED,
        25,
        S.COMPROMISED,
        ("emulator", "sensors_implausible"),
    ),
    (
        "remote-access app installed",
        android(risky_apps=(RiskyApp(RiskyAppKind.REMOTE_ACCESS, "com.anydesk.anydeskandroid"),)),
        SIGNED,
        65,
        S.AT_RISK,
        ("remote_access_app",),
    ),
    (
        "screen shared during a call",
        android(risky_apps=(RiskyApp(RiskyAppKind.REMOTE_ACCESS),)),
        {"attestation": integrity(app_access_risk=("UNKNOWN_CONTROLLING",))},
        20,
        S.COMPROMISED,
        ("screen_sharing_active", "remote_access_app"),
    ),
    (
        "Play Integrity basic",
        android(),
        {"attestation": integrity(DeviceLevel.BASIC)},
        65,
        S.AT_RISK,
        ("integrity_basic",),
    ),
    (
        "Play Integrity failed",
        android(),
        {"attestation": integrity(DeviceLevel.NONE)},
        40,
        S.COMPROMISED,
        ("integrity_failed",),
    ),
    ("fake app", android(), {**SIGNED, "app": FAKE}, 30, S.COMPROMISED, ("fake_app",)),
    (
        "shared by 6 accounts",
        android(),
        {**SIGNED, "accounts_30d": 6},
        70,
        S.HEALTHY,
        ("many_accounts",),
    ),
    ("never reported", None, {}, 100, S.UNKNOWN, ()),
    ("never reported, many accounts", None, {"accounts_30d": 6}, 70, S.UNKNOWN, ("many_accounts",)),
    (
        "never reported, community listed",
        None,
        {"community": [LISTED]},
        40,
        S.COMPROMISED,
        ("community_listed",),
    ),
    (
        "attested only",
        None,
        {"attestation": integrity(DeviceLevel.STRONG)},
        100,
        S.HEALTHY,
        (),
    ),
]


@pytest.mark.parametrize(
    ("report", "known", "score", "status", "signals"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_posture_combinations(
    report: PostureReport | None,
    known: dict[str, Any],
    score: int,
    status: HealthStatus,
    signals: tuple[str, ...],
) -> None:
    health = default_policy().evaluate(facts(report, now=NOW, **known))
    assert health.score == score
    assert health.status == status
    assert tuple(signal.id for signal in health.signals) == signals


def test_patch_age_is_quoted_in_months() -> None:
    report = android(security_patch=datetime(2025, 1, 5, tzinfo=UTC))
    (signal,) = default_policy().evaluate(facts(report, now=NOW, signed=True)).signals
    assert signal.explanation.startswith("Update Android: your security patch is 14 months old")


def test_accounts_are_quoted() -> None:
    (signal,) = default_policy().evaluate({**CLEAN, "accounts_30d": 7}).signals
    assert "to 7 different accounts" in signal.explanation


def test_the_explanation_the_brief_asked_for() -> None:
    health = default_policy().evaluate({**CLEAN, "app_access_risk": ["UNKNOWN_CAPTURING"]})
    assert health.signals[0].explanation == (
        "A screen-sharing app is running: a caller may be trying to scam you."
    )


def test_assurance_comes_from_the_facts() -> None:
    assert default_policy().evaluate(facts(android(), now=NOW)).assurance == "low"
    assert default_policy().evaluate(facts(android(), now=NOW, signed=True)).assurance == "signed"


def test_default_texts_are_short_plain_sentences() -> None:
    for signal in default_policy().signals:
        for text in (signal.spec.explanation, signal.spec.remedy):
            assert text[0].isupper() or text[0] == "{", signal.spec.id
            assert text.rstrip().endswith("."), signal.spec.id


# --- custom policies ----------------------------------------------------------------------


def signal(**overrides: Any) -> str:
    fields = {
        "id": "lock",
        "when": "screen_lock_off",
        "weight": "30",
        "reason": "NO_LOCK",
        "explanation": "No lock.",
        "remedy": "Turn it on.",
    }
    fields.update(overrides)
    return "\n".join(
        ("  - " if i == 0 else "    ") + f"{k}: {v}" for i, (k, v) in enumerate(fields.items())
    )


def policy(*signals: str, head: str = "") -> str:
    return head + "signals:\n" + "\n".join(signals) + "\n"


def test_custom_policy_thresholds_and_order() -> None:
    source = policy(
        signal(id="small", when="vpn", weight="10", reason="SMALL"),
        signal(id="big", when="proxy", weight="50", reason="BIG"),
        signal(id="mid", when="vpn", weight="25", reason="MID"),
        head="thresholds: {at_risk_below: 90, compromised_below: 20}\n",
    )
    compiled = HealthPolicy.compile(source)
    assert compiled.source == source
    health = compiled.evaluate({**CLEAN, "vpn": True, "proxy": True})
    assert [s.id for s in health.signals] == ["big", "mid", "small"]
    assert (health.score, health.status) == (15, S.COMPROMISED)
    assert compiled.evaluate({**CLEAN, "vpn": True}).status == S.AT_RISK


def test_score_is_clamped_and_ties_keep_policy_order() -> None:
    compiled = HealthPolicy.compile(
        policy(
            signal(id="a", when="vpn", weight="100"),
            signal(id="b", when="vpn", weight="100"),
        )
    )
    health = compiled.evaluate({**CLEAN, "vpn": True})
    assert health.score == 0
    assert [s.id for s in health.signals] == ["a", "b"]


def test_a_signal_failing_at_run_time_counts_as_not_firing() -> None:
    compiled = HealthPolicy.compile(policy(signal(when="patch_age_days > 365")))
    assert compiled.evaluate({**CLEAN, "patch_age_days": "old"}).signals == ()


def test_missing_facts_read_as_neutral() -> None:
    compiled = HealthPolicy.compile(policy(signal(when="'!screen_lock_off'")))
    health = compiled.evaluate({"reported": True})
    assert [s.id for s in health.signals] == ["lock"]


def test_placeholders_render_and_escapes_survive() -> None:
    compiled = HealthPolicy.compile(
        policy(
            signal(
                explanation='"{os_name} {os_major}, patched {patch_age_days} days ago {{sic}}."',
                remedy='"Literal {{braces}}."',
            )
        )
    )
    (found,) = compiled.evaluate({**CLEAN, "screen_lock_off": True}).signals
    assert found.explanation == "Android 14, patched 30 days ago {sic}."
    assert found.remedy == "Literal {braces}."
    (unknown,) = compiled.evaluate({**FACTS, "reported": True, "screen_lock_off": True}).signals
    assert unknown.explanation == "your system unknown, patched unknown days ago {sic}."


@pytest.mark.parametrize(
    ("source", "field"),
    [
        ("signals: [", "signals"),
        ("- just a list", "signals"),
        ("description: no signals", "signals"),
        (policy(signal(when="screen_lock_off &&")), "signals[0].when"),
        (policy(signal(), signal(id="x", when="nope == 1")), "signals[1].when"),
        (policy(signal(when="accounts_30d")), "signals[0].when"),
        (policy(signal(when="platform + 1 == 2")), "signals[0].when"),
        (policy(signal(), signal(reason="OTHER")), "signals[1].id"),
        (policy(signal(weight="101")), "signals[0].weight"),
        (policy(signal(weight="-1")), "signals[0].weight"),
        (policy(signal(reason="no_lock")), "signals[0].reason"),
        (policy(signal(id="Bad Id")), "signals[0].id"),
        (policy(signal(explanation='"{patch_age_years} years."')), "signals[0].explanation"),
        (policy(signal(remedy='"{os_name!r}."')), "signals[0].remedy"),
        (policy(signal(remedy='"{os_name:>10}."')), "signals[0].remedy"),
        (policy(signal(explanation='"{}."')), "signals[0].explanation"),
        (policy(signal(explanation='"{os_name.upper}."')), "signals[0].explanation"),
        (policy(signal(explanation='"Unclosed {os_name."')), "signals[0].explanation"),
        (policy(signal(explanation="x" * 301)), "signals[0].explanation"),
        (policy(signal(remedy="''")), "signals[0].remedy"),
        (policy(signal(extra="1")), "signals[0].extra"),
        (policy(signal(compromised="maybe")), "signals[0].compromised"),
        (
            policy(signal(), head="thresholds: {at_risk_below: 30, compromised_below: 60}\n"),
            "thresholds",
        ),
        (policy(signal(), head="thresholds: {at_risk_below: 200}\n"), "thresholds.at_risk_below"),
    ],
)
def test_bad_policies_name_the_field(source: str, field: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        HealthPolicy.compile(source)
    assert caught.value.field == field


def test_unknown_facts_are_named() -> None:
    with pytest.raises(ValidationFailed, match="unknown fact 'jailbroken'"):
        HealthPolicy.compile(policy(signal(when="jailbroken")))


def test_non_boolean_conditions_are_refused() -> None:
    with pytest.raises(ValidationFailed, match="true or false"):
        HealthPolicy.compile(policy(signal(when="accounts_30d")))


def test_oversized_policy_is_refused() -> None:
    with pytest.raises(PayloadTooLarge):
        HealthPolicy.compile(policy(signal()) + "#" * (200 * 1024))


def test_default_source_is_the_bundled_yaml() -> None:
    assert "signals:" in default_source()
    assert HealthPolicy.compile(default_source()).thresholds == default_policy().thresholds
