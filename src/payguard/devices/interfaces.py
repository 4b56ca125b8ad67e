"""Device health: what the app reports, what the platform attests, and the judgement.

The vocabulary every part of `payguard.devices` shares. A device is the partner's device id
(the `device.id` of assessments); its data is kept per tenant, except the community lists,
which are network-wide and hold hashed identifiers only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from payguard.core.replay import NonceLedger


class Platform(StrEnum):
    ANDROID = "android"
    IOS = "ios"


class RiskyAppKind(StrEnum):
    """Installed apps that scammers use against their victims."""

    REMOTE_ACCESS = "remote_access"  # AnyDesk, TeamViewer QuickSupport...
    SCREEN_CAPTURE = "screen_capture"  # screen recording or sharing
    OVERLAY = "overlay"  # draws over other apps (fake login screens)


@dataclass(frozen=True, slots=True)
class RiskyApp:
    kind: RiskyAppKind
    package: str | None = None


@dataclass(frozen=True, slots=True)
class PostureReport:
    """What the partner's app says about the device it runs on (every field optional: an
    app reports what its platform lets it see; None means not reported)."""

    platform: Platform
    os_version: str | None = None
    #: Android security patch level (`YYYY-MM-DD`) or the iOS release date of `os_version`.
    security_patch: datetime | None = None
    rooted: bool | None = None  # rooted (Android) or jailbroken (iOS)
    emulator: bool | None = None
    debugger: bool | None = None
    hooking: bool | None = None  # Frida, Xposed, Substrate...
    screen_lock: bool | None = None
    disk_encrypted: bool | None = None
    protection_on: bool | None = None  # anti-malware / Play Protect
    protection_updated_at: datetime | None = None
    risky_apps: tuple[RiskyApp, ...] = ()
    app_package: str | None = None  # the partner's app as installed
    app_signing_digest: str | None = None  # SHA-256 hex of its signing certificate
    app_version: str | None = None
    vpn: bool | None = None
    proxy: bool | None = None
    #: False when battery and sensors look synthetic (always charging at 100 %, no motion
    #: sensors): an emulator or a device farm.
    sensors_plausible: bool | None = None


class AttestationKind(StrEnum):
    NONE = "none"
    PLAY_INTEGRITY = "play_integrity"
    APP_ATTEST = "app_attest"


class DeviceLevel(StrEnum):
    """Play Integrity's device recognition, strongest first; App Attest proves a genuine
    Apple device (`device`)."""

    STRONG = "strong"
    DEVICE = "device"
    BASIC = "basic"
    VIRTUAL = "virtual"
    NONE = "none"


@dataclass(frozen=True, slots=True)
class AttestationFacts:
    """A verified attestation reduced to what the health policy reads. App Attest proves a
    genuine Apple device: its facts say `device_level=DEVICE` (NONE is a failed device)."""

    kind: AttestationKind
    device_level: DeviceLevel = DeviceLevel.NONE
    #: PLAY_RECOGNIZED | UNRECOGNIZED_VERSION | UNEVALUATED ("" for App Attest).
    app_recognition: str = ""
    #: LICENSED | UNLICENSED | UNEVALUATED ("" when absent).
    licensing: str = ""
    #: NO_ISSUES | NO_DATA | POSSIBLE_RISK | MEDIUM_RISK | HIGH_RISK | UNEVALUATED ("").
    play_protect: str = ""
    #: KNOWN_INSTALLED, UNKNOWN_CAPTURING, UNKNOWN_CONTROLLING, UNKNOWN_OVERLAYS...
    app_access_risk: tuple[str, ...] = ()
    #: The app's signing-certificate digests as the platform attests them (Play Integrity's
    #: `certificateSha256Digest`); preferred to the digest the app reports about itself.
    app_digests: tuple[str, ...] = ()


class HealthStatus(StrEnum):
    HEALTHY = "healthy"
    AT_RISK = "at_risk"
    COMPROMISED = "compromised"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class HealthSignal:
    """One finding: its reason code, what it costs the score, and words for the user."""

    id: str
    reason: str  # DEVICE_ROOTED
    weight: int
    explanation: str  # "This phone is rooted: ..."
    remedy: str  # "Use an unmodified phone for payments."
    compromised: bool = False  # this finding alone makes the device compromised


@dataclass(frozen=True, slots=True)
class Health:
    score: int  # 0-100
    status: HealthStatus
    signals: tuple[HealthSignal, ...] = ()
    assurance: str = "low"  # low (unsigned report) | signed | attested


class CommunityKind(StrEnum):
    """What a network-wide list entry identifies (always as a SHA-256 hex hash)."""

    DEVICE_FINGERPRINT = "device_fingerprint"
    APP_DIGEST = "app_digest"  # a malicious app's signing-certificate digest
    FAKE_APP_SIGNATURE = "fake_app_signature"  # a fake payment app's signing digest


@dataclass(frozen=True, slots=True)
class CommunityEntry:
    kind: CommunityKind
    hashed: str  # SHA-256 hex of the normalised identifier
    source: str  # who reported it (a tenant, a feed)
    confidence: int  # 0-100
    added_at: datetime
    expires_at: datetime | None = None
    note: str | None = None


@dataclass(frozen=True, slots=True)
class DeviceRecord:
    """What the tenant knows about one device."""

    tenant_id: str
    device_id: str
    first_seen: datetime
    last_seen: datetime
    platform: str | None = None
    fingerprint_hash: str | None = None
    #: The accounts that used it (newest last, at most `MAX_ACCOUNTS` kept).
    accounts: tuple[str, ...] = ()
    health: Health | None = None
    health_at: datetime | None = None
    #: App Attest key of the installed app: its id, public key and assertion counter.
    attest_key_id: str | None = None
    attest_public_key: bytes | None = None
    attest_counter: int = 0
    version: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


class CommunityLists(Protocol):
    """Network-wide lists of bad devices and apps, consulted by every tenant; a later
    threat-intel exchange fills them across institutions."""

    def add(self, entries: Sequence[CommunityEntry]) -> int:
        """Upsert by (kind, hashed); returns how many were new."""
        ...

    def remove(self, kind: CommunityKind, hashed: Sequence[str]) -> int: ...

    def lookup(
        self, kind: CommunityKind, hashed: Sequence[str], at: datetime
    ) -> list[CommunityEntry]:
        """The unexpired entries among `hashed`."""
        ...

    def version(self) -> int:
        """Increases on every change (cheap to poll)."""
        ...

    def purge_expired(self, before: datetime) -> int:
        """Delete the entries that expired before `before`; returns how many."""
        ...


@dataclass(frozen=True, slots=True)
class HealthSnapshot:
    """One report's judgement, for the device's health over time."""

    at: datetime
    score: int
    status: HealthStatus
    reasons: tuple[str, ...]
    assurance: str
    report: dict[str, Any] = field(default_factory=dict)


class DeviceRepository(Protocol):
    """Per-tenant device records, their report history and the tenant's genuine apps."""

    def has_devices(self, tenant_id: str) -> bool:
        """Whether the tenant has any device record (cheap; the hot path skips device
        lookups for tenants whose devices never reported)."""
        ...

    def get(self, tenant_id: str, device_id: str) -> DeviceRecord | None: ...

    def health_of(self, tenant_id: str, device_id: str) -> Health | None:
        """Only the device's latest health (the hot path's lookup)."""
        ...

    def save(self, record: DeviceRecord) -> DeviceRecord:
        """Insert (`record.version == 0`) or update the record if its stored version still
        equals `record.version`; the stored copy gets version + 1 and is returned.
        `StateConflict` (payguard.core.errors) when it changed meanwhile."""
        ...

    def add_snapshot(self, tenant_id: str, device_id: str, snapshot: HealthSnapshot) -> None: ...

    def history(self, tenant_id: str, device_id: str, *, limit: int = 50) -> list[HealthSnapshot]:
        """Newest first."""
        ...

    def prune_history(self, before: datetime) -> int:
        """Every tenant's snapshots taken before `before` (a device's latest health stays on
        its record); returns how many were deleted."""
        ...

    def set_genuine_apps(self, tenant_id: str, apps: Sequence[tuple[str, Sequence[str]]]) -> None:
        """Replace the tenant's registered genuine apps: (package, signing digests)."""
        ...

    def genuine_apps(self, tenant_id: str) -> list[tuple[str, tuple[str, ...]]]: ...


@dataclass(frozen=True, slots=True)
class DevicePublicKey:
    """The public key bound to a device: `algorithm` (`ed25519` | `p256`) and the key,
    base64."""

    algorithm: str
    public_key: str


class DeviceKeys(NonceLedger, Protocol):
    """Device binding as the device capability needs it: the key bound to a device, whether
    a signed report is that key's, and the single-use nonces that stop a replayed report.

    Binding a key to a device is the authentication capability's business; this is all of
    it the devices read.
    """

    def bound_key(self, tenant_id: str, device_id: str) -> DevicePublicKey | None:
        """The live key bound to `device_id`, or None when none is."""
        ...

    def verify(
        self,
        key: DevicePublicKey,
        *,
        method: str,
        path: str,
        body: bytes,
        timestamp: int,
        nonce: str,
        signature: str,
    ) -> bool:
        """Whether `signature` (base64) is `key`'s signature of that request. False for a
        wrong, altered or malformed signature; the caller checks `timestamp`'s freshness."""
        ...
