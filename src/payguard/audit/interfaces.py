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
    AUTH_USER_CREATE = "auth:user_create"
    AUTH_PASSWORD_SET = "auth:password_set"  # noqa: S105 - an audit tag, not a secret
    AUTH_CREDENTIAL_ADD = "auth:credential_add"
    AUTH_CREDENTIAL_CONFIRM = "auth:credential_confirm"
    AUTH_CREDENTIAL_REVOKE = "auth:credential_revoke"
    AUTH_RECOVERY_CODES = "auth:recovery_codes"
    AUTH_VERIFY = "auth:verify"
    AUTH_FAILURE = "auth:failure"
    AUTH_LOCKED = "auth:locked"
    AUTH_CLONE_SUSPECTED = "auth:clone_suspected"
    SESSION_CREATE = "session:create"
    SESSION_REFRESH = "session:refresh"
    SESSION_REVOKE = "session:revoke"
    STEP_UP_CREATE = "stepup:create"
    STEP_UP_PASS = "stepup:pass"  # noqa: S105 - an audit tag, not a secret
    STEP_UP_FAIL = "stepup:fail"
    DEVICE_REPORT = "device:report"
    DEVICE_APPS_SET = "device:genuine_apps"
    COMMUNITY_ADD = "community:add"
    COMMUNITY_REMOVE = "community:remove"
    MAINTENANCE_PURGE = "maintenance:purge"
    STATE_REBUILD = "state:rebuild"
    KEY_ROTATE = "key:rotate"
    KEY_RETIRE = "key:retire"
    KEY_REWRAP = "key:rewrap"
    TOKEN_CREATE = "token:create"  # noqa: S105 - an audit tag, not a secret
    TOKEN_DETOKENIZE = "token:detokenize"  # noqa: S105 - an audit tag, not a secret
    TOKEN_REVOKE = "token:revoke"  # noqa: S105 - an audit tag, not a secret
    TOKEN_SHRED = "token:shred"  # noqa: S105 - an audit tag, not a secret
    VAULT_POLICY = "vault:policy"
    PRIVACY_SCAN = "privacy:scan"
    PRIVACY_REDACT = "privacy:redact"
    PRIVACY_RECOGNIZERS = "privacy:recognizers"
    SHARING_RECIPIENT = "sharing:recipient"
    SHARING_REQUEST = "sharing:request"
    SHARING_CONSENT = "sharing:consent"
    SHARING_CONSENT_REVOKE = "sharing:consent_revoke"
    SHARING_EXPORT = "sharing:export"
    SHARING_EXPORT_REFUSED = "sharing:export_refused"


class AuditOutcome(StrEnum):
    SUCCESS = "success"
    DENIED = "denied"
    FAILURE = "failure"


@dataclass(frozen=True, slots=True)
class Actor:
    """Who acts, carried from the edge (an API request, a CLI command, the platform itself)
    to every audit record the action writes.

    `name` is what the record's `actor` column shows (`apikey:<id>`, `cli`, `demo`,
    `payguard`); `tenant_id` is the caller's own tenant, the default tenant of its records;
    `operator` is a person acting through the caller, when one is known.
    """

    name: str
    tenant_id: str | None = None
    source_ip: str | None = None
    key_id: str | None = None
    operator: str | None = None

    @classmethod
    def api_key(cls, tenant_id: str, key_id: str, source_ip: str | None) -> Actor:
        """A partner's API key calling over HTTP."""
        return cls(f"apikey:{key_id}", tenant_id=tenant_id, source_ip=source_ip, key_id=key_id)

    @classmethod
    def system(cls, name: str = "payguard", *, tenant_id: str | None = None) -> Actor:
        """payguard itself, or a local tool (`cli`, `demo`), acting with no request behind it."""
        return cls(name, tenant_id=tenant_id)


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
    """What every capability calls for a security-relevant action: one line per action
    through `success`, `denied` or `failure`; `record` is the long form underneath."""

    def success(
        self,
        action: AuditAction,
        actor: Actor,
        target: str,
        *,
        tenant_id: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> AuditRecord:
        """The action was done. `tenant_id` defaults to the actor's tenant."""
        ...

    def denied(
        self,
        action: AuditAction,
        actor: Actor,
        target: str,
        *,
        tenant_id: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> AuditRecord:
        """The action was refused (no permission, locked, bad credentials)."""
        ...

    def failure(
        self,
        action: AuditAction,
        actor: Actor,
        target: str,
        *,
        tenant_id: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> AuditRecord:
        """The action was attempted and did not succeed."""
        ...

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
