"""Contract tests for `SqlTenantRepository` on every SQL backend."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from payguard.adapters.sql.tenants import SqlTenantRepository
from payguard.core.errors import Conflict, NotFound
from payguard.tenancy.interfaces import ApiKey, Role, Tenant, TenantRepository

T0 = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


@pytest.fixture
def repository(sql_engine: sa.Engine) -> TenantRepository:
    return SqlTenantRepository(sql_engine)


def new_tenant(tenant_id: str, *, name: str | None = None) -> Tenant:
    return Tenant(id=tenant_id, name=name or f"Partner {tenant_id}", created_at=T0)


def new_key(tenant_id: str, **overrides: object) -> ApiKey:
    fields: dict[str, object] = {
        "id": f"key-{uuid.uuid4().hex}",
        "tenant_id": tenant_id,
        "role": Role.SERVICE,
        "secret_hash": "ab" * 32,
        "created_at": T0,
    }
    fields.update(overrides)
    return ApiKey(**fields)  # type: ignore[arg-type]


def test_add_and_find_a_tenant(repository: TenantRepository, tenant: str) -> None:
    created = new_tenant(tenant)
    repository.add_tenant(created)
    assert repository.get_tenant(tenant) == created
    assert repository.get_tenant_by_name(created.name) == created
    assert created in repository.list_tenants()
    assert repository.get_tenant("missing") is None
    assert repository.get_tenant_by_name("missing") is None


def test_inactive_tenants_keep_their_flag(repository: TenantRepository, tenant: str) -> None:
    dormant = Tenant(id=tenant, name=f"Dormant {tenant}", created_at=T0, active=False)
    repository.add_tenant(dormant)
    assert repository.get_tenant(tenant) == dormant


def test_a_taken_name_is_a_conflict(
    repository: TenantRepository, tenant: str, other_tenant: str
) -> None:
    repository.add_tenant(new_tenant(tenant, name=f"Acme {tenant}"))
    with pytest.raises(Conflict):
        repository.add_tenant(new_tenant(other_tenant, name=f"Acme {tenant}"))
    with pytest.raises(Conflict):
        repository.add_tenant(new_tenant(tenant, name=f"Other {tenant}"))
    assert repository.get_tenant(other_tenant) is None


def test_api_keys_round_trip_and_revoke(repository: TenantRepository, tenant: str) -> None:
    repository.add_tenant(new_tenant(tenant))
    key = new_key(tenant, role=Role.ADMIN, expires_at=T0 + timedelta(days=90))
    repository.add_api_key(key)
    assert repository.get_api_key(key.id) == key
    assert repository.get_api_key("missing") is None

    repository.revoke_api_key(key.id, T0 + timedelta(days=1))
    revoked = repository.get_api_key(key.id)
    assert revoked is not None
    assert revoked.revoked_at == T0 + timedelta(days=1)
    assert revoked.revoked_at.tzinfo == UTC
    # Revoking again keeps the first time.
    repository.revoke_api_key(key.id, T0 + timedelta(days=5))
    again = repository.get_api_key(key.id)
    assert again is not None
    assert again.revoked_at == T0 + timedelta(days=1)


def test_revoking_an_unknown_key_is_not_found(repository: TenantRepository) -> None:
    with pytest.raises(NotFound):
        repository.revoke_api_key("missing", T0)


def test_keys_need_a_known_tenant_and_a_fresh_id(repository: TenantRepository, tenant: str) -> None:
    with pytest.raises(NotFound):
        repository.add_api_key(new_key(tenant))
    repository.add_tenant(new_tenant(tenant))
    key = new_key(tenant)
    repository.add_api_key(key)
    with pytest.raises(Conflict):
        repository.add_api_key(new_key(tenant, id=key.id, role=Role.ADMIN))
    assert repository.get_api_key(key.id) == key


def test_a_key_belongs_to_its_tenant_only(
    repository: TenantRepository, tenant: str, other_tenant: str
) -> None:
    repository.add_tenant(new_tenant(tenant))
    repository.add_tenant(new_tenant(other_tenant))
    key = new_key(tenant)
    repository.add_api_key(key)
    found = repository.get_api_key(key.id)
    assert found is not None
    assert found.tenant_id == tenant


def test_listing_keys_shows_only_the_tenants_own_oldest_first(
    repository: TenantRepository, tenant: str, other_tenant: str
) -> None:
    repository.add_tenant(new_tenant(tenant))
    repository.add_tenant(new_tenant(other_tenant))
    later = new_key(tenant, created_at=T0 + timedelta(hours=1), expires_at=T0 + timedelta(days=9))
    first = new_key(tenant)
    theirs = new_key(other_tenant)
    for key in (later, first, theirs):
        repository.add_api_key(key)
    repository.revoke_api_key(first.id, T0 + timedelta(days=2))

    listed = repository.list_api_keys(tenant)

    assert [k.id for k in listed] == [first.id, later.id]
    assert listed[0].revoked_at == T0 + timedelta(days=2)
    assert listed[1] == later
    assert repository.list_api_keys(other_tenant) == [theirs]
    assert repository.list_api_keys("nobody") == []
