"""Builds assessment requests in payguard's wire format (plain JSON-able dicts).

Times travel through the simulator as integer milliseconds since the Unix epoch because
formatting them by hand is several times faster than `datetime.isoformat`, and the simulator
has to produce tens of thousands of events a second.
"""

from __future__ import annotations

from datetime import date, timedelta
from functools import lru_cache
from typing import Any

from payguard.core.money import minor_units

SECOND_MS = 1_000
MINUTE_MS = 60 * SECOND_MS
HOUR_MS = 60 * MINUTE_MS
DAY_MS = 24 * HOUR_MS

_EPOCH = date(1970, 1, 1)


@lru_cache(maxsize=64)
def utc_offset_text(minutes: int) -> str:
    """RFC 3339 offset for `minutes` east of UTC, e.g. 330 → "+05:30"."""
    sign = "+" if minutes >= 0 else "-"
    hours, mins = divmod(abs(minutes), 60)
    return f"{sign}{hours:02d}:{mins:02d}"


@lru_cache(maxsize=1024)
def _date_prefix(day: int) -> str:
    return (_EPOCH + timedelta(days=day)).isoformat() + "T"


def timestamp(t_ms: int, offset_minutes: int) -> str:
    """RFC 3339 time with milliseconds for the instant `t_ms`, shown at the given UTC offset."""
    day, ms = divmod(t_ms + offset_minutes * MINUTE_MS, DAY_MS)
    seconds, ms = divmod(ms, SECOND_MS)
    minutes, seconds = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    offset = utc_offset_text(offset_minutes)
    return f"{_date_prefix(day)}{hours:02d}:{minutes:02d}:{seconds:02d}.{ms:03d}{offset}"


def amount(value: float, currency: str) -> dict[str, str]:
    """A wire amount: `value` rounded to the currency's minor units, never below one minor unit."""
    digits = minor_units(currency)
    return {"value": f"{max(value, 10.0**-digits):.{digits}f}", "currency": currency}


def request(
    *,
    event_type: str,
    occurred_at: str,
    account_id: str,
    device: dict[str, str],
    ip: str,
    geo: dict[str, Any] | None,
    channel: str,
    attributes: dict[str, Any],
    amount: dict[str, str] | None = None,
    payee: dict[str, str] | None = None,
    merchant: dict[str, str] | None = None,
) -> dict[str, Any]:
    """One assessment request; keys that do not apply are left out rather than sent as null.

    `event_id` is a placeholder filled in when the merged stream fixes the output order.
    """
    req: dict[str, Any] = {
        "event_id": "",
        "event_type": event_type,
        "occurred_at": occurred_at,
        "account_id": account_id,
    }
    if amount is not None:
        req["amount"] = amount
    if payee is not None:
        req["payee"] = payee
    if merchant is not None:
        req["merchant"] = merchant
    req["device"] = device
    req["ip"] = ip
    if geo is not None:
        req["geo"] = geo
    req["channel"] = channel
    req["attributes"] = attributes
    return req
