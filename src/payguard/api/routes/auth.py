"""`/v1/auth/...`: users and their factors, verification, sessions and step-up challenges.

Called by a partner's backend (API key roles `service` or `admin`) on behalf of its users;
the end user's IP and device, when passed in the body, feed throttling and the engine.
"""

from __future__ import annotations

import base64
import binascii
from typing import Annotated

from fastapi import APIRouter, Path, Request, Response

from payguard.api.deps import Assessments, Assessor, Auth, IdentifierPath, StepUps, actor_of
from payguard.auth.factors import FactorKind, Proof, assurance
from payguard.auth.interfaces import ChallengeStatus, Context
from payguard.auth.service import AuthService
from payguard.auth.sessions import IssuedSession
from payguard.core.errors import ValidationFailed
from payguard.tenancy.interfaces import Principal
from payguard.wire.auth import (
    CeremonyPublic,
    CodeIn,
    CredentialPublic,
    DeviceBindIn,
    DeviceVerifiedPublic,
    IntrospectIn,
    IntrospectPublic,
    IssuedSessionPublic,
    LabelIn,
    PasskeyRegisterIn,
    PasswordIn,
    PasswordVerifyIn,
    RecoveryCodesPublic,
    RefreshIn,
    RevokedPublic,
    SessionCreate,
    SessionListPublic,
    SessionPublic,
    SignedRequestIn,
    StepUpCreate,
    StepUpPublic,
    StepUpVerify,
    TotpEnrolmentPublic,
    UserContext,
    UserCreate,
    UserPublic,
    VerifiedPublic,
    VerifyIn,
    credential_public,
    proofs_of,
    session_public,
    step_up_public,
)

router = APIRouter(prefix="/v1/auth", tags=["auth"])

UserId = IdentifierPath
ObjectId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]


def _context(principal: Principal, request: Request, user: UserContext | None = None) -> Context:
    return Context(
        actor=actor_of(principal, request),
        user_ip=None if user is None else user.ip,
        device_id=None if user is None else user.device_id,
    )


def _issued(issued: IssuedSession) -> IssuedSessionPublic:
    return IssuedSessionPublic(
        **session_public(issued.session).model_dump(),
        access_token=issued.access_token,
        refresh_token=issued.refresh_token,
    )


# -- users ---------------------------------------------------------------------------------


@router.post("/users", response_model=UserPublic, status_code=201, summary="Create a user")
async def create_user(
    body: UserCreate, principal: Assessor, auth: Auth, request: Request
) -> UserPublic:
    auth.create_user(
        principal.tenant_id,
        body.user_id,
        password=body.password,
        context=_context(principal, request),
    )
    return _user(auth, principal.tenant_id, body.user_id)


@router.get("/users/{user_id}", response_model=UserPublic, summary="A user and their factors")
async def get_user(user_id: UserId, principal: Assessor, auth: Auth) -> UserPublic:
    return _user(auth, principal.tenant_id, user_id)


def _user(auth: AuthService, tenant_id: str, user_id: str) -> UserPublic:
    user = auth.user(tenant_id, user_id)
    locked = auth.locked_until(tenant_id, user_id)
    return UserPublic(
        user_id=user.user_id,
        created_at=user.created_at,
        has_password=user.password_hash is not None,
        credentials=[credential_public(c) for c in auth.credentials(tenant_id, user_id)],
        recovery_codes_left=auth.recovery_codes_left(tenant_id, user_id),
        locked_until=locked,
    )


@router.put("/users/{user_id}/password", status_code=204, summary="Set the password")
async def set_password(
    user_id: UserId,
    body: PasswordIn,
    principal: Assessor,
    auth: Auth,
    request: Request,
) -> Response:
    auth.set_password(
        principal.tenant_id, user_id, body.password, context=_context(principal, request)
    )
    return Response(status_code=204)


@router.post(
    "/users/{user_id}/password/verify",
    response_model=VerifiedPublic,
    summary="Check a password (401 factor_rejected if wrong, 429 when locked)",
)
async def verify_password(
    user_id: UserId,
    body: PasswordVerifyIn,
    principal: Assessor,
    auth: Auth,
    request: Request,
) -> VerifiedPublic:
    return _verified(
        auth,
        principal,
        request,
        user_id,
        [Proof(FactorKind.PASSWORD, secret=body.password)],
        body,
    )


