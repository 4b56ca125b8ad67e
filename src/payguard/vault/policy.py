"""A tenant's vault policy: which token styles each kind takes, and who may detokenize for
what declared purpose.

This round every tenant has the default policy (`VaultPolicy()`); per-tenant policies are
looked up through `PolicySource`, so storing them later changes no caller. Deny by default:
a role or purpose not listed may not detokenize.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from payguard.tenancy.interfaces import Role
from payguard.vault.interfaces import TokenStyle
from payguard.vault.kinds import Kind

__all__ = [
    "DEFAULT_DETOKENIZERS",
    "DEFAULT_STYLES",
    "FPE_KINDS",
    "PolicySource",
    "StaticPolicies",
    "VaultPolicy",
]

#: The kinds with a format-preserving token format (`formats.format_for`).
FPE_KINDS = frozenset({Kind.PAN, Kind.ACCOUNT, Kind.PHONE, Kind.ID_NUMBER})

#: The style a kind gets when the request names none.
DEFAULT_STYLES: Mapping[Kind, TokenStyle] = {
    Kind.PAN: TokenStyle.FPE_DETERMINISTIC,
    Kind.ACCOUNT: TokenStyle.FPE_DETERMINISTIC,
    Kind.PHONE: TokenStyle.FPE_DETERMINISTIC,
    Kind.ID_NUMBER: TokenStyle.FPE_DETERMINISTIC,
    Kind.EMAIL: TokenStyle.VAULT_DETERMINISTIC,
    Kind.GENERIC: TokenStyle.VAULT_DETERMINISTIC,
}

#: Who may detokenize, for which declared purposes. Services (partner backends) never may:
#: a clear value goes back only to a person's key, for a reason a reviewer can read.
DEFAULT_DETOKENIZERS: Mapping[Role, frozenset[str]] = {
    Role.ADMIN: frozenset({"dispute", "fraud_investigation", "customer_support"}),
    Role.ANALYST: frozenset({"fraud_investigation"}),
}


def _all_styles() -> dict[Kind, frozenset[TokenStyle]]:
    vault = frozenset({TokenStyle.VAULT_DETERMINISTIC, TokenStyle.VAULT_RANDOM})
    return {
        kind: vault | {TokenStyle.FPE_DETERMINISTIC} if kind in FPE_KINDS else vault
        for kind in Kind
    }


@dataclass(frozen=True, slots=True)
class VaultPolicy:
    """One tenant's vault policy."""

    default_styles: Mapping[Kind, TokenStyle] = field(default_factory=lambda: DEFAULT_STYLES)
    allowed_styles: Mapping[Kind, frozenset[TokenStyle]] = field(default_factory=_all_styles)
    detokenizers: Mapping[Role, frozenset[str]] = field(
        default_factory=lambda: DEFAULT_DETOKENIZERS
    )

    def style_for(self, kind: Kind, asked: TokenStyle | None) -> TokenStyle | None:
        """The style to use for `kind` (the asked one, or the default); None if the asked
        style is not allowed for the kind."""
        style = self.default_styles[kind] if asked is None else asked
        return style if style in self.allowed_styles.get(kind, frozenset()) else None

    def may_detokenize(self, role: Role, purpose: str) -> bool:
        return purpose in self.detokenizers.get(role, frozenset())


class PolicySource(Protocol):
    """Where tenants' vault policies come from."""

    def policy(self, tenant_id: str) -> VaultPolicy: ...


@dataclass(frozen=True, slots=True)
class StaticPolicies:
    """Policies held in memory: the default for every tenant not named."""

    by_tenant: Mapping[str, VaultPolicy] = field(default_factory=dict)
    default: VaultPolicy = field(default_factory=VaultPolicy)

    def policy(self, tenant_id: str) -> VaultPolicy:
        return self.by_tenant.get(tenant_id, self.default)
