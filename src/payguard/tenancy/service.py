"""Tenants and API keys: creation, authentication (deny by default) and revocation."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
import time
import uuid
from datetime import datetime

from payguard.audit.interfaces import Actor, AuditAction, AuditWriter
from payguard.core.clock import Clock
from payguard.core.errors import AuthenticationFailed, NotFound, ValidationFailed
from payguard.tenancy.interfaces import (
    API_KEY,
    ApiKey,
    Principal,
    Role,
    Tenant,
    TenantRepository,
)

TENANT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._-]{0,63}$")


def _hash(secret: str) -> str:
    # The secret is 256 random bits, so a fast hash is enough: no dictionary to guess from.
    return hashlib.sha256(secret.encode()).hexdigest()


def key_id_of(raw: str) -> str | None:
    """The key id of a well-formed API key, for audit without the secret."""
    match = API_KEY.fullmatch(raw)
    return match.group(1) if match else None


class TenantService:
    """Creates tenants and keys; resolves a bearer key to a `Principal` or refuses it."""

    def __init__(
        self, repository: TenantRepository, *, audit: AuditWriter, clock: Clock, ttl: float
    ) -> None:
        self._repository = repository
        self._audit = audit
        self._clock = clock
        self._ttl = ttl
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[float, ApiKey]] = {}

    def create_tenant(
        self, name: str, *, actor: Actor, role: Role = Role.ADMIN
    ) -> tuple[Tenant, str]:
        """A new tenant and its first API key (returned once, stored hashed)."""
        if not TENANT_NAME.match(name):
            raise ValidationFailed(
                "tenant name must be 1-64 letters, digits, spaces, dots, dashes or underscores",
                field="name",
            )
        tenant = Tenant(id=uuid.uuid4().hex, name=name, created_at=self._clock.now())
        self._repository.add_tenant(tenant)
        self._audit.success(
            AuditAction.TENANT_CREATE,
            actor,
            f"tenant:{tenant.id}",
            tenant_id=tenant.id,
            details={"name": name},
        )
        _, raw = self.issue_key(tenant.id, role=role, actor=actor)
        return tenant, raw

    def issue_key(
        self, tenant_id: str, *, role: Role, actor: Actor, expires_at: datetime | None = None
    ) -> tuple[ApiKey, str]:
        if self._repository.get_tenant(tenant_id) is None:
            raise NotFound(f"no tenant {tenant_id!r}")
        if expires_at is not None and expires_at <= self._clock.now():
            raise ValidationFailed("a key must expire in the future", field="expires_at")
        key_id = secrets.token_hex(8)
        secret = secrets.token_urlsafe(32)
        key = ApiKey(
            id=key_id,
            tenant_id=tenant_id,
            role=role,
            secret_hash=_hash(secret),
            created_at=self._clock.now(),
            expires_at=expires_at,
        )
        self._repository.add_api_key(key)
        self._audit.success(
            AuditAction.APIKEY_CREATE,
            actor,
            f"apikey:{key_id}",
            tenant_id=tenant_id,
            details={
                "role": role.value,
                "expires_at": None if expires_at is None else expires_at.isoformat(),
            },
        )
        return key, f"pgk_{key_id}_{secret}"

    def keys(self, tenant_id: str) -> list[ApiKey]:
        """The tenant's API keys (hashes only), revoked and expired ones included."""
        if self._repository.get_tenant(tenant_id) is None:
            raise NotFound(f"no tenant {tenant_id!r}")
        return self._repository.list_api_keys(tenant_id)

    def revoke_key(self, key_id: str, *, actor: Actor) -> None:
        key = self._repository.get_api_key(key_id)
        if key is None:
            raise NotFound(f"no API key {key_id!r}")
        self._repository.revoke_api_key(key_id, self._clock.now())
        with self._lock:
            self._cache.pop(key_id, None)
        self._audit.success(
            AuditAction.APIKEY_REVOKE,
            actor,
            f"apikey:{key_id}",
            tenant_id=key.tenant_id,
        )

    def authenticate(self, raw: str | None, *, source_ip: str | None) -> Principal:
        """Resolve a bearer key; anything missing, malformed, unknown, revoked or expired is
        refused with `AuthenticationFailed` and audited."""
        match = API_KEY.fullmatch(raw) if raw else None
        if match is None:
            return self._refuse("missing" if not raw else "malformed", None, source_ip)
        key_id, secret = match.groups()
        key = self._lookup(key_id)
        if key is None:
            return self._refuse("unknown key", key_id, source_ip)
        if not hmac.compare_digest(key.secret_hash, _hash(secret)):
            return self._refuse("wrong secret", key_id, source_ip, key.tenant_id)
        refusal = key.refusal(self._clock.now())
        if refusal is not None:
            return self._refuse(refusal, key_id, source_ip, key.tenant_id)
        if key.role not in Role.__members__.values():
            return self._refuse("unknown role", key_id, source_ip, key.tenant_id)
        return Principal(tenant_id=key.tenant_id, key_id=key.id, role=key.role)

    def _lookup(self, key_id: str) -> ApiKey | None:
        entry = self._cache.get(key_id)
        now = time.monotonic()
        if entry is not None and now - entry[0] < self._ttl:
            return entry[1]
        key = self._repository.get_api_key(key_id)
        with self._lock:
            if key is None:
                self._cache.pop(key_id, None)
            else:
                self._cache[key_id] = (now, key)
        return key

    def _refuse(
        self, why: str, key_id: str | None, source_ip: str | None, tenant_id: str | None = None
    ) -> Principal:
        # The caller is whoever the bearer claimed to be: the key id it named, if any.
        caller = (
            Actor(f"apikey:{key_id}", tenant_id=tenant_id, source_ip=source_ip, key_id=key_id)
            if key_id
            else Actor("anonymous", source_ip=source_ip)
        )
        self._audit.denied(AuditAction.APIKEY_AUTH_FAILED, caller, "api", details={"reason": why})
        raise AuthenticationFailed("a valid API key is required (Authorization: Bearer <key>)")

    def tenants(self) -> list[Tenant]:
        return self._repository.list_tenants()

    def get_tenant_by_name(self, name: str) -> Tenant | None:
        return self._repository.get_tenant_by_name(name)
