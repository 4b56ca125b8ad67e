from __future__ import annotations

from payguard.risk.cache import PolledCache


def test_version_poll_reloads_only_when_the_version_moved() -> None:
    versions = {"t": 1}
    loads: list[tuple[str, int]] = []

    def load(tenant_id: str, version: int) -> str:
        loads.append((tenant_id, version))
        return f"v{version}"

    cache: PolledCache[str] = PolledCache(ttl=0, version=versions.__getitem__, load=load)
    assert cache.get("t") == "v1"
    assert cache.get("t") == "v1"
    assert loads == [("t", 1)]
    versions["t"] = 2
    assert cache.get("t") == "v2"
    cache.put("t", 3, "pushed")
    versions["t"] = 3
    assert cache.get("t") == "pushed"
    cache.invalidate("t")
    assert cache.get("t") == "v3"
    assert loads == [("t", 1), ("t", 2), ("t", 3)]


def test_within_ttl_the_version_is_not_polled() -> None:
    polls: list[str] = []

    def version(tenant_id: str) -> int:
        polls.append(tenant_id)
        return 1

    cache: PolledCache[int] = PolledCache(ttl=3600, version=version, load=lambda t, v: v)
    cache.get("t")
    cache.get("t")
    assert polls == ["t"]
