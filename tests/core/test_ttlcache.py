from __future__ import annotations

from datetime import UTC, datetime, timedelta

from payguard.core.clock import FrozenClock
from payguard.core.ttlcache import TenantCache


def test_a_value_is_fresh_for_ttl_seconds_then_stale_but_still_held() -> None:
    clock = FrozenClock(datetime(2026, 12, 4, tzinfo=UTC))
    cache: TenantCache[str] = TenantCache(clock, ttl=5.0, size=10)
    assert cache.get("t1") is None
    cache.put("t1", "v1")
    assert cache.get("t1") == ("v1", True)
    clock.advance(timedelta(seconds=4.9))
    assert cache.get("t1") == ("v1", True)
    clock.advance(timedelta(seconds=0.2))
    assert cache.get("t1") == ("v1", False)  # the caller checks the store again
    cache.put("t1", "v2")
    assert cache.get("t1") == ("v2", True)


def test_at_most_size_tenants_are_held_the_least_recently_stored_out_first() -> None:
    clock = FrozenClock(datetime(2026, 12, 4, tzinfo=UTC))
    cache: TenantCache[int] = TenantCache(clock, ttl=5.0, size=2)
    cache.put("a", 1)
    cache.put("b", 2)
    cache.put("a", 3)  # stored again: now the most recent
    cache.put("c", 4)
    assert len(cache) == 2
    assert cache.get("b") is None
    assert cache.get("a") == (3, True) and cache.get("c") == (4, True)
    cache.clear()
    assert len(cache) == 0
