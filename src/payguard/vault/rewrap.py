"""Re-sealing stored values under their current key version, and counting them by version.

Each store of sealed values (TOTP secrets, tokens) registers as a `SealedValues`. A rewrap
walks each store in pages ordered by (tenant, id), re-seals every value whose key version is
below its (tenant, purpose) pair's current one, and replaces it by compare-and-set: a value
changed meanwhile is left as the concurrent writer stored it (already under the current
version) and counted as `changed`. Online and idempotent: a second run finds nothing to do.
One audit line per store, tenant and purpose that had work.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import structlog

from payguard.audit.interfaces import Actor, AuditAction, AuditWriter
from payguard.vault.interfaces import (
    KeyStatus,
    SealedRecord,
    SealedValueRejected,
    SealedValues,
    check_purpose,
)
from payguard.vault.keys import Keyring

__all__ = ["RewrapResult", "Rewrapper"]

log = structlog.get_logger(__name__)

#: How many values are listed and re-sealed per page.
BATCH = 500


@dataclass(slots=True)
class RewrapResult:
    """What a rewrap did for one store, tenant and purpose."""

    store: str
    tenant_id: str
    purpose: str
    resealed: int = 0
    #: Changed by a concurrent write between listing and replacing: left as written.
    changed: int = 0
    #: Did not open (altered, or under a retired or unknown version): left in place.
    unopenable: int = 0


class Rewrapper:
    """The registry of `SealedValues` stores: rewraps them and counts their values."""

    def __init__(
        self,
        keys: Keyring,
        stores: Sequence[SealedValues] = (),
        *,
        audit: AuditWriter,
        batch: int = BATCH,
    ) -> None:
        self._keys = keys
        self._stores: dict[str, SealedValues] = {}
        self._audit = audit
        self._batch = batch
        for store in stores:
            self.register(store)

    def register(self, store: SealedValues) -> None:
        """Add a store; ValueError if one of that name is registered."""
        if store.name in self._stores:
            raise ValueError(f"a sealed-value store named {store.name!r} is registered")
        self._stores[store.name] = store

    @property
    def stores(self) -> list[str]:
        return list(self._stores)

    def counts(
        self, *, tenant_id: str | None = None, purpose: str | None = None
    ) -> Counter[tuple[str, str, int]]:
        """How many stored values each (tenant, purpose, key version) protects; version 0
        counts values in a store's legacy format, sealed outside the keyring."""
        if purpose is not None:
            check_purpose(purpose)
        counted: Counter[tuple[str, str, int]] = Counter()
        for store in self._stores.values():
            for record in self._walk(store, tenant_id, purpose):
                counted[(record.tenant_id, record.purpose, record.version)] += 1
        return counted

    def status(
        self, *, tenant_id: str | None = None, purpose: str | None = None
    ) -> list[KeyStatus]:
        """`Keyring.status` with how many stored values each version still protects (left
        None for a purpose no registered store keeps)."""
        counted = self.counts(tenant_id=tenant_id, purpose=purpose)
        return [
            dataclasses.replace(
                row, protects=counted[(row.key.tenant_id, row.key.purpose, row.key.version)]
            )
            if self.covers(row.key.purpose)
            else row
            for row in self._keys.status(tenant_id=tenant_id, purpose=purpose)
        ]

    def covers(self, purpose: str) -> bool:
        """Whether a registered store keeps values of `purpose`."""
        return any(store.covers(purpose) for store in self._stores.values())

    def pending(self, *, tenant_id: str | None = None, purpose: str | None = None) -> int:
        """How many stored values are under a version below their pair's current one."""
        if purpose is not None:
            check_purpose(purpose)
        currents: dict[tuple[str, str], int] = {}
        return sum(
            1
            for store in self._stores.values()
            for record in self._walk(store, tenant_id, purpose)
            if self._stale(record, currents)
        )

    def rewrap(
        self,
        *,
        actor: Actor,
        tenant_id: str | None = None,
        purpose: str | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> list[RewrapResult]:
        """Re-seal every matching value under its pair's current key version; `progress`
        is called with how many values each page handled."""
        if purpose is not None:
            check_purpose(purpose)
        results: dict[tuple[str, str, str], RewrapResult] = {}
        currents: dict[tuple[str, str], int] = {}
        for name, store in self._stores.items():
            for page in self._pages(store, tenant_id, purpose):
                handled = 0
                for record in page:
                    if not self._stale(record, currents):
                        continue
                    slot = (name, record.tenant_id, record.purpose)
                    result = results.setdefault(slot, RewrapResult(*slot))
                    handled += 1
                    try:
                        replaced = store.reseal(record)
                    except SealedValueRejected:
                        log.warning("vault.rewrap_unopenable", store=name, record_id=record.id)
                        result.unopenable += 1
                        continue
                    if replaced:
                        result.resealed += 1
                    else:
                        result.changed += 1
                if progress is not None and handled:
                    progress(handled)
        for result in results.values():
            self._audit.success(
                AuditAction.KEY_REWRAP,
                actor,
                f"key:{result.purpose}",
                tenant_id=result.tenant_id,
                details={
                    "store": result.store,
                    "resealed": result.resealed,
                    "changed": result.changed,
                    "unopenable": result.unopenable,
                },
            )
        return sorted(results.values(), key=lambda r: (r.store, r.tenant_id, r.purpose))

    def _stale(self, record: SealedRecord, currents: dict[tuple[str, str], int]) -> bool:
        pair = (record.tenant_id, record.purpose)
        if pair not in currents:
            currents[pair] = self._keys.data_key(*pair)[0]
        return record.version < currents[pair]

    def _pages(
        self, store: SealedValues, tenant_id: str | None, purpose: str | None
    ) -> Iterator[list[SealedRecord]]:
        after: tuple[str, str] | None = None
        while True:
            page = store.records(
                tenant_id=tenant_id, purpose=purpose, after=after, limit=self._batch
            )
            if not page:
                return
            yield page
            if len(page) < self._batch:
                return
            after = (page[-1].tenant_id, page[-1].id)

    def _walk(
        self, store: SealedValues, tenant_id: str | None, purpose: str | None
    ) -> Iterator[SealedRecord]:
        for page in self._pages(store, tenant_id, purpose):
            yield from page
