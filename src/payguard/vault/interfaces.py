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
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from payguard.core.errors import (
    BackendUnavailable,
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
