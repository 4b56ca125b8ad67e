from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from payguard.risk.features import windows as w

ONE_HOUR = w.WINDOW_BY_NAME["1h"]
ONE_MINUTE = w.WINDOW_BY_NAME["1m"]


def test_counts_and_sums_inside_the_window() -> None:
    series: list[w.Bucket] = []
    for offset, amount in ((0, 10.0), (100, 5.0), (1000, 2.5)):
        w.add(series, ONE_HOUR, 1_000_000 + offset, amount)
    assert w.totals(series, ONE_HOUR, 1_001_000) == (3, 17.5)


def test_old_buckets_fall_out_and_are_pruned() -> None:
    series: list[w.Bucket] = []
    w.add(series, ONE_MINUTE, 0, 1.0)
    w.add(series, ONE_MINUTE, 30, 1.0)
    assert w.totals(series, ONE_MINUTE, 59) == (2, 2.0)
    assert w.totals(series, ONE_MINUTE, 200) == (0, 0.0)
    w.add(series, ONE_MINUTE, 500, 1.0)
    assert len(series) == 1


def test_distinct_members_by_last_seen() -> None:
    members = {"a": 0.0, "b": 3000.0, "c": 3500.0}
    assert w.distinct(members, ONE_HOUR, 3599.0) == 3
    assert w.distinct(members, ONE_HOUR, 4000.0) == 2
    assert w.distinct(None, ONE_HOUR, 0.0) == 0


@given(st.lists(st.tuples(st.integers(0, 7 * 86400), st.integers(0, 10_000)), max_size=60))
def test_window_is_exact_up_to_one_bucket_at_its_far_edge(events: list[tuple[int, int]]) -> None:
    events.sort()
    series: list[w.Bucket] = []
    for at, amount in events:
        w.add(series, ONE_HOUR, at, float(amount))
    if not events:
        return
    now = events[-1][0]
    count, total = w.totals(series, ONE_HOUR, now)
    first_bucket_start = (now // ONE_HOUR.bucket_seconds - ONE_HOUR.buckets + 1) * 300
    assert count == sum(1 for at, _ in events if at >= first_bucket_start)
    assert total == sum(float(a) for at, a in events if at >= first_bucket_start)
    exact = sum(1 for at, _ in events if at > now - ONE_HOUR.seconds)
    assert exact - count <= sum(
        1 for at, _ in events if now - ONE_HOUR.seconds < at < first_bucket_start
    )
