"""Block and allow lists in the relational store, with a per-tenant change counter.

A list's kind is stored in `lists` when its first item arrives and never changes, even when
the list is emptied. `list_versions` holds one counter per tenant, bumped in the same
transaction as every add or remove that changed something, so the rule engine can cache a
snapshot and poll `version` cheaply.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from payguard.adapters.sql import tables
from payguard.adapters.sql._errors import StoreErrors
from payguard.adapters.sql.engine import for_reads, for_writes
from payguard.core.errors import ValidationFailed
from payguard.risk.interfaces import ListItem, ListKind

__all__ = ["SqlListRepository"]

_LISTS = tables.lists
_ITEMS = tables.list_items
_VERSIONS = tables.list_versions

#: Values per IN (...) list; far below every driver's parameter limit.
_CHUNK = 500

_ITEM_COLUMNS = (
    _ITEMS.c.list_name,
    _ITEMS.c.kind,
    _ITEMS.c.value,
    _ITEMS.c.added_at,
    _ITEMS.c.expires_at,
    _ITEMS.c.note,
)

_UPDATE_ITEM = (
    sa.update(_ITEMS)
    .where(
        _ITEMS.c.tenant_id == sa.bindparam("b_tenant_id"),
        _ITEMS.c.list_name == sa.bindparam("b_list_name"),
        _ITEMS.c.value == sa.bindparam("b_value"),
    )
    .values(
        added_at=sa.bindparam("b_added_at"),
        expires_at=sa.bindparam("b_expires_at"),
        note=sa.bindparam("b_note"),
    )
)


class SqlListRepository:
    """`ExpiringListRepository` on SQL."""

    def __init__(self, engine: sa.Engine) -> None:
        self._reads = for_reads(engine)
        self._writes = for_writes(engine)
        self._guard = StoreErrors(engine)
        dialect = engine.dialect.name
        self._define_list = tables.dialect_insert(dialect, _LISTS).on_conflict_do_nothing(
            index_elements=[_LISTS.c.tenant_id, _LISTS.c.list_name]
        )
        self._bump = tables.dialect_insert(dialect, _VERSIONS).on_conflict_do_update(
            index_elements=[_VERSIONS.c.tenant_id],
            set_={"version": _VERSIONS.c.version + 1},
        )

    def kind_of(self, tenant_id: str, list_name: str) -> ListKind | None:
        query = sa.select(_LISTS.c.kind).where(
            _LISTS.c.tenant_id == tenant_id, _LISTS.c.list_name == list_name
        )
        with self._guard, self._reads.connect() as conn:
            kind = conn.execute(query).scalar_one_or_none()
        return None if kind is None else ListKind(kind)

    def add(self, tenant_id: str, items: Sequence[ListItem]) -> int:
        """Upsert items (a repeated value replaces the stored item); returns how many were
        new. Every item must match its list's kind, else nothing is written."""
        latest: dict[tuple[str, str], ListItem] = {}
        first_kind: dict[str, ListKind] = {}
        for item in items:
            kind = first_kind.setdefault(item.list_name, item.kind)
            if item.kind != kind:
                raise ValidationFailed(
                    f"list {item.list_name!r} cannot hold both {kind} and {item.kind} items",
                    field="kind",
                )
            latest[(item.list_name, item.value)] = item
        if not latest:
            return 0
        with self._guard, self._writes.begin() as conn:
            names = sorted(first_kind)
            conn.execute(
                self._define_list,
                [
                    {"tenant_id": tenant_id, "list_name": name, "kind": first_kind[name].value}
                    for name in names
                ],
            )
            stored_kinds: dict[str, str] = {
                name: kind
                for name, kind in conn.execute(
                    sa.select(_LISTS.c.list_name, _LISTS.c.kind).where(
                        _LISTS.c.tenant_id == tenant_id, _LISTS.c.list_name.in_(names)
                    )
                )
            }
            for name in names:
                if stored_kinds[name] != first_kind[name].value:
                    raise ValidationFailed(
                        f"list {name!r} holds {stored_kinds[name]} items, "
                        f"not {first_kind[name].value}",
                        field="kind",
                    )
            stored = self._stored_items(conn, tenant_id, list(latest))
            fresh: list[dict[str, Any]] = []
            changed: list[dict[str, Any]] = []
            for (name, value), item in latest.items():
                before = stored.get((name, value))
                if before is None:
                    fresh.append(
                        {
                            "tenant_id": tenant_id,
                            "list_name": name,
                            "value": value,
                            "kind": item.kind.value,
                            "added_at": item.added_at,
                            "expires_at": item.expires_at,
                            "note": item.note,
                        }
                    )
                elif before != item:
                    changed.append(
                        {
                            "b_tenant_id": tenant_id,
                            "b_list_name": name,
                            "b_value": value,
                            "b_added_at": item.added_at,
                            "b_expires_at": item.expires_at,
                            "b_note": item.note,
                        }
                    )
            if fresh:
                conn.execute(sa.insert(_ITEMS), fresh)
            if changed:
                conn.execute(_UPDATE_ITEM, changed)
            if fresh or changed:
                conn.execute(self._bump, {"tenant_id": tenant_id, "version": 1})
        return len(fresh)

    def _stored_items(
        self, conn: sa.Connection, tenant_id: str, wanted: Sequence[tuple[str, str]]
    ) -> dict[tuple[str, str], ListItem]:
        by_list: dict[str, list[str]] = {}
        for name, value in wanted:
            by_list.setdefault(name, []).append(value)
        found: dict[tuple[str, str], ListItem] = {}
        for name, values in by_list.items():
            for start in range(0, len(values), _CHUNK):
                query = sa.select(*_ITEM_COLUMNS).where(
                    _ITEMS.c.tenant_id == tenant_id,
                    _ITEMS.c.list_name == name,
                    _ITEMS.c.value.in_(values[start : start + _CHUNK]),
                )
                for row in conn.execute(query):
                    item = _item(row)
                    found[(item.list_name, item.value)] = item
        return found

    def remove(self, tenant_id: str, list_name: str, values: Sequence[str]) -> int:
        unique = sorted(set(values))
        if not unique:
            return 0
        removed = 0
        with self._guard, self._writes.begin() as conn:
            for start in range(0, len(unique), _CHUNK):
                removed += conn.execute(
                    sa.delete(_ITEMS).where(
                        _ITEMS.c.tenant_id == tenant_id,
                        _ITEMS.c.list_name == list_name,
                        _ITEMS.c.value.in_(unique[start : start + _CHUNK]),
                    )
                ).rowcount
            if removed:
                conn.execute(self._bump, {"tenant_id": tenant_id, "version": 1})
        return removed

    def items(
        self, tenant_id: str, list_name: str, *, limit: int = 1000, after: str | None = None
    ) -> list[ListItem]:
        """Items ordered by value, paged by `after` (the last value of the previous page)."""
        if limit <= 0:
            return []
        query = sa.select(*_ITEM_COLUMNS).where(
            _ITEMS.c.tenant_id == tenant_id, _ITEMS.c.list_name == list_name
        )
        if after is not None:
            query = query.where(_ITEMS.c.value > after)
        query = query.order_by(_ITEMS.c.value).limit(limit)
        with self._guard, self._reads.connect() as conn:
            return [_item(row) for row in conn.execute(query)]

    def snapshot(
        self, tenant_id: str, at: datetime
    ) -> Mapping[ListKind, Mapping[str, tuple[str, ...]]]:
        """Every item unexpired at `at`: kind → value → names of the lists holding it."""
        query = (
            sa.select(_ITEMS.c.kind, _ITEMS.c.value, _ITEMS.c.list_name)
            .where(
                _ITEMS.c.tenant_id == tenant_id,
                sa.or_(_ITEMS.c.expires_at.is_(None), _ITEMS.c.expires_at > at),
            )
            .order_by(_ITEMS.c.kind, _ITEMS.c.value, _ITEMS.c.list_name)
        )
        grouped: dict[ListKind, dict[str, list[str]]] = {}
        with self._guard, self._reads.connect() as conn:
            for kind, value, list_name in conn.execute(query):
                grouped.setdefault(ListKind(kind), {}).setdefault(value, []).append(list_name)
        return {
            kind: {value: tuple(names) for value, names in values.items()}
            for kind, values in grouped.items()
        }

    def next_expiry(self, tenant_id: str, after: datetime) -> datetime | None:
        query = sa.select(sa.func.min(_ITEMS.c.expires_at)).where(
            _ITEMS.c.tenant_id == tenant_id, _ITEMS.c.expires_at > after
        )
        with self._guard, self._reads.connect() as conn:
            earliest = conn.execute(query).scalar_one_or_none()
        return earliest

    def version(self, tenant_id: str) -> int:
        query = sa.select(_VERSIONS.c.version).where(_VERSIONS.c.tenant_id == tenant_id)
        with self._guard, self._reads.connect() as conn:
            version = conn.execute(query).scalar_one_or_none()
        return 0 if version is None else int(version)


def _item(row: Sequence[Any]) -> ListItem:
    list_name, kind, value, added_at, expires_at, note = row
    return ListItem(
        list_name=list_name,
        kind=ListKind(kind),
        value=value,
        added_at=added_at,
        expires_at=expires_at,
        note=note,
    )
