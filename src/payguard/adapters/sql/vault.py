"""The vault's wrapped data keys in the relational store."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from payguard.adapters.sql import tables
from payguard.adapters.sql._errors import StoreErrors
from payguard.adapters.sql.engine import for_reads, for_writes
from payguard.core.errors import StateConflict
from payguard.vault.interfaces import KeyVersion, WrappedKey

__all__ = ["SqlDataKeyRepository"]

_V = tables.vault_keys
_META = (_V.c.tenant_id, _V.c.purpose, _V.c.version, _V.c.kek_id, _V.c.created_at, _V.c.retired_at)


def _key(row: Any) -> KeyVersion:
    return KeyVersion(
        tenant_id=row.tenant_id,
        purpose=row.purpose,
        version=row.version,
        kek_id=row.kek_id,
        created_at=row.created_at,
        retired_at=row.retired_at,
    )


class SqlDataKeyRepository:
    """`DataKeyRepository` on SQL: every query names its tenant and purpose."""

    def __init__(self, engine: sa.Engine) -> None:
        self._reads = for_reads(engine)
        self._writes = for_writes(engine)
        self._guard = StoreErrors(engine, StateConflict)

    def add(self, key: WrappedKey) -> None:
        meta = key.key
        try:
            with self._guard, self._writes.begin() as conn:
                conn.execute(
                    sa.insert(_V),
                    {
                        "tenant_id": meta.tenant_id,
                        "purpose": meta.purpose,
                        "version": meta.version,
                        "kek_id": meta.kek_id,
                        "wrapped": key.wrapped,
                        "created_at": meta.created_at,
                        "retired_at": meta.retired_at,
                    },
                )
        except sa.exc.IntegrityError as exc:
            raise StateConflict(
                f"key version {meta.version} of {meta.purpose!r} exists already"
            ) from exc

    def get(self, tenant_id: str, purpose: str, version: int) -> WrappedKey | None:
        query = sa.select(*_META, _V.c.wrapped).where(
            _V.c.tenant_id == tenant_id, _V.c.purpose == purpose, _V.c.version == version
        )
        with self._guard, self._reads.connect() as conn:
            row = conn.execute(query).first()
        return None if row is None else WrappedKey(_key(row), row.wrapped)

    def current(self, tenant_id: str, purpose: str) -> WrappedKey | None:
        query = (
            sa.select(*_META, _V.c.wrapped)
            .where(_V.c.tenant_id == tenant_id, _V.c.purpose == purpose)
            .order_by(_V.c.version.desc())
            .limit(1)
        )
        with self._guard, self._reads.connect() as conn:
            row = conn.execute(query).first()
        return None if row is None else WrappedKey(_key(row), row.wrapped)

    def versions(
        self, *, tenant_id: str | None = None, purpose: str | None = None
    ) -> list[KeyVersion]:
        query = sa.select(*_META).order_by(_V.c.tenant_id, _V.c.purpose, _V.c.version)
        if tenant_id is not None:
            query = query.where(_V.c.tenant_id == tenant_id)
        if purpose is not None:
            query = query.where(_V.c.purpose == purpose)
        with self._guard, self._reads.connect() as conn:
            return [_key(row) for row in conn.execute(query)]

    def retire(self, tenant_id: str, purpose: str, below: int, at: datetime) -> list[int]:
        where = (
            _V.c.tenant_id == tenant_id,
            _V.c.purpose == purpose,
            _V.c.version < below,
            _V.c.retired_at.is_(None),
        )
        with self._guard, self._writes.begin() as conn:
            marked = conn.execute(
                sa.update(_V).where(*where).values(retired_at=at).returning(_V.c.version)
            ).all()
        return sorted(row.version for row in marked)

    def any_keys(self) -> bool:
        with self._guard, self._reads.connect() as conn:
            return conn.execute(sa.select(_V.c.version).limit(1)).first() is not None

    def delete(self, tenant_id: str, purpose: str) -> int:
        with self._guard, self._writes.begin() as conn:
            deleted = conn.execute(
                sa.delete(_V).where(_V.c.tenant_id == tenant_id, _V.c.purpose == purpose)
            )
        return int(deleted.rowcount)
