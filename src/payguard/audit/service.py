"""The audit writer every capability uses."""

from __future__ import annotations

import uuid
from typing import Any

from payguard.audit.interfaces import (
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

    def list(
        self, *, tenant_id: str | None, limit: int = 100, action: AuditAction | None = None
    ) -> list[AuditRecord]:
        return self._repository.list(tenant_id=tenant_id, limit=limit, action=action)
