"""A tenant's vault policy: which token styles each kind takes, who may detokenize for what
declared purpose, and how many clear values a caller may have per minute.

A tenant without a stored policy has the built-in default (`VaultPolicy()`, version 0). An
admin replaces it with a JSON document (`PUT /v1/vault/policy`, `payguard tokens policy
set`), validated strictly (`parse_policy`) and stored as the tenant's next version;
`StoredPolicies` serves the newest version to `TokenService` through `PolicySource`. The
document:

    {"styles": {"<kind>": {"default": "<style>", "allowed": ["<style>", ...]}, ...},
     "detokenize": {"<role>": ["<purpose>", ...], ...},
     "detokenize_rate_per_minute": 5000}

Every part is optional: a kind left out keeps its default styles, a missing `detokenize`
keeps the default grants, a missing rate keeps the service's own (5,000). Deny by default: a
role not listed under a given `detokenize` may not detokenize at all.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from payguard.audit.interfaces import Actor, AuditAction, AuditWriter
from payguard.core.clock import Clock
from payguard.core.errors import PayguardError, PayloadTooLarge, ValidationFailed
from payguard.core.ids import is_purpose
from payguard.core.ttlcache import TenantCache
from payguard.tenancy.interfaces import Role
from payguard.vault.interfaces import PolicyRepository, TokenStyle
from payguard.vault.kinds import Kind

__all__ = [
    "DEFAULT_DETOKENIZERS",
    "DEFAULT_DETOKENIZE_RATE",
    "DEFAULT_STYLES",
    "FPE_KINDS",
    "MAX_DETOKENIZE_RATE",
    "MAX_DOCUMENT_BYTES",
    "MAX_PURPOSES",
    "ActivePolicy",
    "PolicySource",
    "StaticPolicies",
    "StoredPolicies",
    "VaultPolicy",
    "document_of",
    "parse_policy",
    "read_document",
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

#: Clear values per minute per caller when the policy names no rate.
DEFAULT_DETOKENIZE_RATE = 5000
#: The highest rate a policy may set.
MAX_DETOKENIZE_RATE = 1_000_000
#: The most purposes one role may be granted.
MAX_PURPOSES = 32
#: The largest policy document, in bytes of JSON.
MAX_DOCUMENT_BYTES = 64 * 1024

_PARTS = ("styles", "detokenize", "detokenize_rate_per_minute")
_STYLE_PARTS = ("default", "allowed")
#: How much of an unknown key an error message quotes.
_QUOTED = 40


def _all_styles() -> dict[Kind, frozenset[TokenStyle]]:
    vault = frozenset({TokenStyle.VAULT_DETERMINISTIC, TokenStyle.VAULT_RANDOM})
    return {
        kind: vault | {TokenStyle.FPE_DETERMINISTIC} if kind in FPE_KINDS else vault
        for kind in Kind
    }


@dataclass(frozen=True, slots=True)
class VaultPolicy:
    """One tenant's vault policy. `detokenize_rate_per_minute` None: the token service's
    own limit (`DEFAULT_DETOKENIZE_RATE` unless it was built with another)."""

    default_styles: Mapping[Kind, TokenStyle] = field(default_factory=lambda: DEFAULT_STYLES)
    allowed_styles: Mapping[Kind, frozenset[TokenStyle]] = field(default_factory=_all_styles)
    detokenizers: Mapping[Role, frozenset[str]] = field(
        default_factory=lambda: DEFAULT_DETOKENIZERS
    )
    detokenize_rate_per_minute: int | None = None

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


# -- the policy document -----------------------------------------------------------------------


def _name(key: object) -> str:
    """A document key as an error's field names it: quoted short, never a whole blob."""
    text = key if isinstance(key, str) else repr(key)
    return text if len(text) <= _QUOTED else text[:_QUOTED] + "..."


def _object(value: object, at: str, what: str) -> Mapping[Any, object]:
    if not isinstance(value, Mapping):
        raise ValidationFailed(f"{at} is a JSON object: {what}", field=at)
    return value


def _list(value: object, at: str, what: str) -> list[object]:
    if not isinstance(value, list | tuple):
        raise ValidationFailed(f"{at} is a JSON array of {what}", field=at)
    return list(value)


