"""The vault's ports, value types and errors.

Envelope encryption: every (tenant, purpose) pair has its own data keys (DEKs), one per
version; each DEK is stored only wrapped by a key-encryption key (KEK) that never leaves its
`KeySource` (a local key file, a KMS, an HSM). A purpose is a short string naming what a key
protects, such as `token:pan`, `fpe:pan` or `seal:totp`.

Errors (each a `core.errors` class, so the API maps them with no new code):

- `SealedValueRejected` (ValidationFailed): a sealed value that does not open: altered,
  malformed, or sealed for another tenant, purpose or associated data.
- `KeyVersionRetired` (PermissionDenied): the value's key version was retired.
- `KeyVersionUnknown` (NotFound): no such key version for that tenant and purpose.
- `KeySourceUnavailable` (BackendUnavailable): the KEK is missing, refused (a key file
  readable by others), or is not the one that wrapped the stored keys.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from payguard.core.errors import (
    BackendUnavailable,
    Locked,
    NotFound,
    PermissionDenied,
    ValidationFailed,
)

__all__ = [
    "DATA_KEY_BYTES",
    "DataKeyRepository",
    "KeySource",
    "KeySourceUnavailable",
    "KeyStatus",
    "KeyVersion",
    "KeyVersionRetired",
    "KeyVersionUnknown",
    "SealedValueRejected",
    "WrappedKey",
    "check_purpose",
]

#: AES-256: every data key and KEK is 32 bytes.
DATA_KEY_BYTES = 32

_PURPOSE = re.compile(r"[a-z][a-z0-9_-]{0,31}(:[a-z0-9_-]{1,31}){0,2}")


def check_purpose(purpose: str) -> str:
    """`purpose` if it is a valid purpose (`token:pan`, `seal:totp`), else ValidationFailed."""
    if not isinstance(purpose, str) or _PURPOSE.fullmatch(purpose) is None:
        raise ValidationFailed(
            "a key purpose is lower-case words joined by ':' (such as 'token:pan'), "
            "at most 3 words of 32 characters",
            field="purpose",
        )
    return purpose


class SealedValueRejected(ValidationFailed):
    """A sealed value that does not open."""

    code = "sealed_value_rejected"

    def __init__(self, message: str = "the sealed value does not open") -> None:
        super().__init__(message, field="sealed")


class KeyVersionRetired(PermissionDenied):
    """The key version was retired: values under it are refused."""

    code = "key_version_retired"


class KeyVersionUnknown(NotFound):
    """No such key version for that tenant and purpose."""

    code = "key_version_unknown"


class KeySourceUnavailable(BackendUnavailable):
    """The key-encryption key cannot be used: missing, refused, or not the one that wrapped
    the stored data keys."""

    code = "key_source_unavailable"


@dataclass(frozen=True, slots=True)
class KeyVersion:
    """One data key's metadata: whose, for what, which version, wrapped under which KEK."""

    tenant_id: str
    purpose: str
    version: int
    kek_id: str
    created_at: datetime
    retired_at: datetime | None = None

    @property
    def retired(self) -> bool:
        return self.retired_at is not None


@dataclass(frozen=True, slots=True)
class WrappedKey:
    """A data key as stored: its metadata and the key encrypted under the KEK (`wrapped`)."""

    key: KeyVersion
    wrapped: bytes

    def __repr__(self) -> str:  # the wrapped bytes stay out of logs and tracebacks
        return f"WrappedKey(key={self.key!r}, wrapped=<{len(self.wrapped)} bytes>)"


@dataclass(frozen=True, slots=True)
class KeyStatus:
    """A key version as `payguard keys status` shows it. `protects` is how many stored
    values it still protects, or None where nothing counts them yet."""

    key: KeyVersion
    current: bool
    protects: int | None = None


class KeySource(Protocol):
    """The KMS contract: holds key-encryption keys and wraps and unwraps data keys with them.
    A KEK never leaves its source; an HSM or a cloud KMS implements the same three calls."""

    def key_id(self) -> str:
        """The id of the KEK that new data keys are wrapped under."""
        ...

    def wrap(self, key_id: str, plaintext: bytes, aad: bytes) -> bytes:
        """`plaintext` (a data key) encrypted under KEK `key_id`, bound to `aad`."""
        ...

    def unwrap(self, key_id: str, wrapped: bytes, aad: bytes) -> bytes:
        """The data key inside `wrapped`; KeySourceUnavailable if `key_id` is not held
        here or `wrapped` does not open under it with `aad`."""
        ...

    def describe(self) -> str:
        """Where the KEK lives, for status output (never the key itself)."""
        ...


