"""Tenants (partners) and their API keys."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol

#: An API key as issued: `pgk_<16 hex key id>_<43 url-safe characters of secret>`.
API_KEY = re.compile(r"pgk_([0-9a-f]{16})_([A-Za-z0-9_-]{43})")


class Role(StrEnum):
    """What an API key may do. Deny by default: a role not listed here is refused."""

    ADMIN = "admin"  # everything in its tenant, including rules and lists
    ANALYST = "analyst"  # read assessments, record outcomes, backtest
    SERVICE = "service"  # a partner backend: assess, read its assessments, record outcomes


@dataclass(frozen=True, slots=True)
class Tenant:
    id: str
    name: str
    created_at: datetime
    active: bool = True


@dataclass(frozen=True, slots=True)
class ApiKey:
    """A stored API key: only the SHA-256 of its secret part is kept."""

    id: str
    tenant_id: str
    role: Role
    secret_hash: str
    created_at: datetime
    expires_at: datetime | None = None
    revoked_at: datetime | None = None

    def refusal(self, now: datetime) -> str | None:
        """Why the key no longer works at `now` (`revoked`, `expired`), or None if it does."""
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= now:
            return "expired"
        return None


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: resolved from a valid API key."""

    tenant_id: str
    key_id: str
    role: Role


class TenantRepository(Protocol):
    """Storage for tenants and API keys."""

    def add_tenant(self, tenant: Tenant) -> None:
        """Store a new tenant; raises `Conflict` if the name is taken."""
        ...

    def get_tenant(self, tenant_id: str) -> Tenant | None: ...

    def get_tenant_by_name(self, name: str) -> Tenant | None: ...

    def list_tenants(self) -> list[Tenant]: ...

    def add_api_key(self, key: ApiKey) -> None: ...

    def get_api_key(self, key_id: str) -> ApiKey | None: ...

    def list_api_keys(self, tenant_id: str) -> list[ApiKey]:
        """The tenant's keys, revoked and expired ones included, oldest first."""
        ...

    def revoke_api_key(self, key_id: str, at: datetime) -> None: ...
