"""Wire shapes of `/v1/auth/...`: what a partner's backend sends on behalf of its users, and
what it gets back. Converted to the domain's `Proof` and `Context` here, nowhere else."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, Field, StringConstraints, field_validator
from webauthn.helpers import bytes_to_base64url

from payguard.auth.factors import FactorKind, Proof
from payguard.auth.interfaces import Challenge, Credential, Session
from payguard.core.ip import canonical_address
from payguard.wire.schemas import AmountIn, Identifier, Strict, _storable, free_text

#: Longest password accepted on the wire; `check_password` then applies the policy's own
#: limit (128), so an oversized one is refused before it costs an argon2 hash.
MAX_PASSWORD_WIRE = 1024
Password = Annotated[
    str, StringConstraints(min_length=1, max_length=MAX_PASSWORD_WIRE), AfterValidator(_storable)
]
Code = Annotated[str, StringConstraints(min_length=1, max_length=64)]
Label = Annotated[str, StringConstraints(max_length=64), AfterValidator(free_text)]
#: A WebAuthn response from the browser (`PublicKeyCredential.toJSON()`); its fields are
#: checked by the ceremony, the request body limit bounds its size.
WebAuthnJSON = dict[str, Any]


class UserContext(Strict):
    """The end user's own network address and device, when the partner knows them: failures
    are also counted per address, and fed to the engine with them."""

    ip: Annotated[str, StringConstraints(max_length=45)] | None = None
    device_id: Identifier | None = None

    @field_validator("ip")
    @classmethod
    def _ip(cls, value: str | None) -> str | None:
        """One canonical spelling per address (the per-address lock must not be dodged by
        writing it another way); the bad value is not echoed back."""
        if value is None:
            return None
        return canonical_address(value)


class PasswordFactor(Strict):
    type: Literal["password"]
    password: Password


class TotpFactor(Strict):
    type: Literal["totp"]
    code: Code


class RecoveryCodeFactor(Strict):
    type: Literal["recovery_code"]
    code: Code


class PasskeyFactor(Strict):
    type: Literal["passkey"]
    credential: WebAuthnJSON


class DeviceFactor(Strict):
    type: Literal["device"]
    device_id: Identifier
    signature: Annotated[str, StringConstraints(min_length=1, max_length=256)]
    timestamp: Annotated[int, Field(ge=0, le=2**40)]
    nonce: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{16,128}$")]


FactorIn = Annotated[
    PasswordFactor | TotpFactor | RecoveryCodeFactor | PasskeyFactor | DeviceFactor,
    Field(discriminator="type"),
]
Factors = Annotated[list[FactorIn], Field(min_length=1, max_length=3)]


def proofs_of(factors: list[Any]) -> list[Proof]:
    proofs = []
    for factor in factors:
        if isinstance(factor, PasswordFactor):
            proofs.append(Proof(FactorKind.PASSWORD, secret=factor.password))
        elif isinstance(factor, TotpFactor):
            proofs.append(Proof(FactorKind.TOTP, secret=factor.code))
        elif isinstance(factor, RecoveryCodeFactor):
            proofs.append(Proof(FactorKind.RECOVERY_CODE, secret=factor.code))
        elif isinstance(factor, PasskeyFactor):
            proofs.append(Proof(FactorKind.PASSKEY, credential=factor.credential))
        else:
            proofs.append(
                Proof(
                    FactorKind.DEVICE,
                    device_id=factor.device_id,
                    signature=factor.signature,
                    timestamp=factor.timestamp,
                    nonce=factor.nonce,
                )
            )
    return proofs


class UserCreate(Strict):
    user_id: Identifier = Field(description="The account id your assessments use")
    password: Password | None = None


class PasswordIn(Strict):
    password: Password


class PasswordVerifyIn(UserContext):
    password: Password


class CodeIn(UserContext):
    code: Code


class LabelIn(Strict):
    label: Label = ""


class PasskeyRegisterIn(Strict):
    challenge_id: Identifier
    credential: WebAuthnJSON
    label: Label = ""


class DeviceBindIn(Strict):
    device_id: Identifier
    algorithm: Literal["ed25519", "p256"]
    public_key: Annotated[str, StringConstraints(min_length=1, max_length=512)]
    label: Label = ""


class SignedRequestIn(UserContext):
    """A request the app signed with its bound key, as the partner's backend received it."""

    device_id: Identifier  # required here
    method: Annotated[str, StringConstraints(pattern=r"^[A-Za-z]{1,16}$")]
    path: Annotated[str, StringConstraints(min_length=1, max_length=2048, pattern=r"^/\S*$")]
    body: Annotated[str, StringConstraints(max_length=48 * 1024)] = Field(
        default="", description="The request body, base64"
    )
    timestamp: Annotated[int, Field(ge=0, le=2**40)]
    nonce: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{16,128}$")]
    signature: Annotated[str, StringConstraints(min_length=1, max_length=256)]


class SessionCreate(UserContext):
    user_id: Identifier
    factors: Factors
    challenge_id: Identifier | None = Field(
        default=None, description="The passkey sign-in ceremony a passkey factor answers"
    )