@router.post(
    "/users/{user_id}/verify",
    response_model=VerifiedPublic,
    summary="Check up to three factors together and say the level they earn",
)
async def verify_factors(
    user_id: UserId,
    body: VerifyIn,
    principal: Assessor,
    auth: Auth,
    request: Request,
) -> VerifiedPublic:
    if any(f.type == "passkey" for f in body.factors):
        raise ValidationFailed(
            "a passkey is verified through POST /v1/auth/sessions or a step-up challenge",
            field="factors",
        )
    return _verified(auth, principal, request, user_id, proofs_of(body.factors), body)


def _verified(
    auth: AuthService,
    principal: Principal,
    request: Request,
    user_id: str,
    proofs: list[Proof],
    user: UserContext,
) -> VerifiedPublic:
    passed = auth.verify(
        principal.tenant_id, user_id, proofs, context=_context(principal, request, user)
    )
    return VerifiedPublic(
        verified=True, level=assurance(passed), factors=[p.kind.value for p in passed]
    )


# -- TOTP ----------------------------------------------------------------------------------


@router.post(
    "/users/{user_id}/totp",
    response_model=TotpEnrolmentPublic,
    status_code=201,
    summary="Enrol an authenticator app (confirm it with a first code)",
)
async def enrol_totp(
    user_id: UserId,
    body: LabelIn,
    principal: Assessor,
    auth: Auth,
    request: Request,
) -> TotpEnrolmentPublic:
    enrolment = auth.enrol_totp(
        principal.tenant_id, user_id, label=body.label, context=_context(principal, request)
    )
    return TotpEnrolmentPublic(
        credential=credential_public(enrolment.credential),
        secret=enrolment.secret,
        otpauth_uri=enrolment.uri,
        qr_svg=enrolment.qr_svg,
        qr_png_base64=base64.b64encode(enrolment.qr_png).decode(),
    )


@router.post(
    "/users/{user_id}/totp/{credential_id}/confirm",
    response_model=CredentialPublic,
    summary="Confirm an enrolment with its first code",
)
async def confirm_totp(
    user_id: UserId,
    credential_id: ObjectId,
    body: CodeIn,
    principal: Assessor,
    auth: Auth,
    request: Request,
) -> CredentialPublic:
    credential = auth.confirm_totp(
        principal.tenant_id,
        user_id,
        credential_id,
        body.code,
        context=_context(principal, request, body),
    )
    return credential_public(credential)


@router.post(
    "/users/{user_id}/totp/verify",
    response_model=VerifiedPublic,
    summary="Check a TOTP code (each code works once)",
)
async def verify_totp(
    user_id: UserId,
    body: CodeIn,
    principal: Assessor,
    auth: Auth,
    request: Request,
) -> VerifiedPublic:
    proofs = [Proof(FactorKind.TOTP, secret=body.code)]
    return _verified(auth, principal, request, user_id, proofs, body)


# -- recovery codes ------------------------------------------------------------------------


@router.post(
    "/users/{user_id}/recovery-codes",
    response_model=RecoveryCodesPublic,
    status_code=201,
    summary="Issue fresh one-time recovery codes (the old ones stop working)",
)
async def new_recovery_codes(
    user_id: UserId, principal: Assessor, auth: Auth, request: Request
) -> RecoveryCodesPublic:
    codes = auth.new_recovery_codes(
        principal.tenant_id, user_id, context=_context(principal, request)
    )
    return RecoveryCodesPublic(codes=codes)


@router.post(
    "/users/{user_id}/recovery-codes/verify",
    response_model=VerifiedPublic,
    summary="Use a recovery code (once)",
)
async def verify_recovery_code(
    user_id: UserId,
    body: CodeIn,
    principal: Assessor,
    auth: Auth,
    request: Request,
) -> VerifiedPublic:
    proofs = [Proof(FactorKind.RECOVERY_CODE, secret=body.code)]
    return _verified(auth, principal, request, user_id, proofs, body)


# -- passkeys ------------------------------------------------------------------------------


