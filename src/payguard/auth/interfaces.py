"""Authentication records, the ports that store them, and the ports auth needs of others.

A *user* here is a partner's account (`account_id` in assessments), so a step-up challenge
for an assessment lands on the same user the assessment was about. Everything is scoped to a
tenant; a store never reads or writes across tenants.

One port per aggregate, so that each piece of auth takes only what it uses:

- `UserRepository`: users and their factors (credentials, recovery codes);
- `SessionRepository`: signed-in sessions;
- `ChallengeRepository`: WebAuthn ceremonies and step-up challenges;
- `ThrottleRepository`: consecutive failures and locks;
- `NonceRepository`: single-use nonces of signed requests (`payguard.core.replay.NonceLedger`).

Every method that guards against replay or races is a single atomic compare-and-set in the
store (`advance_counter`, `use_nonce`, `use_recovery_code`, `count_attempt`,
`finish_challenge`, `rotate_session`, `reserve_attempt`), so two workers can never both
accept the same TOTP step, signed nonce, recovery code, assertion or refresh token, nor
check more proofs than the lockout threshold allows.

Auth uses the decision engine only through `RiskDecisions` and `FailureSignals`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from payguard.audit.interfaces import Actor
from payguard.core.decisions import Action, Decision
from payguard.core.events import Event
from payguard.core.replay import NonceLedger


class CredentialKind(StrEnum):
    """A second factor or possession factor bound to a user."""

    TOTP = "totp"  # RFC 6238 authenticator app; `secret` is sealed, `counter` the last step
    PASSKEY = "passkey"  # WebAuthn credential; `lookup` its id, `counter` its sign count
    DEVICE = "device"  # a bound device's Ed25519 / P-256 public key; `lookup` the device id


@dataclass(frozen=True, slots=True)
class AuthUser:
    """A user's authentication record."""

    tenant_id: str
    user_id: str
    created_at: datetime
    #: The WebAuthn user handle: random, stable, never the account id (it is not secret but
    #: must not identify the person to other sites).
    handle: bytes
    password_hash: str | None = None
    password_changed_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Credential:
    """A TOTP secret, passkey or bound device key of one user."""

    tenant_id: str
    id: str
    user_id: str
    kind: CredentialKind
    label: str
    created_at: datetime
    #: Unique per tenant and kind when set: a passkey's credential id (base64url), a bound
    #: device's id. Used to find the credential an assertion or signed request names.
    lookup: str | None = None
    #: TOTP: the last accepted time step (-1: none yet). Passkey: the stored sign count.
    counter: int = 0
    #: Kind-specific public data: a passkey's COSE key and flags, a device key's algorithm
    #: and public key, a TOTP's sealed secret.
    data: dict[str, Any] = field(default_factory=dict)
    #: False for a TOTP enrolment not yet confirmed with a first code.
    confirmed: bool = True
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None


class ChallengePurpose(StrEnum):
    PASSKEY_REGISTRATION = "passkey_registration"
    PASSKEY_LOGIN = "passkey_login"
    STEP_UP = "step_up"


class ChallengeStatus(StrEnum):
    PENDING = "pending"
    PASSED = "passed"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class Challenge:
    """A pending proof: a WebAuthn ceremony, or a step-up bound to one assessment.

    A step-up is bound (`binding`) to the assessment's amount, currency and payee: a proof
    made for it authorises exactly that payment (dynamic linking).
    """

    tenant_id: str
    id: str
    user_id: str
    purpose: ChallengePurpose
    created_at: datetime
    expires_at: datetime
    #: Random bytes the proof must cover (a WebAuthn challenge is derived from them).
    nonce: bytes
    status: ChallengeStatus = ChallengeStatus.PENDING
    #: The assurance level a step-up demands (1-3); None for WebAuthn ceremonies.
    level: int | None = None
    assessment_id: str | None = None
    #: `{"amount": "12.50" | None, "currency": "EUR" | None, "payee": "id" | None}`.
    binding: dict[str, Any] = field(default_factory=dict)
    attempts: int = 0
    completed_at: datetime | None = None
    #: The factors that passed it, e.g. `("passkey", "device")`.
    factors: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Session:
    """A signed-in user. Only SHA-256 hashes of the access and refresh tokens are stored."""

    tenant_id: str
    id: str
    user_id: str
    level: int
    token_hash: str
    refresh_hash: str
    created_at: datetime
    last_seen_at: datetime
    idle_expires_at: datetime
    absolute_expires_at: datetime
    revoked_at: datetime | None = None
    revoked_reason: str | None = None
    #: The refresh token this one replaced; presented again, it was stolen or replayed.
    previous_refresh_hash: str | None = None


@dataclass(frozen=True, slots=True)
class Throttle:
    """Consecutive failures of one key (`account:<id>` or `ip:<address>`)."""

    key: str
    failures: int = 0
    last_failure_at: datetime | None = None
    locked_until: datetime | None = None


