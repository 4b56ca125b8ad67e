"""Versioned rule sets in the relational store: versions 1, 2, 3... per tenant."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from payguard.adapters.sql import tables
from payguard.adapters.sql._versioned import VersionedDocuments
from payguard.risk.interfaces import StoredRuleSet

__all__ = ["SqlRuleSetRepository"]


class SqlRuleSetRepository:
    """`RuleSetRepository` on SQL (`_versioned.VersionedDocuments`)."""

    def __init__(self, engine: sa.Engine) -> None:
        self._documents = VersionedDocuments(
            engine, tables.rule_sets, "source", StoredRuleSet, "rule set"
        )

    def add(
        self, tenant_id: str, source: str, created_at: datetime, created_by: str
    ) -> StoredRuleSet:
        return self._documents.add(tenant_id, source, created_at, created_by)

    def active(self, tenant_id: str) -> StoredRuleSet | None:
        return self._documents.newest(tenant_id)

    def get(self, tenant_id: str, version: int) -> StoredRuleSet | None:
        return self._documents.get(tenant_id, version)

    def active_version(self, tenant_id: str) -> int:
        return self._documents.newest_version(tenant_id)
