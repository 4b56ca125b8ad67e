"""Sliding-window counters kept as fixed-width time buckets.

A window of length L kept in buckets of width B answers "how many / how much in the last L"
with an error of at most one bucket (B/L of the window: 1/6 for 1 min, 1/12 for 1 h, 1/24 for
24 h, 1/28 for 7 d, 1/30 for 30 d), in bounded space whatever the entity's traffic.
"""

from __future__ import annotations

from dataclasses import dataclass

Bucket = list[float]  # [bucket index, count, sum]


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


def totals(series: list[Bucket] | None, window: Window, at: float) -> tuple[int, float]:
    """Count and sum of the buckets that fall inside `window` ending at `at`."""
    if not series:
        return 0, 0.0
    current = int(at // window.bucket_seconds)
    oldest = current - window.buckets + 1
    count = 0
    amount = 0.0
    for index, c, s in series:
        if oldest <= index <= current:
            count += int(c)
            amount += s
    return count, amount


def add(series: list[Bucket], window: Window, at: float, amount: float) -> list[Bucket]:
    """Add one event at `at` to `series` and drop buckets that no window end near `at` needs."""
    index = int(at // window.bucket_seconds)
    for bucket in series:
        if bucket[0] == index:
            bucket[1] += 1
            bucket[2] += amount
            break
    else:
        series.append([index, 1, amount])
        series.sort(key=lambda b: b[0])
    oldest = index - window.buckets + 1
    if series[0][0] < oldest:
        series[:] = [b for b in series if b[0] >= oldest]
    return series


def distinct(members: dict[str, float] | None, window: Window, at: float) -> int:
    """How many members were last seen within `window` ending at `at`."""
    if not members:
        return 0
    since = at - window.seconds
    return sum(1 for seen in members.values() if seen > since)
