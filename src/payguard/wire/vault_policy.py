"""Wire shapes of `/v1/vault/policy`: a tenant's vault policy document in, the policy in
force out. The vault checks the document again (`vault.policy.parse_policy`): what is said
across fields (the default among the allowed styles, no format-preserving style for
`email` and `generic`) is its to say."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from payguard.vault.interfaces import TokenStyle
from payguard.wire.schemas import Strict
from payguard.wire.vault import Purpose

#: The most purposes one role may be granted (`vault.policy.MAX_PURPOSES`).
MAX_PURPOSES = 32
#: The highest rate a policy may set (`vault.policy.MAX_DETOKENIZE_RATE`).
MAX_DETOKENIZE_RATE = 1_000_000


class KindStylesIn(Strict):
    default: TokenStyle = Field(description="The style when a request names none")
    allowed: list[TokenStyle] = Field(
        min_length=1, max_length=3, description="The styles a request may ask for"
    )


class PolicyStylesIn(Strict):
    """Styles per kind (`vault.kinds.Kind`; a test checks the two agree). A kind left out
    keeps its default styles."""

    pan: KindStylesIn | None = None
    account: KindStylesIn | None = None
    phone: KindStylesIn | None = None
    id_number: KindStylesIn | None = None
    email: KindStylesIn | None = None
    generic: KindStylesIn | None = None


_PURPOSES = Field(default=None, max_length=MAX_PURPOSES)


class PolicyGrantsIn(Strict):
    """The purposes each role may detokenize for (`tenancy.interfaces.Role`). A role left
    out may not detokenize. Granting `service` (a partner backend) is possible but
    discouraged."""

    admin: list[Purpose] | None = _PURPOSES
    analyst: list[Purpose] | None = _PURPOSES
    service: list[Purpose] | None = _PURPOSES


class VaultPolicyIn(Strict):
    """A tenant's vault policy document; every part optional (a missing one keeps its
    default)."""

    styles: PolicyStylesIn | None = None
    detokenize: PolicyGrantsIn | None = Field(
        default=None, description="Role to purposes; when given, a role left out may not"
    )
    detokenize_rate_per_minute: int | None = Field(
        default=None, ge=1, le=MAX_DETOKENIZE_RATE, description="Clear values per caller"
    )

    def document(self) -> dict[str, object]:
        """The document as the vault reads it: parts given as null are left out."""
        return self.model_dump(mode="json", exclude_none=True)


class KindStylesPublic(Strict):
    default: TokenStyle
    allowed: list[TokenStyle]


class VaultPolicyPublic(Strict):
    version: int = Field(description="0: the built-in default, never stored")
    styles: dict[str, KindStylesPublic]
    detokenize: dict[str, list[str]]
    detokenize_rate_per_minute: int
    created_at: datetime | None
    created_by: str | None
