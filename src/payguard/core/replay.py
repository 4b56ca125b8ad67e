"""Replay defence shared by every capability that accepts signed or one-time messages:
a timestamp must be within `MAX_SKEW_SECONDS` of the server clock, a nonce has a fixed
shape, and a store that has seen a nonce in its scope refuses it again (`NonceLedger`)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Protocol

from payguard.core.errors import AuthenticationFailed, ValidationFailed

MAX_SKEW_SECONDS = 300
NONCE = re.compile(r"[A-Za-z0-9_-]{16,128}")


class NonceLedger(Protocol):
    """Remembers single-use nonces; the compare-and-set that makes a replay fail."""

    def use_nonce(self, tenant_id: str, scope: str, nonce: str, expires_at: datetime) -> bool:
        """Remember `nonce` in `scope` until `expires_at`; False if it was already seen."""
        ...


def check_freshness(timestamp: int, *, now: datetime, skew: int = MAX_SKEW_SECONDS) -> None:
    """Refuse a signed timestamp more than `skew` seconds from `now`, either way."""
    if abs(int(now.timestamp()) - timestamp) > skew:
        raise AuthenticationFailed("device signature timestamp is stale")


def check_nonce(nonce: str) -> None:
    """Refuse a nonce that is not 16-128 characters of A-Z, a-z, 0-9, `_` and `-`."""
    if not isinstance(nonce, str) or NONCE.fullmatch(nonce) is None:
        raise ValidationFailed(
            "nonce must be 16 to 128 characters of letters, digits, '_' and '-'", field="nonce"
        )
