"""Contract tests for `SqlTokenRepository` (and `SqlDataKeyRepository.delete`) on every
SQL backend."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from payguard.adapters.sql.vault import SqlDataKeyRepository
from payguard.adapters.sql.vault_tokens import SqlTokenRepository
from payguard.core.errors import StateConflict
from payguard.vault.interfaces import (
    DataKeyRepository,
    KeyVersion,
    TokenRecord,
    TokenRepository,
    TokenStyle,
    WrappedKey,
)

T0 = datetime(2026, 12, 4, 9, 30, 15, 123456, tzinfo=UTC)


@pytest.fixture
def tokens(sql_engine: sa.Engine) -> TokenRepository:
    return SqlTokenRepository(sql_engine)


def _record(tenant: str, token: str, **overrides: object) -> TokenRecord:
    base = TokenRecord(
        tenant_id=tenant,
        token=token,
        kind="email",
        style=TokenStyle.VAULT_DETERMINISTIC,
        scope="merchant:m-1",
        key_version=1,
        created_at=T0,
        sealed=b"\x01\x00\x00\x00\x01" + bytes(range(40)),
        lookup=f"lookup-{token}",
        expires_at=T0 + timedelta(hours=1),
        subject_id="cust-7",
    )
    return replace(base, **overrides)  # type: ignore[arg-type]


def test_a_stored_token_comes_back_whole(tokens: TokenRepository, tenant: str) -> None:
    record = _record(tenant, "tok_a")
    plain = _record(
        tenant,
        "4111110000001111",
        kind="pan",
        style=TokenStyle.FPE_DETERMINISTIC,
        scope="",
        sealed=None,
        lookup=None,
        expires_at=None,
        subject_id=None,
        key_version=3,
    )
    tokens.add([record, plain])
    got = tokens.get(tenant, ["tok_a", "4111110000001111", "tok_missing"])
    assert got == {"tok_a": record, "4111110000001111": plain}
    assert tokens.find(tenant, ["lookup-tok_a", "lookup-none"]) == {"lookup-tok_a": record}
    assert "sealed" not in repr(record) and "\\x00" not in repr(record)


def test_a_token_or_lookup_stored_twice_is_a_conflict_and_nothing_is_written(
    tokens: TokenRepository, tenant: str
) -> None:
    tokens.add([_record(tenant, "tok_a")])
    with pytest.raises(StateConflict):
        tokens.add([_record(tenant, "tok_b", lookup="other"), _record(tenant, "tok_a")])
    with pytest.raises(StateConflict):
        tokens.add([_record(tenant, "tok_c", lookup="lookup-tok_a")])
    assert set(tokens.get(tenant, ["tok_a", "tok_b", "tok_c"])) == {"tok_a"}


def test_nulls_do_not_collide_as_lookups(tokens: TokenRepository, tenant: str) -> None:
    tokens.add([_record(tenant, "tok_a", lookup=None), _record(tenant, "tok_b", lookup=None)])
    assert set(tokens.get(tenant, ["tok_a", "tok_b"])) == {"tok_a", "tok_b"}


def test_tenants_are_kept_apart(tokens: TokenRepository, tenant: str, other_tenant: str) -> None:
    tokens.add([_record(tenant, "tok_a")])
    tokens.add([_record(other_tenant, "tok_a")])  # the same token in another tenant is fine
    tokens.add([_record(tenant, "tok_mine", lookup="only-mine")])
    assert tokens.get(other_tenant, ["tok_mine"]) == {}
    assert tokens.find(other_tenant, ["only-mine"]) == {}
    assert tokens.revoke(other_tenant, "tok_mine", T0) is None
    assert tokens.forget_subject(other_tenant, "cust-7", T0) == 1  # its own tok_a only
    mine = tokens.get(tenant, ["tok_a", "tok_mine"])
    assert all(r.revoked_at is None and r.sealed is not None for r in mine.values())


def test_revoke_keeps_the_first_time(tokens: TokenRepository, tenant: str) -> None:
    tokens.add([_record(tenant, "tok_a")])
    first = tokens.revoke(tenant, "tok_a", T0 + timedelta(minutes=1))
    again = tokens.revoke(tenant, "tok_a", T0 + timedelta(minutes=2))
    assert first is not None and again is not None
    assert first.revoked_at == again.revoked_at == T0 + timedelta(minutes=1)
    assert tokens.revoke(tenant, "tok_missing", T0) is None


def test_forget_subject_erases_values_and_lookups_of_that_subject_only(
    tokens: TokenRepository, tenant: str
) -> None:
    tokens.add(
        [
            _record(tenant, "tok_a"),
            _record(tenant, "tok_b", lookup="b"),
            _record(tenant, "tok_c", lookup="c", subject_id="cust-8"),
        ]
    )
    assert tokens.forget_subject(tenant, "cust-7", T0) == 2
    got = tokens.get(tenant, ["tok_a", "tok_b", "tok_c"])
    for token in ("tok_a", "tok_b"):
        assert got[token].sealed is None
        assert got[token].lookup is None
        assert got[token].revoked_at == T0
    assert got["tok_c"].sealed is not None and got["tok_c"].revoked_at is None
    assert tokens.find(tenant, ["lookup-tok_a", "b"]) == {}


def test_deleting_a_data_key_pair_removes_every_version_of_it_only(
    sql_engine: sa.Engine, tenant: str, other_tenant: str
) -> None:
    keys: DataKeyRepository = SqlDataKeyRepository(sql_engine)

    def wrapped(owner: str, purpose: str, version: int) -> WrappedKey:
        return WrappedKey(KeyVersion(owner, purpose, version, "local:00", T0), b"w" * 60)

    for version in (1, 2):
        keys.add(wrapped(tenant, "subject:abc", version))
    keys.add(wrapped(tenant, "subject:def", 1))
    keys.add(wrapped(other_tenant, "subject:abc", 1))
    assert keys.delete(tenant, "subject:abc") == 2
    assert keys.get(tenant, "subject:abc", 1) is None
    assert keys.current(tenant, "subject:abc") is None
    assert keys.get(tenant, "subject:def", 1) is not None
    assert keys.get(other_tenant, "subject:abc", 1) is not None
    assert keys.delete(tenant, "subject:abc") == 0
