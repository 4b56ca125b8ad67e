"""The audit trail: who did what, when, from where, to what, and how it ended."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol


class AuditAction(StrEnum):
    """Audit tags, `subject:action`."""

    TENANT_CREATE = "tenant:create"
    APIKEY_CREATE = "apikey:create"
    APIKEY_REVOKE = "apikey:revoke"
    APIKEY_AUTH_FAILED = "apikey:auth_failed"
    ACCESS_DENIED = "access:denied"
    RULES_UPDATE = "rules:update"
    RULES_BACKTEST = "rules:backtest"
    LIST_ADD = "list:add"
    LIST_REMOVE = "list:remove"
    OUTCOME_RECORD = "assessment:outcome"
    MODEL_REGISTER = "model:register"
    MODEL_PROMOTE = "model:promote"
    MODEL_SHADOW = "model:shadow"


class AuditOutcome(StrEnum):
    SUCCESS = "success"
    DENIED = "denied"
    FAILURE = "failure"


@dataclass(frozen=True, slots=True)
class AuditRecord:
    id: str
    at: datetime
    tenant_id: str | None
    actor: str
    action: AuditAction
    target: str
    outcome: AuditOutcome
    source_ip: str | None
    details: dict[str, Any] = field(default_factory=dict)


class AuditRepository(Protocol):
    """Append-only storage of audit records; there is no update and no delete."""

    def append(self, record: AuditRecord) -> None: ...

    def list(
        self, *, tenant_id: str | None, limit: int = 100, action: AuditAction | None = None
    ) -> list[AuditRecord]:
        """Newest first; `tenant_id=None` lists records that belong to no tenant."""
        ...


class AuditWriter(Protocol):
    """What every capability calls for a security-relevant action."""

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
    ) -> AuditRecord: ...