class DataKeyRepository(Protocol):
    """Storage of wrapped data keys by (tenant, purpose, version). Versions are never
    deleted; retiring one marks it."""

    def add(self, key: WrappedKey) -> None:
        """Store a new version; `core.errors.StateConflict` if that version exists."""
        ...

    def get(self, tenant_id: str, purpose: str, version: int) -> WrappedKey | None: ...

    def current(self, tenant_id: str, purpose: str) -> WrappedKey | None:
        """The highest version, which new writes use; None if the pair has no key."""
        ...

    def versions(
        self, *, tenant_id: str | None = None, purpose: str | None = None
    ) -> list[KeyVersion]:
        """Every version matching the filters, by tenant, purpose and version."""
        ...

    def retire(self, tenant_id: str, purpose: str, below: int, at: datetime) -> list[int]:
        """Mark every unretired version below `below` retired at `at`; the versions marked."""
        ...

    def any_keys(self) -> bool:
        """Whether any data key is stored (a missing KEK is then fatal, not new)."""
        ...

    def delete(self, tenant_id: str, purpose: str) -> int:
        """Destroy every version of the pair, for crypto-shredding: values sealed under
        them never open again. How many versions were deleted. Only per-subject purposes
        (`subject:<digest>`) are ever deleted; every other key is retired instead."""
        ...


# -- cards in assessments (`vault/cards.py`) -----------------------------------------------

__all__ += ["CardToken", "CardTokenizing"]


@dataclass(frozen=True, slots=True)
class CardToken:
    """What is kept of a card number once tokenized at the edge: the deterministic
    format-preserving `token` (same card, same tenant, same key version: same token), the
    `masked` number (first six and last four) and its `bin` (first six digits)."""

    token: str
    masked: str
    bin: str
    #: For a payment token sent in place of a card number (`resolve`): the domain it is
    #: bound to (`merchant:<id>`, `device:<id>`, `channel:<id>`, or ""), its expiry and
    #: whether it was revoked. A card number tokenized at the edge has none of these.
    scope: str = ""
    expires_at: datetime | None = None
    revoked: bool = False


class CardTokenizing(Protocol):
    """Turns a tenant's card number into its `CardToken`; ValidationFailed naming `field`
    (`card.pan` by default) when it is not a card number."""

    def tokenize(self, tenant_id: str, pan: str, *, field: str = "card.pan") -> CardToken: ...

    def resolve(self, tenant_id: str, token: str, *, field: str = "card.token") -> CardToken:
        """The `CardToken` of a payment token the tenant holds (`/v1/tokens`, kind `pan`),
        from its metadata, never its clear value; ValidationFailed naming `field` when the
        tenant has no such card token."""
        ...


# -- stored sealed values: `payguard keys rewrap` and `keys status` ------------------------

__all__ += ["SealedRecord", "SealedValues"]


@dataclass(frozen=True, slots=True)
class SealedRecord:
    """One stored sealed value as its store lists it: whose, for what, which row, under
    which key version (0: sealed outside the keyring, in a store's legacy format), and
    `stored`, the value exactly as stored, which `reseal` compares before it replaces."""

    tenant_id: str
    purpose: str
    id: str
    version: int
    stored: str

    def __repr__(self) -> str:  # the sealed value stays out of logs and tracebacks
        return (
            f"SealedRecord(tenant_id={self.tenant_id!r}, purpose={self.purpose!r}, "
            f"id={self.id!r}, version={self.version})"
        )


class SealedValues(Protocol):
    """A store of values sealed by the keyring (TOTP secrets, tokens): what `payguard keys
    rewrap` re-seals under the current key version and `payguard keys status` counts."""

    #: What the store holds, for progress and audit lines (`totp secrets`).
    name: str

    def covers(self, purpose: str) -> bool:
        """Whether values of `purpose` are kept here (and so counted here)."""
        ...

    def records(
        self,
        *,
        tenant_id: str | None = None,
        purpose: str | None = None,
        after: tuple[str, str] | None = None,
        limit: int = 500,
    ) -> list[SealedRecord]:
        """Up to `limit` stored values matching the filters, ordered by (tenant, id), after
        the (tenant, id) `after`."""
        ...

    def reseal(self, record: SealedRecord) -> bool:
        """Re-seal `record` under its pair's current key version, if the stored value is
        still `record.stored` (compare-and-set: a concurrent write is never lost); whether
        it was replaced. SealedValueRejected if it does not open."""
        ...


# -- tokens (`vault/service.py`) ---------------------------------------------------------------

__all__ += [
    "DetokenizeDenied",
    "DetokenizeRateLimited",
    "TokenDomainViolation",
    "TokenRecord",
    "TokenRefused",
    "TokenRepository",
    "TokenStyle",
    "TokenUnknown",
]


