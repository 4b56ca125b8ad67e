"""One-time recovery codes: each works once."""

from __future__ import annotations

from payguard.auth import recovery
from payguard.auth.factors import FactorKind, Passed, Proof
from payguard.auth.interfaces import AuthUser, Challenge, UserRepository
from payguard.auth.verifiers.verifier import Linking
from payguard.core.clock import Clock
from payguard.core.errors import FactorRejected


class RecoveryCodeVerifier:
    """Spends the code it checks (a compare-and-set: two uses cannot both pass)."""

    kind = FactorKind.RECOVERY_CODE

    def __init__(self, users: UserRepository, *, clock: Clock) -> None:
        self._users = users
        self._clock = clock

    def check_shape(self, proof: Proof) -> None:
        """Any text is looked up by its hash."""

    def verify(
        self,
        user: AuthUser,
        proof: Proof,
        *,
        linking: Linking | None = None,
        login: Challenge | None = None,
    ) -> Passed:
        code = proof.secret or ""
        if not self._users.use_recovery_code(
            user.tenant_id, user.user_id, recovery.hash_code(code), self._clock.now()
        ):
            raise FactorRejected("the recovery code is unknown or already used")
        return Passed(FactorKind.RECOVERY_CODE)
