"""Tenants and API keys: what each change and each refused key leaves in the audit trail."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from payguard.adapters.sql.engine import create_sql_engine, migrate
from payguard.adapters.sql.tenants import SqlTenantRepository
from payguard.audit.interfaces import Actor, AuditAction, AuditOutcome, AuditRecord
from payguard.audit.service import AuditService
from payguard.core.clock import FrozenClock
from payguard.core.errors import AuthenticationFailed
from payguard.tenancy.interfaces import Role
from payguard.tenancy.service import TenantService, key_id_of

IP = "198.51.100.4"


class Records:
    """An audit repository in memory."""

    def __init__(self) -> None:
        self.records: list[AuditRecord] = []

    def append(self, record: AuditRecord) -> None:
        self.records.append(record)

    def list(self, **_: Any) -> list[AuditRecord]:
        return list(reversed(self.records))


@pytest.fixture
def engine(tmp_path) -> Iterator[sa.Engine]:
    built = create_sql_engine(f"sqlite:///{tmp_path}/tenants.db")
    migrate(built)
    yield built
    built.dispose()


@pytest.fixture
def audit() -> Records:
    return Records()


@pytest.fixture
def tenants(engine: sa.Engine, audit: Records, clock: FrozenClock) -> TenantService:
    return TenantService(
        SqlTenantRepository(engine), audit=AuditService(audit, clock), clock=clock, ttl=0
    )


def shape(record: AuditRecord) -> tuple[Any, ...]:
    return (
        record.action,
        record.actor,
        record.target,
        record.outcome,
        record.tenant_id,
        record.source_ip,
        record.details,
    )


def test_tenant_and_key_changes_are_audited_as_the_tool_that_made_them(
    tenants: TenantService, audit: Records, clock: FrozenClock
) -> None:
    tenant, raw = tenants.create_tenant("acme", actor=Actor.system("cli"))
    first = key_id_of(raw)
    expires = clock.now() + timedelta(days=1)
    key, _ = tenants.issue_key(
        tenant.id, role=Role.SERVICE, actor=Actor.system("cli"), expires_at=expires
    )
    tenants.revoke_key(key.id, actor=Actor.system("cli"))
    assert [shape(r) for r in audit.records] == [
        (
            AuditAction.TENANT_CREATE,
            "cli",
            f"tenant:{tenant.id}",
            AuditOutcome.SUCCESS,
            tenant.id,
            None,
            {"name": "acme"},
        ),
        (
            AuditAction.APIKEY_CREATE,
            "cli",
            f"apikey:{first}",
            AuditOutcome.SUCCESS,
            tenant.id,
            None,
            {"role": "admin", "expires_at": None},
        ),
        (
            AuditAction.APIKEY_CREATE,
            "cli",
            f"apikey:{key.id}",
            AuditOutcome.SUCCESS,
            tenant.id,
            None,
            {"role": "service", "expires_at": expires.isoformat()},
        ),
        (
            AuditAction.APIKEY_REVOKE,
            "cli",
            f"apikey:{key.id}",
            AuditOutcome.SUCCESS,
            tenant.id,
            None,
            {},
        ),
    ]


def test_a_good_key_is_its_principal_and_leaves_no_record(
    tenants: TenantService, audit: Records
) -> None:
    tenant, raw = tenants.create_tenant("acme", actor=Actor.system("cli"))
    audit.records.clear()
    principal = tenants.authenticate(raw, source_ip=IP)
    assert (principal.tenant_id, principal.key_id, principal.role) == (
        tenant.id,
        key_id_of(raw),
        Role.ADMIN,
    )
    assert audit.records == []


def test_refused_keys_are_audited_as_the_key_they_named(
    tenants: TenantService, audit: Records, clock: FrozenClock
) -> None:
    tenant, raw = tenants.create_tenant("acme", actor=Actor.system("cli"))
    key_id = key_id_of(raw)
    assert key_id is not None
    revoked, revoked_raw = tenants.issue_key(
        tenant.id, role=Role.SERVICE, actor=Actor.system("cli")
    )
    tenants.revoke_key(revoked.id, actor=Actor.system("cli"))
    expiring, expiring_raw = tenants.issue_key(
        tenant.id,
        role=Role.SERVICE,
        actor=Actor.system("cli"),
        expires_at=clock.now() + timedelta(minutes=1),
    )
    clock.advance(timedelta(minutes=2))
    audit.records.clear()
    unknown = f"pgk_{'0' * 16}_{'A' * 43}"
    wrong = f"pgk_{key_id}_{'B' * 43}"

    attempts: list[tuple[str | None, str | None]] = [
        (None, IP),
        ("not-a-key", IP),
        (unknown, None),
        (wrong, IP),
        (revoked_raw, IP),
        (expiring_raw, IP),
    ]
    for raw_key, source_ip in attempts:
        with pytest.raises(AuthenticationFailed):
            tenants.authenticate(raw_key, source_ip=source_ip)

    assert [shape(r) for r in audit.records] == [
        (
            AuditAction.APIKEY_AUTH_FAILED,
            actor,
            "api",
            AuditOutcome.DENIED,
            owner,
            ip,
            {"reason": why},
        )
        for actor, owner, ip, why in [
            ("anonymous", None, IP, "missing"),
            ("anonymous", None, IP, "malformed"),
            (f"apikey:{'0' * 16}", None, None, "unknown key"),
            (f"apikey:{key_id}", tenant.id, IP, "wrong secret"),
            (f"apikey:{revoked.id}", tenant.id, IP, "revoked"),
            (f"apikey:{expiring.id}", tenant.id, IP, "expired"),
        ]
    ]
