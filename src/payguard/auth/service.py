"""Adaptive authentication: users, their factors, verification with brute-force defence, and
sessions.

Every failure is audited, counted against the account and the end user's IP address (5
consecutive failures lock the account for 15 minutes by default), published on the bus and
fed to the decision engine as a failed `login` event, so the account's
`account_failed_logins_*` features see it. Every credential change revokes the user's
sessions. Secrets never reach logs or audit details.
"""

from __future__ import annotations

import hashlib
import math
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

import structlog
from webauthn.helpers import base64url_to_bytes, bytes_to_base64url

from payguard.audit.interfaces import AuditAction, AuditOutcome, AuditWriter
from payguard.auth import devicekeys, passkeys, recovery, totp
from payguard.auth.factors import FactorKind, Passed, Proof, assurance, check_proofs
from payguard.auth.interfaces import (
    AuthRepository,
    AuthUser,
    Challenge,
    ChallengePurpose,
    ChallengeStatus,
    Credential,
    CredentialKind,
    Session,
)
from payguard.auth.passwords import PasswordHasher, check_password
from payguard.auth.sealing import SecretBox
from payguard.core.bus import AUTH_CLONE_SUSPECTED, AUTH_FAILED, EventBus
from payguard.core.clock import Clock
from payguard.core.errors import (
    AuthenticationFailed,
    BackendUnavailable,
    Conflict,
    FactorRejected,
    Locked,
    NotFound,
    ValidationFailed,
)
from payguard.core.ids import new_id

log = structlog.get_logger(__name__)

#: Most credentials of one kind a user may hold (passkeys, devices, TOTP apps).
MAX_CREDENTIALS = 20
#: One signed-request check in this many also purges expired nonces (every tenant's).
PURGE_EVERY = 1000


class FailureSignals(Protocol):
    """Where authentication failures go besides the audit log: the decision engine."""

    def login_failed(
        self,
        tenant_id: str,
        user_id: str,
        *,
        method: str,
        reason: str,
        ip: str | None,
        device_id: str | None,
    ) -> None: ...


@dataclass(frozen=True, slots=True)
class SessionLimits:
    """Idle and absolute timeouts, in seconds, for a session of one assurance level."""

    idle: int
    absolute: int


@dataclass(frozen=True, slots=True)
class AuthPolicy:
    lockout_threshold: int = 5
    lockout_seconds: float = 900
    ip_lockout_threshold: int = 50
    challenge_ttl_seconds: int = 300
    challenge_max_attempts: int = 3
    issuer: str = "payguard"
    sessions: dict[int, SessionLimits] = field(
        default_factory=lambda: {
            1: SessionLimits(idle=30 * 24 * 3600, absolute=30 * 24 * 3600),
            2: SessionLimits(idle=30 * 60, absolute=12 * 3600),
            3: SessionLimits(idle=15 * 60, absolute=12 * 3600),
        }
    )


@dataclass(frozen=True, slots=True)
class Context:
    """Who is asking on behalf of whom: the partner (`actor`, its `source_ip`) and the end
    user's own IP address and device, when the partner passes them."""

    actor: str
    source_ip: str | None = None
    user_ip: str | None = None
    device_id: str | None = None


@dataclass(frozen=True, slots=True)
class TotpEnrolment:
    credential: Credential
    secret: str
    uri: str
    qr_png: bytes
    qr_svg: str


@dataclass(frozen=True, slots=True)
class IssuedSession:
    session: Session
    access_token: str
    refresh_token: str


@dataclass(frozen=True, slots=True)
class Linking:
    """What a proof must cover: a WebAuthn challenge and the body a bound device signs."""

    webauthn_challenge: bytes
    device_method: str
    device_path: str
    device_body: bytes


