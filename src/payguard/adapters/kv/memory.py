"""In-process entity state: a complete feature store, and a read-through cache for any store.

`MemoryEntityStateStore` is the feature store for tests and single-process runs.
`CachingAssessmentStore` keeps recently used entity states in process in front of a persistent
`AssessmentStore`; it is how the embedded default (`kv_url=memory://` over SQLite) reads state
without a round trip while SQLite persists it. It stays correct with several workers because
every write is version-checked by the store behind it: a stale cached state makes the write
fail with `StateConflict`, the cache forgets those keys, and the caller's retry reloads them.

Both serialise `data` with orjson, so a state comes back exactly as it would from Redis or SQL
(tuples as lists, non-JSON values refused at write time) and no caller can mutate what is
stored through a reference it kept.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

import orjson

from payguard.core.decisions import Action, Decision, Outcome
from payguard.core.errors import StateConflict
from payguard.risk.interfaces import (
    AssessmentStore,
    Decide,
    DecisionQuery,
    EntityState,
    Relabel,
)

__all__ = ["CachingAssessmentStore", "MemoryEntityStateStore"]

_StateKey = tuple[str, str]  # (tenant_id, entity key)
_Stored = tuple[int, bytes]  # (version, orjson-encoded data)
_Cached = tuple[int, dict[str, Any]]  # (version, data shared read-only)


def _keys(updates: Iterable[EntityState]) -> Iterator[str]:
    return (update.key for update in updates)


def _check_unique(updates: Sequence[EntityState]) -> None:
    """Two updates of one key in one write can only be a caller's bug; refuse it loudly."""
    if len({u.key for u in updates}) != len(updates):
        raise ValueError("each entity key may appear at most once in one write")


class MemoryEntityStateStore:
    """`EntityStateStore` in a dict guarded by a lock; keys and markers scoped by tenant.

    Markers are remembered for the last `max_markers` writes (Redis keeps them 30 days), so a
    long-running process does not grow without bound.
    """

    def __init__(self, *, max_markers: int = 1_000_000) -> None:
        if max_markers < 1:
            raise ValueError("max_markers must be at least 1")
        self._lock = threading.Lock()
        self._states: dict[_StateKey, _Stored] = {}
        self._markers: OrderedDict[_StateKey, None] = OrderedDict()
        self._max_markers = max_markers

    def load(self, tenant_id: str, keys: Sequence[str]) -> dict[str, EntityState]:
        with self._lock:
            found = [self._states.get((tenant_id, key)) for key in keys]
        return {
            key: EntityState(key)
            if item is None
            else EntityState(key, item[0], orjson.loads(item[1]))
            for key, item in zip(keys, found, strict=True)
        }

    def apply(self, tenant_id: str, marker: str, updates: Sequence[EntityState]) -> bool:
        _check_unique(updates)
        # Encode before taking the lock: a value orjson refuses fails the call with nothing written.
        encoded = [(u.key, u.version, orjson.dumps(u.data)) for u in updates]
        with self._lock:
            if (tenant_id, marker) in self._markers:
                return False
            for key, expected, _ in encoded:
                item = self._states.get((tenant_id, key))
                stored = 0 if item is None else item[0]
                if stored != expected:
                    raise StateConflict(
                        f"entity state changed since it was read (stored version {stored}, "
                        f"expected {expected}); reload and retry"
                    )
            for key, expected, blob in encoded:
                self._states[(tenant_id, key)] = (expected + 1, blob)
            self._markers[(tenant_id, marker)] = None
            if len(self._markers) > self._max_markers:
                self._markers.popitem(last=False)
        return True


