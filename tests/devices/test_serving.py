"""The hot path's device verdicts: what the engine reads, and how little it costs."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from payguard.devices.interfaces import (
    CommunityEntry,
    CommunityKind,
    Health,
    HealthSignal,
    HealthStatus,
)
from payguard.devices.serving import COMMUNITY_WARNING, DeviceVerdicts, community_hash, verdict_of

NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
ROOTED = HealthSignal("rooted", "DEVICE_ROOTED", 60, "This phone is rooted.", "Restore it.", True)
AT_RISK = Health(score=65, status=HealthStatus.AT_RISK, signals=(ROOTED,), assurance="signed")


class Devices:
    """A device store that counts its reads."""

    def __init__(self, health: dict[tuple[str, str], Health]) -> None:
        self.health = health
        self.reads = 0
        self.checks = 0

    def has_devices(self, tenant_id: str) -> bool:
        self.checks += 1
        return any(tenant == tenant_id for tenant, _ in self.health)

    def health_of(self, tenant_id: str, device_id: str) -> Health | None:
        self.reads += 1
        return self.health.get((tenant_id, device_id))


class Community:
    def __init__(self, listed: Sequence[str] = ()) -> None:
        self.listed = {community_hash(value) for value in listed}
        self.lookups = 0

    def version(self) -> int:
        return len(self.listed)

    def lookup(
        self, kind: CommunityKind, hashed: Sequence[str], at: datetime
    ) -> list[CommunityEntry]:
        self.lookups += 1
        return [CommunityEntry(kind, h, "tenant:a", 90, NOW) for h in hashed if h in self.listed]


class Clock:
    def __init__(self) -> None:
        self.at = 0.0

    def __call__(self) -> float:
        return self.at


def verdicts(devices: Devices, community: Community, clock: Clock) -> DeviceVerdicts:
    return DeviceVerdicts(devices, community, now=lambda: NOW, ttl=2.0, timer=clock)  # type: ignore[arg-type]


def test_a_tenant_whose_devices_never_reported_costs_no_device_read() -> None:
    devices, clock = Devices({}), Clock()
    source = verdicts(devices, Community(), clock)
    for n in range(100):
        assert source.verdict("t1", f"dev-{n}", None) is None
    assert devices.reads == 0 and devices.checks == 1
    clock.at = 2.5
    source.verdict("t1", "dev-1", None)
    assert devices.checks == 2  # re-checked once per TTL


def test_verdicts_are_cached_per_device_until_the_ttl_or_a_report() -> None:
    devices, clock = Devices({("t1", "dev-1"): AT_RISK}), Clock()
    source = verdicts(devices, Community(), clock)
    first = source.verdict("t1", "dev-1", None)
    assert first is not None and first.at_risk and first.score == 65
    assert first.reasons == ("DEVICE_ROOTED",) and first.warnings == ("This phone is rooted.",)
    source.verdict("t1", "dev-1", None)
    assert devices.reads == 1
    source.invalidate("t1", "dev-1")
    source.verdict("t1", "dev-1", None)
    assert devices.reads == 2
    clock.at = 2.5
    source.verdict("t1", "dev-1", None)
    assert devices.reads == 3


def test_a_community_listed_device_is_compromised_even_unknown_to_the_tenant() -> None:
    community, clock = Community(["fp-farm"]), Clock()
    source = verdicts(Devices({}), community, clock)
    found = source.verdict("t2", "dev-9", "FP-Farm ")
    assert found is not None and found.compromised and found.community_hit
    assert found.warnings[0] == COMMUNITY_WARNING
    assert source.verdict("t2", "dev-10", "fp-other") is None


def test_a_listed_device_with_its_own_health_is_compromised_with_both_reasons() -> None:
    found = verdict_of(AT_RISK, community_hit=True)
    assert found is not None and found.compromised and not found.at_risk
    assert found.reasons == ("DEVICE_COMMUNITY_LISTED", "DEVICE_ROOTED")
    assert verdict_of(None, community_hit=False) is None