def _styles(
    given: object,
) -> tuple[dict[Kind, TokenStyle], dict[Kind, frozenset[TokenStyle]], dict[str, object]]:
    styles = _object(given, "styles", 'kind to {"default": style, "allowed": [styles]}')
    defaults = dict(DEFAULT_STYLES)
    allowed = _all_styles()
    normal: dict[str, object] = {}
    for key, rule in styles.items():
        at = f"styles.{_name(key)}"
        try:
            kind = Kind(key)
        except ValueError:
            raise ValidationFailed(
                f"unknown kind: one of {', '.join(k.value for k in Kind)}", field=at
            ) from None
        rule = _object(rule, at, '{"default": style, "allowed": [styles]}')
        for part in rule:
            if part not in _STYLE_PARTS:
                raise ValidationFailed(
                    "unknown field: a kind's styles are 'default' and 'allowed'",
                    field=f"{at}.{_name(part)}",
                )
        for part in _STYLE_PARTS:
            if part not in rule:
                raise ValidationFailed(f"{at}.{part} is required", field=f"{at}.{part}")
        items = _list(rule["allowed"], f"{at}.allowed", "styles")
        if not 1 <= len(items) <= len(TokenStyle):
            raise ValidationFailed(
                f"{at}.allowed lists 1 to {len(TokenStyle)} styles", field=f"{at}.allowed"
            )
        permitted: list[TokenStyle] = []
        for index, item in enumerate(items):
            style = _style(item, f"{at}.allowed[{index}]", kind)
            if style in permitted:
                raise ValidationFailed(
                    f"style {style.value} is listed twice", field=f"{at}.allowed[{index}]"
                )
            permitted.append(style)
        default = _style(rule["default"], f"{at}.default", kind)
        if default not in permitted:
            raise ValidationFailed(
                f"the default style {default.value} is not among the allowed ones",
                field=f"{at}.default",
            )
        defaults[kind] = default
        allowed[kind] = frozenset(permitted)
        normal[kind.value] = {
            "default": default.value,
            "allowed": sorted(style.value for style in permitted),
        }
    return defaults, allowed, dict(sorted(normal.items()))


def _style(value: object, at: str, kind: Kind) -> TokenStyle:
    try:
        style = TokenStyle(value) if isinstance(value, str) else None
    except ValueError:
        style = None
    if style is None:
        raise ValidationFailed(
            f"unknown style: one of {', '.join(s.value for s in TokenStyle)}", field=at
        )
    if style is TokenStyle.FPE_DETERMINISTIC and kind not in FPE_KINDS:
        raise ValidationFailed(
            f"{kind.value} values have no format-preserving form: "
            "use vault_deterministic or vault_random",
            field=at,
        )
    return style


def _detokenizers(given: object) -> tuple[dict[Role, frozenset[str]], dict[str, object]]:
    grants = _object(given, "detokenize", "role to [purposes]")
    detokenizers: dict[Role, frozenset[str]] = {}
    normal: dict[str, object] = {}
    for key, purposes in grants.items():
        at = f"detokenize.{_name(key)}"
        try:
            role = Role(key)
        except ValueError:
            raise ValidationFailed(
                f"unknown role: one of {', '.join(r.value for r in Role)}", field=at
            ) from None
        items = _list(purposes, at, "purposes")
        if len(items) > MAX_PURPOSES:
            raise ValidationFailed(
                f"at most {MAX_PURPOSES} purposes per role, not {len(items)}", field=at
            )
        seen: list[str] = []
        for index, item in enumerate(items):
            if not is_purpose(item):
                raise ValidationFailed(
                    "a purpose is 1-32 lower-case letters and _, such as fraud_investigation",
                    field=f"{at}[{index}]",
                )
            if item in seen:
                raise ValidationFailed(f"purpose {item} is listed twice", field=f"{at}[{index}]")
            seen.append(item)
        detokenizers[role] = frozenset(seen)
        normal[role.value] = sorted(seen)
    return detokenizers, dict(sorted(normal.items()))


def _rate(given: object) -> int:
    if isinstance(given, bool) or not isinstance(given, int):
        raise ValidationFailed(
            "detokenize_rate_per_minute is a whole number", field="detokenize_rate_per_minute"
        )
    if not 1 <= given <= MAX_DETOKENIZE_RATE:
        raise ValidationFailed(
            f"detokenize_rate_per_minute is 1 to {MAX_DETOKENIZE_RATE:,}",
            field="detokenize_rate_per_minute",
        )
    return given


def _parse(document: object) -> tuple[VaultPolicy, dict[str, object]]:
    """The policy a document describes, and the document in its canonical form (keys
    sorted, styles and purposes sorted): what is stored."""
    body = _object(document, "body", "the vault policy document")
    for key in body:
        if key not in _PARTS:
            raise ValidationFailed(
                f"unknown field: a vault policy has {', '.join(_PARTS)}", field=_name(key)
            )
    normal: dict[str, object] = {}
    defaults: Mapping[Kind, TokenStyle] = DEFAULT_STYLES
    allowed: Mapping[Kind, frozenset[TokenStyle]] = _all_styles()
    if "styles" in body:
        defaults, allowed, normal["styles"] = _styles(body["styles"])
    detokenizers: Mapping[Role, frozenset[str]] = DEFAULT_DETOKENIZERS
    if "detokenize" in body:
        detokenizers, normal["detokenize"] = _detokenizers(body["detokenize"])
    rate: int | None = None
    if "detokenize_rate_per_minute" in body:
        rate = normal["detokenize_rate_per_minute"] = _rate(body["detokenize_rate_per_minute"])
    policy = VaultPolicy(defaults, allowed, detokenizers, rate)
    return policy, dict(sorted(normal.items()))


