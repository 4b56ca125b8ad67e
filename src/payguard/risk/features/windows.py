"""Sliding-window counters kept as fixed-width time buckets.

A window of length L kept in buckets of width B answers "how many / how much in the last L"
with an error of at most one bucket (B/L of the window: 1/6 for 1 min, 1/12 for 1 h, 1/24 for
24 h, 1/28 for 7 d, 1/30 for 30 d), in bounded space whatever the entity's traffic.

A bucket is `[index, events, payments, amount]`: every event counts in `events`, money
events also in `payments` and `amount`. A series keeps running totals beside its buckets so
that reading a window rarely walks the buckets.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass
from typing import Any

Bucket = list[float]  # [bucket index, events, payments, amount]
#: [events, payments, amount] totals over `buckets`, then `buckets` sorted by index.
Series = list[Any]


@dataclass(frozen=True, slots=True)
class Window:
    name: str
    seconds: int
    bucket_seconds: int
    #: seconds // bucket_seconds, stored rather than computed: it is read ~50 times an event.
    buckets: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "buckets", self.seconds // self.bucket_seconds)


WINDOWS: tuple[Window, ...] = (
    Window("1m", 60, 10),
    Window("1h", 3600, 300),
    Window("24h", 86400, 3600),
    Window("7d", 7 * 86400, 6 * 3600),
    Window("30d", 30 * 86400, 86400),
)
WINDOW_BY_NAME = {w.name: w for w in WINDOWS}


def totals(series: Series | None, window: Window, at: float) -> tuple[int, int, float]:
    """Events, payments and amount in the buckets inside `window` ending at `at`.

    Starts from the series' running totals and subtracts only the buckets that fell out of
    the window since the last write (or lie after `at`, for a late event): O(1) for ordered
    traffic instead of a walk over every bucket.
    """
    if not series:
        return 0, 0, 0.0
    events, payments, amount, buckets = series
    current = int(at // window.bucket_seconds)
    oldest = current - window.buckets + 1
    for bucket in buckets:
        if bucket[0] >= oldest:
            break
        events -= bucket[1]
        payments -= bucket[2]
        amount -= bucket[3]
    for bucket in reversed(buckets):
        if bucket[0] <= current:
            break
        if bucket[0] >= oldest:
            events -= bucket[1]
            payments -= bucket[2]
            amount -= bucket[3]
    return int(events), int(payments), max(0.0, amount)


def add(series: Series | None, window: Window, at: float, payment: bool, amount: float) -> Series:
    """A new series: `series` with one event at `at` added and buckets too old for any
    window dropped. `series` itself is left untouched (states are shared read-only)."""
    p = 1 if payment else 0
    index = int(at // window.bucket_seconds)
    if not series:
        return [1, p, amount, [[index, 1, p, amount]]]
    events, payments, total, old = series
    buckets = list(old)
    last = buckets[-1][0] if buckets else None
    if last is None or index > last:  # in-order traffic opening a new bucket
        buckets.append([index, 1, p, amount])
    elif index == last:  # in-order traffic in the newest bucket: most events, long windows
        bucket = buckets[-1]
        buckets[-1] = [index, bucket[1] + 1, bucket[2] + p, bucket[3] + amount]
    else:
        for position, bucket in enumerate(buckets):
            if bucket[0] == index:
                buckets[position] = [index, bucket[1] + 1, bucket[2] + p, bucket[3] + amount]
                break
        else:
            buckets.append([index, 1, p, amount])
            buckets.sort(key=lambda b: b[0])
    events += 1
    payments += p
    total += amount
    oldest = buckets[-1][0] - window.buckets + 1
    if buckets[0][0] < oldest:
        keep = 0
        while buckets[keep][0] < oldest:
            dropped = buckets[keep]
            events -= dropped[1]
            payments -= dropped[2]
            total -= dropped[3]
            keep += 1
        buckets = buckets[keep:]
    return [events, payments, total, buckets]


def distinct_counts(members: dict[str, float] | None, at: float) -> list[int]:
    """For each of `WINDOWS`, how many members were last seen within it, ending at `at`."""
    if not members:
        return [0] * len(WINDOWS)
    seen = sorted(members.values())
    total = len(seen)
    return [total - bisect_right(seen, at - window.seconds) for window in WINDOWS]


def shift(series: Series | None, window: Window, at: float, delta: int) -> Series | None:
    """A new series: `series` with `delta` (+1 or -1) events at `at`. Adding is `add`;
    taking away empties the bucket of `at` by one (nothing when that bucket was already
    dropped as too old, or is empty). `series` itself is left untouched."""
    if delta > 0:
        for _ in range(delta):
            series = add(series, window, at, False, 0.0)
        return series
    if not series or delta == 0:
        return series
    index = int(at // window.bucket_seconds)
    events, payments, total, old = series
    for position, bucket in enumerate(old):
        if bucket[0] == index:
            taken = min(int(bucket[1]), -delta)
            if not taken:
                return series
            buckets = list(old)
            if bucket[1] - taken <= 0 and not bucket[2] and not bucket[3]:
                del buckets[position]
            else:
                buckets[position] = [index, bucket[1] - taken, bucket[2], bucket[3]]
            return [events - taken, payments, total, buckets]
    return series