@router.post(
    "/users/{user_id}/passkeys/options",
    response_model=CeremonyPublic,
    summary="Start registering a passkey",
)
async def passkey_registration_options(
    user_id: UserId, principal: Assessor, auth: Auth, request: Request
) -> CeremonyPublic:
    challenge, options = auth.passkey_registration(
        principal.tenant_id, user_id, context=_context(principal, request)
    )
    return CeremonyPublic(
        challenge_id=challenge.id, expires_at=challenge.expires_at, options=options
    )


@router.post(
    "/users/{user_id}/passkeys",
    response_model=CredentialPublic,
    status_code=201,
    summary="Finish registering a passkey",
)
async def register_passkey(
    user_id: UserId,
    body: PasskeyRegisterIn,
    principal: Assessor,
    auth: Auth,
    request: Request,
) -> CredentialPublic:
    credential = auth.register_passkey(
        principal.tenant_id,
        user_id,
        challenge_id=body.challenge_id,
        response=body.credential,
        label=body.label,
        context=_context(principal, request),
    )
    return credential_public(credential)


@router.post(
    "/users/{user_id}/passkeys/login-options",
    response_model=CeremonyPublic,
    summary="Start a passkey sign-in (answer it with POST /v1/auth/sessions)",
)
async def passkey_login_options(user_id: UserId, principal: Assessor, auth: Auth) -> CeremonyPublic:
    challenge, options = auth.passkey_login(principal.tenant_id, user_id)
    return CeremonyPublic(
        challenge_id=challenge.id, expires_at=challenge.expires_at, options=options
    )


# -- bound devices -------------------------------------------------------------------------


@router.post(
    "/users/{user_id}/devices",
    response_model=CredentialPublic,
    status_code=201,
    summary="Bind a device's public key to the user",
)
async def bind_device(
    user_id: UserId,
    body: DeviceBindIn,
    principal: Assessor,
    auth: Auth,
    request: Request,
) -> CredentialPublic:
    credential = auth.bind_device(
        principal.tenant_id,
        user_id,
        device_id=body.device_id,
        algorithm=body.algorithm,
        public_key=body.public_key,
        label=body.label,
        context=_context(principal, request),
    )
    return credential_public(credential)


@router.post(
    "/devices/verify",
    response_model=DeviceVerifiedPublic,
    summary="Check a request signed by a bound device (replays and stale ones refused)",
)
async def verify_signed_request(
    body: SignedRequestIn, principal: Assessor, auth: Auth, request: Request
) -> DeviceVerifiedPublic:
    try:
        raw = base64.b64decode(body.body, validate=True)
    except (binascii.Error, ValueError):
        raise ValidationFailed("body must be base64", field="body") from None
    credential = auth.verify_signed_request(
        principal.tenant_id,
        device_id=body.device_id,
        method=body.method,
        path=body.path,
        body=raw,
        timestamp=body.timestamp,
        nonce=body.nonce,
        signature=body.signature,
        context=_context(principal, request, body),
    )
    return DeviceVerifiedPublic(verified=True, user_id=credential.user_id, device_id=body.device_id)


@router.delete(
    "/users/{user_id}/credentials/{credential_id}",
    status_code=204,
    summary="Revoke a TOTP app, passkey or bound device",
)
async def revoke_credential(
    user_id: UserId,
    credential_id: ObjectId,
    principal: Assessor,
    auth: Auth,
    request: Request,
) -> Response:
    auth.revoke_credential(
        principal.tenant_id, user_id, credential_id, context=_context(principal, request)
    )
    return Response(status_code=204)


# -- sessions ------------------------------------------------------------------------------


@router.post(
    "/sessions",
    response_model=IssuedSessionPublic,
    status_code=201,
    summary="Sign in: verify factors and open a session at the level they earn",
)
async def create_session(
    body: SessionCreate, principal: Assessor, auth: Auth, request: Request
) -> IssuedSessionPublic:
    issued = auth.sign_in(
        principal.tenant_id,
        body.user_id,
        proofs_of(body.factors),
        context=_context(principal, request, body),
        challenge_id=body.challenge_id,
    )
    return _issued(issued)


