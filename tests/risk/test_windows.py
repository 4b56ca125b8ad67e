from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from payguard.risk.features import windows as w

ONE_HOUR = w.WINDOW_BY_NAME["1h"]
ONE_MINUTE = w.WINDOW_BY_NAME["1m"]


def test_counts_and_sums_inside_the_window() -> None:
    series = None
    for offset, amount in ((0, 10.0), (100, 5.0), (1000, 2.5)):
        series = w.add(series, ONE_HOUR, 1_000_000 + offset, True, amount)
    series = w.add(series, ONE_HOUR, 1_001_000, False, 0.0)
    assert w.totals(series, ONE_HOUR, 1_001_000) == (4, 3, 17.5)


def test_old_buckets_fall_out_and_are_pruned() -> None:
    series = w.add(None, ONE_MINUTE, 0, True, 1.0)
    series = w.add(series, ONE_MINUTE, 30, True, 1.0)
    assert w.totals(series, ONE_MINUTE, 59) == (2, 2, 2.0)
    assert w.totals(series, ONE_MINUTE, 200) == (0, 0, 0.0)
    series = w.add(series, ONE_MINUTE, 500, True, 1.0)
    assert len(series[3]) == 1
    assert series[:3] == [1, 1, 1.0]


def test_out_of_order_events_land_in_their_bucket() -> None:
    series = w.add(None, ONE_HOUR, 3000, True, 1.0)
    series = w.add(series, ONE_HOUR, 100, True, 2.0)
    series = w.add(series, ONE_HOUR, 3001, True, 4.0)
    assert [b[0] for b in series[3]] == [0, 10]
    assert w.totals(series, ONE_HOUR, 3001) == (3, 3, 7.0)
    # Seen from the late event's own time, the later bucket is not counted.
    assert w.totals(series, ONE_HOUR, 100) == (1, 1, 2.0)


def test_distinct_members_by_last_seen() -> None:
    members = {"a": 0.0, "b": 3000.0, "c": 3500.0}
    counts = dict(zip([x.name for x in w.WINDOWS], w.distinct_counts(members, 3599.0), strict=True))
    assert counts["1m"] == 0 and counts["1h"] == 3
    assert w.distinct_counts(members, 4000.0)[1] == 2
    assert w.distinct_counts(None, 0.0) == [0] * len(w.WINDOWS)


def _brute_force(
    events: list[tuple[int, int, bool]], window: w.Window, now: int
) -> tuple[int, int, float]:
    """The definition: events in buckets [current - n + 1, current], where the newest
    bucket ever written bounds what is still kept."""
    newest = max(at for at, _, _ in events) // window.bucket_seconds
    kept_from = newest - window.buckets + 1
    current = now // window.bucket_seconds
    inside = [
        (a, p)
        for at, a, p in events
        if max(kept_from, current - window.buckets + 1) <= at // window.bucket_seconds <= current
    ]
    return len(inside), sum(1 for _, p in inside if p), float(sum(a for a, p in inside if p))


@given(
    events=st.lists(
        st.tuples(st.integers(0, 3 * 86400), st.integers(0, 10_000), st.booleans()),
        min_size=1,
        max_size=60,
    ),
    query=st.integers(0, 3 * 86400),
    window=st.sampled_from(w.WINDOWS),
)
def test_running_totals_equal_the_bucket_definition(
    events: list[tuple[int, int, bool]], query: int, window: w.Window
) -> None:
    series = None
    for at, amount, paid in events:  # any order: late events are allowed
        series = w.add(series, window, at, paid, float(amount) if paid else 0.0)
    now = max(query, max(at for at, _, _ in events))
    count, payments, total = w.totals(series, window, now)
    expected = _brute_force(events, window, now)
    assert (count, payments) == expected[:2]
    assert abs(total - expected[2]) < 1e-6 * max(1.0, expected[2])
