"""Contract tests for `SqlDataKeyRepository` on every SQL backend."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from payguard.adapters.sql.vault import SqlDataKeyRepository
from payguard.core.errors import StateConflict
from payguard.vault.interfaces import DataKeyRepository, KeyVersion, WrappedKey

T0 = datetime(2026, 12, 4, 9, 30, 15, 123456, tzinfo=UTC)


@pytest.fixture
def keys(sql_engine: sa.Engine) -> DataKeyRepository:
    return SqlDataKeyRepository(sql_engine)


def _wrapped(tenant: str, purpose: str, version: int, payload: bytes = b"") -> WrappedKey:
    meta = KeyVersion(tenant, purpose, version, "local:0123456789abcdef", T0)
    return WrappedKey(meta, payload or bytes(range(version, version + 60)))


def test_a_stored_key_comes_back_whole(keys: DataKeyRepository, tenant: str) -> None:
    stored = _wrapped(tenant, "token:pan", 1, b"\x00\xff" * 30)
    keys.add(stored)
    assert keys.get(tenant, "token:pan", 1) == stored
    assert keys.get(tenant, "token:pan", 2) is None
    assert keys.any_keys()


def test_current_is_the_highest_version(keys: DataKeyRepository, tenant: str) -> None:
    assert keys.current(tenant, "fpe:pan") is None
    for version in (1, 2, 3):
        keys.add(_wrapped(tenant, "fpe:pan", version))
    current = keys.current(tenant, "fpe:pan")
    assert current is not None
    assert current.key.version == 3


def test_a_version_stored_twice_is_a_state_conflict(keys: DataKeyRepository, tenant: str) -> None:
    keys.add(_wrapped(tenant, "token:pan", 1))
    with pytest.raises(StateConflict):
        keys.add(_wrapped(tenant, "token:pan", 1, b"other" * 12))
    got = keys.get(tenant, "token:pan", 1)
    assert got is not None
    assert got.wrapped == _wrapped(tenant, "token:pan", 1).wrapped


def test_tenants_and_purposes_are_kept_apart(
    keys: DataKeyRepository, tenant: str, other_tenant: str
) -> None:
    keys.add(_wrapped(tenant, "token:pan", 1))
    keys.add(_wrapped(tenant, "token:pan", 2))
    keys.add(_wrapped(other_tenant, "token:pan", 1))
    keys.add(_wrapped(tenant, "seal:totp", 1))
    assert keys.get(other_tenant, "token:pan", 2) is None
    assert keys.get(tenant, "fpe:pan", 1) is None
    other = keys.current(other_tenant, "token:pan")
    assert other is not None
    assert other.key.version == 1
    mine = [(k.purpose, k.version) for k in keys.versions(tenant_id=tenant)]
    assert mine == [("seal:totp", 1), ("token:pan", 1), ("token:pan", 2)]
    assert [k.version for k in keys.versions(tenant_id=tenant, purpose="token:pan")] == [1, 2]
    everyone = {(k.tenant_id, k.purpose) for k in keys.versions(purpose="token:pan")}
    assert {(tenant, "token:pan"), (other_tenant, "token:pan")} <= everyone


def test_retire_marks_only_the_versions_below_once(
    keys: DataKeyRepository, tenant: str, other_tenant: str
) -> None:
    for version in (1, 2, 3):
        keys.add(_wrapped(tenant, "token:pan", version))
    keys.add(_wrapped(other_tenant, "token:pan", 1))
    at = T0 + timedelta(days=1)
    assert keys.retire(tenant, "token:pan", 3, at) == [1, 2]
    assert keys.retire(tenant, "token:pan", 3, at + timedelta(days=1)) == []
    states = {k.version: k.retired_at for k in keys.versions(tenant_id=tenant)}
    assert states == {1: at, 2: at, 3: None}
    other = keys.get(other_tenant, "token:pan", 1)
    assert other is not None
    assert not other.key.retired
