"""Passwords, checked against their argon2id hash (rehashed when the parameters changed)."""

from __future__ import annotations

from payguard.auth.factors import FactorKind, Passed, Proof
from payguard.auth.interfaces import AuthUser, Challenge, UserRepository
from payguard.auth.passwords import PasswordHasher
from payguard.auth.verifiers.verifier import Linking
from payguard.core.clock import Clock
from payguard.core.errors import FactorRejected

#: The one answer to a password that does not pass, whatever the reason.
NO_MATCH = "the password does not match"


class PasswordVerifier:
    """A user without a password costs the same hash as one with a wrong password."""

    kind = FactorKind.PASSWORD

    def __init__(self, users: UserRepository, *, hasher: PasswordHasher, clock: Clock) -> None:
        self._users = users
        self._hasher = hasher
        self._clock = clock

    def check_shape(self, proof: Proof) -> None:
        """Any text is a password worth checking."""

    def verify(
        self,
        user: AuthUser,
        proof: Proof,
        *,
        linking: Linking | None = None,
        login: Challenge | None = None,
    ) -> Passed:
        password = proof.secret or ""
        if user.password_hash is None:
            self._hasher.verify_dummy(password)
            raise FactorRejected(NO_MATCH)
        if not self._hasher.verify(user.password_hash, password):
            raise FactorRejected(NO_MATCH)
        if self._hasher.needs_rehash(user.password_hash):
            # Not a password change: the change date stays.
            self._users.set_password(
                user.tenant_id,
                user.user_id,
                self._hasher.hash(password),
                user.password_changed_at or self._clock.now(),
            )
        return Passed(FactorKind.PASSWORD)
