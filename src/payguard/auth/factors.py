"""Authentication factors: what a user presents, and the assurance level a set of them earns.

NIST SP 800-63B levels, as payguard applies them:

- **AAL1**: any one factor: a password, a bound device's signature, a TOTP code, a
  recovery code, or a passkey without user verification.
- **AAL2**: two factors of different kinds, something known (the password) and something
  held (TOTP, bound device, recovery code, passkey); or a passkey with user verification
  (a multi-factor cryptographic authenticator on its own).
- **AAL3**: a passkey with user verification *and* the bound device's signature in the same
  proof: a hardware-held key that the user unlocked, on the device the partner bound.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from payguard.core.errors import ValidationFailed


class FactorKind(StrEnum):
    PASSWORD = "password"  # noqa: S105 - a factor kind, not a secret
    TOTP = "totp"
    RECOVERY_CODE = "recovery_code"
    PASSKEY = "passkey"
    DEVICE = "device"


#: Factors that prove something held rather than something known.
POSSESSION = frozenset(
    {FactorKind.TOTP, FactorKind.RECOVERY_CODE, FactorKind.PASSKEY, FactorKind.DEVICE}
)


@dataclass(frozen=True, slots=True)
class Proof:
    """One factor as presented. Which fields matter depends on `kind`: `secret` for a
    password, TOTP or recovery code; `credential` (the browser's assertion JSON) for a
    passkey; `device_id`, `signature`, `timestamp` and `nonce` for a bound device."""

    kind: FactorKind
    secret: str | None = None
    credential: Mapping[str, Any] | None = None
    device_id: str | None = None
    signature: str | None = None
    timestamp: int | None = None
    nonce: str | None = None


@dataclass(frozen=True, slots=True)
class Passed:
    """A factor that verified."""

    kind: FactorKind
    credential_id: str | None = None
    user_verified: bool = False


def check_proofs(proofs: Sequence[Proof]) -> None:
    """Refuse a proof list no verification could accept: empty, or a kind given twice."""
    if not proofs:
        raise ValidationFailed("at least one factor is needed", field="factors")
    kinds = [p.kind for p in proofs]
    if len(set(kinds)) != len(kinds):
        raise ValidationFailed("each factor kind may appear once", field="factors")


def assurance(passed: Iterable[Passed]) -> int:
    """The assurance level (0-3) the passed factors earn together."""
    factors = list(passed)
    kinds = {p.kind for p in factors}
    verified_passkey = any(p.kind == FactorKind.PASSKEY and p.user_verified for p in factors)
    if verified_passkey and FactorKind.DEVICE in kinds:
        return 3
    if verified_passkey or (FactorKind.PASSWORD in kinds and kinds & POSSESSION):
        return 2
    return 1 if factors else 0
