"""Sliding-window counters kept as fixed-width time buckets.

A window of length L kept in buckets of width B answers "how many / how much in the last L"
with an error of at most one bucket (B/L of the window: 1/6 for 1 min, 1/12 for 1 h, 1/24 for
24 h, 1/28 for 7 d, 1/30 for 30 d), in bounded space whatever the entity's traffic.

A bucket is `[index, events, payments, amount]`: every event counts in `events`, money
events also in `payments` and `amount`.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass

Bucket = list[float]  # [bucket index, events, payments, amount]


@dataclass(frozen=True, slots=True)
class Window:
    name: str
    seconds: int
    bucket_seconds: int

    @property
    def buckets(self) -> int:
        return self.seconds // self.bucket_seconds


WINDOWS: tuple[Window, ...] = (
    Window("1m", 60, 10),
    Window("1h", 3600, 300),
    Window("24h", 86400, 3600),
    Window("7d", 7 * 86400, 6 * 3600),
    Window("30d", 30 * 86400, 86400),
)
WINDOW_BY_NAME = {w.name: w for w in WINDOWS}


def totals(series: list[Bucket] | None, window: Window, at: float) -> tuple[int, int, float]:
    """Events, payments and amount in the buckets inside `window` ending at `at`."""
    if not series:
        return 0, 0, 0.0
    current = int(at // window.bucket_seconds)
    oldest = current - window.buckets + 1
    events = payments = 0
    amount = 0.0
    for index, e, p, s in series:
        if oldest <= index <= current:
            events += int(e)
            payments += int(p)
            amount += s
    return events, payments, amount


def add(series: list[Bucket], window: Window, at: float, payment: bool, amount: float) -> None:
    """Add one event at `at` and drop buckets too old for any window ending near `at`."""
    index = int(at // window.bucket_seconds)
    p = 1 if payment else 0
    if series and series[-1][0] == index:  # the common case: in-order traffic
        bucket = series[-1]
        bucket[1] += 1
        bucket[2] += p
        bucket[3] += amount
    else:
        for bucket in series:
            if bucket[0] == index:
                bucket[1] += 1
                bucket[2] += p
                bucket[3] += amount
                break
        else:
            series.append([index, 1, p, amount])
            if len(series) > 1 and series[-2][0] > index:
                series.sort(key=lambda b: b[0])
    oldest = index - window.buckets + 1
    if series[0][0] < oldest:
        series[:] = [b for b in series if b[0] >= oldest]


def distinct_counts(members: dict[str, float] | None, at: float) -> list[int]:
    """For each of `WINDOWS`, how many members were last seen within it, ending at `at`."""
    if not members:
        return [0] * len(WINDOWS)
    seen = sorted(members.values())
    total = len(seen)
    return [total - bisect_right(seen, at - window.seconds) for window in WINDOWS]
