"""Device health on the hot path: each worker keeps recent verdicts for `ttl` seconds, so an
assessment pays for a device lookup at most once per device and TTL (and never for a tenant
whose devices never reported, once that is known)."""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from datetime import datetime

from payguard.devices.interfaces import (
    CommunityKind,
    CommunityLists,
    DeviceRepository,
    Health,
    HealthStatus,
)
from payguard.risk.interfaces import DeviceVerdict

#: The warning shown when a device is on a network-wide bad-device list.
COMMUNITY_WARNING = (
    "This device has been reported by the payment network as used for fraud. "
    "Do not make payments on it; contact your bank from another phone."
)


def community_hash(value: str) -> str:
    """How network-wide lists name a device or app: SHA-256 hex of the trimmed, lower-cased
    identifier (so no partner's raw identifiers are shared)."""
    return hashlib.sha256(value.strip().lower().encode()).hexdigest()


def verdict_of(health: Health | None, *, community_hit: bool) -> DeviceVerdict | None:
    """What the engine reads from a device's latest health and its community status."""
    if health is None and not community_hit:
        return None
    if health is None:
        return DeviceVerdict(
            score=0,
            compromised=True,
            at_risk=False,
            reasons=("DEVICE_COMMUNITY_LISTED",),
            warnings=(COMMUNITY_WARNING,),
            community_hit=True,
        )
    reasons = tuple(signal.reason for signal in health.signals)
    warnings = tuple(signal.explanation for signal in health.signals)
    compromised = health.status == HealthStatus.COMPROMISED or community_hit
    if community_hit and "DEVICE_COMMUNITY_LISTED" not in reasons:
        reasons = ("DEVICE_COMMUNITY_LISTED", *reasons)
        warnings = (COMMUNITY_WARNING, *warnings)
    return DeviceVerdict(
        score=0 if community_hit else health.score,
        compromised=compromised,
        at_risk=health.status == HealthStatus.AT_RISK and not compromised,
        reasons=reasons,
        warnings=warnings,
        community_hit=community_hit,
    )


class DeviceVerdicts:
    """`DeviceHealthSource` over the device store and the community lists."""

    def __init__(
        self,
        repository: DeviceRepository,
        community: CommunityLists,
        *,
        now: Callable[[], datetime],
        ttl: float = 2.0,
        max_entries: int = 100_000,
        timer: Callable[[], float] = time.monotonic,
    ) -> None:
        self._repository = repository
        self._community = community
        self._now = now
        self._ttl = ttl
        self._max = max_entries
        self._timer = timer
        self._lock = threading.Lock()
        self._health: OrderedDict[tuple[str, str], tuple[float, Health | None]] = OrderedDict()
        self._listed: OrderedDict[str, tuple[float, bool]] = OrderedDict()
        #: Per tenant: (re-check after, has any device record); True is kept for good.
        self._tenants: dict[str, tuple[float, bool]] = {}
        self._community_checked = -1.0
        self._community_empty = False

    def verdict(
        self, tenant_id: str, device_id: str, fingerprint: str | None
    ) -> DeviceVerdict | None:
        health = self._cached_health(tenant_id, device_id) if self._reported(tenant_id) else None
        hit = self._listed_device(fingerprint or device_id)
        return verdict_of(health, community_hit=hit)

    def invalidate(self, tenant_id: str, device_id: str) -> None:
        """Forget a device (its health just changed in this worker)."""
        with self._lock:
            self._health.pop((tenant_id, device_id), None)
            self._tenants.pop(tenant_id, None)

    def _reported(self, tenant_id: str) -> bool:
        """Whether any device of the tenant ever reported (re-checked once per TTL while
        none has): most events then cost no device lookup at all."""
        now = self._timer()
        with self._lock:
            entry = self._tenants.get(tenant_id)
            if entry is not None and (entry[1] or entry[0] > now):
                return entry[1]
        found = self._repository.has_devices(tenant_id)
        with self._lock:
            self._tenants[tenant_id] = (now + self._ttl, found)
        return found

    def invalidate_community(self) -> None:
        with self._lock:
            self._listed.clear()
            self._community_checked = -1.0

    def _cached_health(self, tenant_id: str, device_id: str) -> Health | None:
        key = (tenant_id, device_id)
        now = self._timer()
        with self._lock:
            entry = self._health.get(key)
            if entry is not None and entry[0] > now:
                return entry[1]
        health = self._repository.health_of(tenant_id, device_id)
        self._remember(self._health, key, (now + self._ttl, health))
        return health

    def _listed_device(self, identifier: str) -> bool:
        now = self._timer()
        if now >= self._community_checked + self._ttl:
            # An empty network list (the usual laptop case) costs one cheap read per TTL.
            self._community_empty = self._community.version() == 0
            self._community_checked = now
        if self._community_empty:
            return False
        hashed = community_hash(identifier)
        with self._lock:
            entry = self._listed.get(hashed)
            if entry is not None and entry[0] > now:
                return entry[1]
        found = self._community.lookup(CommunityKind.DEVICE_FINGERPRINT, [hashed], self._now())
        self._remember(self._listed, hashed, (now + self._ttl, bool(found)))
        return bool(found)

    def _remember(self, cache: OrderedDict, key: object, value: object) -> None:  # type: ignore[type-arg]
        with self._lock:
            cache[key] = value
            cache.move_to_end(key)
            while len(cache) > self._max:
                cache.popitem(last=False)
