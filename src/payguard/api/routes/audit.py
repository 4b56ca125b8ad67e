"""`/v1/audit`: the tenant's audit trail (admins only)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from payguard.api.deps import Admin, AuditLog
from payguard.audit.interfaces import AuditAction
from payguard.wire.schemas import AuditRecordPublic

router = APIRouter(prefix="/v1/audit", tags=["audit"])


@router.get("", response_model=list[AuditRecordPublic], summary="Newest audit records first")
async def list_audit(
    principal: Admin,
    audit: AuditLog,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    action: AuditAction | None = None,
) -> list[AuditRecordPublic]:
    records = audit.list(tenant_id=principal.tenant_id, limit=limit, action=action)
    return [
        AuditRecordPublic(
            id=r.id,
            at=r.at,
            actor=r.actor,
            action=r.action.value,
            target=r.target,
            outcome=r.outcome.value,
            source_ip=r.source_ip,
            details=r.details,
        )
        for r in records
    ]
