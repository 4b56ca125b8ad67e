"""Tenants' vault policies in the relational store: versions 1, 2, 3... per tenant."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from payguard.adapters.sql import tables
from payguard.adapters.sql._errors import StoreErrors
from payguard.adapters.sql.engine import for_reads, for_writes
from payguard.core.errors import Conflict
from payguard.vault.interfaces import StoredPolicy

__all__ = ["SqlPolicyRepository"]

_P = tables.vault_policies

#: Attempts at taking the next version when other writers keep taking it first.
_ATTEMPTS = 20

_COLUMNS = (_P.c.tenant_id, _P.c.version, _P.c.document, _P.c.created_at, _P.c.created_by)


class SqlPolicyRepository:
    """`PolicyRepository` on SQL. The next version is max + 1; two concurrent writers that
    pick the same number collide on the primary key and the loser tries again."""

    def __init__(self, engine: sa.Engine) -> None:
        self._reads = for_reads(engine)
        self._writes = for_writes(engine)
        self._guard = StoreErrors(engine)

    def add(
        self, tenant_id: str, document: str, created_at: datetime, created_by: str
    ) -> StoredPolicy:
        newest = sa.select(sa.func.coalesce(sa.func.max(_P.c.version), 0)).where(
            _P.c.tenant_id == tenant_id
        )
        for _ in range(_ATTEMPTS):
            try:
                with self._guard, self._writes.begin() as conn:
                    version = int(conn.execute(newest).scalar_one()) + 1
                    conn.execute(
                        sa.insert(_P),
                        {
                            "tenant_id": tenant_id,
                            "version": version,
                            "document": document,
                            "created_at": created_at,
                            "created_by": created_by,
                        },
                    )
            except (sa.exc.IntegrityError, Conflict):
                continue
            return StoredPolicy(tenant_id, version, document, created_at, created_by)
        raise Conflict("could not take the next vault policy version; retry")

    def current(self, tenant_id: str) -> StoredPolicy | None:
        query = (
            sa.select(*_COLUMNS)
            .where(_P.c.tenant_id == tenant_id)
            .order_by(_P.c.version.desc())
            .limit(1)
        )
        with self._guard, self._reads.connect() as conn:
            row = conn.execute(query).first()
        return None if row is None else StoredPolicy(*row)

    def get(self, tenant_id: str, version: int) -> StoredPolicy | None:
        query = sa.select(*_COLUMNS).where(_P.c.tenant_id == tenant_id, _P.c.version == version)
        with self._guard, self._reads.connect() as conn:
            row = conn.execute(query).first()
        return None if row is None else StoredPolicy(*row)