def _account_key(user_id: str, kind: FactorKind) -> str:
    """The failures of one factor kind of an account (they never lock by themselves; the
    account's own count does)."""
    return f"account:{user_id}:{kind.value}"


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class AuthService:
    """Users, factors, verification and sessions of every tenant."""

    def __init__(
        self,
        repository: AuthRepository,
        *,
        audit: AuditWriter,
        bus: EventBus,
        clock: Clock,
        hasher: PasswordHasher,
        box: SecretBox | Callable[[], SecretBox],
        relying_party: passkeys.RelyingParty,
        policy: AuthPolicy | None = None,
        signals: FailureSignals | None = None,
    ) -> None:
        self.repository = repository
        self._audit = audit
        self._bus = bus
        self._clock = clock
        self._hasher = hasher
        # A callable is called on first use: the sealing key is read (or created) only by
        # a deployment that uses TOTP.
        self._box_source = box
        self._sealer: SecretBox | None = box if isinstance(box, SecretBox) else None
        self.relying_party = relying_party
        self.policy = policy or AuthPolicy()
        self._signals = signals

    # -- users ---------------------------------------------------------------------------

    def create_user(
        self, tenant_id: str, user_id: str, *, password: str | None, context: Context
    ) -> AuthUser:
        password_hash = None
        if password is not None:
            check_password(password, user_id=user_id)
            password_hash = self._hasher.hash(password)
        now = self._clock.now()
        user = AuthUser(
            tenant_id=tenant_id,
            user_id=user_id,
            created_at=now,
            handle=secrets.token_bytes(32),
            password_hash=password_hash,
            password_changed_at=now if password_hash else None,
        )
        self.repository.add_user(user)
        self._record(AuditAction.AUTH_USER_CREATE, tenant_id, user_id, context)
        return user

    def user(self, tenant_id: str, user_id: str) -> AuthUser:
        found = self.repository.get_user(tenant_id, user_id)
        if found is None:
            raise NotFound(f"no user {user_id!r}")
        return found

    def set_password(
        self, tenant_id: str, user_id: str, password: str, *, context: Context
    ) -> None:
        """Replace the password; every session of the user is revoked."""
        self.user(tenant_id, user_id)
        check_password(password, user_id=user_id)
        now = self._clock.now()
        self.repository.set_password(tenant_id, user_id, self._hasher.hash(password), now)
        self._credentials_changed(tenant_id, user_id, "password changed")
        self._record(AuditAction.AUTH_PASSWORD_SET, tenant_id, user_id, context)

    # -- enrolment -----------------------------------------------------------------------

    def enrol_totp(
        self, tenant_id: str, user_id: str, *, label: str, context: Context
    ) -> TotpEnrolment:
        """A new, unconfirmed TOTP credential: it verifies nothing until `confirm_totp`."""
        self.user(tenant_id, user_id)
        self._room_for(tenant_id, user_id, CredentialKind.TOTP)
        credential_id = new_id()
        secret = totp.new_secret()
        sealed = self._box.seal(secret.encode(), aad=self._aad(tenant_id, credential_id))
        credential = Credential(
            tenant_id=tenant_id,
            id=credential_id,
            user_id=user_id,
            kind=CredentialKind.TOTP,
            label=label,
            created_at=self._clock.now(),
            counter=-1,
            data={"secret": sealed},
            confirmed=False,
        )
        self.repository.add_credential(credential)
        uri = totp.provisioning_uri(secret, account=user_id, issuer=self.policy.issuer)
        self._record(
            AuditAction.AUTH_CREDENTIAL_ADD,
            tenant_id,
            user_id,
            context,
            kind="totp",
            credential_id=credential_id,
        )
        return TotpEnrolment(credential, secret, uri, totp.qr_png(uri), totp.qr_svg(uri))

    def confirm_totp(
        self, tenant_id: str, user_id: str, credential_id: str, code: str, *, context: Context
    ) -> Credential:
        """Confirm an enrolment with its first code; the user's sessions are revoked."""
        credential = self._own(tenant_id, user_id, credential_id, CredentialKind.TOTP)
        if credential.confirmed:
            raise Conflict("this TOTP credential is already confirmed")
        self._not_locked(tenant_id, user_id, context)
        step = self._match_totp(credential, code)
        if step is None or not self.repository.advance_counter(
            tenant_id, credential_id, credential.counter, step, self._clock.now()
        ):
            self._failed(tenant_id, user_id, FactorKind.TOTP, "wrong code", context)
            raise FactorRejected("the code does not match")
        self.repository.confirm_credential(tenant_id, credential_id, self._clock.now())
        self._credentials_changed(tenant_id, user_id, "TOTP added")
        self._record(
            AuditAction.AUTH_CREDENTIAL_CONFIRM,
            tenant_id,
            user_id,
            context,
            kind="totp",
            credential_id=credential_id,
        )
        return self._own(tenant_id, user_id, credential_id, CredentialKind.TOTP)

    def bind_device(
        self,
        tenant_id: str,
        user_id: str,
        *,
        device_id: str,
        algorithm: str,
        public_key: str,
        label: str,
        context: Context,
    ) -> Credential:
        self.user(tenant_id, user_id)
        devicekeys.parse_public_key(algorithm, public_key)
        self._room_for(tenant_id, user_id, CredentialKind.DEVICE)
        credential = Credential(
            tenant_id=tenant_id,
            id=new_id(),
            user_id=user_id,
            kind=CredentialKind.DEVICE,
            label=label,
            created_at=self._clock.now(),
            lookup=device_id,
            data={"algorithm": algorithm, "public_key": public_key},
        )
        try:
            self.repository.add_credential(credential)
        except Conflict:
            raise Conflict(f"device {device_id!r} is already bound") from None
        self._credentials_changed(tenant_id, user_id, "device bound")
        self._record(
            AuditAction.AUTH_CREDENTIAL_ADD,
            tenant_id,
            user_id,
            context,
            kind="device",
            credential_id=credential.id,
            device_id=device_id,
        )
        return credential

    def passkey_registration(
        self, tenant_id: str, user_id: str, *, context: Context
    ) -> tuple[Challenge, dict[str, Any]]:
        """Open a registration ceremony: its challenge and the options for the browser."""
        user = self.user(tenant_id, user_id)
        self._room_for(tenant_id, user_id, CredentialKind.PASSKEY)
        challenge = self._open(tenant_id, user_id, ChallengePurpose.PASSKEY_REGISTRATION)
        existing = self.repository.list_credentials(tenant_id, user_id)
        options = passkeys.registration_options(
            self.relying_party,
            user_handle=user.handle,
            user_name=user_id,
            display_name=user_id,
            challenge=challenge.nonce,
            exclude=[
                base64url_to_bytes(c.lookup) for c in existing if c.kind == "passkey" and c.lookup
            ],
            timeout_ms=self.policy.challenge_ttl_seconds * 1000,
        )
        return challenge, options

    def register_passkey(
        self,
        tenant_id: str,
        user_id: str,
        *,
        challenge_id: str,
        response: dict[str, Any],
        label: str,
        context: Context,
    ) -> Credential:
        challenge = self._pending(
            tenant_id, challenge_id, user_id, ChallengePurpose.PASSKEY_REGISTRATION
        )
        try:
            new = passkeys.verify_registration(
                self.relying_party,
                response=response,
                expected_challenge=challenge.nonce,
                require_user_verification=True,
            )
        except FactorRejected:
            raise
        except ValidationFailed:
            raise
        except Exception as exc:  # py_webauthn's own errors, already mapped in passkeys
            raise FactorRejected(str(exc)) from None
        if not self.repository.finish_challenge(
            tenant_id, challenge_id, status=ChallengeStatus.PASSED, at=self._clock.now()
        ):
            raise Conflict("this registration ceremony was already used")
        credential = Credential(
            tenant_id=tenant_id,
            id=new_id(),
            user_id=user_id,
            kind=CredentialKind.PASSKEY,
            label=label,
            created_at=self._clock.now(),
            lookup=bytes_to_base64url(new.credential_id),
            counter=new.sign_count,
            data={
                "public_key": bytes_to_base64url(new.public_key),
                "aaguid": new.aaguid,
                "user_verified": new.user_verified,
                "backed_up": new.backed_up,
                "device_type": new.device_type,
                "transports": list(new.transports),
            },
        )
        try:
            self.repository.add_credential(credential)
        except Conflict:
            raise Conflict("this passkey is already registered") from None
        self._credentials_changed(tenant_id, user_id, "passkey added")
        self._record(
            AuditAction.AUTH_CREDENTIAL_ADD,
            tenant_id,
            user_id,
            context,
            kind="passkey",
            credential_id=credential.id,
        )
        return credential

    def passkey_login(self, tenant_id: str, user_id: str) -> tuple[Challenge, dict[str, Any]]:
        """Open a sign-in ceremony for the user's passkeys."""
        self.user(tenant_id, user_id)
        challenge = self._open(tenant_id, user_id, ChallengePurpose.PASSKEY_LOGIN)
        options = passkeys.authentication_options(
            self.relying_party,
            challenge=challenge.nonce,
            allow=self.passkey_ids(tenant_id, user_id),
            timeout_ms=self.policy.challenge_ttl_seconds * 1000,
        )
        return challenge, options

    def new_recovery_codes(self, tenant_id: str, user_id: str, *, context: Context) -> list[str]:
        """Fresh one-time codes (shown once; only hashes are kept); the old ones stop working."""
        self.user(tenant_id, user_id)
        codes = recovery.new_codes()
        self.repository.replace_recovery_codes(
            tenant_id, user_id, [recovery.hash_code(c) for c in codes], self._clock.now()
        )
        self._credentials_changed(tenant_id, user_id, "recovery codes replaced")
        self._record(AuditAction.AUTH_RECOVERY_CODES, tenant_id, user_id, context)
        return codes

    def credentials(self, tenant_id: str, user_id: str) -> list[Credential]:
        self.user(tenant_id, user_id)
        return self.repository.list_credentials(tenant_id, user_id)

    def revoke_credential(
        self, tenant_id: str, user_id: str, credential_id: str, *, context: Context
    ) -> None:
        credential = self._own(tenant_id, user_id, credential_id, None)
        if not self.repository.revoke_credential(tenant_id, credential_id, self._clock.now()):
            raise NotFound(f"no live credential {credential_id!r}")
        self._credentials_changed(tenant_id, user_id, f"{credential.kind.value} revoked")
        self._record(
            AuditAction.AUTH_CREDENTIAL_REVOKE,
            tenant_id,
            user_id,
            context,
            kind=credential.kind.value,
            credential_id=credential_id,
        )

    # -- verification --------------------------------------------------------------------

    def verify(
        self,
        tenant_id: str,
        user_id: str,
        proofs: Sequence[Proof],
        *,
        context: Context,
        linking: Linking | None = None,
        login: Challenge | None = None,
    ) -> list[Passed]:
        """Check every proof; all must pass. Raises `Locked` before checking anything if
        the account or the user's IP is locked, and `FactorRejected` (after counting the
        failure) at the first proof that fails. `linking` binds passkey and device proofs
        to one payment; `login` is the passkey sign-in ceremony a passkey proof answers."""
        check_proofs(proofs)  # before the user is looked up
        user = self.user(tenant_id, user_id)
        failures = self.precheck(tenant_id, user_id, proofs, context=context)
        passed = []
        for proof in proofs:
            try:
                passed.append(self._check(user, proof, linking=linking, login=login))
            except FactorRejected as exc:
                self._failed(tenant_id, user_id, proof.kind, exc.message, context)
                raise
        if failures:
            self._forgive(tenant_id, user_id, {p.kind for p in passed})
        self._record(
            AuditAction.AUTH_VERIFY,
            tenant_id,
            user_id,
            context,
            factors=[p.kind.value for p in passed],
            level=assurance(passed),
        )
        return passed

    def _check(
        self,
        user: AuthUser,
        proof: Proof,
        *,
        linking: Linking | None,
        login: Challenge | None,
    ) -> Passed:
        if proof.kind == FactorKind.PASSWORD:
            return self._check_password(user, proof)
        if proof.kind == FactorKind.TOTP:
            return self._check_totp(user, proof)
        if proof.kind == FactorKind.RECOVERY_CODE:
            code = proof.secret or ""
            if not self.repository.use_recovery_code(
                user.tenant_id, user.user_id, recovery.hash_code(code), self._clock.now()
            ):
                raise FactorRejected("the recovery code is unknown or already used")
            return Passed(FactorKind.RECOVERY_CODE)
        if proof.kind == FactorKind.PASSKEY:
            return self._check_passkey(user, proof, linking=linking, login=login)
        return self._check_device(user, proof, linking=linking)

    def _check_password(self, user: AuthUser, proof: Proof) -> Passed:
        password = proof.secret or ""
        if user.password_hash is None:
            self._hasher.verify_dummy(password)
            raise FactorRejected("the password does not match")
        if not self._hasher.verify(user.password_hash, password):
            raise FactorRejected("the password does not match")
        if self._hasher.needs_rehash(user.password_hash):
            self.repository.set_password(
                user.tenant_id,
                user.user_id,
                self._hasher.hash(password),
                user.password_changed_at or self._clock.now(),
            )
        return Passed(FactorKind.PASSWORD)

    def _check_totp(self, user: AuthUser, proof: Proof) -> Passed:
        code = proof.secret or ""
        for credential in self.repository.list_credentials(user.tenant_id, user.user_id):
            if credential.kind != CredentialKind.TOTP or not credential.confirmed:
                continue
            try:
                step = self._match_totp(credential, code)
            except BackendUnavailable:
                continue  # logged; the user's other TOTP apps still count
            if step is None:
                continue
            if self.repository.advance_counter(
                user.tenant_id, credential.id, credential.counter, step, self._clock.now()
            ):
                return Passed(FactorKind.TOTP, credential.id)
            raise FactorRejected("this code was already used")
        raise FactorRejected("the code does not match or was already used")

    def _match_totp(self, credential: Credential, code: str) -> int | None:
        try:
            secret = self._box.open(
                str(credential.data["secret"]), aad=self._aad(credential.tenant_id, credential.id)
            ).decode()
        except AuthenticationFailed:
            # Not the user's fault: the sealing key changed (PAYGUARD_AUTH_KEY) or the row
            # was altered. Logged without the sealed value; the user is not penalised.
            log.error("auth.totp_secret_unopenable", credential_id=credential.id)
            raise BackendUnavailable(
                "a TOTP secret cannot be opened with the configured sealing key"
            ) from None
        last = credential.counter if credential.counter >= 0 else None
        return totp.match_step(secret, code, at=self._clock.now(), last_step=last)

    def _check_passkey(
        self,
        user: AuthUser,
        proof: Proof,
        *,
        linking: Linking | None,
        login: Challenge | None,
    ) -> Passed:
        if proof.credential is None:
            raise ValidationFailed("a passkey factor needs its credential", field="credential")
        if linking is not None:
            expected = linking.webauthn_challenge
        elif login is not None:
            expected = login.nonce
        else:
            raise ValidationFailed(
                "a passkey sign-in needs the challenge_id of its ceremony", field="challenge_id"
            )
        raw_id = passkeys.credential_id_of(proof.credential)
        credential = self.repository.find_credential(
            user.tenant_id, CredentialKind.PASSKEY, bytes_to_base64url(raw_id)
        )
        if credential is None or credential.user_id != user.user_id:
            raise FactorRejected("this passkey is not registered for the user")
        try:
            assertion = passkeys.verify_authentication(
                self.relying_party,
                response=proof.credential,
                expected_challenge=expected,
                public_key=base64url_to_bytes(str(credential.data["public_key"])),
                sign_count=credential.counter,
                require_user_verification=False,
            )
        except passkeys.PossibleClone as exc:
            self._clone_suspected(user, credential)
            raise FactorRejected(exc.message) from None
        except FactorRejected:
            raise
        except AuthenticationFailed as exc:  # wrong origin, challenge, RP ID, signature...
            raise FactorRejected(exc.message) from None
        if not self.repository.advance_counter(
            user.tenant_id,
            credential.id,
            credential.counter,
            assertion.new_sign_count,
            self._clock.now(),
        ):
            raise FactorRejected("this passkey was used concurrently; try again")
        return Passed(FactorKind.PASSKEY, credential.id, assertion.user_verified)

    def _check_device(self, user: AuthUser, proof: Proof, *, linking: Linking | None) -> Passed:
        if not proof.device_id or proof.signature is None or proof.timestamp is None:
            raise ValidationFailed(
                "a device factor needs device_id, signature, timestamp and nonce",
                field="device_id" if not proof.device_id else "signature",
            )
        devicekeys.check_nonce(proof.nonce or "")
        nonce = proof.nonce or ""
        credential = self.repository.find_credential(
            user.tenant_id, CredentialKind.DEVICE, proof.device_id
        )
        if credential is None or credential.user_id != user.user_id:
            raise FactorRejected("this device is not bound to the user")
        now = self._clock.now()
        try:
            devicekeys.check_freshness(proof.timestamp, now=now)
        except Exception as exc:
            raise FactorRejected(str(exc)) from None
        if linking is None:
            method, path, body = "POST", "/v1/auth/sessions", user.user_id.encode()
        else:
            method, path, body = linking.device_method, linking.device_path, linking.device_body
        message = devicekeys.signed_message(
            method=method, path=path, body=body, timestamp=proof.timestamp, nonce=nonce
        )
        if not devicekeys.verify_signature(
            str(credential.data["algorithm"]),
            str(credential.data["public_key"]),
            message,
            proof.signature,
        ):
            raise FactorRejected("the device signature does not verify")
        if not self._fresh_nonce(user.tenant_id, proof.device_id, nonce, now):
            raise FactorRejected("this signed request was already used (replayed nonce)")
        self.repository.advance_counter(
            user.tenant_id, credential.id, credential.counter, credential.counter + 1, now
        )
        return Passed(FactorKind.DEVICE, credential.id)

    def _fresh_nonce(self, tenant_id: str, device_id: str, nonce: str, now: datetime) -> bool:
        # A nonce is kept until no signature carrying it could still be fresh; about one
        # call in PURGE_EVERY also forgets the expired ones, so the table stays small.
        expires = now + timedelta(seconds=2 * devicekeys.MAX_SKEW_SECONDS)
        if secrets.randbelow(PURGE_EVERY) == 0:
            self.repository.purge_nonces(now)
        return self.repository.use_nonce(tenant_id, f"device:{device_id}", nonce, expires)

    def verify_signed_request(
        self,
        tenant_id: str,
        *,
        device_id: str,
        method: str,
        path: str,
        body: bytes,
        timestamp: int,
        nonce: str,
        signature: str,
        context: Context,
    ) -> Credential:
        """Proof of possession for any request the bound device signed (method, path, body
        hash, timestamp, nonce): returns the device's credential (and so its user)."""
        devicekeys.check_nonce(nonce)
        credential = self.repository.find_credential(tenant_id, CredentialKind.DEVICE, device_id)
        if credential is None:
            raise FactorRejected("this device is not bound")
        user = self.user(tenant_id, credential.user_id)
        linking = Linking(b"", method, path, body)
        proof = Proof(
            FactorKind.DEVICE,
            device_id=device_id,
            signature=signature,
            timestamp=timestamp,
            nonce=nonce,
        )
        failures = self._not_locked(tenant_id, user.user_id, context)
        try:
            self._check_device(user, proof, linking=linking)
        except FactorRejected as exc:
            self._failed(tenant_id, user.user_id, FactorKind.DEVICE, exc.message, context)
            raise
        if failures:
            self._forgive(tenant_id, user.user_id, {FactorKind.DEVICE})
        return credential

    # -- sessions ------------------------------------------------------------------------

    def sign_in(
        self,
        tenant_id: str,
        user_id: str,
        proofs: Sequence[Proof],
        *,
        context: Context,
        challenge_id: str | None = None,
    ) -> IssuedSession:
        """Verify the proofs and open a session at the level they earn."""
        login = None
        if challenge_id is not None:
            login = self._pending(tenant_id, challenge_id, user_id, ChallengePurpose.PASSKEY_LOGIN)
        passed = self.verify(tenant_id, user_id, proofs, context=context, login=login)
        if login is not None and not self.repository.finish_challenge(
            tenant_id,
            login.id,
            status=ChallengeStatus.PASSED,
            at=self._clock.now(),
            factors=[p.kind.value for p in passed],
        ):
            raise Conflict("this sign-in ceremony was already used")
        level = assurance(passed)
        if level >= 2:
            self.repository.reset_exemption(tenant_id, user_id, self._clock.now())
        return self.open_session(tenant_id, user_id, level, context=context)

    def open_session(
        self, tenant_id: str, user_id: str, level: int, *, context: Context
    ) -> IssuedSession:
        limits = self.policy.sessions[level]
        now = self._clock.now()
        access, refresh = "pgs_" + secrets.token_urlsafe(32), "pgr_" + secrets.token_urlsafe(32)
        session = Session(
            tenant_id=tenant_id,
            id=new_id(),
            user_id=user_id,
            level=level,
            token_hash=token_hash(access),
            refresh_hash=token_hash(refresh),
            created_at=now,
            last_seen_at=now,
            idle_expires_at=self._idle_until(now, now, limits),
            absolute_expires_at=now + timedelta(seconds=limits.absolute),
        )
        self.repository.add_session(session)
        self._record(
            AuditAction.SESSION_CREATE,
            tenant_id,
            user_id,
            context,
            session_id=session.id,
            level=level,
        )
        return IssuedSession(session, access, refresh)

    @staticmethod
    def _idle_until(now: datetime, created: datetime, limits: SessionLimits) -> datetime:
        return min(
            now + timedelta(seconds=limits.idle), created + timedelta(seconds=limits.absolute)
        )

    def session_refusal(self, session: Session) -> str | None:
        """Why the session no longer works (`revoked`, `idle`, `expired`), or None."""
        now = self._clock.now()
        if session.revoked_at is not None:
            return "revoked"
        if now >= session.absolute_expires_at:
            return "expired"
        if now >= session.idle_expires_at:
            return "idle"
        return None

    def introspect(self, tenant_id: str, access_token: str) -> tuple[Session | None, str | None]:
        """The session behind a token and why it does not work (None: it does, and its idle
        timer restarts)."""
        session = self.repository.find_session(tenant_id, token_hash(access_token))
        if session is None:
            return None, "unknown"
        refusal = self.session_refusal(session)
        if refusal is None:
            now = self._clock.now()
            idle = self._idle_until(now, session.created_at, self.policy.sessions[session.level])
            self.repository.touch_session(tenant_id, session.id, now, idle)
            session = self.repository.get_session(tenant_id, session.id) or session
        return session, refusal

    def refresh(self, tenant_id: str, refresh_token: str, *, context: Context) -> IssuedSession:
        """New tokens for a live session. A refresh token works once: presenting one that
        was already used revokes the session (it was stolen, or the client is confused)."""
        presented = token_hash(refresh_token)
        session = self.repository.find_session_by_refresh(tenant_id, presented)
        if session is None:
            raise FactorRejected("unknown refresh token")
        now = self._clock.now()
        if session.refresh_hash != presented:
            # An old refresh token: whoever holds the current one, one of the two stole it.
            if self.repository.revoke_session(tenant_id, session.id, now, "refresh token reused"):
                self._record(
                    AuditAction.SESSION_REVOKE,
                    tenant_id,
                    session.user_id,
                    context,
                    session_id=session.id,
                    reason="refresh token reused",
                )
            raise FactorRejected("this refresh token was already used; the session is revoked")
        refusal = self.session_refusal(session)
        if refusal is not None:
            raise FactorRejected(f"the session is {refusal}")
        access, refresh = "pgs_" + secrets.token_urlsafe(32), "pgr_" + secrets.token_urlsafe(32)
        idle = self._idle_until(now, session.created_at, self.policy.sessions[session.level])
        if not self.repository.rotate_session(
            tenant_id,
            session.id,
            expected_refresh_hash=session.refresh_hash,
            token_hash=token_hash(access),
            refresh_hash=token_hash(refresh),
            last_seen_at=now,
            idle_expires_at=idle,
        ):
            self.repository.revoke_session(tenant_id, session.id, now, "refresh token reused")
            raise FactorRejected("this refresh token was already used; the session is revoked")
        self._record(
            AuditAction.SESSION_REFRESH, tenant_id, session.user_id, context, session_id=session.id
        )
        rotated = self.repository.get_session(tenant_id, session.id)
        assert rotated is not None
        return IssuedSession(rotated, access, refresh)

    def revoke_session(self, tenant_id: str, session_id: str, *, context: Context) -> None:
        session = self.repository.get_session(tenant_id, session_id)
        if session is None or not self.repository.revoke_session(
            tenant_id, session_id, self._clock.now(), "revoked by the partner"
        ):
            raise NotFound(f"no live session {session_id!r}")
        self._record(
            AuditAction.SESSION_REVOKE, tenant_id, session.user_id, context, session_id=session_id
        )

    def revoke_sessions(self, tenant_id: str, user_id: str, *, context: Context) -> int:
        self.user(tenant_id, user_id)
        count = self.repository.revoke_user_sessions(
            tenant_id, user_id, self._clock.now(), "revoked by the partner"
        )
        self._record(AuditAction.SESSION_REVOKE, tenant_id, user_id, context, sessions=count)
        return count

    def sessions(self, tenant_id: str, user_id: str) -> list[Session]:
        self.user(tenant_id, user_id)
        return self.repository.list_sessions(tenant_id, user_id)

    # -- challenges ----------------------------------------------------------------------

    def _open(self, tenant_id: str, user_id: str, purpose: ChallengePurpose) -> Challenge:
        now = self._clock.now()
        challenge = Challenge(
            tenant_id=tenant_id,
            id=new_id(),
            user_id=user_id,
            purpose=purpose,
            created_at=now,
            expires_at=now + timedelta(seconds=self.policy.challenge_ttl_seconds),
            nonce=secrets.token_bytes(passkeys.CHALLENGE_BYTES),
        )
        self.repository.add_challenge(challenge)
        return challenge

    def _pending(
        self, tenant_id: str, challenge_id: str, user_id: str, purpose: ChallengePurpose
    ) -> Challenge:
        challenge = self.repository.get_challenge(tenant_id, challenge_id)
        if challenge is None or challenge.user_id != user_id or challenge.purpose != purpose:
            raise NotFound(f"no {purpose.value} challenge {challenge_id!r} for this user")
        if challenge.status != ChallengeStatus.PENDING:
            raise Conflict(f"challenge {challenge_id!r} is already {challenge.status.value}")
        if self._clock.now() >= challenge.expires_at:
            raise Conflict(f"challenge {challenge_id!r} has expired")
        return challenge

    def passkey_ids(self, tenant_id: str, user_id: str) -> list[bytes]:
        """The raw credential ids of the user's live passkeys (a ceremony's allow list)."""
        return [
            base64url_to_bytes(c.lookup)
            for c in self.repository.list_credentials(tenant_id, user_id)
            if c.kind == CredentialKind.PASSKEY and c.lookup
        ]

    # -- throttling and signals ----------------------------------------------------------

    def precheck(
        self, tenant_id: str, user_id: str, proofs: Sequence[Proof], *, context: Context
    ) -> int:
        """Everything that can refuse proofs before any is checked: their shape (422) and
        the locks (429). Called before a step-up counts an attempt, so neither uses one.
        Returns the account's consecutive failures."""
        check_proofs(proofs)
        for proof in proofs:
            if proof.kind == FactorKind.PASSKEY:
                if proof.credential is None:
                    raise ValidationFailed(
                        "a passkey factor needs its credential", field="credential"
                    )
                passkeys.credential_id_of(proof.credential)
            elif proof.kind == FactorKind.DEVICE:
                if not proof.device_id or proof.signature is None or proof.timestamp is None:
                    raise ValidationFailed(
                        "a device factor needs device_id, signature, timestamp and nonce",
                        field="device_id" if not proof.device_id else "signature",
                    )
                devicekeys.check_nonce(proof.nonce or "")
        return self._not_locked(tenant_id, user_id, context)

    def _not_locked(self, tenant_id: str, user_id: str, context: Context) -> int:
        """Raise `Locked` if the account or the user's address is locked; else the
        account's consecutive failures so far."""
        now = self._clock.now()
        failures = 0
        keys = [f"account:{user_id}"]
        if context.user_ip:
            keys.append(f"ip:{context.user_ip}")
        for key in keys:
            throttle = self.repository.get_throttle(tenant_id, key)
            if key.startswith("account:"):
                failures = throttle.failures
            if throttle.locked_until is not None and throttle.locked_until > now:
                wait = math.ceil((throttle.locked_until - now).total_seconds())
                what = "account" if key.startswith("account:") else "address"
                raise Locked(
                    f"this {what} is locked after repeated failures; retry in {wait} s",
                    retry_after=wait,
                )
        return failures

    def _forgive(self, tenant_id: str, user_id: str, kinds: set[FactorKind]) -> None:
        """After a success: forget the failures of the kinds that just passed, and reset
        the account's count only when no other kind still has failures. Knowing the
        password must not reset the count of TOTP guesses."""
        outstanding = False
        for kind in FactorKind:
            key = _account_key(user_id, kind)
            if not self.repository.get_throttle(tenant_id, key).failures:
                continue
            if kind in kinds:
                self.repository.clear_failures(tenant_id, key)
            else:
                outstanding = True
        if not outstanding:
            self.repository.clear_failures(tenant_id, f"account:{user_id}")

    def failures(self, tenant_id: str, user_id: str) -> int:
        """The account's consecutive failures (over every factor kind)."""
        return self.repository.get_throttle(tenant_id, f"account:{user_id}").failures

    def locked_until(self, tenant_id: str, user_id: str) -> datetime | None:
        """When the account's lock ends, if it is locked now."""
        until = self.repository.get_throttle(tenant_id, f"account:{user_id}").locked_until
        return until if until is not None and until > self._clock.now() else None

    def record_failure(
        self, tenant_id: str, user_id: str, kind: FactorKind, reason: str, context: Context
    ) -> None:
        """Count, audit, publish and signal a failed authentication of the user."""
        self._failed(tenant_id, user_id, kind, reason, context)

    def _failed(
        self, tenant_id: str, user_id: str, kind: FactorKind, reason: str, context: Context
    ) -> None:
        now = self._clock.now()
        throttle = self.repository.record_failure(
            tenant_id,
            f"account:{user_id}",
            now,
            threshold=self.policy.lockout_threshold,
            lock_seconds=self.policy.lockout_seconds,
        )
        # Which kinds failed, so that a success of another kind does not forgive them; these
        # counters never lock by themselves.
        self.repository.record_failure(
            tenant_id, _account_key(user_id, kind), now, threshold=2**31 - 1, lock_seconds=0
        )
        locked = throttle.locked_until is not None and throttle.locked_until > now
        if context.user_ip:
            by_ip = self.repository.record_failure(
                tenant_id,
                f"ip:{context.user_ip}",
                now,
                threshold=self.policy.ip_lockout_threshold,
                lock_seconds=self.policy.lockout_seconds,
            )
            if by_ip.locked_until is not None and by_ip.locked_until > now:
                self._audit_locked(tenant_id, f"ip:{context.user_ip}", by_ip.failures, context)
        self._audit.record(
            action=AuditAction.AUTH_FAILURE,
            actor=context.actor,
            target=f"user:{user_id}",
            outcome=AuditOutcome.FAILURE,
            tenant_id=tenant_id,
            source_ip=context.source_ip,
            details={
                "factor": kind.value,
                "reason": reason,
                "failures": throttle.failures,
                "user_ip": context.user_ip,
            },
        )
        if locked and throttle.failures % self.policy.lockout_threshold == 0:
            self._audit_locked(tenant_id, f"account:{user_id}", throttle.failures, context, kind)
        self._bus.publish(
            AUTH_FAILED,
            {
                "tenant_id": tenant_id,
                "user_id": user_id,
                "factor": kind.value,
                "failures": throttle.failures,
                "locked": locked,
            },
        )
        if self._signals is not None:
            self._signals.login_failed(
                tenant_id,
                user_id,
                method=kind.value,
                reason=reason,
                ip=context.user_ip,
                device_id=context.device_id,
            )

    def _audit_locked(
        self,
        tenant_id: str,
        key: str,
        failures: int,
        context: Context,
        kind: FactorKind | None = None,
    ) -> None:
        details: dict[str, Any] = {"failures": failures, "seconds": self.policy.lockout_seconds}
        if kind is not None:
            details["factor"] = kind.value
        self._audit.record(
            action=AuditAction.AUTH_LOCKED,
            actor=context.actor,
            target=key,
            outcome=AuditOutcome.DENIED,
            tenant_id=tenant_id,
            source_ip=context.source_ip,
            details=details,
        )

    def _clone_suspected(self, user: AuthUser, credential: Credential) -> None:
        self._audit.record(
            action=AuditAction.AUTH_CLONE_SUSPECTED,
            actor="payguard",
            target=f"credential:{credential.id}",
            outcome=AuditOutcome.DENIED,
            tenant_id=user.tenant_id,
            details={"user_id": user.user_id, "stored_sign_count": credential.counter},
        )
        self._bus.publish(
            AUTH_CLONE_SUSPECTED,
            {
                "tenant_id": user.tenant_id,
                "user_id": user.user_id,
                "credential_id": credential.id,
            },
        )

    # -- helpers -------------------------------------------------------------------------

    def _credentials_changed(self, tenant_id: str, user_id: str, reason: str) -> None:
        self.repository.revoke_user_sessions(tenant_id, user_id, self._clock.now(), reason)

    def _own(
        self,
        tenant_id: str,
        user_id: str,
        credential_id: str,
        kind: CredentialKind | None,
    ) -> Credential:
        credential = self.repository.get_credential(tenant_id, credential_id)
        if (
            credential is None
            or credential.user_id != user_id
            or credential.revoked_at is not None
            or (kind is not None and credential.kind != kind)
        ):
            raise NotFound(f"no live credential {credential_id!r} for this user")
        return credential

    def _room_for(self, tenant_id: str, user_id: str, kind: CredentialKind) -> None:
        held = [c for c in self.repository.list_credentials(tenant_id, user_id) if c.kind == kind]
        if len(held) >= MAX_CREDENTIALS:
            raise Conflict(f"the user already has {MAX_CREDENTIALS} {kind.value} credentials")

    @property
    def _box(self) -> SecretBox:
        if self._sealer is None:
            source = self._box_source
            assert callable(source)
            self._sealer = source()
        return self._sealer

    @staticmethod
    def _aad(tenant_id: str, credential_id: str) -> bytes:
        return f"payguard-totp-v1:{tenant_id}:{credential_id}".encode()

    def _record(
        self,
        action: AuditAction,
        tenant_id: str,
        user_id: str,
        context: Context,
        **details: Any,
    ) -> None:
        self._audit.record(
            action=action,
            actor=context.actor,
            target=f"user:{user_id}",
            outcome=AuditOutcome.SUCCESS,
            tenant_id=tenant_id,
            source_ip=context.source_ip,
            details=details,
        )
