"""`/v1/devices/...`: posture and attestation reports, device health, the tenant's genuine
apps, and the network-wide community lists."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from payguard.api.deps import (
    Admin,
    Analyst,
    Assessor,
    ClockDep,
    Devices,
    IdentifierPath,
    Reader,
    actor_of,
)
from payguard.core.errors import ValidationFailed
from payguard.devices.interfaces import (
    CommunityEntry,
    PostureReport,
    RiskyApp,
)
from payguard.devices.service import (
    AppAttestProof,
    DeviceService,
    DeviceSignature,
    Report,
    canonical,
)
from payguard.devices.serving import community_hash
from payguard.wire.devices import (
    CommunityChangePublic,
    CommunityEntryPublic,
    CommunityIn,
    CommunityLookupIn,
    CommunityLookupPublic,
    CommunityRemoveIn,
    DeviceHealthPublic,
    GenuineAppsIn,
    GenuineAppsPublic,
    PostureIn,
    ReportIn,
    ReportPublic,
    health_out,
    snapshot_out,
)

router = APIRouter(prefix="/v1/devices", tags=["devices"])

DeviceId = IdentifierPath


def _posture(raw: dict[str, Any]) -> PostureReport:
    try:
        posture = PostureIn.model_validate(raw)
    except ValidationError as exc:
        raise RequestValidationError(
            [
                {**error, "loc": ("body", "posture", *error["loc"])}
                for error in exc.errors(include_url=False)
            ]
        ) from None

    def day(value: Any) -> datetime | None:
        return None if value is None else datetime.fromisoformat(f"{value}T00:00:00+00:00")

    return PostureReport(
        platform=posture.platform,
        os_version=posture.os_version,
        security_patch=day(posture.security_patch),
        rooted=posture.rooted,
        emulator=posture.emulator,
        debugger=posture.debugger,
        hooking=posture.hooking,
        screen_lock=posture.screen_lock,
        disk_encrypted=posture.disk_encrypted,
        protection_on=posture.protection_on,
        protection_updated_at=day(posture.protection_updated_at),
        risky_apps=tuple(RiskyApp(a.kind, a.package) for a in posture.risky_apps),
        app_package=posture.app_package,
        app_signing_digest=posture.app_signing_digest,
        app_version=posture.app_version,
        vpn=posture.vpn,
        proxy=posture.proxy,
        sensors_plausible=posture.sensors_plausible,
    )


@router.post(
    "/{device_id}/reports",
    response_model=ReportPublic,
    status_code=201,
    summary="Take in a posture report (signed or attested), judge the device's health",
)
async def post_report(
    device_id: DeviceId,
    body: ReportIn,
    principal: Assessor,
    devices: Devices,
    request: Request,
) -> ReportPublic:
    report = Report(
        device_id=device_id,
        nonce=body.nonce,
        reported_at=body.reported_at,
        posture=_posture(body.posture),
        posture_json=canonical(body.posture),
        account_id=body.account_id,
        fingerprint=body.fingerprint,
        signature=(
            None
            if body.signature is None
            else DeviceSignature(body.signature.signature, body.signature.timestamp)
        ),
        play_integrity=None if body.play_integrity is None else body.play_integrity.token,
        app_attest=(
            None
            if body.app_attest is None
            else AppAttestProof(
                body.app_attest.key_id, body.app_attest.attestation, body.app_attest.assertion
            )
        ),
    )
    if report.play_integrity is not None and report.app_attest is not None:
        raise ValidationFailed(
            "send a Play Integrity token or an App Attest proof, not both", field="app_attest"
        )
    _, health = devices.report(principal.tenant_id, report, actor=actor_of(principal, request))
    return ReportPublic(device_id=device_id, health=health_out(health))


@router.get(
    "/{device_id}/health",
    response_model=DeviceHealthPublic,
    summary="The device's health, its reasons and remedies, and its history",
)
async def get_health(
    device_id: DeviceId, principal: Reader, devices: Devices
) -> DeviceHealthPublic:
    record = devices.record(principal.tenant_id, device_id)
    history = devices.history(principal.tenant_id, device_id)
    return DeviceHealthPublic(
        device_id=record.device_id,
        first_seen=record.first_seen,
        last_seen=record.last_seen,
        platform=record.platform,
        accounts=len(record.accounts),
        health=None if record.health is None else health_out(record.health),
        health_at=record.health_at,
        history=[snapshot_out(s) for s in history],
    )


@router.put("/apps", response_model=GenuineAppsPublic, summary="Register your genuine app(s)")
async def put_apps(
    body: GenuineAppsIn, principal: Admin, devices: Devices, request: Request
) -> GenuineAppsPublic:
    devices.set_genuine_apps(
        principal.tenant_id,
        [(app.package, app.signing_digests) for app in body.apps],
        actor=actor_of(principal, request),
    )
    return _apps(devices, principal.tenant_id)


@router.get("/apps", response_model=GenuineAppsPublic, summary="Your registered genuine apps")
async def get_apps(principal: Analyst, devices: Devices) -> GenuineAppsPublic:
    return _apps(devices, principal.tenant_id)


def _apps(devices: DeviceService, tenant_id: str) -> GenuineAppsPublic:
    apps = devices.genuine_apps(tenant_id)
    return GenuineAppsPublic(apps=[{"package": p, "signing_digests": list(d)} for p, d in apps])


@router.post(
    "/community",
    response_model=CommunityChangePublic,
    status_code=201,
    summary="Add bad devices or apps to the network-wide lists (hashed identifiers only)",
)
async def add_community(
    body: CommunityIn, principal: Admin, devices: Devices, clock: ClockDep, request: Request
) -> CommunityChangePublic:
    now = clock.now()
    entries = []
    for index, item in enumerate(body.entries):
        if (item.identifier is None) == (item.hashed is None):
            raise ValidationFailed(
                "give exactly one of identifier and hashed", field=f"entries[{index}]"
            )
        if item.expires_at is not None and item.expires_at <= now:
            raise ValidationFailed(
                "expires_at must be in the future", field=f"entries[{index}].expires_at"
            )
        hashed = item.hashed or community_hash(item.identifier or "")
        entries.append(
            CommunityEntry(
                kind=item.kind,
                hashed=hashed,
                source=f"tenant:{principal.tenant_id}",
                confidence=item.confidence,
                added_at=now,
                expires_at=item.expires_at,
                note=item.note,
            )
        )
    added = devices.add_community(
        entries, tenant_id=principal.tenant_id, actor=actor_of(principal, request)
    )
    return CommunityChangePublic(changed=added, hashed=[e.hashed for e in entries])


@router.post(
    "/community/remove",
    response_model=CommunityChangePublic,
    summary="Remove entries from a network-wide list",
)
async def remove_community(
    body: CommunityRemoveIn, principal: Admin, devices: Devices, request: Request
) -> CommunityChangePublic:
    removed = devices.remove_community(
        body.kind, body.hashed, tenant_id=principal.tenant_id, actor=actor_of(principal, request)
    )
    return CommunityChangePublic(changed=removed)


@router.post(
    "/community/lookup",
    response_model=CommunityLookupPublic,
    summary="Which of these identifiers are on a network-wide list",
)
async def lookup_community(
    body: CommunityLookupIn, principal: Analyst, devices: Devices
) -> CommunityLookupPublic:
    hashed = [community_hash(identifier) for identifier in body.identifiers]
    found = devices.lookup_community(body.kind, hashed)
    return CommunityLookupPublic(
        entries=[
            CommunityEntryPublic(
                kind=e.kind.value,
                hashed=e.hashed,
                source=e.source,
                confidence=e.confidence,
                added_at=e.added_at,
                expires_at=e.expires_at,
                note=e.note,
            )
            for e in found
        ]
    )
