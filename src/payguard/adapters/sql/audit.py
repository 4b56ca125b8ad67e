"""The audit trail in the relational store: append and list, never update or delete."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from payguard.adapters.sql import tables
from payguard.adapters.sql._errors import StoreErrors
from payguard.adapters.sql.engine import for_reads, for_writes
from payguard.audit.interfaces import AuditAction, AuditOutcome, AuditRecord
from payguard.core.errors import Conflict

__all__ = ["SqlAuditRepository"]

_L = tables.audit_log


class SqlAuditRepository:
    """`AuditRepository` on SQL: append-only by construction (there is no method to change a
    row). Records stamped with the same instant list in reverse order of appending."""

    def __init__(self, engine: sa.Engine) -> None:
        self._reads = for_reads(engine)
        self._writes = for_writes(engine)
        self._guard = StoreErrors(engine)

    def append(self, record: AuditRecord) -> None:
        try:
            with self._guard, self._writes.begin() as conn:
                conn.execute(
                    sa.insert(_L),
                    {
                        "record_id": record.id,
                        "at": record.at,
                        "tenant_id": record.tenant_id,
                        "actor": record.actor,
                        "action": record.action.value,
                        "target": record.target,
                        "outcome": record.outcome.value,
                        "source_ip": record.source_ip,
                        "details": tables.to_json(record.details),
                    },
                )
        except sa.exc.IntegrityError as exc:
            raise Conflict(f"audit record {record.id!r} exists") from exc

    def list(
        self, *, tenant_id: str | None, limit: int = 100, action: AuditAction | None = None
    ) -> list[AuditRecord]:
        """Newest first; `tenant_id=None` lists records that belong to no tenant."""
        if limit <= 0:
            return []
        query = sa.select(
            _L.c.record_id,
            _L.c.at,
            _L.c.tenant_id,
            _L.c.actor,
            _L.c.action,
            _L.c.target,
            _L.c.outcome,
            _L.c.source_ip,
            _L.c.details,
        ).where(_L.c.tenant_id.is_(None) if tenant_id is None else _L.c.tenant_id == tenant_id)
        if action is not None:
            query = query.where(_L.c.action == action.value)
        query = query.order_by(_L.c.at.desc(), _L.c.seq.desc()).limit(limit)
        with self._guard, self._reads.connect() as conn:
            rows = conn.execute(query).all()
        return [_record(row) for row in rows]


def _record(row: Sequence[Any]) -> AuditRecord:
    record_id, at, tenant_id, actor, action, target, outcome, source_ip, details = row
    return AuditRecord(
        id=record_id,
        at=at,
        tenant_id=tenant_id,
        actor=actor,
        action=AuditAction(action),
        target=target,
        outcome=AuditOutcome(outcome),
        source_ip=source_ip,
        details=tables.from_json(details),
    )