def parse_policy(document: object) -> VaultPolicy:
    """The policy a (parsed JSON) document describes; ValidationFailed naming the field at
    fault (`styles.pan.default`, `detokenize.analyst[1]`) if it is not a valid one."""
    return _parse(document)[0]


def read_document(text: str | bytes) -> object:
    """A policy document's JSON text parsed (not yet validated): PayloadTooLarge over
    `MAX_DOCUMENT_BYTES`, ValidationFailed on `body` if it is not JSON."""
    size = len(text.encode() if isinstance(text, str) else text)
    if size > MAX_DOCUMENT_BYTES:
        raise PayloadTooLarge(
            f"a vault policy document is at most {MAX_DOCUMENT_BYTES} bytes, not {size}"
        )
    try:
        return json.loads(text)
    except RecursionError:
        raise ValidationFailed("the document is nested too deeply", field="body") from None
    except json.JSONDecodeError as exc:
        raise ValidationFailed(
            f"the document is not valid JSON (line {exc.lineno}, column {exc.colno})",
            field="body",
        ) from None
    except (ValueError, UnicodeDecodeError):  # an integer too long to read, bad UTF-8
        raise ValidationFailed("the document is not valid JSON", field="body") from None


def document_of(
    policy: VaultPolicy, *, default_rate: int = DEFAULT_DETOKENIZE_RATE
) -> dict[str, Any]:
    """The policy as a complete document: every kind's styles, every role granted any
    purpose, and the rate in force."""
    rate = policy.detokenize_rate_per_minute
    return {
        "styles": {
            kind.value: {
                "default": policy.default_styles[kind].value,
                "allowed": sorted(s.value for s in policy.allowed_styles.get(kind, ())),
            }
            for kind in Kind
        },
        "detokenize": {
            role.value: sorted(policy.detokenizers[role])
            for role in Role
            if policy.detokenizers.get(role)
        },
        "detokenize_rate_per_minute": default_rate if rate is None else rate,
    }


# -- stored policies ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ActivePolicy:
    """A tenant's policy in force: its version (0: the built-in default, never stored),
    when and by whom it was stored."""

    policy: VaultPolicy
    version: int = 0
    created_at: datetime | None = None
    created_by: str | None = None


class StoredPolicies:
    """`PolicySource` over stored, versioned policies: the newest version per tenant, held
    in this process for `ttl` seconds (so a change made elsewhere is seen within `ttl`), and
    at once in the process that stores it."""

    def __init__(
        self,
        repository: PolicyRepository,
        *,
        audit: AuditWriter,
        clock: Clock,
        ttl: float = 5.0,
        cache_size: int = 4096,
        default: VaultPolicy | None = None,
    ) -> None:
        self._repository = repository
        self._audit = audit
        self._clock = clock
        self._default = ActivePolicy(default if default is not None else VaultPolicy())
        self._cache: TenantCache[ActivePolicy] = TenantCache(clock, ttl=ttl, size=cache_size)

    def policy(self, tenant_id: str) -> VaultPolicy:
        return self.active(tenant_id).policy

    def active(self, tenant_id: str) -> ActivePolicy:
        """The tenant's policy in force (cached for `ttl` seconds)."""
        cached = self._cache.get(tenant_id)
        if cached is not None and cached[1]:
            return cached[0]
        stored = self._repository.current(tenant_id)
        if stored is None:
            active = self._default
        else:
            active = ActivePolicy(
                parse_policy(json.loads(stored.document)),
                stored.version,
                stored.created_at,
                stored.created_by,
            )
        self._cache.put(tenant_id, active)
        return active

    def forget(self) -> None:
        """Drop every cached policy (each is read again on next use)."""
        self._cache.clear()

    def set_policy(self, tenant_id: str, document: object, *, actor: Actor) -> ActivePolicy:
        """Validate `document`, store it as the tenant's next version and put it in force
        (here at once; elsewhere within `ttl`). Audited, refused or not."""
        try:
            policy, normal = _parse(document)
        except PayguardError as exc:
            self._audit.failure(
                AuditAction.VAULT_POLICY,
                actor,
                "vault_policy",
                tenant_id=tenant_id,
                details={"error": exc.message, "field": getattr(exc, "field", None)},
            )
            raise
        text = json.dumps(normal, sort_keys=True, separators=(",", ":"))
        stored = self._repository.add(tenant_id, text, self._clock.now(), actor.name)
        active = ActivePolicy(policy, stored.version, stored.created_at, stored.created_by)
        self._cache.put(tenant_id, active)
        self._audit.success(
            AuditAction.VAULT_POLICY,
            actor,
            f"vault_policy:v{stored.version}",
            tenant_id=tenant_id,
            details={"version": stored.version, "document": normal},
        )
        return active
