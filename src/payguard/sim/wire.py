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


_OFFSETS: dict[int, str] = {}
_DATES: dict[int, str] = {}
#: "HH:MM:" for each minute of a day, "SS." for each second and "mmm" for each millisecond:
#: building a timestamp from pieces is several times faster than formatting it.
_CLOCK = tuple(f"{h:02d}:{m:02d}:" for h in range(24) for m in range(60))
_SECONDS = tuple(f"{s:02d}." for s in range(60))
_MILLIS = tuple(f"{ms:03d}" for ms in range(1000))


def utc_offset_text(minutes: int) -> str:
    """RFC 3339 offset for `minutes` east of UTC, e.g. 330 → "+05:30"."""
    text = _OFFSETS.get(minutes)
    if text is None:
        sign = "+" if minutes >= 0 else "-"
        hours, mins = divmod(abs(minutes), 60)
        text = _OFFSETS[minutes] = f"{sign}{hours:02d}:{mins:02d}"
    return text


def _date_prefix(day: int) -> str:
    text = _DATES.get(day)
    if text is None:
        if len(_DATES) > 100_000:
            _DATES.clear()
        text = _DATES[day] = (_EPOCH + timedelta(days=day)).isoformat() + "T"
    return text


@lru_cache(maxsize=4096)
def day_of_month(day: int) -> int:
    """The day of the month (1-31) of `day` days after 1970-01-01."""
    return (_EPOCH + timedelta(days=day)).day


def timestamp(t_ms: int, offset_minutes: int) -> str:
    """RFC 3339 time with milliseconds for the instant `t_ms`, shown at the given UTC offset."""
    day, ms = divmod(t_ms + offset_minutes * MINUTE_MS, DAY_MS)
    minute, rest = divmod(ms, MINUTE_MS)
    second, milli = divmod(rest, SECOND_MS)
    return (
        f"{_DATES.get(day) or _date_prefix(day)}{_CLOCK[minute]}{_SECONDS[second]}"
        f"{_MILLIS[milli]}{_OFFSETS.get(offset_minutes) or utc_offset_text(offset_minutes)}"
    )


def amount(value: float, currency: str) -> dict[str, str]:
    """A wire amount: `value` rounded to the currency's minor units, never below one minor unit."""
    digits = minor_units(currency)
    return {"value": f"{max(value, 10.0**-digits):.{digits}f}", "currency": currency}


def request(
    *,
    event_type: str,
    occurred_at: str,
    account_id: str,
    device: dict[str, str] | None,
    ip: str | None,
    geo: dict[str, Any] | None,
    channel: str | None,
    attributes: dict[str, Any],
    amount: dict[str, str] | None = None,
    payee: dict[str, str] | None = None,
    merchant: dict[str, str] | None = None,
) -> dict[str, Any]:
    """One assessment request; keys that do not apply are left out rather than sent as null.

    `event_id` is a placeholder filled in when the merged stream fixes the output order.
    Credits the partner's back office books (salaries, incoming transfers, refunds) have no
    device, IP or channel.
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
    if device is not None:
        req["device"] = device
    if ip is not None:
        req["ip"] = ip
    if geo is not None:
        req["geo"] = geo
    if channel is not None:
        req["channel"] = channel
    req["attributes"] = attributes
    return req
