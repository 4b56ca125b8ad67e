"""Versioned rule sets in the relational store: versions 1, 2, 3... per tenant."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from payguard.adapters.sql import tables
from payguard.adapters.sql._errors import StoreErrors
from payguard.adapters.sql.engine import for_reads, for_writes
from payguard.core.errors import Conflict
from payguard.risk.interfaces import StoredRuleSet

__all__ = ["SqlRuleSetRepository"]

_R = tables.rule_sets

#: Attempts at taking the next version when other writers keep taking it first.
_ATTEMPTS = 20

_COLUMNS = (_R.c.tenant_id, _R.c.version, _R.c.source, _R.c.created_at, _R.c.created_by)


class SqlRuleSetRepository:
    """`RuleSetRepository` on SQL. The next version is max + 1; two concurrent writers that
    pick the same number collide on the primary key and the loser tries again."""

    def __init__(self, engine: sa.Engine) -> None:
        self._reads = for_reads(engine)
        self._writes = for_writes(engine)
        self._guard = StoreErrors(engine)

    def add(
        self, tenant_id: str, source: str, created_at: datetime, created_by: str
    ) -> StoredRuleSet:
        newest = sa.select(sa.func.coalesce(sa.func.max(_R.c.version), 0)).where(
            _R.c.tenant_id == tenant_id
        )
        for _ in range(_ATTEMPTS):
            try:
                with self._guard, self._writes.begin() as conn:
                    version = int(conn.execute(newest).scalar_one()) + 1
                    conn.execute(
                        sa.insert(_R),
                        {
                            "tenant_id": tenant_id,
                            "version": version,
                            "source": source,
                            "created_at": created_at,
                            "created_by": created_by,
                        },
                    )
            except (sa.exc.IntegrityError, Conflict):
                continue
            return StoredRuleSet(tenant_id, version, source, created_at, created_by)
        raise Conflict("could not take the next rule set version; retry")

    def active(self, tenant_id: str) -> StoredRuleSet | None:
        query = (
            sa.select(*_COLUMNS)
            .where(_R.c.tenant_id == tenant_id)
            .order_by(_R.c.version.desc())
            .limit(1)
        )
        with self._guard, self._reads.connect() as conn:
            row = conn.execute(query).first()
        return None if row is None else StoredRuleSet(*row)

    def get(self, tenant_id: str, version: int) -> StoredRuleSet | None:
        query = sa.select(*_COLUMNS).where(_R.c.tenant_id == tenant_id, _R.c.version == version)
        with self._guard, self._reads.connect() as conn:
            row = conn.execute(query).first()
        return None if row is None else StoredRuleSet(*row)

    def active_version(self, tenant_id: str) -> int:
        query = sa.select(sa.func.max(_R.c.version)).where(_R.c.tenant_id == tenant_id)
        with self._guard, self._reads.connect() as conn:
            version = conn.execute(query).scalar_one_or_none()
        return 0 if version is None else int(version)
