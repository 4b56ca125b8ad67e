"""Authenticator-app codes (RFC 6238 TOTP: SHA-1, 6 digits, 30 s), enrolment URI and QR code.

pyotp computes the codes; this module decides which time steps are acceptable. A code is
accepted for a step at most `WINDOW` steps from now (clock drift) and strictly after the last
step the caller accepted, so storing the returned step refuses a replayed code and any code
older than one already used (RFC 6238 §5.2).
"""

from __future__ import annotations

import hmac
import io
from datetime import datetime

import pyotp
import segno

DIGITS = 6
PERIOD = 30
WINDOW = 1

_ASCII_DIGITS = frozenset("0123456789")


def _totp(secret: str) -> pyotp.TOTP:
    return pyotp.TOTP(secret, digits=DIGITS, interval=PERIOD)


def new_secret() -> str:
    """A fresh shared secret: 160 random bits in base32 (RFC 4226 §4 recommends 160)."""
    return pyotp.random_base32(length=32)


def provisioning_uri(secret: str, *, account: str, issuer: str) -> str:
    """The `otpauth://totp/...` URI an authenticator app enrols from."""
    return _totp(secret).provisioning_uri(name=account, issuer_name=issuer)


def qr_png(uri: str) -> bytes:
    """The enrolment URI as a PNG QR code."""
    buffer = io.BytesIO()
    segno.make(uri, error="m").save(buffer, kind="png", scale=6, border=4)
    return buffer.getvalue()


def qr_svg(uri: str) -> str:
    """The enrolment URI as an SVG QR code."""
    buffer = io.BytesIO()
    segno.make(uri, error="m").save(buffer, kind="svg", scale=6, border=4)
    return buffer.getvalue().decode("utf-8")


def time_step(at: datetime) -> int:
    """The RFC 6238 time step (T0 = 0) that `at` falls in."""
    if at.tzinfo is None:
        raise ValueError("time_step needs a timezone-aware datetime")
    return int(at.timestamp()) // PERIOD


def match_step(
    secret: str, code: str, *, at: datetime, last_step: int | None, window: int = WINDOW
) -> int | None:
    """The time step `code` is valid for, or None.

    Accepted: a step s with |s - time_step(at)| <= window and, when `last_step` is given,
    s > last_step. `code` must be exactly `DIGITS` ASCII digits. Every candidate step is
    compared in constant time, so timing tells nothing about near misses.
    """
    if len(code) != DIGITS or not _ASCII_DIGITS.issuperset(code):
        return None
    totp = _totp(secret)
    now = time_step(at)
    matched: int | None = None
    for step in range(max(0, now - window), now + window + 1):
        if last_step is not None and step <= last_step:
            continue
        if hmac.compare_digest(totp.generate_otp(step), code) and matched is None:
            matched = step
    return matched
