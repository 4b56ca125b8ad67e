"""Device health: take in what the app reports and what the platform attests, judge it, keep
the device's history, and answer for the engine and the app's security check-up screen.

A report is refused when it is stale (more than 5 minutes from the server's clock), when its
nonce was seen before for the device (a replay), or when a signature or attestation it
carries does not verify. A report that is neither signed by the device's bound key nor
attested is kept but judged at low assurance.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

import orjson

from payguard.audit.interfaces import Actor, AuditAction, AuditWriter
from payguard.core.bus import DEVICE_HEALTH, EventBus
from payguard.core.clock import Clock
from payguard.core.errors import Conflict, FactorRejected, NotFound, StateConflict, ValidationFailed
from payguard.core.replay import MAX_SKEW_SECONDS, check_freshness, check_nonce
from payguard.devices import appattest, playintegrity
from payguard.devices.apps import GenuineApp, check_app, normalize_digest
from payguard.devices.interfaces import (
    AttestationFacts,
    AttestationKind,
    CommunityEntry,
    CommunityKind,
    CommunityLists,
    DeviceKeys,
    DeviceLevel,
    DeviceRecord,
    DeviceRepository,
    Health,
    HealthSnapshot,
    PostureReport,
)
from payguard.devices.policy import HealthPolicy
from payguard.devices.posture import facts
from payguard.devices.serving import DeviceVerdicts, community_hash

#: How far a report's own time may be from the server's.
MAX_SKEW = timedelta(seconds=MAX_SKEW_SECONDS)
#: Accounts remembered per device (the newest).
MAX_ACCOUNTS = 50
#: Attempts at saving a device record that another report changed meanwhile.
_SAVE_ATTEMPTS = 5


@dataclass(frozen=True, slots=True)
class DeviceSignature:
    """The bound device key's signature over the report (see `report_message`)."""

    signature: str
    timestamp: int


@dataclass(frozen=True, slots=True)
class AppAttestProof:
    """App Attest: the attestation of a new key (once) or an assertion by an attested key."""

    key_id: str
    attestation: str | None = None
    assertion: str | None = None


@dataclass(frozen=True, slots=True)
class Report:
    """One posture report as the partner's backend forwards it."""

    device_id: str
    nonce: str
    reported_at: datetime
    posture: PostureReport | None
    #: The posture exactly as received, canonical JSON: what signatures cover.
    posture_json: bytes
    account_id: str | None = None
    fingerprint: str | None = None
    signature: DeviceSignature | None = None
    play_integrity: str | None = None
    app_attest: AppAttestProof | None = None


def canonical(posture: Mapping[str, Any] | None) -> bytes:
    """The canonical JSON of a posture object (sorted keys, no spaces)."""
    return orjson.dumps(posture or {}, option=orjson.OPT_SORT_KEYS)


def report_path(device_id: str) -> str:
    return f"/v1/devices/{device_id}/reports"


def client_data(device_id: str, nonce: str, posture_json: bytes) -> bytes:
    """What an App Attest assertion over a report covers."""
    digest = hashlib.sha256(posture_json).hexdigest()
    return f"payguard-report-v1\n{device_id}\n{nonce}\n{digest}".encode()


