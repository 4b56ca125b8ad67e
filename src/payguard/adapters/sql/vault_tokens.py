"""The vault's tokens in the relational store."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from payguard.adapters.sql import tables
from payguard.adapters.sql._dbapi import RawDialect, RawTransaction
from payguard.adapters.sql._errors import StoreErrors
from payguard.adapters.sql.engine import for_reads, for_writes
from payguard.core.errors import StateConflict
from payguard.vault.interfaces import TokenRecord, TokenStyle

__all__ = ["SqlTokenRepository"]

_T = tables.vault_tokens


def _record(row: Any) -> TokenRecord:
    return TokenRecord(
        tenant_id=row.tenant_id,
        token=row.token,
        kind=row.kind,
        style=TokenStyle(row.style),
        scope=row.scope,
        key_version=row.key_version,
        created_at=row.created_at,
        sealed=row.sealed,
        lookup=row.lookup,
        expires_at=row.expires_at,
        revoked_at=row.revoked_at,
        subject_id=row.subject_id,
    )


#: The columns `add` writes, in order (every column of the table).
_COLUMNS = (
    "tenant_id",
    "token",
    "kind",
    "style",
    "scope",
    "key_version",
    "sealed",
    "lookup",
    "created_at",
    "expires_at",
    "revoked_at",
    "subject_id",
)
# Built from the constant column names above: no input reaches the statement's text.
_INSERT = (
    f"INSERT INTO vault_tokens ({', '.join(_COLUMNS)}) "  # noqa: S608
    f"VALUES ({', '.join('?' * len(_COLUMNS))})"
)


def _unchanged(value: datetime) -> Any:
    return value


class SqlTokenRepository:
    """`TokenRepository` on SQL: every query names its tenant.

    `add` writes a batch with the driver's own `executemany` (`_dbapi`): SQLAlchemy's
    per-row parameter processing cost more than SQLite's insert of a batch of 1,000."""

    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine
        self._reads = for_reads(engine)
        self._writes = for_writes(engine)
        self._guard = StoreErrors(engine, StateConflict)
        self._dialect = RawDialect(engine)
        self._insert = self._dialect.sql(_INSERT)
        bind = tables.UtcDateTime().dialect_impl(engine.dialect).bind_processor(engine.dialect)
        self._bind_time: Callable[[datetime], Any] = bind or _unchanged

    def _raw_rows(self, records: Sequence[TokenRecord]) -> list[tuple[Any, ...]]:
        bound: dict[datetime, Any] = {}  # a batch shares its times: bind each once

        def bind(at: datetime | None) -> Any:
            if at is None:
                return None
            value = bound.get(at)
            if value is None:
                value = bound[at] = self._bind_time(at)
            return value

        return [
            (
                record.tenant_id,
                record.token,
                record.kind,
                record.style.value,
                record.scope,
                record.key_version,
                record.sealed,
                record.lookup,
                bind(record.created_at),
                bind(record.expires_at),
                bind(record.revoked_at),
                record.subject_id,
            )
            for record in records
        ]

    def add(self, records: Sequence[TokenRecord]) -> None:
        if not records:
            return
        rows = self._raw_rows(records)
        try:
            with self._guard, RawTransaction(self._engine, self._dialect) as cursor:
                cursor.executemany(self._insert, rows)
        except (self._dialect.dbapi.IntegrityError, sa.exc.IntegrityError) as exc:
            raise StateConflict("a token, or a token for one of these values, exists") from exc

    def get(self, tenant_id: str, tokens: Sequence[str]) -> dict[str, TokenRecord]:
        if not tokens:
            return {}
        query = sa.select(_T).where(_T.c.tenant_id == tenant_id, _T.c.token.in_(set(tokens)))
        with self._guard, self._reads.connect() as conn:
            return {row.token: _record(row) for row in conn.execute(query)}

    def find(self, tenant_id: str, lookups: Sequence[str]) -> dict[str, TokenRecord]:
        if not lookups:
            return {}
        query = sa.select(_T).where(_T.c.tenant_id == tenant_id, _T.c.lookup.in_(set(lookups)))
        with self._guard, self._reads.connect() as conn:
            return {row.lookup: _record(row) for row in conn.execute(query)}

    def revoke(self, tenant_id: str, token: str, at: datetime) -> TokenRecord | None:
        where = (_T.c.tenant_id == tenant_id, _T.c.token == token)
        with self._guard, self._writes.begin() as conn:
            conn.execute(
                sa.update(_T).where(*where, _T.c.revoked_at.is_(None)).values(revoked_at=at)
            )
            row = conn.execute(sa.select(_T).where(*where)).first()
        return None if row is None else _record(row)

    def forget_subject(self, tenant_id: str, subject_id: str, at: datetime) -> int:
        where = (_T.c.tenant_id == tenant_id, _T.c.subject_id == subject_id)
        with self._guard, self._writes.begin() as conn:
            forgotten = conn.execute(
                sa.update(_T).where(*where).values(sealed=None, lookup=None)
            ).rowcount
            conn.execute(
                sa.update(_T).where(*where, _T.c.revoked_at.is_(None)).values(revoked_at=at)
            )
        return int(forgotten)

    def sealed(
        self, *, tenant_id: str | None, after: tuple[str, str] | None, limit: int
    ) -> list[TokenRecord]:
        query = sa.select(_T).where(_T.c.sealed.is_not(None))
        if tenant_id is not None:
            query = query.where(_T.c.tenant_id == tenant_id)
        if after is not None:
            query = query.where(sa.tuple_(_T.c.tenant_id, _T.c.token) > sa.tuple_(*after))
        query = query.order_by(_T.c.tenant_id, _T.c.token).limit(limit)
        with self._guard, self._reads.connect() as conn:
            return [_record(row) for row in conn.execute(query)]

    def replace_sealed(
        self, tenant_id: str, token: str, old: bytes, new: bytes, version: int
    ) -> bool:
        where = (_T.c.tenant_id == tenant_id, _T.c.token == token, _T.c.sealed == old)
        with self._guard, self._writes.begin() as conn:
            changed = conn.execute(
                sa.update(_T).where(*where).values(sealed=new, key_version=version)
            ).rowcount
        return bool(changed)
