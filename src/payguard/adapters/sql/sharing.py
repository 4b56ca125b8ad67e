"""Governed data sharing in the relational store: recipients, data requests, consents, and
exports with the subjects each carried. Every query names the tenant."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from payguard.adapters.sql import tables
from payguard.adapters.sql._errors import StoreErrors
from payguard.adapters.sql.engine import for_reads, for_writes
from payguard.core.errors import Conflict
from payguard.sharing.interfaces import (
    Consent,
    DataRequest,
    Export,
    LegalBasis,
    Method,
    Recipient,
)

__all__ = ["SqlSharingRepository"]

_R = tables.sharing_recipients
_Q = tables.sharing_requests
_C = tables.sharing_consents
_E = tables.sharing_exports
_S = tables.sharing_export_subjects

#: Subject ids per `IN (...)` when reading consents (bound parameters stay well under the
#: drivers' limits).
_CHUNK = 500


def _recipient(row: Any) -> Recipient:
    return Recipient(
        tenant_id=row.tenant_id,
        id=row.id,
        name=row.name,
        min_k=row.min_k,
        quasi_identifiers=tuple(tables.from_json(row.quasi_identifiers)),
        created_at=row.created_at,
        created_by=row.created_by,
    )


def _fields(text: str) -> dict[str, Method]:
    return {name: Method(method) for name, method in tables.from_json(text).items()}


def _request(row: Any) -> DataRequest:
    return DataRequest(
        tenant_id=row.tenant_id,
        id=row.id,
        recipient_id=row.recipient_id,
        purpose=row.purpose,
        fields=_fields(row.fields),
        retention_days=row.retention_days,
        legal_basis=LegalBasis(row.legal_basis),
        created_at=row.created_at,
        created_by=row.created_by,
        closed_at=row.closed_at,
    )


def _consent(row: Any) -> Consent:
    return Consent(
        tenant_id=row.tenant_id,
        subject_id=row.subject_id,
        request_id=row.request_id,
        given_at=row.given_at,
        expires_at=row.expires_at,
        recorded_by=row.recorded_by,
        revoked_at=row.revoked_at,
    )


def _export(row: Any) -> Export:
    return Export(
        tenant_id=row.tenant_id,
        id=row.id,
        request_id=row.request_id,
        recipient_id=row.recipient_id,
        purpose=row.purpose,
        fields=_fields(row.fields),
        created_at=row.created_at,
        created_by=row.created_by,
        records=row.records,
        dropped=row.dropped,
        k=row.k,
        retain_until=row.retain_until,
    )


def _methods(fields: Any) -> str:
    return tables.to_json({name: Method(method).value for name, method in fields.items()})


class SqlSharingRepository:
    """`SharingRepository` on SQL."""

    def __init__(self, engine: sa.Engine) -> None:
        self._reads = for_reads(engine)
        self._writes = for_writes(engine)
        self._guard = StoreErrors(engine)
        self._dialect = engine.dialect.name

    # -- recipients ------------------------------------------------------------------------

    def add_recipient(self, recipient: Recipient) -> None:
        try:
            with self._guard, self._writes.begin() as conn:
                conn.execute(
                    sa.insert(_R),
                    {
                        "tenant_id": recipient.tenant_id,
                        "id": recipient.id,
                        "name": recipient.name,
                        "min_k": recipient.min_k,
                        "quasi_identifiers": tables.to_json(list(recipient.quasi_identifiers)),
                        "created_at": recipient.created_at,
                        "created_by": recipient.created_by,
                    },
                )
        except sa.exc.IntegrityError as exc:
            raise Conflict("a recipient with that id exists") from exc

    def recipient(self, tenant_id: str, recipient_id: str) -> Recipient | None:
        query = sa.select(_R).where(_R.c.tenant_id == tenant_id, _R.c.id == recipient_id)
        with self._guard, self._reads.connect() as conn:
            row = conn.execute(query).first()
        return None if row is None else _recipient(row)

    def recipients(self, tenant_id: str) -> list[Recipient]:
        query = sa.select(_R).where(_R.c.tenant_id == tenant_id).order_by(_R.c.id)
        with self._guard, self._reads.connect() as conn:
            return [_recipient(row) for row in conn.execute(query)]

    # -- data requests ---------------------------------------------------------------------

    def add_request(self, request: DataRequest) -> None:
        try:
            with self._guard, self._writes.begin() as conn:
                conn.execute(
                    sa.insert(_Q),
                    {
                        "tenant_id": request.tenant_id,
                        "id": request.id,
                        "recipient_id": request.recipient_id,
                        "purpose": request.purpose,
                        "fields": _methods(request.fields),
                        "retention_days": request.retention_days,
                        "legal_basis": request.legal_basis.value,
                        "created_at": request.created_at,
                        "created_by": request.created_by,
                        "closed_at": request.closed_at,
                    },
                )
        except sa.exc.IntegrityError as exc:
            raise Conflict("a data request with that id exists") from exc

    def request(self, tenant_id: str, request_id: str) -> DataRequest | None:
        query = sa.select(_Q).where(_Q.c.tenant_id == tenant_id, _Q.c.id == request_id)
        with self._guard, self._reads.connect() as conn:
            row = conn.execute(query).first()
        return None if row is None else _request(row)

    def requests(self, tenant_id: str) -> list[DataRequest]:
        query = sa.select(_Q).where(_Q.c.tenant_id == tenant_id).order_by(_Q.c.id)
        with self._guard, self._reads.connect() as conn:
            return [_request(row) for row in conn.execute(query)]

    def close_request(self, tenant_id: str, request_id: str, at: datetime) -> DataRequest | None:
        mine = (_Q.c.tenant_id == tenant_id, _Q.c.id == request_id)
        with self._guard, self._writes.begin() as conn:
            conn.execute(sa.update(_Q).where(*mine, _Q.c.closed_at.is_(None)).values(closed_at=at))
            row = conn.execute(sa.select(_Q).where(*mine)).first()
        return None if row is None else _request(row)

    # -- consents --------------------------------------------------------------------------

    def put_consent(self, consent: Consent) -> None:
        values = {
            "given_at": consent.given_at,
            "expires_at": consent.expires_at,
            "recorded_by": consent.recorded_by,
            "revoked_at": consent.revoked_at,
        }
        insert = tables.dialect_insert(self._dialect, _C).values(
            tenant_id=consent.tenant_id,
            subject_id=consent.subject_id,
            request_id=consent.request_id,
            **values,
        )
        upsert = insert.on_conflict_do_update(
            index_elements=[_C.c.tenant_id, _C.c.subject_id, _C.c.request_id], set_=values
        )
        with self._guard, self._writes.begin() as conn:
            conn.execute(upsert)

    def revoke_consent(
        self, tenant_id: str, subject_id: str, request_id: str, at: datetime
    ) -> Consent | None:
        key = (
            _C.c.tenant_id == tenant_id,
            _C.c.subject_id == subject_id,
            _C.c.request_id == request_id,
        )
        with self._guard, self._writes.begin() as conn:
            conn.execute(sa.update(_C).where(*key, _C.c.revoked_at.is_(None)).values(revoked_at=at))
            row = conn.execute(sa.select(_C).where(*key)).first()
        return None if row is None else _consent(row)

    def consents_of(self, tenant_id: str, subject_id: str) -> list[Consent]:
        query = (
            sa.select(_C)
            .where(_C.c.tenant_id == tenant_id, _C.c.subject_id == subject_id)
            .order_by(_C.c.given_at, _C.c.request_id)
        )
        with self._guard, self._reads.connect() as conn:
            return [_consent(row) for row in conn.execute(query)]

    def consents_to(
        self, tenant_id: str, request_id: str, subject_ids: Sequence[str]
    ) -> dict[str, Consent]:
        found: dict[str, Consent] = {}
        with self._guard, self._reads.connect() as conn:
            for start in range(0, len(subject_ids), _CHUNK):
                query = sa.select(_C).where(
                    _C.c.tenant_id == tenant_id,
                    _C.c.request_id == request_id,
                    _C.c.subject_id.in_(subject_ids[start : start + _CHUNK]),
                )
                for row in conn.execute(query):
                    found[row.subject_id] = _consent(row)
        return found

    # -- exports ---------------------------------------------------------------------------

    def add_export(self, export: Export, subject_ids: Sequence[str]) -> None:
        try:
            self._add_export(export, subject_ids)
        except sa.exc.IntegrityError as exc:
            raise Conflict("an export with that id exists") from exc

    def _add_export(self, export: Export, subject_ids: Sequence[str]) -> None:
        with self._guard, self._writes.begin() as conn:
            conn.execute(
                sa.insert(_E),
                {
                    "tenant_id": export.tenant_id,
                    "id": export.id,
                    "request_id": export.request_id,
                    "recipient_id": export.recipient_id,
                    "purpose": export.purpose,
                    "fields": _methods(export.fields),
                    "created_at": export.created_at,
                    "created_by": export.created_by,
                    "records": export.records,
                    "dropped": export.dropped,
                    "k": export.k,
                    "retain_until": export.retain_until,
                },
            )
            if subject_ids:
                conn.execute(
                    sa.insert(_S),
                    [
                        {
                            "tenant_id": export.tenant_id,
                            "export_id": export.id,
                            "subject_id": subject,
                            "retain_until": export.retain_until,
                        }
                        for subject in subject_ids
                    ],
                )

    def exports_of(self, tenant_id: str, subject_id: str) -> list[Export]:
        query = (
            sa.select(_E)
            .join(_S, sa.and_(_S.c.tenant_id == _E.c.tenant_id, _S.c.export_id == _E.c.id))
            .where(_S.c.tenant_id == tenant_id, _S.c.subject_id == subject_id)
            .order_by(_E.c.created_at, _E.c.id)
        )
        with self._guard, self._reads.connect() as conn:
            return [_export(row) for row in conn.execute(query)]

    def purge_exported_subjects(self, before: datetime) -> int:
        with self._guard, self._writes.begin() as conn:
            result = conn.execute(sa.delete(_S).where(_S.c.retain_until < before))
        return int(result.rowcount or 0)
