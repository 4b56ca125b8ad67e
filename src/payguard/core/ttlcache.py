"""Per-tenant values held in process for a while: a tenant's stored policy or recognizer set,
read from the store again once `ttl` seconds have passed (so a change made by another process
is seen within `ttl`), at most `size` tenants kept (the least recently stored out first)."""

from __future__ import annotations

import threading
from typing import Generic, TypeVar

from payguard.core.clock import Clock

__all__ = ["TenantCache"]

T = TypeVar("T")


class TenantCache(Generic[T]):
    """A value per tenant and when it was stored (thread-safe)."""

    def __init__(self, clock: Clock, *, ttl: float, size: int) -> None:
        self._clock = clock
        self._ttl = ttl
        self._size = size
        self._lock = threading.Lock()
        self._values: dict[str, tuple[float, T]] = {}

    def get(self, tenant_id: str) -> tuple[T, bool] | None:
        """The tenant's value and whether it is still fresh (stored under `ttl` seconds ago),
        or None when none is held."""
        with self._lock:
            held = self._values.get(tenant_id)
        if held is None:
            return None
        return held[1], self._clock.now().timestamp() - held[0] < self._ttl

    def put(self, tenant_id: str, value: T) -> None:
        """Hold `value` for the tenant from now on."""
        now = self._clock.now().timestamp()
        with self._lock:
            self._values.pop(tenant_id, None)
            self._values[tenant_id] = (now, value)
            while len(self._values) > self._size:
                self._values.pop(next(iter(self._values)))

    def __len__(self) -> int:
        return len(self._values)

    def clear(self) -> None:
        with self._lock:
            self._values.clear()
