"""The device service on its ports: device binding through `DeviceKeys` (no auth behind it),
the audit records its changes leave, genuine apps, community lookups and housekeeping."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from payguard.adapters.sql.devices import SqlCommunityLists, SqlDeviceRepository
from payguard.adapters.sql.engine import create_sql_engine, migrate
from payguard.audit.interfaces import Actor, AuditAction, AuditOutcome, AuditRecord
from payguard.audit.service import AuditService
from payguard.core.bus import DEVICE_HEALTH
from payguard.core.clock import FrozenClock
from payguard.core.errors import Conflict, FactorRejected, ValidationFailed
from payguard.devices.interfaces import (
    CommunityEntry,
    CommunityKind,
    DevicePublicKey,
    HealthSnapshot,
    Platform,
    PostureReport,
)
from payguard.devices.policy import default_policy
from payguard.devices.service import (
    DeviceService,
    DeviceSignature,
    Report,
    canonical,
    report_path,
)
from payguard.devices.serving import DeviceVerdicts, community_hash

TENANT = "t1"
PARTNER = Actor.api_key(TENANT, "k1", "192.0.2.7")
KEY = DevicePublicKey("ed25519", "a-public-key")


class Keys:
    """The device-binding port in memory: one bound key per device, a verdict to give, and a
    nonce ledger; it remembers what it was asked to verify."""

    def __init__(self, bound: dict[tuple[str, str], DevicePublicKey] | None = None) -> None:
        self.bound = dict(bound or {})
        self.valid = True
        self.verified: list[dict[str, Any]] = []
        self.nonces: set[tuple[str, str, str]] = set()

    def bound_key(self, tenant_id: str, device_id: str) -> DevicePublicKey | None:
        return self.bound.get((tenant_id, device_id))

    def verify(self, key: DevicePublicKey, **request: Any) -> bool:
        self.verified.append({"key": key, **request})
        return self.valid

    def use_nonce(self, tenant_id: str, scope: str, nonce: str, expires_at: Any) -> bool:
        if (tenant_id, scope, nonce) in self.nonces:
            return False
        self.nonces.add((tenant_id, scope, nonce))
        return True


class Records:
    """An audit repository in memory."""

    def __init__(self) -> None:
        self.records: list[AuditRecord] = []

    def append(self, record: AuditRecord) -> None:
        self.records.append(record)

    def list(self, **_: Any) -> list[AuditRecord]:
        return list(reversed(self.records))


class Bus:
    def __init__(self) -> None:
        self.published: list[tuple[str, dict[str, Any]]] = []

    def publish(self, subject: str, message: dict[str, Any]) -> None:
        self.published.append((subject, message))


@pytest.fixture
def engine(tmp_path) -> Iterator[sa.Engine]:
    built = create_sql_engine(f"sqlite:///{tmp_path}/devices.db")
    migrate(built)
    yield built
    built.dispose()


@pytest.fixture
def keys() -> Keys:
    return Keys({(TENANT, "dev-1"): KEY})


@pytest.fixture
def audit() -> Records:
    return Records()


@pytest.fixture
def bus() -> Bus:
    return Bus()


@pytest.fixture
def devices(engine, keys: Keys, audit: Records, bus: Bus, clock: FrozenClock) -> DeviceService:
    repository = SqlDeviceRepository(engine)
    community = SqlCommunityLists(engine)
    return DeviceService(
        repository,
        community,
        keys=keys,
        audit=AuditService(audit, clock),
        bus=bus,
        clock=clock,
        policy=default_policy(),
        verdicts=DeviceVerdicts(repository, community, now=clock.now, ttl=0),
    )


def report(
    clock: FrozenClock, device_id: str = "dev-1", *, signature: DeviceSignature | None = None
) -> Report:
    posture = {"platform": "android", "rooted": False, "screen_lock": True}
    return Report(
        device_id=device_id,
        nonce=secrets.token_urlsafe(16),
        reported_at=clock.now(),
        posture=PostureReport(platform=Platform.ANDROID, rooted=False, screen_lock=True),
        posture_json=canonical(posture),
        account_id="acct-1",
        signature=signature,
    )


def signed(clock: FrozenClock, device_id: str = "dev-1", *, skew: int = 0) -> Report:
    timestamp = int(clock.now().timestamp()) + skew
    return report(clock, device_id, signature=DeviceSignature("c2lnbmF0dXJl", timestamp))


def test_a_report_is_judged_kept_published_and_audited_with_its_actor(
    devices: DeviceService, audit: Records, bus: Bus, clock: FrozenClock
) -> None:
    record, health = devices.report(TENANT, report(clock), actor=PARTNER)
    assert record.device_id == "dev-1" and record.accounts == ("acct-1",)
    assert health.assurance == "low"
    assert devices.record(TENANT, "dev-1").health == health
    [snapshot] = devices.history(TENANT, "dev-1")
    assert isinstance(snapshot, HealthSnapshot) and snapshot.score == health.score
    assert bus.published == [
        (
            DEVICE_HEALTH,
            {
                "tenant_id": TENANT,
                "device_id": "dev-1",
                "score": health.score,
                "status": health.status.value,
            },
        )
    ]
    [written] = audit.records
    assert (written.actor, written.source_ip, written.tenant_id) == ("apikey:k1", "192.0.2.7", "t1")
    assert (written.action, written.target, written.outcome) == (
        AuditAction.DEVICE_REPORT,
        "device:dev-1",
        AuditOutcome.SUCCESS,
    )
    assert written.details == {
        "score": health.score,
        "status": health.status.value,
        "assurance": "low",
        "reasons": [s.reason for s in health.signals],
    }


def test_a_signed_report_is_verified_by_the_bound_key(
    devices: DeviceService, keys: Keys, clock: FrozenClock
) -> None:
    sent = signed(clock)
    _, health = devices.report(TENANT, sent, actor=PARTNER)
    assert health.assurance == "signed"
    assert sent.signature is not None
    assert keys.verified == [
        {
            "key": KEY,
            "method": "POST",
            "path": report_path("dev-1"),
            "body": sent.posture_json,
            "timestamp": sent.signature.timestamp,
            "nonce": sent.nonce,
            "signature": sent.signature.signature,
        }
    ]
    assert (TENANT, "device-report:dev-1", sent.nonce) in keys.nonces


def test_a_signature_the_port_refuses_refuses_the_report(
    devices: DeviceService, keys: Keys, audit: Records, clock: FrozenClock
) -> None:
    keys.valid = False
    sent = signed(clock)
    with pytest.raises(FactorRejected, match="does not verify"):
        devices.report(TENANT, sent, actor=PARTNER)
    with pytest.raises(FactorRejected, match="no key is bound"):
        devices.report(TENANT, signed(clock, "dev-2"), actor=PARTNER)
    with pytest.raises(FactorRejected, match="stale"):
        devices.report(TENANT, signed(clock, skew=301), actor=PARTNER)
    assert keys.nonces == set() and audit.records == []  # refused reports burn no nonce


def test_a_replayed_or_stale_report_is_refused(devices: DeviceService, clock: FrozenClock) -> None:
    sent = report(clock)
    devices.report(TENANT, sent, actor=PARTNER)
    with pytest.raises(Conflict, match="replayed nonce"):
        devices.report(TENANT, sent, actor=PARTNER)
    late = report(clock)
    clock.advance(timedelta(minutes=5, seconds=1))
    with pytest.raises(ValidationFailed) as stale:
        devices.report(TENANT, late, actor=PARTNER)
    assert stale.value.field == "reported_at"


def test_genuine_apps_are_kept_normalised_and_audited(
    devices: DeviceService, audit: Records
) -> None:
    assert devices.genuine_apps(TENANT) == []
    devices.set_genuine_apps(TENANT, [("com.example.pay", ["AB" * 32])], actor=PARTNER)
    assert devices.genuine_apps(TENANT) == [("com.example.pay", ("ab" * 32,))]
    assert devices.genuine_apps("t2") == []
    [written] = audit.records
    assert (written.actor, written.source_ip, written.tenant_id, written.target) == (
        "apikey:k1",
        "192.0.2.7",
        TENANT,
        "genuine_apps",
    )
    assert written.action == AuditAction.DEVICE_APPS_SET
    assert written.details == {"packages": ["com.example.pay"]}


def test_community_entries_are_looked_up_removed_and_audited(
    devices: DeviceService, audit: Records, clock: FrozenClock
) -> None:
    hashed = community_hash(f"fp-{secrets.token_hex(8)}")
    entry = CommunityEntry(
        kind=CommunityKind.DEVICE_FINGERPRINT,
        hashed=hashed,
        source=f"tenant:{TENANT}",
        confidence=90,
        added_at=clock.now(),
    )
    assert devices.add_community([entry], tenant_id=TENANT, actor=PARTNER) == 1
    [found] = devices.lookup_community(CommunityKind.DEVICE_FINGERPRINT, [hashed])
    assert found.hashed == hashed and found.source == f"tenant:{TENANT}"
    assert devices.lookup_community(CommunityKind.APP_DIGEST, [hashed]) == []
    assert (
        devices.remove_community(
            CommunityKind.DEVICE_FINGERPRINT, [hashed], tenant_id=TENANT, actor=PARTNER
        )
        == 1
    )
    assert devices.lookup_community(CommunityKind.DEVICE_FINGERPRINT, [hashed]) == []
    added, removed = audit.records
    assert (added.action, added.target, added.actor, added.source_ip, added.tenant_id) == (
        AuditAction.COMMUNITY_ADD,
        "community",
        "apikey:k1",
        "192.0.2.7",
        TENANT,
    )
    assert added.details == {"kinds": ["device_fingerprint"], "count": 1}
    assert (removed.action, removed.target, removed.actor, removed.tenant_id) == (
        AuditAction.COMMUNITY_REMOVE,
        "community",
        "apikey:k1",
        TENANT,
    )
    assert removed.details == {"kind": "device_fingerprint", "count": 1}


def test_an_operator_acting_through_a_key_is_named_in_the_record(
    devices: DeviceService, audit: Records, clock: FrozenClock
) -> None:
    operator = Actor("apikey:k1", tenant_id=TENANT, source_ip=None, key_id="k1", operator="ops")
    devices.report(TENANT, report(clock), actor=operator)
    [written] = audit.records
    assert written.details["operator"] == "ops" and written.source_ip is None


def test_purge_forgets_expired_entries_and_old_history(
    devices: DeviceService, clock: FrozenClock
) -> None:
    hashed = community_hash(f"fp-{secrets.token_hex(8)}")
    devices.add_community(
        [
            CommunityEntry(
                kind=CommunityKind.DEVICE_FINGERPRINT,
                hashed=hashed,
                source=f"tenant:{TENANT}",
                confidence=90,
                added_at=clock.now(),
                expires_at=clock.now() + timedelta(days=1),
            )
        ],
        tenant_id=TENANT,
        actor=PARTNER,
    )
    devices.report(TENANT, report(clock), actor=PARTNER)
    clock.advance(timedelta(days=2))
    _, latest = devices.report(TENANT, report(clock), actor=PARTNER)

    now = clock.now()
    counts = devices.purge(now=now, before=now - timedelta(days=1))
    assert counts == {"community_entries": 1, "device_snapshots": 1}
    assert [s.score for s in devices.history(TENANT, "dev-1")] == [latest.score]
    assert devices.record(TENANT, "dev-1").health == latest  # the latest health stays
    assert devices.purge(now=now, before=now) == {"community_entries": 0, "device_snapshots": 0}
