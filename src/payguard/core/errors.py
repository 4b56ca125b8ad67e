"""The one domain error tree; `api/errors.py` maps it to HTTP and nothing else does.

PayguardError
├── ValidationFailed        input that breaks a domain rule (→ 422), names the field at fault
├── NotFound                unknown id within the caller's tenant (→ 404)
├── Conflict                state changed under us / duplicate with different content (→ 409)
├── AuthenticationFailed    missing, unknown, revoked or expired credential (→ 401)
│   └── FactorRejected      a user's password, code, assertion or signature did not verify
├── PermissionDenied        authenticated but not allowed (→ 403)
├── Locked                  too many failed attempts; retry after `retry_after` s (→ 429)
├── PayloadTooLarge         body or collection over its limit (→ 413)
└── BackendUnavailable      a store, cache or bus did not answer (→ 503)
"""

from __future__ import annotations

from collections.abc import Iterable


def field_path(loc: Iterable[int | str]) -> str:
    """A validation error's location as the path errors report: `rules[2].when`, `amount.value`;
    empty for an empty location."""
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


class PayguardError(Exception):
    """Base of every error payguard raises on purpose."""

    code = "error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ValidationFailed(PayguardError):
    """Input breaks a domain rule; `field` is the dotted path of the offending input."""

    code = "validation_failed"

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.field = field


class NotFound(PayguardError):
    code = "not_found"


class Conflict(PayguardError):
    code = "conflict"


class StateConflict(Conflict):
    """A record changed between our read and our write (a lost compare-and-set); recompute
    and retry."""


class AuthenticationFailed(PayguardError):
    code = "unauthenticated"


class FactorRejected(AuthenticationFailed):
    """An end user's authentication factor failed (not the calling partner's API key)."""

    code = "factor_rejected"


class PermissionDenied(PayguardError):
    code = "forbidden"


class Locked(PayguardError):
    """An account or address locked after repeated authentication failures."""

    code = "locked"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PayloadTooLarge(PayguardError):
    code = "payload_too_large"


class BackendUnavailable(PayguardError):
    code = "backend_unavailable"


class IdempotencyMismatch(Conflict):
    """An idempotency key (an event_id) sent again with a different request: the first
    request's result stands and the second is refused rather than answered with it."""

    code = "idempotency_mismatch"
