"""The model registry in the relational store: versions 1, 2, 3... per tenant, with their blobs.

Every change (a new version, a promotion, a new shadow) bumps the tenant's row in
`model_state` first, in the same transaction: that row lock (PostgreSQL) or the write lock
(SQLite) puts a tenant's changes in a line, so there is never more than one champion or one
shadow, and the serving workers poll that counter to notice a change.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from payguard.adapters.sql import tables
from payguard.adapters.sql._errors import StoreErrors
from payguard.adapters.sql.engine import for_reads, for_writes
from payguard.core.errors import Conflict, NotFound, ValidationFailed
from payguard.ml.interfaces import ModelRecord, ModelStatus, ModelSummary
from payguard.risk.models.artifact import ModelArtifact

__all__ = ["SqlModelRegistry"]

_M = tables.models
_S = tables.model_state

#: Attempts at taking the next version when another writer keeps taking it first.
_ATTEMPTS = 20

_HEAD = (_M.c.tenant_id, _M.c.version, _M.c.created_at, _M.c.created_by, _M.c.status)
_SUMMARY = (*_HEAD, _M.c.trained_at, _M.c.data_hash, _M.c.columns, _M.c.metrics)
_RECORD = (
    *_HEAD,
    _M.c.trained_at,
    _M.c.data_hash,
    _M.c.columns,
    _M.c.metrics,
    _M.c.params,
    _M.c.reference,
    _M.c.onnx,
    _M.c.booster,
)


class SqlModelRegistry:
    """`ModelRegistry` on SQL."""

    def __init__(self, engine: sa.Engine) -> None:
        self._reads = for_reads(engine)
        self._writes = for_writes(engine)
        self._guard = StoreErrors(engine)
        self._bump = tables.dialect_insert(engine.dialect.name, _S).on_conflict_do_update(
            index_elements=[_S.c.tenant_id], set_={"version": _S.c.version + 1}
        )

    def _changing(self, conn: sa.Connection, tenant_id: str) -> None:
        """Bump the tenant's change counter; holds its row lock until the commit."""
        conn.execute(self._bump, {"tenant_id": tenant_id, "version": 1})

    def add(
        self, tenant_id: str, artifact: ModelArtifact, created_at: datetime, created_by: str
    ) -> ModelRecord:
        newest = sa.select(sa.func.coalesce(sa.func.max(_M.c.version), 0)).where(
            _M.c.tenant_id == tenant_id
        )
        row = {
            "tenant_id": tenant_id,
            "status": ModelStatus.CANDIDATE.value,
            "created_at": created_at,
            "created_by": created_by,
            "trained_at": artifact.trained_at,
            "data_hash": artifact.data_hash,
            "columns": tables.to_json(list(artifact.columns)),
            "metrics": tables.to_json(artifact.metrics),
            "params": tables.to_json(artifact.params),
            "reference": tables.to_json(artifact.reference),
            "onnx": artifact.onnx,
            "booster": artifact.booster,
        }
        for _ in range(_ATTEMPTS):
            try:
                with self._guard, self._writes.begin() as conn:
                    self._changing(conn, tenant_id)
                    version = int(conn.execute(newest).scalar_one()) + 1
                    conn.execute(sa.insert(_M), {**row, "version": version})
            except (sa.exc.IntegrityError, Conflict):
                continue
            return ModelRecord(
                tenant_id=tenant_id,
                version=version,
                created_at=created_at,
                created_by=created_by,
                status=ModelStatus.CANDIDATE,
                artifact=artifact,
            )
        raise Conflict("could not take the next model version; retry")

    def get(self, tenant_id: str, version: int) -> ModelRecord | None:
        query = sa.select(*_RECORD).where(_M.c.tenant_id == tenant_id, _M.c.version == version)
        with self._guard, self._reads.connect() as conn:
            row = conn.execute(query).first()
        return None if row is None else _record(row)

    def latest(self, tenant_id: str) -> ModelRecord | None:
        query = (
            sa.select(*_RECORD)
            .where(_M.c.tenant_id == tenant_id)
            .order_by(_M.c.version.desc())
            .limit(1)
        )
        with self._guard, self._reads.connect() as conn:
            row = conn.execute(query).first()
        return None if row is None else _record(row)

    def list(self, tenant_id: str) -> list[ModelSummary]:
        query = (
            sa.select(*_SUMMARY).where(_M.c.tenant_id == tenant_id).order_by(_M.c.version.desc())
        )
        with self._guard, self._reads.connect() as conn:
            return [_summary(row) for row in conn.execute(query)]

    def describe(self, tenant_id: str, version: int) -> ModelSummary | None:
        query = sa.select(*_SUMMARY).where(_M.c.tenant_id == tenant_id, _M.c.version == version)
        with self._guard, self._reads.connect() as conn:
            row = conn.execute(query).first()
        return None if row is None else _summary(row)

    def promote(self, tenant_id: str, version: int) -> ModelSummary:
        mine = (_M.c.tenant_id == tenant_id, _M.c.version == version)
        with self._guard, self._writes.begin() as conn:
            self._changing(conn, tenant_id)
            if conn.execute(sa.select(_M.c.status).where(*mine)).first() is None:
                raise NotFound(f"no model version {version}")
            conn.execute(
                sa.update(_M)
                .where(
                    _M.c.tenant_id == tenant_id,
                    _M.c.status == ModelStatus.CHAMPION.value,
                    _M.c.version != version,
                )
                .values(status=ModelStatus.RETIRED.value)
            )
            conn.execute(sa.update(_M).where(*mine).values(status=ModelStatus.CHAMPION.value))
            row = conn.execute(sa.select(*_SUMMARY).where(*mine)).one()
        return _summary(row)

    def set_shadow(self, tenant_id: str, version: int | None) -> ModelSummary | None:
        with self._guard, self._writes.begin() as conn:
            self._changing(conn, tenant_id)
            mine = (_M.c.tenant_id == tenant_id, _M.c.version == version)
            if version is not None:
                status = conn.execute(sa.select(_M.c.status).where(*mine)).scalar_one_or_none()
                if status is None:
                    raise NotFound(f"no model version {version}")
                if status == ModelStatus.CHAMPION.value:
                    raise ValidationFailed(
                        f"version {version} is the champion; it cannot also be the shadow",
                        field="version",
                    )
            demote = sa.update(_M).where(
                _M.c.tenant_id == tenant_id, _M.c.status == ModelStatus.SHADOW.value
            )
            if version is not None:
                demote = demote.where(_M.c.version != version)
            conn.execute(demote.values(status=ModelStatus.CANDIDATE.value))
            if version is None:
                return None
            conn.execute(sa.update(_M).where(*mine).values(status=ModelStatus.SHADOW.value))
            row = conn.execute(sa.select(*_SUMMARY).where(*mine)).one()
        return _summary(row)

    def serving(self, tenant_id: str) -> tuple[ModelSummary | None, ModelSummary | None]:
        query = sa.select(*_SUMMARY).where(
            _M.c.tenant_id == tenant_id,
            _M.c.status.in_([ModelStatus.CHAMPION.value, ModelStatus.SHADOW.value]),
        )
        champion = shadow = None
        with self._guard, self._reads.connect() as conn:
            for row in conn.execute(query):
                summary = _summary(row)
                if summary.status == ModelStatus.CHAMPION:
                    champion = summary
                else:
                    shadow = summary
        return champion, shadow

    def state_version(self, tenant_id: str) -> int:
        query = sa.select(_S.c.version).where(_S.c.tenant_id == tenant_id)
        with self._guard, self._reads.connect() as conn:
            version = conn.execute(query).scalar_one_or_none()
        return 0 if version is None else int(version)


def _summary(row: Sequence[Any]) -> ModelSummary:
    tenant_id, version, created_at, created_by, status, trained_at, data_hash, columns, metrics = (
        row
    )
    return ModelSummary(
        tenant_id=tenant_id,
        version=int(version),
        created_at=created_at,
        created_by=created_by,
        status=ModelStatus(status),
        trained_at=trained_at,
        data_hash=data_hash,
        columns=len(tables.from_json(columns)),
        metrics=tables.from_json(metrics),
    )


def _record(row: Sequence[Any]) -> ModelRecord:
    (
        tenant_id,
        version,
        created_at,
        created_by,
        status,
        trained_at,
        data_hash,
        columns,
        metrics,
        params,
        reference,
        onnx,
        booster,
    ) = row
    return ModelRecord(
        tenant_id=tenant_id,
        version=int(version),
        created_at=created_at,
        created_by=created_by,
        status=ModelStatus(status),
        artifact=ModelArtifact(
            columns=tuple(tables.from_json(columns)),
            onnx=bytes(onnx),
            booster=booster,
            trained_at=trained_at,
            data_hash=data_hash,
            metrics=tables.from_json(metrics),
            params=tables.from_json(params),
            reference=tables.from_json(reference),
        ),
    )
