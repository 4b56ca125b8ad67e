"""Device health in the relational store: per-tenant device records, their report history and
genuine apps (`SqlDeviceRepository`), and the network-wide community lists
(`SqlCommunityLists`).

`save` is an optimistic compare-and-set on the record's `version`: an `INSERT` for a new
record, else `UPDATE ... WHERE version = :read`. PostgreSQL re-checks the guard against the
newest row after waiting on a concurrent writer's row lock, and SQLite's write lock puts
writers in a line, so of two saves from the same read exactly one stores; the other gets
`StateConflict` and recomputes.

The community lists have no tenant: every tenant reads (and may feed) the same entries, which
hold SHA-256 hashes only. `community_state` holds one change counter, bumped in the same
transaction as every add or remove that changed something, so verdict caches poll `version`.

Rows and domain objects are separate: `_record`, `_health`, `_snapshot` and `_entry` convert.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from payguard.adapters.sql import tables
from payguard.adapters.sql._dbapi import RawDialect, RawRead
from payguard.adapters.sql._errors import StoreErrors
from payguard.adapters.sql.engine import for_reads, for_writes
from payguard.core.errors import StateConflict
from payguard.devices.interfaces import (
    CommunityEntry,
    CommunityKind,
    DeviceRecord,
    Health,
    HealthSignal,
    HealthSnapshot,
    HealthStatus,
)

__all__ = ["SqlCommunityLists", "SqlDeviceRepository"]

_D = tables.devices
_SN = tables.device_snapshots
_G = tables.genuine_apps
_CE = tables.community_entries
_CS = tables.community_state

#: Values per IN (...) list; far below every driver's parameter limit.
_CHUNK = 500

#: The one row of `community_state`.
_STATE_ID = 1

_RECORD = (
    _D.c.tenant_id,
    _D.c.device_id,
    _D.c.first_seen,
    _D.c.last_seen,
    _D.c.platform,
    _D.c.fingerprint_hash,
    _D.c.accounts,
    _D.c.health,
    _D.c.health_at,
    _D.c.attest_key_id,
    _D.c.attest_public_key,
    _D.c.attest_counter,
    _D.c.version,
    _D.c.extra,
)
_SNAPSHOT = (
    _SN.c.at,
    _SN.c.score,
    _SN.c.status,
    _SN.c.reasons,
    _SN.c.assurance,
    _SN.c.report,
)
_ENTRY = (
    _CE.c.kind,
    _CE.c.hashed,
    _CE.c.source,
    _CE.c.confidence,
    _CE.c.added_at,
    _CE.c.expires_at,
    _CE.c.note,
)

#: Refreshes an existing entry, and only if something differs: a repeated add of the same
#: entry changes nothing, so it does not bump the counter. `added_at` keeps the first report.
_REFRESH_ENTRY = (
    sa.update(_CE)
    .where(
        _CE.c.kind == sa.bindparam("b_kind"),
        _CE.c.hashed == sa.bindparam("b_hashed"),
        sa.or_(
            _CE.c.source != sa.bindparam("b_source"),
            _CE.c.confidence != sa.bindparam("b_confidence"),
            _CE.c.expires_at.is_distinct_from(
                sa.bindparam("b_expires_at", type_=tables.UtcDateTime)
            ),
            _CE.c.note.is_distinct_from(sa.bindparam("b_note", type_=sa.Text)),
        ),
    )
    .values(
        source=sa.bindparam("b_source"),
        confidence=sa.bindparam("b_confidence"),
        expires_at=sa.bindparam("b_expires_at", type_=tables.UtcDateTime),
        note=sa.bindparam("b_note", type_=sa.Text),
    )
)


class SqlDeviceRepository:
    """`DeviceRepository` on SQL."""

    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine
        self._reads = for_reads(engine)
        self._writes = for_writes(engine)
        # A serialisation failure is a lost race like a stale version: the caller recomputes.
        self._guard = StoreErrors(engine, StateConflict)
        self._raw = RawDialect(engine)
        self._health_sql = self._raw.sql(
            "SELECT health FROM devices WHERE tenant_id = ? AND device_id = ?"
        )

    def health_of(self, tenant_id: str, device_id: str) -> Health | None:
        # The hot path's read (a cache miss per device and TTL): one raw statement.
        with self._guard, RawRead(self._engine, self._raw) as cursor:
            cursor.execute(self._health_sql, (tenant_id, device_id))
            row = cursor.fetchone()
        if row is None or row[0] is None:
            return None
        return _health(tables.from_json(row[0]))

    def prune_history(self, before: datetime) -> int:
        with self._guard, self._writes.begin() as conn:
            removed: int = conn.execute(sa.delete(_SN).where(_SN.c.at < before)).rowcount
        return removed

    def has_devices(self, tenant_id: str) -> bool:
        query = sa.select(_D.c.device_id).where(_D.c.tenant_id == tenant_id).limit(1)
        with self._guard, self._reads.connect() as conn:
            return conn.execute(query).first() is not None

    def get(self, tenant_id: str, device_id: str) -> DeviceRecord | None:
        query = sa.select(*_RECORD).where(_D.c.tenant_id == tenant_id, _D.c.device_id == device_id)
        with self._guard, self._reads.connect() as conn:
            row = conn.execute(query).first()
        return None if row is None else _record(row)

    def save(self, record: DeviceRecord) -> DeviceRecord:
        if record.version < 0:
            raise ValueError(f"negative version for device {record.device_id!r}")
        row = _record_row(record)
        row["version"] = record.version + 1
        if record.version == 0:
            try:
                with self._guard, self._writes.begin() as conn:
                    conn.execute(sa.insert(_D), row)
            except sa.exc.IntegrityError as exc:
                raise StateConflict(
                    f"device {record.device_id!r} was created since it was read"
                ) from exc
        else:
            del row["tenant_id"], row["device_id"]
            update = (
                sa.update(_D)
                .where(
                    _D.c.tenant_id == record.tenant_id,
                    _D.c.device_id == record.device_id,
                    _D.c.version == record.version,
                )
                .values(row)
            )
            with self._guard, self._writes.begin() as conn:
                changed = conn.execute(update).rowcount
            if changed != 1:
                raise StateConflict(f"device {record.device_id!r} changed since it was read")
        return dataclasses.replace(record, version=record.version + 1)

    def add_snapshot(self, tenant_id: str, device_id: str, snapshot: HealthSnapshot) -> None:
        row = {
            "tenant_id": tenant_id,
            "device_id": device_id,
            "at": snapshot.at,
            "score": snapshot.score,
            "status": snapshot.status.value,
            "reasons": tables.to_json(list(snapshot.reasons)),
            "assurance": snapshot.assurance,
            "report": tables.to_json(snapshot.report),
        }
        with self._guard, self._writes.begin() as conn:
            conn.execute(sa.insert(_SN), row)

    def history(self, tenant_id: str, device_id: str, *, limit: int = 50) -> list[HealthSnapshot]:
        if limit <= 0:
            return []
        query = (
            sa.select(*_SNAPSHOT)
            .where(_SN.c.tenant_id == tenant_id, _SN.c.device_id == device_id)
            .order_by(_SN.c.at.desc(), _SN.c.seq.desc())
            .limit(limit)
        )
        with self._guard, self._reads.connect() as conn:
            return [_snapshot(row) for row in conn.execute(query)]

    def set_genuine_apps(self, tenant_id: str, apps: Sequence[tuple[str, Sequence[str]]]) -> None:
        """A package named twice keeps the digests of both, each once, in first-seen order."""
        digests: dict[str, dict[str, None]] = {}
        for package, signing_digests in apps:
            digests.setdefault(package, {}).update(dict.fromkeys(signing_digests))
        rows = [
            {"tenant_id": tenant_id, "package": package, "signing_digests": tables.to_json(list(d))}
            for package, d in digests.items()
        ]
        with self._guard, self._writes.begin() as conn:
            conn.execute(sa.delete(_G).where(_G.c.tenant_id == tenant_id))
            if rows:
                conn.execute(sa.insert(_G), rows)

    def genuine_apps(self, tenant_id: str) -> list[tuple[str, tuple[str, ...]]]:
        """Ordered by package."""
        query = (
            sa.select(_G.c.package, _G.c.signing_digests)
            .where(_G.c.tenant_id == tenant_id)
            .order_by(_G.c.package)
        )
        with self._guard, self._reads.connect() as conn:
            return [
                (package, tuple(tables.from_json(digests)))
                for package, digests in conn.execute(query)
            ]


class SqlCommunityLists:
    """`CommunityLists` on SQL, shared by every tenant."""

    def __init__(self, engine: sa.Engine) -> None:
        dialect = engine.dialect.name
        self._reads = for_reads(engine)
        self._writes = for_writes(engine)
        self._guard = StoreErrors(engine)
        self._insert_new = (
            tables.dialect_insert(dialect, _CE)
            .on_conflict_do_nothing(index_elements=[_CE.c.kind, _CE.c.hashed])
            .returning(_CE.c.kind, _CE.c.hashed)
        )
        self._bump = (
            tables.dialect_insert(dialect, _CS)
            .values(id=_STATE_ID, version=1)
            .on_conflict_do_update(index_elements=[_CS.c.id], set_={"version": _CS.c.version + 1})
        )

    def add(self, entries: Sequence[CommunityEntry]) -> int:
        """Upsert by (kind, hashed): a known entry takes the new source, confidence, expiry
        and note but keeps its `added_at`. Returns how many were new; a later entry for the
        same (kind, hashed) in `entries` wins."""
        latest = {(entry.kind, entry.hashed): entry for entry in entries}
        if not latest:
            return 0
        # One lock order for every writer, so two PostgreSQL transactions cannot deadlock.
        ordered = [latest[key] for key in sorted(latest)]
        added = refreshed = 0
        with self._guard, self._writes.begin() as conn:
            for start in range(0, len(ordered), _CHUNK):
                chunk = ordered[start : start + _CHUNK]
                # ON CONFLICT DO NOTHING waits for a concurrent insert of the same key and
                # then skips it, so each new entry is counted by exactly one writer.
                inserted = {
                    (CommunityKind(kind), hashed)
                    for kind, hashed in conn.execute(
                        self._insert_new, [_entry_row(e) for e in chunk]
                    )
                }
                added += len(inserted)
                known = [_refresh_row(e) for e in chunk if (e.kind, e.hashed) not in inserted]
                if known:
                    refreshed += conn.execute(_REFRESH_ENTRY, known).rowcount
            if added or refreshed:
                conn.execute(self._bump)
        return added

    def purge_expired(self, before: datetime) -> int:
        with self._guard, self._writes.begin() as conn:
            removed: int = conn.execute(
                sa.delete(_CE).where(_CE.c.expires_at.is_not(None), _CE.c.expires_at < before)
            ).rowcount
            if removed:
                conn.execute(self._bump)
        return removed

    def remove(self, kind: CommunityKind, hashed: Sequence[str]) -> int:
        unique = sorted(set(hashed))
        if not unique:
            return 0
        removed = 0
        with self._guard, self._writes.begin() as conn:
            for start in range(0, len(unique), _CHUNK):
                removed += conn.execute(
                    sa.delete(_CE).where(
                        _CE.c.kind == kind.value, _CE.c.hashed.in_(unique[start : start + _CHUNK])
                    )
                ).rowcount
            if removed:
                conn.execute(self._bump)
        return removed

    def lookup(
        self, kind: CommunityKind, hashed: Sequence[str], at: datetime
    ) -> list[CommunityEntry]:
        """In the order of `hashed`, each entry once."""
        order: dict[str, int] = {}
        for i, value in enumerate(hashed):
            order.setdefault(value, i)
        unique = list(order)
        found: list[CommunityEntry] = []
        with self._guard, self._reads.connect() as conn:
            for start in range(0, len(unique), _CHUNK):
                query = sa.select(*_ENTRY).where(
                    _CE.c.kind == kind.value,
                    _CE.c.hashed.in_(unique[start : start + _CHUNK]),
                    sa.or_(_CE.c.expires_at.is_(None), _CE.c.expires_at > at),
                )
                found.extend(_entry(row) for row in conn.execute(query))
        found.sort(key=lambda entry: order[entry.hashed])
        return found

    def version(self) -> int:
        query = sa.select(_CS.c.version).where(_CS.c.id == _STATE_ID)
        with self._guard, self._reads.connect() as conn:
            version = conn.execute(query).scalar_one_or_none()
        return 0 if version is None else int(version)


# converters


def _record_row(record: DeviceRecord) -> dict[str, Any]:
    return {
        "tenant_id": record.tenant_id,
        "device_id": record.device_id,
        "first_seen": record.first_seen,
        "last_seen": record.last_seen,
        "platform": record.platform,
        "fingerprint_hash": record.fingerprint_hash,
        "accounts": tables.to_json(list(record.accounts)),
        "health": None
        if record.health is None
        else tables.to_json(_health_document(record.health)),
        "health_at": record.health_at,
        "attest_key_id": record.attest_key_id,
        "attest_public_key": record.attest_public_key,
        "attest_counter": record.attest_counter,
        "extra": tables.to_json(record.extra),
    }


def _record(row: Sequence[Any]) -> DeviceRecord:
    (
        tenant_id,
        device_id,
        first_seen,
        last_seen,
        platform,
        fingerprint_hash,
        accounts,
        health,
        health_at,
        attest_key_id,
        attest_public_key,
        attest_counter,
        version,
        extra,
    ) = row
    return DeviceRecord(
        tenant_id=tenant_id,
        device_id=device_id,
        first_seen=first_seen,
        last_seen=last_seen,
        platform=platform,
        fingerprint_hash=fingerprint_hash,
        accounts=tuple(tables.from_json(accounts)),
        health=None if health is None else _health(tables.from_json(health)),
        health_at=health_at,
        attest_key_id=attest_key_id,
        attest_public_key=None if attest_public_key is None else bytes(attest_public_key),
        attest_counter=int(attest_counter),
        version=int(version),
        extra=tables.from_json(extra),
    )


def _health_document(health: Health) -> dict[str, Any]:
    return {
        "score": health.score,
        "status": health.status.value,
        "assurance": health.assurance,
        "signals": [
            {
                "id": signal.id,
                "reason": signal.reason,
                "weight": signal.weight,
                "explanation": signal.explanation,
                "remedy": signal.remedy,
                "compromised": signal.compromised,
            }
            for signal in health.signals
        ],
    }


def _health(document: dict[str, Any]) -> Health:
    return Health(
        score=document["score"],
        status=HealthStatus(document["status"]),
        assurance=document["assurance"],
        signals=tuple(
            HealthSignal(
                id=signal["id"],
                reason=signal["reason"],
                weight=signal["weight"],
                explanation=signal["explanation"],
                remedy=signal["remedy"],
                compromised=signal["compromised"],
            )
            for signal in document["signals"]
        ),
    )


def _snapshot(row: Sequence[Any]) -> HealthSnapshot:
    at, score, status, reasons, assurance, report = row
    return HealthSnapshot(
        at=at,
        score=score,
        status=HealthStatus(status),
        reasons=tuple(tables.from_json(reasons)),
        assurance=assurance,
        report=tables.from_json(report),
    )


def _entry_row(entry: CommunityEntry) -> dict[str, Any]:
    return {
        "kind": entry.kind.value,
        "hashed": entry.hashed,
        "source": entry.source,
        "confidence": entry.confidence,
        "added_at": entry.added_at,
        "expires_at": entry.expires_at,
        "note": entry.note,
    }


def _refresh_row(entry: CommunityEntry) -> dict[str, Any]:
    return {
        "b_kind": entry.kind.value,
        "b_hashed": entry.hashed,
        "b_source": entry.source,
        "b_confidence": entry.confidence,
        "b_expires_at": entry.expires_at,
        "b_note": entry.note,
    }


def _entry(row: Sequence[Any]) -> CommunityEntry:
    kind, hashed, source, confidence, added_at, expires_at, note = row
    return CommunityEntry(
        kind=CommunityKind(kind),
        hashed=hashed,
        source=source,
        confidence=confidence,
        added_at=added_at,
        expires_at=expires_at,
        note=note,
    )