@router.post(
    "/sessions/introspect",
    response_model=IntrospectPublic,
    summary="Is this access token live? (restarts its idle timer)",
)
async def introspect(body: IntrospectIn, principal: Assessor, auth: Auth) -> IntrospectPublic:
    session, reason = auth.introspect(principal.tenant_id, body.access_token)
    return IntrospectPublic(
        active=reason is None,
        reason=reason,
        session=None if session is None else session_public(session),
    )


@router.post(
    "/sessions/refresh",
    response_model=IssuedSessionPublic,
    summary="New tokens for a live session (a refresh token works once)",
)
async def refresh(
    body: RefreshIn, principal: Assessor, auth: Auth, request: Request
) -> IssuedSessionPublic:
    issued = auth.refresh(
        principal.tenant_id, body.refresh_token, context=_context(principal, request)
    )
    return _issued(issued)


@router.delete("/sessions/{session_id}", status_code=204, summary="Revoke a session")
async def revoke_session(
    session_id: ObjectId, principal: Assessor, auth: Auth, request: Request
) -> Response:
    auth.revoke_session(principal.tenant_id, session_id, context=_context(principal, request))
    return Response(status_code=204)


@router.get(
    "/users/{user_id}/sessions", response_model=SessionListPublic, summary="A user's sessions"
)
async def list_sessions(user_id: UserId, principal: Assessor, auth: Auth) -> SessionListPublic:
    sessions = auth.sessions(principal.tenant_id, user_id)
    return SessionListPublic(sessions=[session_public(s) for s in sessions])


@router.post(
    "/users/{user_id}/sessions/revoke",
    response_model=RevokedPublic,
    summary="Revoke every session of the user",
)
async def revoke_sessions(
    user_id: UserId, principal: Assessor, auth: Auth, request: Request
) -> RevokedPublic:
    count = auth.revoke_sessions(principal.tenant_id, user_id, context=_context(principal, request))
    return RevokedPublic(revoked=count)


# -- step-up -------------------------------------------------------------------------------


@router.post(
    "/challenges",
    response_model=StepUpPublic,
    status_code=201,
    summary="Open the step-up of an assessment the engine challenged",
)
async def create_challenge(
    body: StepUpCreate, principal: Assessor, step_ups: StepUps, request: Request
) -> StepUpPublic:
    challenge, _ = step_ups.open(
        principal.tenant_id, body.assessment_id, context=_context(principal, request)
    )
    return step_up_public(
        challenge,
        attempts_left=step_ups.attempts_left(challenge),
        options=step_ups.options(challenge),
    )


@router.get(
    "/challenges/{challenge_id}", response_model=StepUpPublic, summary="A step-up challenge"
)
async def get_challenge(
    challenge_id: ObjectId, principal: Assessor, step_ups: StepUps, assessments: Assessments
) -> StepUpPublic:
    challenge = step_ups.get(principal.tenant_id, challenge_id)
    pending = challenge.status == ChallengeStatus.PENDING
    options = step_ups.options(challenge) if pending else None
    public = step_up_public(
        challenge, attempts_left=step_ups.attempts_left(challenge), options=options
    )
    if challenge.assessment_id:
        final = assessments.get(principal.tenant_id, challenge.assessment_id).final
        public.final = None if final is None else final.value
    return public


@router.post(
    "/challenges/{challenge_id}/verify",
    response_model=StepUpPublic,
    summary="Answer a step-up: passed allows the assessment, failed blocks it",
)
async def verify_challenge(
    challenge_id: ObjectId,
    body: StepUpVerify,
    principal: Assessor,
    step_ups: StepUps,
    request: Request,
) -> StepUpPublic:
    amount = None if body.amount is None else (body.amount.value, body.amount.currency)
    result = step_ups.verify(
        principal.tenant_id,
        challenge_id,
        proofs_of(body.factors),
        context=_context(principal, request, body),
        amount=amount,
        payee=body.payee,
    )
    public = step_up_public(result.challenge, attempts_left=result.attempts_left)
    public.verified = result.verified
    public.reason = result.reason
    public.level = result.level
    public.final = None if result.decision.final is None else result.decision.final.value
    return public


__all__ = ["SessionPublic", "router"]
