"""Adaptive authentication: users and their factors, verification, sign-in.

`AuthService` is the one door the API and step-up use; it puts the pieces in order:

- each factor kind's verifier checks a proof (`payguard.auth.verifiers`);
- the lockout counts each attempt before its proofs are checked, refuses locked accounts and
  addresses, and feeds each failure to the audit log, the bus and the decision engine
  (`payguard.auth.lockout`);
- the session keeper opens, refreshes and revokes sessions (`payguard.auth.sessions`).

Every credential change revokes the user's sessions. Secrets never reach logs or audit
details.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from webauthn.helpers import base64url_to_bytes, bytes_to_base64url

from payguard.audit.interfaces import AuditAction, AuditWriter
from payguard.auth import devicekeys, passkeys, recovery, totp
from payguard.auth.factors import FactorKind, Passed, Proof, assurance, check_proofs
from payguard.auth.interfaces import (
    AuthUser,
    Challenge,
    ChallengePurpose,
    ChallengeRepository,
    ChallengeStatus,
    Context,
    Credential,
    CredentialKind,
    NonceRepository,
    RiskDecisions,
    Session,
    UserRepository,
)
from payguard.auth.lockout import Lockout
from payguard.auth.passwords import PasswordHasher, check_password
from payguard.auth.policy import AuthPolicy, SessionLimits
from payguard.auth.sessions import IssuedSession, Sessions
from payguard.auth.verifiers import Linking, TotpSecrets, VerifierRegistry
from payguard.auth.verifiers.password_verifier import NO_MATCH
from payguard.core.clock import Clock
from payguard.core.errors import Conflict, FactorRejected, NotFound, ValidationFailed
from payguard.core.ids import new_id
from payguard.core.replay import check_nonce

__all__ = [
    "MAX_CREDENTIALS",
    "AuthPolicy",
    "AuthService",
    "Context",
    "IssuedSession",
    "Linking",
    "SessionLimits",
    "TotpEnrolment",
]

#: Most credentials of one kind a user may hold (passkeys, devices, TOTP apps).
MAX_CREDENTIALS = 20


@dataclass(frozen=True, slots=True)
class TotpEnrolment:
    credential: Credential
    secret: str
    uri: str
    qr_png: bytes
    qr_svg: str


class AuthService:
    """Users, factors, verification and sign-in of every tenant."""

    def __init__(
        self,
        users: UserRepository,
        *,
        challenges: ChallengeRepository,
        nonces: NonceRepository,
        verifiers: VerifierRegistry,
        lockout: Lockout,
        sessions: Sessions,
        totp_secrets: TotpSecrets,
        risk: RiskDecisions,
        audit: AuditWriter,
        clock: Clock,
        hasher: PasswordHasher,
        relying_party: passkeys.RelyingParty,
        policy: AuthPolicy,
    ) -> None:
        self._users = users
        self._challenges = challenges
        self._nonces = nonces
        self._verifiers = verifiers
        self._lockout = lockout
        self._sessions = sessions
        self._totp = totp_secrets
        self._risk = risk
        self._audit = audit
        self._clock = clock
        self._hasher = hasher
        self.relying_party = relying_party
        self.policy = policy

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
        self._users.add_user(user)
        self._audit.success(
            AuditAction.AUTH_USER_CREATE, context.actor, f"user:{user_id}", tenant_id=tenant_id
        )
        return user

    def user(self, tenant_id: str, user_id: str) -> AuthUser:
        found = self._users.get_user(tenant_id, user_id)
        if found is None:
            raise NotFound(f"no user {user_id!r}")
        return found

    def _known(
        self, tenant_id: str, user_id: str, proofs: Sequence[Proof], context: Context
    ) -> AuthUser:
        """The user the proofs are for. For an unknown user, a password among the proofs is
        first checked against the stand-in hash, so that "no such user" (404: the partner may
        know which of its users exist) takes as long as a wrong password and the timing
        tells an end user nothing. With `policy.conceal_unknown_users` the partner learns
        nothing either: the answer is a wrong password's, counted towards a lockout."""
        found = self._users.get_user(tenant_id, user_id)
        if found is None:
            password = False
            for proof in proofs:
                if proof.kind == FactorKind.PASSWORD:
                    self._hasher.verify_dummy(proof.secret or "")
                    password = True
            if password and self.policy.conceal_unknown_users:
                # Answered, counted and locked exactly as a wrong password for a known user.
                attempt = self._lockout.reserve(tenant_id, user_id, context)
                self._lockout.failed(attempt, FactorKind.PASSWORD, NO_MATCH, context)
                raise FactorRejected(NO_MATCH)
            raise NotFound(f"no user {user_id!r}")
        return found

    def set_password(
        self, tenant_id: str, user_id: str, password: str, *, context: Context
    ) -> None:
        """Replace the password; every session of the user is revoked."""
        self.user(tenant_id, user_id)
        check_password(password, user_id=user_id)
        now = self._clock.now()
        self._users.set_password(tenant_id, user_id, self._hasher.hash(password), now)
        self._sessions.credentials_changed(tenant_id, user_id, "password changed")
        self._audit.success(
            AuditAction.AUTH_PASSWORD_SET, context.actor, f"user:{user_id}", tenant_id=tenant_id
        )

    # -- enrolment -----------------------------------------------------------------------

    def enrol_totp(
        self, tenant_id: str, user_id: str, *, label: str, context: Context
    ) -> TotpEnrolment:
        """A new, unconfirmed TOTP credential: it verifies nothing until `confirm_totp`."""
        self.user(tenant_id, user_id)
        self._room_for(tenant_id, user_id, CredentialKind.TOTP)
        credential_id = new_id()
        secret = totp.new_secret()
        credential = Credential(
            tenant_id=tenant_id,
            id=credential_id,
            user_id=user_id,
            kind=CredentialKind.TOTP,
            label=label,
            created_at=self._clock.now(),
            counter=-1,
            data={"secret": self._totp.seal(tenant_id, credential_id, secret)},
            confirmed=False,
        )
        self._users.add_credential(credential)
        uri = totp.provisioning_uri(secret, account=user_id, issuer=self.policy.issuer)
        self._audit.success(
            AuditAction.AUTH_CREDENTIAL_ADD,
            context.actor,
            f"user:{user_id}",
            tenant_id=tenant_id,
            details={"kind": "totp", "credential_id": credential_id},
        )
        return TotpEnrolment(credential, secret, uri, totp.qr_png(uri), totp.qr_svg(uri))

    def confirm_totp(
        self, tenant_id: str, user_id: str, credential_id: str, code: str, *, context: Context
    ) -> Credential:
        """Confirm an enrolment with its first code; the user's sessions are revoked."""
        credential = self._own(tenant_id, user_id, credential_id, CredentialKind.TOTP)
        if credential.confirmed:
            raise Conflict("this TOTP credential is already confirmed")
        attempt = self._lockout.reserve(tenant_id, user_id, context)
        try:
            step = self._totp.match(credential, code)
            matched = step is not None and self._users.advance_counter(
                tenant_id, credential_id, credential.counter, step, self._clock.now()
            )
        except BaseException:
            self._lockout.abandon(attempt)
            raise
        if not matched:
            self._lockout.failed(attempt, FactorKind.TOTP, "wrong code", context)
            raise FactorRejected("the code does not match")
        self._lockout.passed(attempt, {FactorKind.TOTP})
        self._users.confirm_credential(tenant_id, credential_id, self._clock.now())
        self._sessions.credentials_changed(tenant_id, user_id, "TOTP added")
        self._audit.success(
            AuditAction.AUTH_CREDENTIAL_CONFIRM,
            context.actor,
            f"user:{user_id}",
            tenant_id=tenant_id,
            details={"kind": "totp", "credential_id": credential_id},
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
            self._users.add_credential(credential)
        except Conflict:
            raise Conflict(f"device {device_id!r} is already bound") from None
        self._sessions.credentials_changed(tenant_id, user_id, "device bound")
        self._audit.success(
            AuditAction.AUTH_CREDENTIAL_ADD,
            context.actor,
            f"user:{user_id}",
            tenant_id=tenant_id,
            details={"kind": "device", "credential_id": credential.id, "device_id": device_id},
        )
        return credential

    def passkey_registration(
        self, tenant_id: str, user_id: str, *, context: Context
    ) -> tuple[Challenge, dict[str, Any]]:
        """Open a registration ceremony: its challenge and the options for the browser."""
        user = self.user(tenant_id, user_id)
        self._room_for(tenant_id, user_id, CredentialKind.PASSKEY)
        challenge = self._open(tenant_id, user_id, ChallengePurpose.PASSKEY_REGISTRATION)
        options = passkeys.registration_options(
            self.relying_party,
            user_handle=user.handle,
            user_name=user_id,
            display_name=user_id,
            challenge=challenge.nonce,
            exclude=self.passkey_ids(tenant_id, user_id),
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
        if not self._challenges.finish_challenge(
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
            self._users.add_credential(credential)
        except Conflict:
            raise Conflict("this passkey is already registered") from None
        self._sessions.credentials_changed(tenant_id, user_id, "passkey added")
        self._audit.success(
            AuditAction.AUTH_CREDENTIAL_ADD,
            context.actor,
            f"user:{user_id}",
            tenant_id=tenant_id,
            details={"kind": "passkey", "credential_id": credential.id},
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

    def passkey_ids(self, tenant_id: str, user_id: str) -> list[bytes]:
        """The raw credential ids of the user's live passkeys (a ceremony's allow list)."""
        return [
            base64url_to_bytes(c.lookup)
            for c in self._users.list_credentials(tenant_id, user_id)
            if c.kind == CredentialKind.PASSKEY and c.lookup
        ]

    def new_recovery_codes(self, tenant_id: str, user_id: str, *, context: Context) -> list[str]:
        """Fresh one-time codes (shown once; only hashes are kept); the old ones stop working."""
        self.user(tenant_id, user_id)
        codes = recovery.new_codes()
        self._users.replace_recovery_codes(
            tenant_id, user_id, [recovery.hash_code(c) for c in codes], self._clock.now()
        )
        self._sessions.credentials_changed(tenant_id, user_id, "recovery codes replaced")
        self._audit.success(
            AuditAction.AUTH_RECOVERY_CODES, context.actor, f"user:{user_id}", tenant_id=tenant_id
        )
        return codes

    def recovery_codes_left(self, tenant_id: str, user_id: str) -> int:
        """How many of the user's recovery codes are still unused."""
        return self._users.count_recovery_codes(tenant_id, user_id)

    def credentials(self, tenant_id: str, user_id: str) -> list[Credential]:
        self.user(tenant_id, user_id)
        return self._users.list_credentials(tenant_id, user_id)

    def revoke_credential(
        self, tenant_id: str, user_id: str, credential_id: str, *, context: Context
    ) -> None:
        credential = self._own(tenant_id, user_id, credential_id, None)
        if not self._users.revoke_credential(tenant_id, credential_id, self._clock.now()):
            raise NotFound(f"no live credential {credential_id!r}")
        kind = credential.kind.value
        self._sessions.credentials_changed(tenant_id, user_id, f"{kind} revoked")
        self._audit.success(
            AuditAction.AUTH_CREDENTIAL_REVOKE,
            context.actor,
            f"user:{user_id}",
            tenant_id=tenant_id,
            details={"kind": kind, "credential_id": credential_id},
        )

    # -- verification --------------------------------------------------------------------

    def precheck(
        self, tenant_id: str, user_id: str, proofs: Sequence[Proof], *, context: Context
    ) -> int:
        """Everything that can refuse proofs before any is checked: their shape (422) and
        the locks (429). Called before a step-up counts an attempt, so neither uses one.
        Returns the account's consecutive failures."""
        check_proofs(proofs)
        self._verifiers.check_shapes(proofs)
        return self._lockout.check(tenant_id, user_id, context)

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
        the account or the user's IP is locked (or the parallel attempts in flight already
        use up what is left before the lock), and `FactorRejected` (after counting the
        failure) at the first proof that fails. `linking` binds passkey and device proofs
        to one payment; `login` is the passkey sign-in ceremony a passkey proof answers."""
        check_proofs(proofs)  # before the user is looked up
        user = self._known(tenant_id, user_id, proofs, context)
        return self._verify_known(user, proofs, context=context, linking=linking, login=login)

    def _verify_known(
        self,
        user: AuthUser,
        proofs: Sequence[Proof],
        *,
        context: Context,
        linking: Linking | None = None,
        login: Challenge | None = None,
    ) -> list[Passed]:
        """`verify` for a user already looked up (`_known`)."""
        tenant_id, user_id = user.tenant_id, user.user_id
        check_proofs(proofs)
        self._verifiers.check_shapes(proofs)
        # The attempt is counted before any proof is checked, so parallel guesses on any
        # number of workers never get more checks than the lockout threshold.
        attempt = self._lockout.reserve(tenant_id, user_id, context)
        passed = []
        for proof in proofs:
            try:
                passed.append(self._verifiers.verify(user, proof, linking=linking, login=login))
            except FactorRejected as exc:
                self._lockout.failed(attempt, proof.kind, exc.message, context)
                raise
            except BaseException:
                # Not the user's failure (a store or sealed secret unavailable): no blame.
                self._lockout.abandon(attempt)
                raise
        self._lockout.passed(attempt, {p.kind for p in passed})
        self._audit.success(
            AuditAction.AUTH_VERIFY,
            context.actor,
            f"user:{user_id}",
            tenant_id=tenant_id,
            details={"factors": [p.kind.value for p in passed], "level": assurance(passed)},
        )
        return passed

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
        check_nonce(nonce)
        credential = self._users.find_credential(tenant_id, CredentialKind.DEVICE, device_id)
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
        attempt = self._lockout.reserve(tenant_id, user.user_id, context)
        try:
            self._verifiers.verify(user, proof, linking=linking)
        except FactorRejected as exc:
            self._lockout.failed(attempt, FactorKind.DEVICE, exc.message, context)
            raise
        except BaseException:
            self._lockout.abandon(attempt)
            raise
        self._lockout.passed(attempt, {FactorKind.DEVICE})
        return credential

    def sign_in(
        self,
        tenant_id: str,
        user_id: str,
        proofs: Sequence[Proof],
        *,
        context: Context,
        challenge_id: str | None = None,
    ) -> IssuedSession:
        """Verify the proofs and open a session at the level they earn. AAL2 or more also
        restarts the user's low-risk exemption counters."""
        check_proofs(proofs)  # before the user is looked up
        # The user before the ceremony, so an unknown one costs a password hash either way.
        user = self._known(tenant_id, user_id, proofs, context)
        login = None
        if challenge_id is not None:
            login = self._pending(tenant_id, challenge_id, user_id, ChallengePurpose.PASSKEY_LOGIN)
        passed = self._verify_known(user, proofs, context=context, login=login)
        if login is not None and not self._challenges.finish_challenge(
            tenant_id,
            login.id,
            status=ChallengeStatus.PASSED,
            at=self._clock.now(),
            factors=[p.kind.value for p in passed],
        ):
            raise Conflict("this sign-in ceremony was already used")
        level = assurance(passed)
        if level >= 2:
            self._risk.reset_exemptions(tenant_id, user_id, self._clock.now())
        return self._sessions.open(tenant_id, user_id, level, context=context)

    # -- failures (see payguard.auth.lockout) ----------------------------------------------

    def failures(self, tenant_id: str, user_id: str) -> int:
        """The account's consecutive failures (over every factor kind)."""
        return self._lockout.failures(tenant_id, user_id)

    def locked_until(self, tenant_id: str, user_id: str) -> datetime | None:
        """When the account's lock ends, if it is locked now."""
        return self._lockout.locked_until(tenant_id, user_id)

    def record_failure(
        self, tenant_id: str, user_id: str, kind: FactorKind, reason: str, context: Context
    ) -> None:
        """Count, audit, publish and signal a failed authentication of the user."""
        self._lockout.record_failure(tenant_id, user_id, kind, reason, context)

    # -- sessions (see payguard.auth.sessions) ---------------------------------------------

    def open_session(
        self, tenant_id: str, user_id: str, level: int, *, context: Context
    ) -> IssuedSession:
        return self._sessions.open(tenant_id, user_id, level, context=context)

    def introspect(self, tenant_id: str, access_token: str) -> tuple[Session | None, str | None]:
        """The session behind a token and why it does not work (None: it does, and its idle
        timer restarts)."""
        return self._sessions.introspect(tenant_id, access_token)

    def refresh(self, tenant_id: str, refresh_token: str, *, context: Context) -> IssuedSession:
        """New tokens for a live session; a refresh token used twice revokes the session."""
        return self._sessions.refresh(tenant_id, refresh_token, context=context)

    def revoke_session(self, tenant_id: str, session_id: str, *, context: Context) -> None:
        self._sessions.revoke(tenant_id, session_id, context=context)

    def revoke_sessions(self, tenant_id: str, user_id: str, *, context: Context) -> int:
        self.user(tenant_id, user_id)
        return self._sessions.revoke_all(tenant_id, user_id, context=context)

    def sessions(self, tenant_id: str, user_id: str) -> list[Session]:
        self.user(tenant_id, user_id)
        return self._sessions.of_user(tenant_id, user_id)

    # -- housekeeping --------------------------------------------------------------------

    def purge(self, *, now: datetime, before: datetime) -> dict[str, int]:
        """Forget every tenant's nonces expired by `now`, and challenges and sessions that
        ended before `before`; how many of each."""
        return {
            "nonces": self._nonces.purge_nonces(now),
            "challenges": self._challenges.purge_challenges(before),
            "sessions": self._sessions.purge(before),
        }

    # -- ceremonies and credentials --------------------------------------------------------

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
        self._challenges.add_challenge(challenge)
        return challenge

    def _pending(
        self, tenant_id: str, challenge_id: str, user_id: str, purpose: ChallengePurpose
    ) -> Challenge:
        challenge = self._challenges.get_challenge(tenant_id, challenge_id)
        if challenge is None or challenge.user_id != user_id or challenge.purpose != purpose:
            raise NotFound(f"no {purpose.value} challenge {challenge_id!r} for this user")
        if challenge.status != ChallengeStatus.PENDING:
            raise Conflict(f"challenge {challenge_id!r} is already {challenge.status.value}")
        if self._clock.now() >= challenge.expires_at:
            raise Conflict(f"challenge {challenge_id!r} has expired")
        return challenge

    def _own(
        self,
        tenant_id: str,
        user_id: str,
        credential_id: str,
        kind: CredentialKind | None,
    ) -> Credential:
        credential = self._users.get_credential(tenant_id, credential_id)
        if (
            credential is None
            or credential.user_id != user_id
            or credential.revoked_at is not None
            or (kind is not None and credential.kind != kind)
        ):
            raise NotFound(f"no live credential {credential_id!r} for this user")
        return credential

    def _room_for(self, tenant_id: str, user_id: str, kind: CredentialKind) -> None:
        held = [c for c in self._users.list_credentials(tenant_id, user_id) if c.kind == kind]
        if len(held) >= MAX_CREDENTIALS:
            raise Conflict(f"the user already has {MAX_CREDENTIALS} {kind.value} credentials")
