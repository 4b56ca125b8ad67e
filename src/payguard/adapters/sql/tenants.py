"""Tenants (partners) and their API keys in the relational store."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from payguard.adapters.sql import tables
from payguard.adapters.sql._errors import StoreErrors
from payguard.adapters.sql.engine import for_reads, for_writes
from payguard.core.errors import Conflict, NotFound
from payguard.tenancy.interfaces import ApiKey, Role, Tenant

__all__ = ["SqlTenantRepository"]

_T = tables.tenants
_K = tables.api_keys

_TENANT_COLUMNS = (_T.c.tenant_id, _T.c.name, _T.c.created_at, _T.c.active)
_KEY_COLUMNS = (
    _K.c.key_id,
    _K.c.tenant_id,
    _K.c.role,
    _K.c.secret_hash,
    _K.c.created_at,
    _K.c.expires_at,
    _K.c.revoked_at,
)


class SqlTenantRepository:
    """`TenantRepository` on SQL. Tenant names are unique; API keys are found by id alone,
    since the key is what tells us the tenant."""

    def __init__(self, engine: sa.Engine) -> None:
        self._reads = for_reads(engine)
        self._writes = for_writes(engine)
        self._guard = StoreErrors(engine)

    def add_tenant(self, tenant: Tenant) -> None:
        try:
            with self._guard, self._writes.begin() as conn:
                conn.execute(
                    sa.insert(_T),
                    {
                        "tenant_id": tenant.id,
                        "name": tenant.name,
                        "created_at": tenant.created_at,
                        "active": tenant.active,
                    },
                )
        except sa.exc.IntegrityError as exc:
            raise Conflict(f"a tenant named {tenant.name!r} or with that id exists") from exc

    def get_tenant(self, tenant_id: str) -> Tenant | None:
        return self._tenant(_T.c.tenant_id == tenant_id)

    def get_tenant_by_name(self, name: str) -> Tenant | None:
        return self._tenant(_T.c.name == name)

    def _tenant(self, where: sa.ColumnElement[bool]) -> Tenant | None:
        with self._guard, self._reads.connect() as conn:
            row = conn.execute(sa.select(*_TENANT_COLUMNS).where(where)).first()
        return None if row is None else Tenant(*row)

    def list_tenants(self) -> list[Tenant]:
        query = sa.select(*_TENANT_COLUMNS).order_by(_T.c.created_at, _T.c.tenant_id)
        with self._guard, self._reads.connect() as conn:
            return [Tenant(*row) for row in conn.execute(query)]

    def add_api_key(self, key: ApiKey) -> None:
        try:
            with self._guard, self._writes.begin() as conn:
                conn.execute(
                    sa.insert(_K),
                    {
                        "key_id": key.id,
                        "tenant_id": key.tenant_id,
                        "role": key.role.value,
                        "secret_hash": key.secret_hash,
                        "created_at": key.created_at,
                        "expires_at": key.expires_at,
                        "revoked_at": key.revoked_at,
                    },
                )
        except sa.exc.IntegrityError as exc:
            if self.get_tenant(key.tenant_id) is None:
                raise NotFound(f"unknown tenant {key.tenant_id!r}") from exc
            raise Conflict(f"API key id {key.id!r} exists") from exc

    def get_api_key(self, key_id: str) -> ApiKey | None:
        with self._guard, self._reads.connect() as conn:
            row = conn.execute(sa.select(*_KEY_COLUMNS).where(_K.c.key_id == key_id)).first()
        return None if row is None else _api_key(*row)

    def list_api_keys(self, tenant_id: str) -> list[ApiKey]:
        query = (
            sa.select(*_KEY_COLUMNS)
            .where(_K.c.tenant_id == tenant_id)
            .order_by(_K.c.created_at, _K.c.key_id)
        )
        with self._guard, self._reads.connect() as conn:
            return [_api_key(*row) for row in conn.execute(query)]

    def revoke_api_key(self, key_id: str, at: datetime) -> None:
        """Stamp the key revoked; a second revocation keeps the first time."""
        with self._guard, self._writes.begin() as conn:
            revoked = conn.execute(
                sa.update(_K)
                .where(_K.c.key_id == key_id, _K.c.revoked_at.is_(None))
                .values(revoked_at=at)
            ).rowcount
            if not revoked:
                exists = conn.execute(sa.select(_K.c.key_id).where(_K.c.key_id == key_id)).first()
                if exists is None:
                    raise NotFound(f"unknown API key {key_id!r}")


def _api_key(
    key_id: str,
    tenant_id: str,
    role: str,
    secret_hash: str,
    created_at: datetime,
    expires_at: datetime | None,
    revoked_at: datetime | None,
) -> ApiKey:
    return ApiKey(
        id=key_id,
        tenant_id=tenant_id,
        role=Role(role),
        secret_hash=secret_hash,
        created_at=created_at,
        expires_at=expires_at,
        revoked_at=revoked_at,
    )
