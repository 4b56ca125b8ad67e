"""Tenants' own Data Shield recognizers in the relational store: versions 1, 2, 3... per
tenant, each the YAML source as the partner gave it."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from payguard.adapters.sql import tables
from payguard.adapters.sql._versioned import VersionedDocuments
from payguard.shield.interfaces import StoredRecognizerSet

__all__ = ["SqlRecognizerRepository"]


class SqlRecognizerRepository:
    """`RecognizerRepository` on SQL (`_versioned.VersionedDocuments`)."""

    def __init__(self, engine: sa.Engine) -> None:
        self._documents = VersionedDocuments(
            engine, tables.shield_recognizers, "document", StoredRecognizerSet, "recognizer set"
        )

    def add(
        self, tenant_id: str, document: str, created_at: datetime, created_by: str
    ) -> StoredRecognizerSet:
        return self._documents.add(tenant_id, document, created_at, created_by)

    def current(self, tenant_id: str) -> StoredRecognizerSet | None:
        return self._documents.newest(tenant_id)

    def current_version(self, tenant_id: str) -> int:
        return self._documents.newest_version(tenant_id)

    def get(self, tenant_id: str, version: int) -> StoredRecognizerSet | None:
        return self._documents.get(tenant_id, version)
