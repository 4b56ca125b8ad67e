"""A device's posture, attestation, app check and community hits as flat facts.

The health policy's CEL conditions read these facts by name (`rooted`, `patch_age_days`...).
Every fact is always present: an unknown one holds its neutral value from `FACTS` (false,
-1 for an unknown age or version, "" or an empty list), so that a condition never trips over
a missing name and never fires on something nobody reported.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from payguard.devices.apps import AppCheck
from payguard.devices.interfaces import (
    AttestationFacts,
    AttestationKind,
    CommunityEntry,
    DeviceLevel,
    PostureReport,
    RiskyAppKind,
)

__all__ = ["FACTS", "PLAY_PROTECT_RISKS", "facts"]

#: Play Protect verdicts that mean harmful apps were found or protection is off.
PLAY_PROTECT_RISKS = frozenset({"POSSIBLE_RISK", "MEDIUM_RISK", "HIGH_RISK"})

#: Fact name → neutral value (the value when nothing was reported); the health policy's
#: conditions are compiled against it.
FACTS: Mapping[str, Any] = {
    # the posture report
    "reported": False,
    "platform": "",
    "os_major": -1,
    "patch_age_days": -1,
    "rooted": False,
    "emulator": False,
    "debugger": False,
    "hooking": False,
    "screen_lock_off": False,
    "disk_unencrypted": False,
    "protection_off": False,
    "protection_age_days": -1,
    "risky_apps": [],
    "remote_access_app": False,
    "screen_capture_app": False,
    "overlay_app": False,
    "vpn": False,
    "proxy": False,
    "sensors_implausible": False,
    # how far the report can be trusted
    "signed": False,
    "attested": False,
    "assurance": "low",
    # the platform attestation
    "attestation": AttestationKind.NONE.value,
    "device_level": DeviceLevel.NONE.value,
    "app_recognition": "",
    "app_unrecognized": False,
    "licensing": "",
    "unlicensed": False,
    "play_protect": "",
    "play_protect_risk": False,
    "app_access_risk": [],
    # the device's history and the network-wide lists
    "accounts_30d": 0,
    "community_hit": False,
    "community_kinds": [],
    "community_confidence": 0,
    # the installed app
    "fake_app": False,
    "lookalike_app": False,
    "app_unknown": False,
}

_MAJOR = re.compile(r"\d+")


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _age_days(then: datetime | None, now: datetime) -> int:
    """Whole days from `then` to `now`; -1 when unknown, 0 for a date in the future."""
    if then is None:
        return -1
    return max((_utc(now) - _utc(then)).days, 0)


def _os_major(version: str | None) -> int:
    match = _MAJOR.search(version or "")
    if match is None or len(match.group()) > 4:
        return -1
    return int(match.group())


def facts(
    report: PostureReport | None,
    *,
    now: datetime,
    attestation: AttestationFacts | None = None,
    signed: bool = False,
    accounts_30d: int = 0,
    community: Sequence[CommunityEntry] = (),
    app: AppCheck | None = None,
) -> dict[str, Any]:
    """The facts the health policy reads, from everything known about one device.

    `signed`: the report's signature verified against the device's bound key;
    `attestation`: a verified platform attestation; `accounts_30d`: distinct accounts seen
    on the device in 30 days; `community`: its network-wide list entries (expired ones are
    ignored); `app`: the check of the installed app against the partner's genuine apps.
    """
    out: dict[str, Any] = dict(FACTS)
    out["risky_apps"] = []
    out["app_access_risk"] = []
    out["community_kinds"] = []

    if report is not None:
        kinds = {risky.kind for risky in report.risky_apps}
        out.update(
            reported=True,
            platform=report.platform.value,
            os_major=_os_major(report.os_version),
            patch_age_days=_age_days(report.security_patch, now),
            rooted=report.rooted is True,
            emulator=report.emulator is True,
            debugger=report.debugger is True,
            hooking=report.hooking is True,
            screen_lock_off=report.screen_lock is False,
            disk_unencrypted=report.disk_encrypted is False,
            protection_off=report.protection_on is False,
            protection_age_days=_age_days(report.protection_updated_at, now),
            risky_apps=sorted(kind.value for kind in kinds),
            remote_access_app=RiskyAppKind.REMOTE_ACCESS in kinds,
            screen_capture_app=RiskyAppKind.SCREEN_CAPTURE in kinds,
            overlay_app=RiskyAppKind.OVERLAY in kinds,
            vpn=report.vpn is True,
            proxy=report.proxy is True,
            sensors_implausible=report.sensors_plausible is False,
            signed=signed,
        )

    if attestation is not None and attestation.kind != AttestationKind.NONE:
        out.update(
            attested=True,
            attestation=attestation.kind.value,
            device_level=attestation.device_level.value,
            app_recognition=attestation.app_recognition,
            app_unrecognized=attestation.app_recognition == "UNRECOGNIZED_VERSION",
            licensing=attestation.licensing,
            unlicensed=attestation.licensing == "UNLICENSED",
            play_protect=attestation.play_protect,
            play_protect_risk=attestation.play_protect in PLAY_PROTECT_RISKS,
            app_access_risk=list(attestation.app_access_risk),
        )
    out["assurance"] = "attested" if out["attested"] else "signed" if out["signed"] else "low"

    out["accounts_30d"] = max(int(accounts_30d), 0)
    live = [e for e in community if e.expires_at is None or _utc(e.expires_at) > _utc(now)]
    if live:
        out.update(
            community_hit=True,
            community_kinds=sorted({entry.kind.value for entry in live}),
            community_confidence=max(entry.confidence for entry in live),
        )

    if app is not None:
        out.update(
            fake_app=app.fake,
            lookalike_app=app.lookalike_of is not None,
            app_unknown=app.genuine is False and not app.fake,
        )
    return out
