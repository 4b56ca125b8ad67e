"""The audit writer every capability uses."""

from __future__ import annotations

import uuid
from typing import Any

from payguard.audit.interfaces import (
    Actor,
    AuditAction,
    AuditOutcome,
    AuditRecord,
    AuditRepository,
)
from payguard.core.clock import Clock


class AuditService:
    """Writes audit records through a repository, stamping id and time from the clock."""

    def __init__(self, repository: AuditRepository, clock: Clock) -> None:
        self._repository = repository
        self._clock = clock

    def record(
        self,
        *,
        action: AuditAction,
        actor: str,
        target: str,
        outcome: AuditOutcome,
        tenant_id: str | None = None,
        source_ip: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> AuditRecord:
        record = AuditRecord(
            id=uuid.uuid4().hex,
            at=self._clock.now(),
            tenant_id=tenant_id,
            actor=actor,
            action=action,
            target=target,
            outcome=outcome,
            source_ip=source_ip,
            details=dict(details or {}),
        )
        self._repository.append(record)
        return record

    def success(
        self,
        action: AuditAction,
        actor: Actor,
        target: str,
        *,
        tenant_id: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> AuditRecord:
        return self._by(actor, action, AuditOutcome.SUCCESS, target, tenant_id, details)

    def denied(
        self,
        action: AuditAction,
        actor: Actor,
        target: str,
        *,
        tenant_id: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> AuditRecord:
        return self._by(actor, action, AuditOutcome.DENIED, target, tenant_id, details)

    def failure(
        self,
        action: AuditAction,
        actor: Actor,
        target: str,
        *,
        tenant_id: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> AuditRecord:
        return self._by(actor, action, AuditOutcome.FAILURE, target, tenant_id, details)

    def _by(
        self,
        actor: Actor,
        action: AuditAction,
        outcome: AuditOutcome,
        target: str,
        tenant_id: str | None,
        details: dict[str, Any] | None,
    ) -> AuditRecord:
        if actor.operator is not None:
            details = {**(details or {}), "operator": actor.operator}
        return self.record(
            action=action,
            actor=actor.name,
            target=target,
            outcome=outcome,
            tenant_id=tenant_id if tenant_id is not None else actor.tenant_id,
            source_ip=actor.source_ip,
            details=details,
        )

    def list(
        self, *, tenant_id: str | None, limit: int = 100, action: AuditAction | None = None
    ) -> list[AuditRecord]:
        return self._repository.list(tenant_id=tenant_id, limit=limit, action=action)
