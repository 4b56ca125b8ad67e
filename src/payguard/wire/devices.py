"""Wire shapes of `/v1/devices/...`: posture reports in, health out."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    Field,
    StrictBool,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from payguard.devices.interfaces import (
    CommunityKind,
    Health,
    HealthSnapshot,
    Platform,
    RiskyAppKind,
)
from payguard.wire.schemas import Identifier, Strict, UtcTime, _storable, free_text


def _not_blank(value: str) -> str:
    """An identifier that is all whitespace would hash like every other blank one."""
    if not value.strip():
        raise ValueError("must not be blank")
    return value


#: A device fingerprint or app identifier as the partner knows it (hashed before storage).
RawIdentifier = Annotated[
    str,
    StringConstraints(min_length=1, max_length=512),
    AfterValidator(_storable),
    AfterValidator(_not_blank),
]


Short = Annotated[str, StringConstraints(max_length=64), AfterValidator(_storable)]
Package = Annotated[
    str, StringConstraints(min_length=1, max_length=256, pattern=r"^[A-Za-z0-9_.\-]+$")
]
Digest = Annotated[
    str, StringConstraints(pattern=r"^(?:[0-9A-Fa-f]{2}:){31}[0-9A-Fa-f]{2}$|^[0-9A-Fa-f]{64}$")
]
Nonce = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{16,128}$")]
MAX_RISKY_APPS = 50
#: Posture dates that say how fresh the device is; one later than the report is refused.
DATED_FIELDS = ("security_patch", "protection_updated_at")
#: How far past the report's own UTC date such a date may be (time zones ahead of UTC).
FUTURE_TOLERANCE = timedelta(days=1)


class RiskyAppIn(Strict):
    kind: RiskyAppKind
    package: Package | None = None


class PostureIn(Strict):
    """What the app sees of the device; every field but `platform` is optional."""

    platform: Platform
    os_version: Short | None = None
    security_patch: date | None = Field(
        default=None, description="Android security patch level, or the iOS release date"
    )
    rooted: StrictBool | None = None
    emulator: StrictBool | None = None
    debugger: StrictBool | None = None
    hooking: StrictBool | None = None
    screen_lock: StrictBool | None = None
    disk_encrypted: StrictBool | None = None
    protection_on: StrictBool | None = None
    protection_updated_at: date | None = None
    risky_apps: Annotated[list[RiskyAppIn], Field(max_length=MAX_RISKY_APPS)] = []
    app_package: Package | None = None
    app_signing_digest: Digest | None = None
    app_version: Short | None = None
    vpn: StrictBool | None = None
    proxy: StrictBool | None = None
    sensors_plausible: StrictBool | None = None


class SignatureIn(Strict):
    signature: Annotated[str, StringConstraints(min_length=1, max_length=256)]
    timestamp: Annotated[int, Field(ge=0, le=2**40)]


class PlayIntegrityIn(Strict):
    token: Annotated[str, StringConstraints(min_length=1, max_length=16 * 1024)]


class AppAttestIn(Strict):
    key_id: Annotated[str, StringConstraints(min_length=1, max_length=128)]
    attestation: Annotated[str, StringConstraints(min_length=1, max_length=32 * 1024)] | None = None
    assertion: Annotated[str, StringConstraints(min_length=1, max_length=4096)] | None = None


class ReportIn(Strict):
    nonce: Nonce = Field(description="Fresh for every report; a repeat is refused")
    reported_at: AwareDatetime
    account_id: Identifier | None = None
    fingerprint: (
        Annotated[
            str,
            StringConstraints(min_length=1, max_length=256),
            AfterValidator(_storable),
            AfterValidator(_not_blank),
        ]
        | None
    ) = None
    posture: dict[str, Any] = Field(description="See PostureIn; signatures cover its JSON")
    signature: SignatureIn | None = None
    play_integrity: PlayIntegrityIn | None = None
    app_attest: AppAttestIn | None = None

    @field_validator("posture")
    @classmethod
    def _no_dates_from_the_future(cls, posture: dict[str, Any], info: ValidationInfo) -> Any:
        """A patch level (or protection update) dated after the report would be judged as
        fresh as can be; refuse it, naming the field. Only well-formed dates are compared:
        `PostureIn` reports anything else."""
        reported_at = info.data.get("reported_at")
        if not isinstance(reported_at, datetime):
            return posture
        try:
            latest = reported_at.astimezone(UTC).date() + FUTURE_TOLERANCE
        except OverflowError:  # year 1 or 9999: refused as stale by the service anyway
            return posture
        errors: list[InitErrorDetails] = []
        for name in DATED_FIELDS:
            value = posture.get(name)
            try:
                day = date.fromisoformat(value) if isinstance(value, str) else None
            except ValueError:
                day = None
            if day is not None and day > latest:
                message = "{field} {day} is after the report (reported_at {reported_at})"
                context = {"field": name, "day": str(day), "reported_at": str(reported_at)}
                errors.append(
                    InitErrorDetails(
                        type=PydanticCustomError("date_in_future", message, context),
                        loc=(name,),
                        input=value,
                    )
                )
        if errors:
            raise ValidationError.from_exception_data(cls.__name__, errors)
        return posture


class SignalOut(BaseModel):
    reason: str
    weight: int
    explanation: str
    remedy: str


class HealthOut(BaseModel):
    score: int = Field(ge=0, le=100)
    status: str = Field(description="healthy | at_risk | compromised | unknown")
    assurance: str = Field(description="attested | signed | low")
    signals: list[SignalOut]


def health_out(health: Health) -> HealthOut:
    return HealthOut(
        score=health.score,
        status=health.status.value,
        assurance=health.assurance,
        signals=[
            SignalOut(reason=s.reason, weight=s.weight, explanation=s.explanation, remedy=s.remedy)
            for s in health.signals
        ],
    )


class SnapshotOut(BaseModel):
    at: datetime
    score: int
    status: str
    reasons: list[str]
    assurance: str


def snapshot_out(snapshot: HealthSnapshot) -> SnapshotOut:
    return SnapshotOut(
        at=snapshot.at,
        score=snapshot.score,
        status=snapshot.status.value,
        reasons=list(snapshot.reasons),
        assurance=snapshot.assurance,
    )


class ReportPublic(BaseModel):
    device_id: str
    health: HealthOut


class DeviceHealthPublic(BaseModel):
    device_id: str
    first_seen: datetime
    last_seen: datetime
    platform: str | None
    accounts: int = Field(description="Accounts seen on the device in its history")
    health: HealthOut | None
    health_at: datetime | None
    history: list[SnapshotOut]


class GenuineAppIn(Strict):
    package: Package
    signing_digests: Annotated[list[Digest], Field(min_length=1, max_length=10)]


class GenuineAppsIn(Strict):
    apps: Annotated[list[GenuineAppIn], Field(max_length=50)]


class GenuineAppsPublic(BaseModel):
    apps: list[dict[str, Any]]


class CommunityEntryIn(Strict):
    kind: CommunityKind
    identifier: RawIdentifier | None = Field(
        default=None, description="Hashed here (SHA-256 of the trimmed, lower-cased value)"
    )
    hashed: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")] | None = None
    confidence: Annotated[int, Field(ge=0, le=100)] = 80
    expires_at: UtcTime | None = None
    note: Annotated[str, StringConstraints(max_length=300), AfterValidator(free_text)] | None = None


class CommunityIn(Strict):
    entries: Annotated[list[CommunityEntryIn], Field(min_length=1, max_length=1000)]


class CommunityRemoveIn(Strict):
    kind: CommunityKind
    hashed: Annotated[
        list[Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]],
        Field(min_length=1, max_length=1000),
    ]


class CommunityChangePublic(BaseModel):
    changed: int
    hashed: list[str] = []


class CommunityLookupIn(Strict):
    kind: CommunityKind
    identifiers: Annotated[
        list[RawIdentifier],
        Field(min_length=1, max_length=1000),
    ]


class CommunityEntryPublic(BaseModel):
    kind: str
    hashed: str
    source: str
    confidence: int
    added_at: datetime
    expires_at: datetime | None
    note: str | None


class CommunityLookupPublic(BaseModel):
    entries: list[CommunityEntryPublic]


Kind = Literal["device_fingerprint", "app_digest", "fake_app_signature"]
