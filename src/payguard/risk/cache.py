"""Per-tenant values each worker caches and re-validates by polling a version counter."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class PolledCache(Generic[T]):
    """A value per tenant, trusted for `ttl` seconds, then re-validated against a cheap
    version poll and reloaded only when the version moved.

    A change made through this worker is `put` (or `invalidate`d) at once; one made through
    another worker shows within `ttl`. `timer` gives the seconds the TTL is measured in
    (monotonic by default; tests pass their clock's); a timer that went backwards re-validates.
    """

    def __init__(
        self,
        *,
        ttl: float,
        version: Callable[[str], int],
        load: Callable[[str, int], T],
        timer: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ttl = ttl
        self._version = version
        self._load = load
        self._timer = timer
        self._lock = threading.Lock()
        self._entries: dict[str, tuple[int, float, T]] = {}

    def get(self, tenant_id: str) -> T:
        entry = self._entries.get(tenant_id)
        now = self._timer()
        if entry is not None and 0 <= now - entry[1] < self._ttl:
            return entry[2]
        version = self._version(tenant_id)
        if entry is not None and entry[0] == version:
            value = entry[2]
        else:
            value = self._load(tenant_id, version)
        self.put(tenant_id, version, value, at=now)
        return value

    def put(self, tenant_id: str, version: int, value: T, *, at: float | None = None) -> None:
        with self._lock:
            self._entries[tenant_id] = (version, self._timer() if at is None else at, value)

    def invalidate(self, tenant_id: str) -> None:
        with self._lock:
            self._entries.pop(tenant_id, None)