class RefreshIn(Strict):
    refresh_token: Annotated[str, StringConstraints(min_length=1, max_length=256)]


class IntrospectIn(Strict):
    access_token: Annotated[str, StringConstraints(min_length=1, max_length=256)]


class StepUpCreate(Strict):
    assessment_id: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,64}$")]


class StepUpVerify(UserContext):
    """An answer to a step-up challenge: the proofs, and the payment the client showed the
    user (dynamic linking). For a payment's challenge `amount` is required, and so is
    `payee` when the payment has one: an answer without them is refused (422, naming the
    field, using no attempt). They are optional only for a challenge bound to no payment
    (e.g. a credential change)."""

    factors: Factors
    amount: AmountIn | None = Field(
        default=None,
        description=(
            "The amount shown to the user. Required when the challenge is for a payment "
            "(422 without it, using no attempt); an amount that differs from the challenged "
            "one is refused and uses an attempt. Omit only for a challenge bound to no payment."
        ),
    )
    payee: Identifier | None = Field(
        default=None,
        description=(
            "The payee shown to the user. Required when the challenged payment has a payee "
            "(422 without it, using no attempt); a payee that differs is refused and uses an "
            "attempt. Omit only for a challenge bound to no payee."
        ),
    )


class VerifyIn(UserContext):
    factors: Factors


# -- responses -----------------------------------------------------------------------------


class CredentialPublic(BaseModel):
    credential_id: str
    kind: str
    label: str
    created_at: datetime
    confirmed: bool
    last_used_at: datetime | None
    device_id: str | None = None


def credential_public(credential: Credential) -> CredentialPublic:
    return CredentialPublic(
        credential_id=credential.id,
        kind=credential.kind.value,
        label=credential.label,
        created_at=credential.created_at,
        confirmed=credential.confirmed,
        last_used_at=credential.last_used_at,
        device_id=credential.lookup if credential.kind == "device" else None,
    )


class UserPublic(BaseModel):
    user_id: str
    created_at: datetime
    has_password: bool
    credentials: list[CredentialPublic]
    recovery_codes_left: int
    locked_until: datetime | None


class TotpEnrolmentPublic(BaseModel):
    credential: CredentialPublic
    secret: str = Field(description="Base32; shown once, stored sealed")
    otpauth_uri: str
    qr_svg: str
    qr_png_base64: str


class CeremonyPublic(BaseModel):
    challenge_id: str
    expires_at: datetime
    options: dict[str, Any] = Field(description="Pass to navigator.credentials.create/get")


class RecoveryCodesPublic(BaseModel):
    codes: list[str] = Field(description="Shown once; only their hashes are kept")


class VerifiedPublic(BaseModel):
    verified: bool
    level: int = Field(description="The assurance level the factors earned together")
    factors: list[str]


class DeviceVerifiedPublic(BaseModel):
    verified: bool
    user_id: str
    device_id: str


class SessionPublic(BaseModel):
    session_id: str
    user_id: str
    level: int
    created_at: datetime
    last_seen_at: datetime
    idle_expires_at: datetime
    absolute_expires_at: datetime
    revoked_at: datetime | None
    revoked_reason: str | None


def session_public(session: Session) -> SessionPublic:
    return SessionPublic(
        session_id=session.id,
        user_id=session.user_id,
        level=session.level,
        created_at=session.created_at,
        last_seen_at=session.last_seen_at,
        idle_expires_at=session.idle_expires_at,
        absolute_expires_at=session.absolute_expires_at,
        revoked_at=session.revoked_at,
        revoked_reason=session.revoked_reason,
    )


class IssuedSessionPublic(SessionPublic):
    access_token: str
    refresh_token: str


class IntrospectPublic(BaseModel):
    active: bool
    reason: str | None = Field(description="Why not: unknown, revoked, idle or expired")
    session: SessionPublic | None


class SessionListPublic(BaseModel):
    sessions: list[SessionPublic]


class RevokedPublic(BaseModel):
    revoked: int


class BindingPublic(BaseModel):
    amount: str | None
    currency: str | None
    payee: str | None


class StepUpPublic(BaseModel):
    challenge_id: str
    assessment_id: str
    user_id: str
    status: str = Field(description="pending | passed | failed")
    level_required: str
    expires_at: datetime
    attempts_left: int
    binding: BindingPublic = Field(description="The payment the proof must authorise")
    nonce: str = Field(description="base64url; with the binding it gives the passkey challenge")
    options: dict[str, Any] | None = None
    verified: bool | None = None
    reason: str | None = None
    level: int | None = None
    final: str | None = Field(default=None, description="The assessment's final decision")


def step_up_public(
    challenge: Challenge, *, attempts_left: int, options: dict[str, Any] | None = None
) -> StepUpPublic:
    return StepUpPublic(
        challenge_id=challenge.id,
        assessment_id=challenge.assessment_id or "",
        user_id=challenge.user_id,
        status=challenge.status.value,
        level_required=f"AAL{challenge.level}",
        expires_at=challenge.expires_at,
        attempts_left=attempts_left,
        binding=BindingPublic(**challenge.binding),
        nonce=bytes_to_base64url(challenge.nonce),
        options=options,
    )
