from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from payguard.risk.features import windows as w

ONE_HOUR = w.WINDOW_BY_NAME["1h"]
ONE_MINUTE = w.WINDOW_BY_NAME["1m"]


def test_counts_and_sums_inside_the_window() -> None:
    series: list[w.Bucket] = []
    for offset, amount in ((0, 10.0), (100, 5.0), (1000, 2.5)):
        w.add(series, ONE_HOUR, 1_000_000 + offset, True, amount)
    w.add(series, ONE_HOUR, 1_001_000, False, 0.0)
    assert w.totals(series, ONE_HOUR, 1_001_000) == (4, 3, 17.5)


def test_old_buckets_fall_out_and_are_pruned() -> None:
    series: list[w.Bucket] = []
    w.add(series, ONE_MINUTE, 0, True, 1.0)
    w.add(series, ONE_MINUTE, 30, True, 1.0)
    assert w.totals(series, ONE_MINUTE, 59) == (2, 2, 2.0)
    assert w.totals(series, ONE_MINUTE, 200) == (0, 0, 0.0)
    w.add(series, ONE_MINUTE, 500, True, 1.0)
    assert len(series) == 1


def test_out_of_order_events_land_in_their_bucket() -> None:
    series: list[w.Bucket] = []
    w.add(series, ONE_HOUR, 3000, True, 1.0)
    w.add(series, ONE_HOUR, 100, True, 2.0)
    w.add(series, ONE_HOUR, 3001, True, 4.0)
    assert [b[0] for b in series] == [0, 10]
    assert w.totals(series, ONE_HOUR, 3001) == (3, 3, 7.0)


def test_distinct_members_by_last_seen() -> None:
    members = {"a": 0.0, "b": 3000.0, "c": 3500.0}
    counts = dict(zip([x.name for x in w.WINDOWS], w.distinct_counts(members, 3599.0), strict=True))
    assert counts["1m"] == 0 and counts["1h"] == 3
    assert w.distinct_counts(members, 4000.0)[1] == 2
    assert w.distinct_counts(None, 0.0) == [0] * len(w.WINDOWS)


@given(
    st.lists(
        st.tuples(st.integers(0, 7 * 86400), st.integers(0, 10_000), st.booleans()), max_size=60
    )
)
def test_window_is_exact_up_to_one_bucket_at_its_far_edge(
    events: list[tuple[int, int, bool]],
) -> None:
    series: list[w.Bucket] = []
    for at, amount, paid in events:  # any order: late events are allowed
        w.add(series, ONE_HOUR, at, paid, float(amount) if paid else 0.0)
    if not events:
        return
    now = max(at for at, _, _ in events)
    newest = max(at for at, _, _ in events)
    count, payments, total = w.totals(series, ONE_HOUR, now)
    first_bucket_start = (now // ONE_HOUR.bucket_seconds - ONE_HOUR.buckets + 1) * 300
    # Events older than the window of the newest event may have been pruned already.
    kept = [(at, a, p) for at, a, p in events if at >= first_bucket_start and at <= newest]
    assert count == len(kept)
    assert payments == sum(1 for _, _, p in kept if p)
    assert total == sum(float(a) for _, a, p in kept if p)
