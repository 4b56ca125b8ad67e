"""The contract every factor verifier keeps, and what a proof may have to cover."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from payguard.auth.factors import FactorKind, Passed, Proof
from payguard.auth.interfaces import AuthUser, Challenge


@dataclass(frozen=True, slots=True)
class Linking:
    """What a proof must cover: a WebAuthn challenge and the body a bound device signs."""

    webauthn_challenge: bytes
    device_method: str
    device_path: str
    device_body: bytes


class FactorVerifier(Protocol):
    """Checks the proofs of one factor kind.

    `check_shape` runs before anything is checked or counted (and before a step-up uses an
    attempt): it refuses a proof no verification could accept with `ValidationFailed` (422).
    `verify` checks the proof for `user` and spends what it consumes (a TOTP step, a
    recovery code, a sign count, a nonce); it raises `FactorRejected` when the proof fails,
    which the caller counts against the account.
    """

    @property
    def kind(self) -> FactorKind: ...

    def check_shape(self, proof: Proof) -> None: ...

    def verify(
        self,
        user: AuthUser,
        proof: Proof,
        *,
        linking: Linking | None = None,
        login: Challenge | None = None,
    ) -> Passed:
        """`linking` binds passkey and device proofs to one payment; `login` is the passkey
        sign-in ceremony a passkey proof answers."""
        ...