class DeviceService:
    """Reports in, judgements out, per tenant; community lists network-wide."""

    def __init__(
        self,
        repository: DeviceRepository,
        community: CommunityLists,
        *,
        keys: DeviceKeys,
        audit: AuditWriter,
        bus: EventBus,
        clock: Clock,
        policy: HealthPolicy,
        verdicts: DeviceVerdicts,
        play_integrity: Mapping[str, playintegrity.PlayIntegrityKeys] | None = None,
        app_attest: appattest.AppAttestConfig | None = None,
    ) -> None:
        self.repository = repository
        self.community = community
        self._keys = keys
        self._audit = audit
        self._bus = bus
        self._clock = clock
        self.policy = policy
        self.verdicts = verdicts
        self._play = dict(play_integrity or {})
        self._app_attest = app_attest

    # -- intake --------------------------------------------------------------------------

    def report(
        self, tenant_id: str, report: Report, *, actor: Actor
    ) -> tuple[DeviceRecord, Health]:
        now = self._clock.now()
        check_nonce(report.nonce)
        if abs(report.reported_at - now) > MAX_SKEW:
            raise ValidationFailed(
                "the report is stale: reported_at is more than 5 minutes from now",
                field="reported_at",
            )
        record = self.repository.get(tenant_id, report.device_id)
        signed = self._signed(tenant_id, report)
        attestation, attested_key = self._attested(tenant_id, report, record, now)
        # Only a report that verified uses up its nonce: garbage cannot burn one.
        if not self._keys.use_nonce(
            tenant_id, f"device-report:{report.device_id}", report.nonce, now + 2 * MAX_SKEW
        ):
            raise Conflict("this report was already received (replayed nonce)")
        for attempt in range(_SAVE_ATTEMPTS):
            if attempt:  # another report saved the device meanwhile: judge on its copy
                record = self.repository.get(tenant_id, report.device_id)
            health, updated = self._judge(
                tenant_id, report, record, now, signed, attestation, attested_key
            )
            try:
                saved = self.repository.save(updated)
            except StateConflict:
                continue
            break
        else:
            raise Conflict("the device kept changing concurrently; retry")
        self.repository.add_snapshot(
            tenant_id,
            report.device_id,
            HealthSnapshot(
                at=now,
                score=health.score,
                status=health.status,
                reasons=tuple(s.reason for s in health.signals),
                assurance=health.assurance,
                report=orjson.loads(report.posture_json),
            ),
        )
        self.verdicts.invalidate(tenant_id, report.device_id)
        self._audit.success(
            AuditAction.DEVICE_REPORT,
            actor,
            f"device:{report.device_id}",
            tenant_id=tenant_id,
            details={
                "score": health.score,
                "status": health.status.value,
                "assurance": health.assurance,
                "reasons": [s.reason for s in health.signals],
            },
        )
        self._bus.publish(
            DEVICE_HEALTH,
            {
                "tenant_id": tenant_id,
                "device_id": report.device_id,
                "score": health.score,
                "status": health.status.value,
            },
        )
        return saved, health

    def _signed(self, tenant_id: str, report: Report) -> bool:
        """True when the report carries a valid signature of the device's bound key; a
        signature that does not verify refuses the report."""
        if report.signature is None:
            return False
        key = self._keys.bound_key(tenant_id, report.device_id)
        if key is None:
            raise FactorRejected("the report is signed, but no key is bound for this device")
        try:
            check_freshness(report.signature.timestamp, now=self._clock.now())
        except Exception as exc:
            raise FactorRejected(str(exc)) from None
        if not self._keys.verify(
            key,
            method="POST",
            path=report_path(report.device_id),
            body=report.posture_json,
            timestamp=report.signature.timestamp,
            nonce=report.nonce,
            signature=report.signature.signature,
        ):
            raise FactorRejected("the report's device signature does not verify")
        return True

    def _attested(
        self, tenant_id: str, report: Report, record: DeviceRecord | None, now: datetime
    ) -> tuple[AttestationFacts | None, tuple[str, bytes, int] | None]:
        """The verified attestation's facts, and App Attest key state to store."""
        if report.play_integrity is not None:
            package = report.posture.app_package if report.posture else None
            keys = self._play.get(package or "") if package else None
            if keys is None:
                raise ValidationFailed(
                    "no Play Integrity keys are configured for this app package",
                    field="play_integrity",
                )
            with _in_body("play_integrity.token"):
                verdict = playintegrity.verify_play_integrity(
                    report.play_integrity,
                    keys=keys,
                    expected_package=package or "",
                    expected_nonce=report.nonce,
                    now=now,
                )
            facts_ = verdict.facts()
            if verdict.app_cert_digests:
                # What Play attests about the app beats what the app says about itself: a
                # repackaged app can lie about its own signing digest.
                facts_ = replace(facts_, app_digests=verdict.app_cert_digests)
            return facts_, None
        proof = report.app_attest
        if proof is None:
            return None, None
        config = self._app_attest
        if config is None:
            raise ValidationFailed("App Attest is not configured", field="app_attest")
        if proof.attestation is not None:
            with _in_body("app_attest"):
                key = appattest.verify_attestation(
                    proof.attestation,
                    key_id=proof.key_id,
                    challenge=report.nonce.encode(),
                    config=config,
                    now=now,
                )
            return _apple_facts(), (key.key_id, key.public_key, key.counter)
        if proof.assertion is None:
            raise ValidationFailed(
                "app_attest needs an attestation or an assertion", field="app_attest"
            )
        if record is None or record.attest_key_id != proof.key_id or not record.attest_public_key:
            raise ValidationFailed(
                "this App Attest key was never attested for the device", field="app_attest.key_id"
            )
        with _in_body("app_attest"):
            counter = appattest.verify_assertion(
                proof.assertion,
                client_data=client_data(report.device_id, report.nonce, report.posture_json),
                public_key=record.attest_public_key,
                stored_counter=record.attest_counter,
                config=config,
            )
        return _apple_facts(), (proof.key_id, record.attest_public_key, counter)

    def _judge(
        self,
        tenant_id: str,
        report: Report,
        record: DeviceRecord | None,
        now: datetime,
        signed: bool,
        attestation: AttestationFacts | None,
        attested_key: tuple[str, bytes, int] | None,
    ) -> tuple[Health, DeviceRecord]:
        seen: dict[str, str] = dict((record.extra.get("accounts_seen") or {}) if record else {})
        if report.account_id:
            seen.pop(report.account_id, None)
            seen[report.account_id] = now.isoformat()
            while len(seen) > MAX_ACCOUNTS:
                seen.pop(next(iter(seen)))
        month_ago = now - timedelta(days=30)
        accounts_30d = sum(1 for at in seen.values() if datetime.fromisoformat(at) >= month_ago)
        listed = self._listed(report)
        posture = report.posture
        genuine = [GenuineApp(p, d) for p, d in self.genuine_apps(tenant_id)]
        digest = posture.app_signing_digest if posture else None
        if attestation is not None and attestation.app_digests:
            digest = attestation.app_digests[0]
        app = check_app(posture.app_package if posture else None, digest, genuine)
        judged = self.policy.evaluate(
            facts(
                posture,
                now=now,
                attestation=attestation,
                signed=signed,
                accounts_30d=accounts_30d,
                community=listed,
                app=app,
            )
        )
        fingerprint = community_hash(report.fingerprint) if report.fingerprint else None
        base = record or DeviceRecord(
            tenant_id=tenant_id, device_id=report.device_id, first_seen=now, last_seen=now
        )
        updated = replace(
            base,
            last_seen=now,
            platform=posture.platform.value if posture else base.platform,
            fingerprint_hash=fingerprint or base.fingerprint_hash,
            accounts=tuple(seen),
            health=judged,
            health_at=now,
            extra={**base.extra, "accounts_seen": seen},
        )
        if attested_key is not None:
            key_id, public_key, counter = attested_key
            updated = replace(
                updated, attest_key_id=key_id, attest_public_key=public_key, attest_counter=counter
            )
        return judged, updated

    def _listed(self, report: Report) -> list[CommunityEntry]:
        now = self._clock.now()
        found: list[CommunityEntry] = []
        identifier = report.fingerprint or report.device_id
        found += self.community.lookup(
            CommunityKind.DEVICE_FINGERPRINT, [community_hash(identifier)], now
        )
        digest = report.posture.app_signing_digest if report.posture else None
        if digest:
            hashed = community_hash(normalize_digest(digest))
            for kind in (CommunityKind.APP_DIGEST, CommunityKind.FAKE_APP_SIGNATURE):
                found += self.community.lookup(kind, [hashed], now)
        return found

    # -- queries -------------------------------------------------------------------------

    def record(self, tenant_id: str, device_id: str) -> DeviceRecord:
        record = self.repository.get(tenant_id, device_id)
        if record is None:
            raise NotFound(f"no device {device_id!r}")
        return record

    def history(self, tenant_id: str, device_id: str, *, limit: int = 30) -> list[HealthSnapshot]:
        self.record(tenant_id, device_id)
        return self.repository.history(tenant_id, device_id, limit=limit)

    # -- genuine apps and community lists ------------------------------------------------

    def genuine_apps(self, tenant_id: str) -> list[tuple[str, tuple[str, ...]]]:
        """The tenant's registered genuine apps: (package, signing digests)."""
        return self.repository.genuine_apps(tenant_id)

    def set_genuine_apps(
        self, tenant_id: str, apps: Sequence[tuple[str, Sequence[str]]], *, actor: Actor
    ) -> None:
        normalized = [
            (package, [normalize_digest(d) for d in digests]) for package, digests in apps
        ]
        self.repository.set_genuine_apps(tenant_id, normalized)
        self._audit.success(
            AuditAction.DEVICE_APPS_SET,
            actor,
            "genuine_apps",
            tenant_id=tenant_id,
            details={"packages": [package for package, _ in apps]},
        )

    def lookup_community(self, kind: CommunityKind, hashed: Sequence[str]) -> list[CommunityEntry]:
        """The unexpired network-wide entries of `kind` among `hashed`."""
        return self.community.lookup(kind, hashed, self._clock.now())

    def add_community(
        self, entries: Sequence[CommunityEntry], *, tenant_id: str, actor: Actor
    ) -> int:
        # An entry belongs to the source that listed it: another partner can neither
        # overwrite nor (below) remove it, only list the same identifier once it is gone.
        now = self._clock.now()
        taken = {
            (e.kind, e.hashed)
            for kind in {e.kind for e in entries}
            for e in self.community.lookup(kind, [x.hashed for x in entries if x.kind == kind], now)
            if e.source != entries[0].source
        }
        entries = [e for e in entries if (e.kind, e.hashed) not in taken]
        added = self.community.add(entries) if entries else 0
        self.verdicts.invalidate_community()
        self._audit.success(
            AuditAction.COMMUNITY_ADD,
            actor,
            "community",
            tenant_id=tenant_id,
            details={"kinds": sorted({e.kind.value for e in entries}), "count": len(entries)},
        )
        return added

    def remove_community(
        self, kind: CommunityKind, hashed: Sequence[str], *, tenant_id: str, actor: Actor
    ) -> int:
        """Remove the caller's own entries among `hashed` (others' are left alone)."""
        source = f"tenant:{tenant_id}"
        own = [
            e.hashed
            for e in self.community.lookup(kind, list(hashed), self._clock.now())
            if e.source == source
        ]
        removed = self.community.remove(kind, own) if own else 0
        self.verdicts.invalidate_community()
        self._audit.success(
            AuditAction.COMMUNITY_REMOVE,
            actor,
            "community",
            tenant_id=tenant_id,
            details={"kind": kind.value, "count": len(hashed)},
        )
        return removed

    # -- housekeeping --------------------------------------------------------------------

    def purge(self, *, now: datetime, before: datetime) -> dict[str, int]:
        """Forget community entries expired by `now` and every tenant's report history
        taken before `before` (each device's latest health stays); how many of each."""
        return {
            "community_entries": self.community.purge_expired(now),
            "device_snapshots": self.repository.prune_history(before),
        }


@contextmanager
def _in_body(prefix: str) -> Iterator[None]:
    """Name a verifier's refusal by where it sits in the request body: `attestation` from
    the Play Integrity verifier is `play_integrity.token`; `key_id`, `attestation` and
    `assertion` from App Attest's are under `app_attest.`."""
    try:
        yield
    except ValidationFailed as exc:
        field = prefix if prefix.endswith(".token") else f"{prefix}.{exc.field}"
        raise ValidationFailed(exc.message, field=field) from None


def _apple_facts() -> AttestationFacts:
    """A verified App Attest key proves a genuine Apple device running the genuine app."""
    return AttestationFacts(kind=AttestationKind.APP_ATTEST, device_level=DeviceLevel.DEVICE)