class TokenStyle(StrEnum):
    """How a token is made (see docs/vault.md, "Tokens")."""

    #: Format-preserving (FF1 under the tenant's `fpe:<kind>` key): same value, same token.
    FPE_DETERMINISTIC = "fpe_deterministic"
    #: A random vault token, its value sealed; the same value finds its existing token.
    VAULT_DETERMINISTIC = "vault_deterministic"
    #: A random vault token, its value sealed; every call makes a new, unlinkable token.
    VAULT_RANDOM = "vault_random"


@dataclass(frozen=True, slots=True)
class TokenRecord:
    """A token as stored. `sealed` is the value sealed by the keyring (vault styles; None
    for format-preserving tokens, and after crypto-shredding); `lookup` is the HMAC digest
    that finds a deterministic vault token from its value (hex; None otherwise); `scope` is
    the domain the token is bound to (`merchant:<id>`, `device:<id>`, `channel:<id>`) or
    ""; `key_version` is the version of the key the value was sealed or enciphered under."""

    tenant_id: str
    token: str
    kind: str
    style: TokenStyle
    scope: str
    key_version: int
    created_at: datetime
    sealed: bytes | None = None
    lookup: str | None = None
    expires_at: datetime | None = None
    revoked_at: datetime | None = None
    subject_id: str | None = None

    def __repr__(self) -> str:  # the sealed bytes stay out of logs and tracebacks
        return (
            f"TokenRecord(tenant_id={self.tenant_id!r}, token={self.token!r}, "
            f"kind={self.kind!r}, style={self.style.value!r}, scope={self.scope!r}, "
            f"key_version={self.key_version})"
        )


class TokenRepository(Protocol):
    """Storage of tokens by (tenant, token). Every call names its tenant: another
    tenant's tokens are never seen."""

    def add(self, records: Sequence[TokenRecord]) -> None:
        """Store new tokens in one transaction; `core.errors.StateConflict` (and nothing
        stored) if any token, or any lookup digest, exists already in its tenant."""
        ...

    def get(self, tenant_id: str, tokens: Sequence[str]) -> dict[str, TokenRecord]:
        """The stored tokens among `tokens`, by token."""
        ...

    def find(self, tenant_id: str, lookups: Sequence[str]) -> dict[str, TokenRecord]:
        """The tokens with these lookup digests, by digest."""
        ...

    def revoke(self, tenant_id: str, token: str, at: datetime) -> TokenRecord | None:
        """Mark the token revoked at `at` (the first time kept); the record, or None."""
        ...

    def forget_subject(self, tenant_id: str, subject_id: str, at: datetime) -> int:
        """Erase the sealed value and lookup digest of every token of the subject and
        revoke them; how many tokens."""
        ...

    def sealed(
        self, *, tenant_id: str | None, after: tuple[str, str] | None, limit: int
    ) -> list[TokenRecord]:
        """Up to `limit` tokens that hold a sealed value (of `tenant_id`, or of every
        tenant for the operator's rewrap), ordered by (tenant, token), after `after`."""
        ...

    def replace_sealed(
        self, tenant_id: str, token: str, old: bytes, new: bytes, version: int
    ) -> bool:
        """Store `new` (sealed under key `version`) in place of `old`, only if the token
        still holds `old` (compare-and-set); whether it was replaced."""
        ...


class TokenUnknown(NotFound):
    """No such token in this tenant."""

    code = "token_unknown"


class TokenRefused(PermissionDenied):
    """A token that exists but may not be used: revoked, expired or crypto-shredded."""

    code = "token_refused"


class TokenDomainViolation(PermissionDenied):
    """A domain-bound token used outside its merchant, device or channel."""

    code = "token_domain_violation"


class DetokenizeDenied(PermissionDenied):
    """The vault policy does not let this role detokenize for this purpose."""

    code = "detokenize_denied"


class DetokenizeRateLimited(Locked):
    """The caller asked for more clear values than its allowance per minute (429, with
    when to retry)."""

    code = "detokenize_rate_limited"


# -- per-tenant vault policies (`vault/policy.py`) -----------------------------------------

__all__ += ["PolicyRepository", "StoredPolicy"]


@dataclass(frozen=True, slots=True)
class StoredPolicy:
    """One version of a tenant's vault policy as stored: the JSON document (validated before
    it was stored), when and by whom."""

    tenant_id: str
    version: int
    document: str
    created_at: datetime
    created_by: str


class PolicyRepository(Protocol):
    """Storage of tenants' vault policy versions 1, 2, 3... Versions are never changed or
    deleted; the highest is the one in force. Every call names its tenant."""

    def add(
        self, tenant_id: str, document: str, created_at: datetime, created_by: str
    ) -> StoredPolicy:
        """Store `document` as the tenant's next version (the highest + 1, taken again if a
        concurrent writer took it first)."""
        ...

    def current(self, tenant_id: str) -> StoredPolicy | None:
        """The highest version; None if the tenant never stored a policy."""
        ...

    def get(self, tenant_id: str, version: int) -> StoredPolicy | None: ...