@dataclass(frozen=True, slots=True)
class Context:
    """Who is asking on behalf of whom: the partner (`actor`, which carries the partner's own
    address) and the end user's own IP address and device, when the partner passes them."""

    actor: Actor
    user_ip: str | None = None
    device_id: str | None = None


class UserRepository(Protocol):
    """Users and their factors: credentials (TOTP, passkeys, bound device keys) and recovery
    codes. Every method is scoped to `tenant_id`."""

    def add_user(self, user: AuthUser) -> None:
        """Store a new user; `Conflict` if the tenant already has `user.user_id`."""
        ...

    def get_user(self, tenant_id: str, user_id: str) -> AuthUser | None: ...

    def set_password(
        self, tenant_id: str, user_id: str, password_hash: str, changed_at: datetime
    ) -> None:
        """Replace the password hash; `NotFound` for an unknown user."""
        ...

    def add_credential(self, credential: Credential) -> None:
        """`Conflict` if `lookup` is already used by a live credential of the same kind in
        the tenant (a passkey or device registered twice)."""
        ...

    def get_credential(self, tenant_id: str, credential_id: str) -> Credential | None: ...

    def find_credential(
        self, tenant_id: str, kind: CredentialKind, lookup: str
    ) -> Credential | None:
        """The live (not revoked) credential of `kind` with that `lookup`."""
        ...

    def list_credentials(
        self, tenant_id: str, user_id: str, *, include_revoked: bool = False
    ) -> list[Credential]:
        """Oldest first."""
        ...

    def confirm_credential(self, tenant_id: str, credential_id: str, at: datetime) -> bool:
        """Mark an unconfirmed credential confirmed; False if it is not pending."""
        ...

    def advance_counter(
        self, tenant_id: str, credential_id: str, expected: int, new: int, at: datetime
    ) -> bool:
        """Set `counter` to `new` and `last_used_at` to `at` if it still equals `expected`
        and the credential is live; False otherwise (someone else used it first)."""
        ...

    def revoke_credential(self, tenant_id: str, credential_id: str, at: datetime) -> bool:
        """False if unknown or already revoked."""
        ...

    def replace_recovery_codes(
        self, tenant_id: str, user_id: str, code_hashes: Sequence[str], at: datetime
    ) -> None:
        """Drop the user's previous codes and store these (hashes only)."""
        ...

    def use_recovery_code(self, tenant_id: str, user_id: str, code_hash: str, at: datetime) -> bool:
        """Mark the unused code with that hash used; False if none (unknown or used)."""
        ...

    def count_recovery_codes(self, tenant_id: str, user_id: str) -> int:
        """Unused codes left."""
        ...


class SessionRepository(Protocol):
    """Signed-in sessions, found by id or by the hash of their access or refresh token."""

    def add_session(self, session: Session) -> None: ...

    def get_session(self, tenant_id: str, session_id: str) -> Session | None: ...

    def find_session(self, tenant_id: str, token_hash: str) -> Session | None:
        """The session whose access token hashes to `token_hash`, revoked or not."""
        ...

    def find_session_by_refresh(self, tenant_id: str, refresh_hash: str) -> Session | None:
        """The session whose current *or previous* refresh token hashes to `refresh_hash`
        (compare `Session.refresh_hash` to tell them apart), revoked or not."""
        ...

    def touch_session(
        self, tenant_id: str, session_id: str, last_seen_at: datetime, idle_expires_at: datetime
    ) -> None: ...

    def rotate_session(
        self,
        tenant_id: str,
        session_id: str,
        *,
        expected_refresh_hash: str,
        token_hash: str,
        refresh_hash: str,
        last_seen_at: datetime,
        idle_expires_at: datetime,
    ) -> bool:
        """Swap in new token hashes if the refresh hash is still `expected_refresh_hash` and
        the session is not revoked, keeping the old one as `previous_refresh_hash`; False
        otherwise (a refresh token used twice)."""
        ...

    def revoke_session(self, tenant_id: str, session_id: str, at: datetime, reason: str) -> bool:
        """False if unknown or already revoked."""
        ...

    def revoke_user_sessions(self, tenant_id: str, user_id: str, at: datetime, reason: str) -> int:
        """Revoke every live session of the user; returns how many."""
        ...

    def list_sessions(self, tenant_id: str, user_id: str) -> list[Session]:
        """Live and revoked, newest first."""
        ...

    def purge_sessions(self, before: datetime) -> int:
        """Every tenant's sessions revoked, or past their absolute timeout, before
        `before`; returns how many."""
        ...


