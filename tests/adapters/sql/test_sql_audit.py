"""Contract tests for `SqlAuditRepository` on every SQL backend."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from payguard.adapters.sql.audit import SqlAuditRepository
from payguard.audit.interfaces import AuditAction, AuditOutcome, AuditRecord, AuditRepository
from payguard.core.errors import Conflict

T0 = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


@pytest.fixture
def audit(sql_engine: sa.Engine) -> AuditRepository:
    return SqlAuditRepository(sql_engine)


def record(
    tenant_id: str | None,
    action: AuditAction = AuditAction.RULES_UPDATE,
    *,
    at: datetime = T0,
    target: str = "rules",
) -> AuditRecord:
    return AuditRecord(
        id=uuid.uuid4().hex,
        at=at,
        tenant_id=tenant_id,
        actor="key-1",
        action=action,
        target=target,
        outcome=AuditOutcome.SUCCESS,
        source_ip="203.0.113.7",
        details={"version": 3, "changed": ["r1", "r2"]},
    )


def test_append_and_list_newest_first(audit: AuditRepository, tenant: str) -> None:
    older = record(tenant, at=T0)
    newer = record(tenant, at=T0 + timedelta(seconds=1))
    same_instant = record(tenant, at=T0 + timedelta(seconds=1), target="later")
    for r in (older, newer, same_instant):
        audit.append(r)
    # Ties on `at` list the later append first.
    assert audit.list(tenant_id=tenant) == [same_instant, newer, older]
    assert audit.list(tenant_id=tenant, limit=2) == [same_instant, newer]
    assert audit.list(tenant_id=tenant, limit=0) == []


def test_list_filters_by_action(audit: AuditRepository, tenant: str) -> None:
    added = record(tenant, AuditAction.LIST_ADD)
    removed = record(tenant, AuditAction.LIST_REMOVE, at=T0 + timedelta(seconds=1))
    audit.append(added)
    audit.append(removed)
    assert audit.list(tenant_id=tenant, action=AuditAction.LIST_ADD) == [added]
    assert audit.list(tenant_id=tenant, action=AuditAction.APIKEY_REVOKE) == []


def test_records_without_a_tenant(audit: AuditRepository, tenant: str) -> None:
    # An unknown API key: there is no tenant to file it under.
    marker = uuid.uuid4().hex
    refused = AuditRecord(
        id=uuid.uuid4().hex,
        at=T0 + timedelta(days=365 * 50),  # newest of all, whatever else the session wrote
        tenant_id=None,
        actor="unknown",
        action=AuditAction.APIKEY_AUTH_FAILED,
        target=marker,
        outcome=AuditOutcome.DENIED,
        source_ip=None,
    )
    audit.append(refused)
    audit.append(record(tenant, AuditAction.APIKEY_AUTH_FAILED))
    tenantless = audit.list(tenant_id=None, action=AuditAction.APIKEY_AUTH_FAILED, limit=1)
    assert tenantless == [refused]
    assert all(r.tenant_id == tenant for r in audit.list(tenant_id=tenant))
    assert refused not in audit.list(tenant_id=tenant)


def test_audit_is_per_tenant(audit: AuditRepository, tenant: str, other_tenant: str) -> None:
    mine = record(tenant)
    audit.append(mine)
    assert audit.list(tenant_id=other_tenant) == []
    assert audit.list(tenant_id=tenant) == [mine]


def test_append_only(audit: AuditRepository, tenant: str) -> None:
    first = record(tenant)
    audit.append(first)
    # Re-appending an id cannot rewrite the record.
    with pytest.raises(Conflict):
        audit.append(dataclasses.replace(first, target="rewritten"))
    assert audit.list(tenant_id=tenant) == [first]
    public = {name for name in dir(SqlAuditRepository) if not name.startswith("_")}
    assert public == {"append", "list"}
