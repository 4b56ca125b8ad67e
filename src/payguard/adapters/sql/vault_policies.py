"""Tenants' vault policies in the relational store: versions 1, 2, 3... per tenant."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from payguard.adapters.sql import tables
from payguard.adapters.sql._versioned import VersionedDocuments
from payguard.vault.interfaces import StoredPolicy

__all__ = ["SqlPolicyRepository"]


class SqlPolicyRepository:
    """`PolicyRepository` on SQL (`_versioned.VersionedDocuments`)."""

    def __init__(self, engine: sa.Engine) -> None:
        self._documents = VersionedDocuments(
            engine, tables.vault_policies, "document", StoredPolicy, "vault policy"
        )

    def add(
        self, tenant_id: str, document: str, created_at: datetime, created_by: str
    ) -> StoredPolicy:
        return self._documents.add(tenant_id, document, created_at, created_by)

    def current(self, tenant_id: str) -> StoredPolicy | None:
        return self._documents.newest(tenant_id)

    def get(self, tenant_id: str, version: int) -> StoredPolicy | None:
        return self._documents.get(tenant_id, version)