class ChallengeRepository(Protocol):
    """WebAuthn ceremonies and step-up challenges."""

    def add_challenge(self, challenge: Challenge) -> None:
        """`Conflict` if the id is taken, or if it is a pending step-up and its assessment
        already has one pending."""
        ...

    def get_challenge(self, tenant_id: str, challenge_id: str) -> Challenge | None: ...

    def pending_step_up(self, tenant_id: str, assessment_id: str) -> Challenge | None:
        """The newest step-up challenge for the assessment, whatever its status."""
        ...

    def count_attempt(self, tenant_id: str, challenge_id: str, expected_attempts: int) -> bool:
        """attempts += 1 if still pending with `expected_attempts`; False otherwise."""
        ...

    def return_attempt(self, tenant_id: str, challenge_id: str, counted_attempts: int) -> bool:
        """attempts -= 1 if still pending with `counted_attempts` (the attempt just counted
        could not be judged: a fault of ours); False otherwise."""
        ...

    def finish_challenge(
        self,
        tenant_id: str,
        challenge_id: str,
        *,
        status: ChallengeStatus,
        at: datetime,
        factors: Sequence[str] = (),
    ) -> bool:
        """Move a pending challenge to `status`; False if it is no longer pending."""
        ...

    def purge_challenges(self, before: datetime) -> int:
        """Every tenant's challenges that expired before `before` (settled or not: a
        pending one that expired can no longer pass); returns how many."""
        ...


class ThrottleRepository(Protocol):
    """Consecutive failures per key (`account:<id>`, `account:<id>:<factor>`, `ip:<address>`)."""

    def get_throttle(self, tenant_id: str, key: str) -> Throttle: ...

    def record_failure(
        self, tenant_id: str, key: str, at: datetime, *, threshold: int, lock_seconds: float
    ) -> Throttle:
        """failures += 1 atomically; when failures reach a multiple of `threshold`, lock the
        key until `at + lock_seconds`. Returns the new state."""
        ...

    def reserve_attempt(
        self, tenant_id: str, key: str, at: datetime, *, threshold: int, lock_seconds: float
    ) -> Throttle | None:
        """`record_failure`, but only if the key is not locked at `at`, in one atomic
        statement: an attempt is counted before its proof is checked. None (nothing
        counted) if the key is locked."""
        ...

    def release_attempt(self, tenant_id: str, key: str, *, lock: datetime | None) -> None:
        """Give back one reserved attempt (failures -= 1, never below 0) atomically, and
        lift `lock` if it is still the key's lock (the reservation being given back set
        it)."""
        ...

    def clear_failures(self, tenant_id: str, key: str) -> None: ...


class NonceRepository(NonceLedger, Protocol):
    """The replay ledger of signed requests, and its housekeeping."""

    def purge_nonces(self, before: datetime) -> int:
        """Forget nonces that expired before `before` (every tenant's); returns how many."""
        ...


class RiskDecisions(Protocol):
    """What auth needs of the decision engine: the assessments it steps up, a place to send
    failed logins, and the reset of the low-risk exemption counters after strong auth."""

    def get(self, tenant_id: str, assessment_id: str) -> Decision:
        """The assessment; `NotFound` if the tenant has none with that id."""
        ...

    def finalize(self, tenant_id: str, assessment_id: str, final: Action) -> Decision:
        """Settle a challenged assessment (`allow` or `block`)."""
        ...

    def assess(self, tenant_id: str, event: Event) -> tuple[Decision, bool]:
        """Decide `event`; returns (decision, replayed)."""
        ...

    def reset_exemptions(self, tenant_id: str, user_id: str, at: datetime) -> None:
        """Start the user's low-risk exemption counters afresh: they just passed AAL2+."""
        ...


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


class SecretSealer(Protocol):
    """Seals small secrets at rest under versioned per-tenant keys: the vault's keyring
    (`payguard.vault.keys.Keyring`), which the root passes. A sealed value opens only for the
    same tenant, purpose and `aad`; it starts with a format byte and its key version."""

    def seal(self, tenant_id: str, purpose: str, plaintext: bytes, aad: bytes = b"") -> bytes:
        """`plaintext` sealed under the pair's current key version."""
        ...

    def open(self, tenant_id: str, purpose: str, sealed: bytes, aad: bytes = b"") -> bytes:
        """The plaintext of `sealed`: `SealedValueRejected` if it does not open here,
        `KeyVersionRetired` if its key version was retired, `KeySourceUnavailable` if the
        key-encryption key cannot be used (the vault's errors)."""
        ...


@dataclass(frozen=True, slots=True)
class SealedTotpSecret:
    """A TOTP credential's sealed secret exactly as stored, for re-sealing: a replace
    compares against it."""

    tenant_id: str
    credential_id: str
    sealed: str

    def __repr__(self) -> str:  # the sealed secret stays out of logs and tracebacks
        return (
            f"SealedTotpSecret(tenant_id={self.tenant_id!r}, credential_id={self.credential_id!r})"
        )


class TotpSecretStore(Protocol):
    """The sealed TOTP secrets of every credential (live or revoked), for `payguard keys
    rewrap` and `keys status`."""

    def sealed_totp_secrets(
        self, *, tenant_id: str | None, after: tuple[str, str] | None, limit: int
    ) -> list[SealedTotpSecret]:
        """Up to `limit` TOTP credentials' sealed secrets ordered by (tenant, credential
        id), after `after`; one tenant's when `tenant_id` is set."""
        ...

    def replace_totp_secret(self, tenant_id: str, credential_id: str, old: str, new: str) -> bool:
        """Store `new` as the credential's sealed secret if it is still `old`
        (compare-and-set); whether it took."""
        ...
