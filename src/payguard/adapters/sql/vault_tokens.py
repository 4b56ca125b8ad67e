"""The vault's tokens in the relational store."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from payguard.adapters.sql import tables
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


def _row(record: TokenRecord) -> dict[str, Any]:
    return {
        "tenant_id": record.tenant_id,
        "token": record.token,
        "kind": record.kind,
        "style": record.style.value,
        "scope": record.scope,
        "key_version": record.key_version,
        "sealed": record.sealed,
        "lookup": record.lookup,
        "created_at": record.created_at,
        "expires_at": record.expires_at,
        "revoked_at": record.revoked_at,
        "subject_id": record.subject_id,
    }


class SqlTokenRepository:
    """`TokenRepository` on SQL: every query names its tenant."""

    def __init__(self, engine: sa.Engine) -> None:
        self._reads = for_reads(engine)
        self._writes = for_writes(engine)
        self._guard = StoreErrors(engine, StateConflict)

    def add(self, records: Sequence[TokenRecord]) -> None:
        if not records:
            return
        try:
            with self._guard, self._writes.begin() as conn:
                conn.execute(sa.insert(_T), [_row(record) for record in records])
        except sa.exc.IntegrityError as exc:
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
