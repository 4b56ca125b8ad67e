"""Documents kept as versions 1, 2, 3... per tenant (rule sets, vault policies): one table
of (tenant_id, version, <text column>, created_at, created_by), the newest version in force.

The next version is max + 1; two concurrent writers that pick the same number collide on the
primary key and the loser tries again.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, Generic, TypeVar

import sqlalchemy as sa

from payguard.adapters.sql._errors import StoreErrors
from payguard.adapters.sql.engine import for_reads, for_writes
from payguard.core.errors import Conflict

__all__ = ["VersionedDocuments"]

#: Attempts at taking the next version when other writers keep taking it first.
_ATTEMPTS = 20

T = TypeVar("T")


class VersionedDocuments(Generic[T]):
    """One table of versioned per-tenant documents; rows become `make(tenant_id, version,
    text, created_at, created_by)`."""

    def __init__(
        self,
        engine: sa.Engine,
        table: sa.Table,
        text_column: str,
        make: Callable[[str, int, str, datetime, str], T],
        what: str,
    ) -> None:
        self._reads = for_reads(engine)
        self._writes = for_writes(engine)
        self._guard = StoreErrors(engine)
        self._table = table
        self._text = text_column
        self._make = make
        self._what = what
        c = table.c
        self._columns = (c.tenant_id, c.version, c[text_column], c.created_at, c.created_by)

    def add(self, tenant_id: str, text: str, created_at: datetime, created_by: str) -> T:
        t = self._table
        newest = sa.select(sa.func.coalesce(sa.func.max(t.c.version), 0)).where(
            t.c.tenant_id == tenant_id
        )
        for _ in range(_ATTEMPTS):
            try:
                with self._guard, self._writes.begin() as conn:
                    version = int(conn.execute(newest).scalar_one()) + 1
                    conn.execute(
                        sa.insert(t),
                        {
                            "tenant_id": tenant_id,
                            "version": version,
                            self._text: text,
                            "created_at": created_at,
                            "created_by": created_by,
                        },
                    )
            except (sa.exc.IntegrityError, Conflict):
                continue
            return self._make(tenant_id, version, text, created_at, created_by)
        raise Conflict(f"could not take the next {self._what} version; retry")

    def newest(self, tenant_id: str) -> T | None:
        t = self._table
        query = (
            sa.select(*self._columns)
            .where(t.c.tenant_id == tenant_id)
            .order_by(t.c.version.desc())
            .limit(1)
        )
        return self._one(query)

    def get(self, tenant_id: str, version: int) -> T | None:
        t = self._table
        return self._one(
            sa.select(*self._columns).where(t.c.tenant_id == tenant_id, t.c.version == version)
        )

    def newest_version(self, tenant_id: str) -> int:
        """The newest version's number; 0 when the tenant has none."""
        t = self._table
        query = sa.select(sa.func.max(t.c.version)).where(t.c.tenant_id == tenant_id)
        with self._guard, self._reads.connect() as conn:
            version = conn.execute(query).scalar_one_or_none()
        return 0 if version is None else int(version)

    def _one(self, query: sa.Select[Any]) -> T | None:
        with self._guard, self._reads.connect() as conn:
            row = conn.execute(query).first()
        if row is None:
            return None
        return self._make(row[0], int(row[1]), row[2], row[3], row[4])