class CachingAssessmentStore:
    """`AssessmentStore` that serves entity states from an LRU cache in front of `inner`.

    Invariant: a cached `(version, data)` pair is one the inner store really held, because it
    was either read from it or written to it by a write that the inner store accepted. Each
    version of a key is written once (CAS), so a cached entry can be old but never wrong, and
    an old one is caught by the inner store's version check. Of two candidate entries for a
    key the higher version wins.
    """

    def __init__(self, inner: AssessmentStore, *, max_entries: int = 200_000) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self._inner = inner
        self._max_entries = max_entries
        self._lock = threading.Lock()
        self._entries: OrderedDict[_StateKey, _Cached] = OrderedDict()

    def load_states(self, tenant_id: str, keys: Sequence[str]) -> dict[str, EntityState]:
        hits: dict[str, EntityState] = {}
        misses: list[str] = []
        with self._lock:
            for key in keys:
                item = self._entries.get((tenant_id, key))
                if item is None:
                    misses.append(key)
                else:
                    self._entries.move_to_end((tenant_id, key))
                    hits[key] = EntityState(key, item[0], item[1])
        if not misses:
            return hits
        fetched = self._inner.load_states(tenant_id, list(dict.fromkeys(misses)))
        self._remember(tenant_id, fetched.values(), bump=False)
        return {key: hits[key] if key in hits else fetched[key] for key in keys}

    def record(self, decision: Decision, updates: Sequence[EntityState]) -> Decision:
        """Delegates, then caches `updates` as version + 1 if `decision` is the one stored.

        An earlier decision for the event (another assessment id) means our updates were not
        applied, so their keys are forgotten instead. This relies on one assessment id never
        being recorded with two different sets of updates.
        """
        try:
            stored = self._inner.record(decision, updates)
        except BaseException:
            # A conflict means our copy is stale; any other failure leaves the write's fate unknown.
            self._forget(decision.tenant_id, _keys(updates))
            raise
        self._settle(decision, updates, stored)
        return stored

    def record_many(
        self, items: Sequence[tuple[Decision, Sequence[EntityState]]]
    ) -> list[Decision | StateConflict]:
        """Delegates, then caches or forgets each item's updates as `record` does."""
        try:
            results = self._inner.record_many(items)
        except BaseException:
            for decision, updates in items:
                self._forget(decision.tenant_id, _keys(updates))
            raise
        for (decision, updates), result in zip(items, results, strict=True):
            self._settle(decision, updates, result)
        return results

    def _settle(
        self,
        decision: Decision,
        updates: Sequence[EntityState],
        result: Decision | StateConflict,
    ) -> None:
        """Cache `updates` if `decision` itself was stored; otherwise (a duplicate event, whose
        earlier decision stands, or a conflict) they were not applied: forget the keys."""
        if isinstance(result, Decision) and result.assessment_id == decision.assessment_id:
            self._remember(decision.tenant_id, updates, bump=True)
        else:
            self._forget(decision.tenant_id, _keys(updates))

    def write_states(self, tenant_id: str, updates: Sequence[EntityState]) -> None:
        """Delegates, then caches `updates` as version + 1; forgets their keys if it fails."""
        try:
            self._inner.write_states(tenant_id, updates)
        except BaseException:
            self._forget(tenant_id, _keys(updates))
            raise
        self._remember(tenant_id, updates, bump=True)

    def decide_and_record(
        self, tenant_id: str, keys: Sequence[str], decide: Decide
    ) -> tuple[Decision, Decision]:
        """Delegates (the inner store loads fresh states itself), then caches or forgets
        the written states as `record` does."""
        decided: list[tuple[Decision, list[EntityState]]] = []

        def keep(states: Mapping[str, EntityState]) -> tuple[Decision, list[EntityState]]:
            decided.append(decide(states))
            return decided[-1]

        try:
            stored, decision = self._inner.decide_and_record(tenant_id, keys, keep)
        except BaseException:
            self._forget(tenant_id, keys)
            raise
        self._settle(decision, decided[-1][1], stored)
        return stored, decision

    def record_outcome(
        self,
        tenant_id: str,
        assessment_id: str,
        outcome: Outcome,
        at: datetime,
        keys: Sequence[str],
        adjust: Relabel,
    ) -> tuple[Decision, Outcome | None]:
        """Delegates (the inner store reads the states it adjusts itself), then forgets
        `keys`: outcomes are rare, and the next load refetches what was written."""
        try:
            return self._inner.record_outcome(tenant_id, assessment_id, outcome, at, keys, adjust)
        finally:
            self._forget(tenant_id, keys)

    def finalize(self, tenant_id: str, assessment_id: str, final: Action, at: datetime) -> Decision:
        return self._inner.finalize(tenant_id, assessment_id, final, at)

    def get(self, tenant_id: str, assessment_id: str) -> Decision | None:
        return self._inner.get(tenant_id, assessment_id)

    def get_by_event(self, tenant_id: str, event_id: str) -> Decision | None:
        return self._inner.get_by_event(tenant_id, event_id)

    def digest_of(self, tenant_id: str, assessment_id: str) -> str | None:
        return self._inner.digest_of(tenant_id, assessment_id)

    def search(self, tenant_id: str, query: DecisionQuery) -> list[Decision]:
        return self._inner.search(tenant_id, query)

    def iter_decisions(
        self,
        tenant_id: str,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 10_000,
    ) -> Iterator[Decision]:
        return self._inner.iter_decisions(tenant_id, since=since, until=until, limit=limit)

    def _remember(self, tenant_id: str, states: Iterable[EntityState], *, bump: bool) -> None:
        """Cache `states` as read (`bump=False`) or as just written (stored as version + 1).

        The data dicts are kept as they are, not copied: states are read-only once loaded or
        written (the feature code builds new dicts for every update), and copying them cost
        more than the rest of the cache.
        """
        with self._lock:
            for state in states:
                version = state.version + 1 if bump else state.version
                slot = (tenant_id, state.key)
                current = self._entries.get(slot)
                if current is not None and current[0] > version:
                    continue
                self._entries[slot] = (version, state.data)
                self._entries.move_to_end(slot)
            while len(self._entries) > self._max_entries:
                self._entries.popitem(last=False)

    def _forget(self, tenant_id: str, keys: Iterable[str]) -> None:
        with self._lock:
            for key in keys:
                self._entries.pop((tenant_id, key), None)
