"""The keyring: sealing under per-tenant versioned data keys, rotation, retirement, and the
local key file that holds the KEK."""

from __future__ import annotations

import base64
import os
import stat
import struct
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from structlog.testing import capture_logs

from payguard.adapters.keys.local import LocalKeyFile
from payguard.adapters.sql.audit import SqlAuditRepository
from payguard.adapters.sql.engine import create_sql_engine, migrate
from payguard.adapters.sql.vault import SqlDataKeyRepository
from payguard.audit.interfaces import Actor, AuditAction
from payguard.audit.service import AuditService
from payguard.core.clock import FrozenClock
from payguard.core.errors import ValidationFailed
from payguard.vault.interfaces import (
    KeySourceUnavailable,
    KeyVersionRetired,
    KeyVersionUnknown,
    SealedValueRejected,
    WrappedKey,
)
from payguard.vault.keys import Keyring, sealed_version

T0 = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)
CLI = Actor.system("cli")
PURPOSES = ("token:pan", "fpe:pan", "seal:totp")


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[sa.Engine]:
    built = create_sql_engine(f"sqlite:///{tmp_path_factory.mktemp('vault') / 'payguard.db'}")
    migrate(built)
    yield built
    built.dispose()


@pytest.fixture(scope="module")
def key_file(tmp_path_factory: pytest.TempPathFactory) -> LocalKeyFile:
    return LocalKeyFile(tmp_path_factory.mktemp("kek") / "vault.key", create=True)


@pytest.fixture
def audit(engine: sa.Engine, clock: FrozenClock) -> AuditService:
    return AuditService(SqlAuditRepository(engine), clock)


def _keyring(
    engine: sa.Engine, source: LocalKeyFile, audit: AuditService, clock: FrozenClock
) -> Keyring:
    return Keyring(SqlDataKeyRepository(engine), source, audit=audit, clock=clock, ttl=0)


@pytest.fixture
def keyring(
    engine: sa.Engine, key_file: LocalKeyFile, audit: AuditService, clock: FrozenClock
) -> Keyring:
    return _keyring(engine, key_file, audit, clock)


@pytest.fixture
def tenant() -> str:
    return f"t-{os.urandom(8).hex()}"


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    purpose=st.sampled_from(PURPOSES),
    plaintext=st.binary(max_size=300),
    aad=st.binary(max_size=40),
)
def test_what_is_sealed_opens_to_itself(
    keyring: Keyring, tenant: str, purpose: str, plaintext: bytes, aad: bytes
) -> None:
    sealed = keyring.seal(tenant, purpose, plaintext, aad)
    assert len(plaintext) < 8 or plaintext not in sealed
    assert keyring.open(tenant, purpose, sealed, aad) == plaintext


def test_two_seals_of_one_value_differ(keyring: Keyring, tenant: str) -> None:
    first = keyring.seal(tenant, "token:pan", b"4111111111111111")
    assert first != keyring.seal(tenant, "token:pan", b"4111111111111111")


def test_a_value_opens_only_for_its_tenant_purpose_and_aad(keyring: Keyring, tenant: str) -> None:
    other = f"{tenant}-other"
    sealed = keyring.seal(tenant, "token:pan", b"secret", b"row-1")
    keyring.seal(other, "token:pan", b"make its key")
    keyring.seal(tenant, "seal:totp", b"make its key")
    with pytest.raises(SealedValueRejected):
        keyring.open(other, "token:pan", sealed, b"row-1")
    with pytest.raises(SealedValueRejected):
        keyring.open(tenant, "seal:totp", sealed, b"row-1")
    with pytest.raises(SealedValueRejected):
        keyring.open(tenant, "token:pan", sealed, b"row-2")
    with pytest.raises(SealedValueRejected):
        keyring.open(tenant, "fpe:pan", sealed, b"row-1")  # no key at all for that purpose


def test_a_value_relabelled_with_another_version_does_not_open(
    keyring: Keyring, tenant: str
) -> None:
    sealed = keyring.seal(tenant, "token:pan", b"secret")
    keyring.rotate(actor=CLI, tenant_id=tenant, purpose="token:pan")
    relabelled = sealed[:1] + struct.pack(">I", 2) + sealed[5:]
    with pytest.raises(SealedValueRejected):
        keyring.open(tenant, "token:pan", relabelled)


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_altered_byte_is_refused(keyring: Keyring, tenant: str, data: st.DataObject) -> None:
    sealed = keyring.seal(tenant, "token:pan", b"4111111111111111", b"aad")
    index = data.draw(st.integers(0, len(sealed) - 1))
    flip = data.draw(st.integers(1, 255))
    altered = bytearray(sealed)
    altered[index] ^= flip
    with pytest.raises(SealedValueRejected):
        keyring.open(tenant, "token:pan", bytes(altered), b"aad")


@pytest.mark.parametrize(
    "sealed", [b"", b"\x01", b"\x02" + bytes(40), b"\x01\x00\x00\x00\x00" + bytes(40)]
)
def test_what_is_not_a_sealed_value_is_refused(
    keyring: Keyring, tenant: str, sealed: bytes
) -> None:
    keyring.seal(tenant, "token:pan", b"x")
    with pytest.raises(SealedValueRejected):
        keyring.open(tenant, "token:pan", sealed)


def test_bad_names_are_refused_naming_the_field(keyring: Keyring, tenant: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        keyring.seal(tenant, "Token PAN", b"x")
    assert caught.value.field == "purpose"
    with pytest.raises(ValidationFailed) as caught:
        keyring.seal("", "token:pan", b"x")
    assert caught.value.field == "tenant"


def test_rotation_moves_new_writes_and_old_values_still_open(
    keyring: Keyring, audit: AuditService, tenant: str
) -> None:
    old = keyring.seal(tenant, "token:pan", b"old value")
    version, fpe_key = keyring.data_key(tenant, "token:pan")
    assert (version, sealed_version(old)) == (1, 1)
    made = keyring.rotate(actor=CLI, tenant_id=tenant, purpose="token:pan")
    assert [(k.tenant_id, k.purpose, k.version) for k in made] == [(tenant, "token:pan", 2)]
    new = keyring.seal(tenant, "token:pan", b"new value")
    assert sealed_version(new) == 2
    assert keyring.open(tenant, "token:pan", old) == b"old value"
    assert keyring.open(tenant, "token:pan", new) == b"new value"
    version2, fpe_key2 = keyring.data_key(tenant, "token:pan")
    assert version2 == 2
    assert fpe_key2 != fpe_key
    assert keyring.data_key_at(tenant, "token:pan", 1) == fpe_key
    records = audit.list(tenant_id=tenant, action=AuditAction.KEY_ROTATE)
    assert [(r.target, r.details["version"], r.actor) for r in records] == [
        ("key:token:pan", 2, "cli")
    ]


def test_rotation_is_seen_by_another_process(
    engine: sa.Engine, key_file: LocalKeyFile, audit: AuditService, clock: FrozenClock, tenant: str
) -> None:
    first = _keyring(engine, key_file, audit, clock)
    second = _keyring(engine, key_file, audit, clock)
    assert sealed_version(first.seal(tenant, "fpe:pan", b"a")) == 1
    assert sealed_version(second.seal(tenant, "fpe:pan", b"a")) == 1
    first.rotate(actor=CLI, tenant_id=tenant, purpose="fpe:pan")
    second.rotate(actor=CLI, tenant_id=tenant, purpose="fpe:pan")  # a later version, not a clash
    assert sealed_version(first.seal(tenant, "fpe:pan", b"a")) == 3
    assert [s.key.version for s in first.status(tenant_id=tenant)] == [1, 2, 3]


def test_rotate_without_filters_rotates_every_pair_that_has_keys(
    keyring: Keyring, tenant: str
) -> None:
    keyring.seal(tenant, "token:pan", b"x")
    keyring.seal(tenant, "seal:totp", b"x")
    made = keyring.rotate(actor=CLI, tenant_id=tenant)
    assert sorted((k.purpose, k.version) for k in made) == [("seal:totp", 2), ("token:pan", 2)]
    assert keyring.rotate(actor=CLI, tenant_id=f"{tenant}-none") == []


def test_retired_versions_are_refused_and_the_current_one_is_kept(
    engine: sa.Engine,
    key_file: LocalKeyFile,
    audit: AuditService,
    clock: FrozenClock,
    keyring: Keyring,
    tenant: str,
) -> None:
    elsewhere = _keyring(engine, key_file, audit, clock)
    old = keyring.seal(tenant, "token:pan", b"old")
    assert elsewhere.open(tenant, "token:pan", old) == b"old"  # cached there now
    with pytest.raises(ValidationFailed) as caught:
        keyring.retire(below=2, actor=CLI, tenant_id=tenant)  # version 1 is current
    assert caught.value.field == "below"
    assert keyring.open(tenant, "token:pan", old) == b"old"
    keyring.rotate(actor=CLI, tenant_id=tenant, purpose="token:pan")
    new = keyring.seal(tenant, "token:pan", b"new")
    clock.advance(timedelta(hours=1))
    retired = keyring.retire(below=2, actor=CLI, tenant_id=tenant, purpose="token:pan")
    assert [(k.version) for k in retired] == [1]
    for ring in (keyring, elsewhere):
        with pytest.raises(KeyVersionRetired):
            ring.open(tenant, "token:pan", old)
        with pytest.raises(KeyVersionRetired):
            ring.data_key_at(tenant, "token:pan", 1)
        assert ring.open(tenant, "token:pan", new) == b"new"
    with pytest.raises(KeyVersionUnknown):
        keyring.data_key_at(tenant, "token:pan", 9)
    status = [(s.key.version, s.current, s.key.retired) for s in keyring.status(tenant_id=tenant)]
    assert status == [(1, False, True), (2, True, False)]
    records = audit.list(tenant_id=tenant, action=AuditAction.KEY_RETIRE)
    assert [(r.details["below"], r.details["versions"]) for r in records] == [(2, [1])]


@pytest.mark.parametrize("below", [0, 1, -3])
def test_retire_below_needs_a_version_of_two_or_more(keyring: Keyring, below: int) -> None:
    with pytest.raises(ValidationFailed):
        keyring.retire(below=below, actor=CLI)


# -- the local key file ------------------------------------------------------------------------


def test_the_key_file_is_made_owner_only_whatever_the_umask(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "vault.key"
    previous = os.umask(0)
    try:
        source = LocalKeyFile(path, create=True)
        source.check()
    finally:
        os.umask(previous)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(base64.b64decode(path.read_text())) == 32
    again = LocalKeyFile(path, create=False)
    assert again.key_id() == source.key_id()
    wrapped = source.wrap(source.key_id(), b"k" * 32, b"aad")
    assert again.unwrap(again.key_id(), wrapped, b"aad") == b"k" * 32
    assert [p.name for p in path.parent.iterdir()] == ["vault.key"]


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644, 0o660])
def test_a_key_file_others_can_read_is_refused_with_the_fix(tmp_path: Path, mode: int) -> None:
    path = tmp_path / "vault.key"
    LocalKeyFile(path, create=True).check()
    path.chmod(mode)
    with pytest.raises(KeySourceUnavailable, match=f"chmod 600 {path}"):
        LocalKeyFile(path, create=True).check()


def test_a_missing_key_file_is_refused_when_keys_exist(tmp_path: Path) -> None:
    path = tmp_path / "vault.key"
    with pytest.raises(KeySourceUnavailable, match="missing"):
        LocalKeyFile(path, create=False).check()
    assert not path.exists()


@pytest.mark.parametrize("content", ["not base64!\n", base64.b64encode(b"short").decode()])
def test_a_key_file_without_a_key_is_refused(tmp_path: Path, content: str) -> None:
    path = tmp_path / "vault.key"
    path.write_text(content)
    path.chmod(0o600)
    with pytest.raises(KeySourceUnavailable):
        LocalKeyFile(path, create=False).check()


def test_another_key_file_does_not_open_the_stored_keys(
    engine: sa.Engine,
    key_file: LocalKeyFile,
    audit: AuditService,
    clock: FrozenClock,
    tmp_path: Path,
    tenant: str,
) -> None:
    sealed = _keyring(engine, key_file, audit, clock).seal(tenant, "token:pan", b"x")
    stranger = LocalKeyFile(tmp_path / "other.key", create=True)
    with pytest.raises(KeySourceUnavailable, match="restore the key file"):
        _keyring(engine, stranger, audit, clock).open(tenant, "token:pan", sealed)


def test_an_altered_wrapped_key_does_not_unwrap(key_file: LocalKeyFile) -> None:
    wrapped = bytearray(key_file.wrap(key_file.key_id(), b"k" * 32, b"aad"))
    assert key_file.unwrap(key_file.key_id(), bytes(wrapped), b"aad") == b"k" * 32
    with pytest.raises(KeySourceUnavailable):
        key_file.unwrap(key_file.key_id(), bytes(wrapped), b"other aad")
    wrapped[-1] ^= 1
    with pytest.raises(KeySourceUnavailable):
        key_file.unwrap(key_file.key_id(), bytes(wrapped), b"aad")


# -- no key in any log -------------------------------------------------------------------------


def _renderings(secret: bytes) -> list[str]:
    return [
        secret.hex(),
        secret.hex().upper(),
        base64.b64encode(secret).decode().rstrip("="),
        base64.urlsafe_b64encode(secret).decode().rstrip("="),
    ]


def test_no_key_or_clear_value_reaches_the_logs_or_the_audit_trail(
    engine: sa.Engine, audit: AuditService, clock: FrozenClock, tmp_path: Path, tenant: str
) -> None:
    path = tmp_path / "vault.key"
    source = LocalKeyFile(path, create=True)
    keyring = _keyring(engine, source, audit, clock)
    clear = b"4111111111111111-clear"
    with capture_logs() as logs:
        sealed = keyring.seal(tenant, "token:pan", clear)
        keyring.rotate(actor=CLI, tenant_id=tenant, purpose="token:pan")
        keyring.open(tenant, "token:pan", sealed)
        keyring.retire(below=2, actor=CLI, tenant_id=tenant)
        errors = []
        for attempt in (
            lambda: keyring.open(tenant, "token:pan", sealed),
            lambda: keyring.open(tenant, "token:pan", sealed[:-1] + b"\x00"),
            lambda: LocalKeyFile(tmp_path / "gone.key", create=False).check(),
        ):
            with pytest.raises(Exception) as caught:
                attempt()
            errors.append(repr(caught.value) + str(caught.value))
    kek = base64.b64decode(path.read_text())
    secrets = [kek, clear, keyring.data_key_at(tenant, "token:pan", 2)]
    stored = SqlDataKeyRepository(engine).versions(tenant_id=tenant)
    assert len(stored) == 2
    records = [repr(r) for r in audit.list(tenant_id=tenant)]
    assert records
    written = "\n".join([repr(logs), *records, *errors, repr(stored)])
    for secret in secrets:
        for shown in _renderings(secret):
            assert shown not in written
    assert "wrapped=<" in repr(SqlDataKeyRepository(engine).get(tenant, "token:pan", 1))


def _framed(*parts: bytes) -> bytes:
    return b"".join(struct.pack(">I", len(part)) + part for part in parts)


def test_the_sealed_format_binds_tenant_purpose_version_and_aad(
    keyring: Keyring, tenant: str
) -> None:
    """The documented layout, decrypted by hand: header, nonce, then AES-256-GCM under the
    version's data key with the tenant, purpose, version and caller aad as associated data."""
    sealed = keyring.seal(tenant, "token:pan", b"clear", b"row-7")
    version, dek = keyring.data_key(tenant, "token:pan")
    assert sealed[:5] == b"\x01" + struct.pack(">I", version)
    nonce, body = sealed[5:17], sealed[17:]
    bound = b"payguard/vault/seal/v1" + _framed(
        tenant.encode(), b"token:pan", struct.pack(">I", version), b"row-7"
    )
    assert AESGCM(dek).decrypt(nonce, body, bound) == b"clear"
    for other in (
        _framed(f"{tenant}x".encode(), b"token:pan", struct.pack(">I", version), b"row-7"),
        _framed(tenant.encode(), b"token:pin", struct.pack(">I", version), b"row-7"),
        _framed(tenant.encode(), b"token:pan", struct.pack(">I", version + 1), b"row-7"),
    ):
        with pytest.raises(InvalidTag):
            AESGCM(dek).decrypt(nonce, body, b"payguard/vault/seal/v1" + other)


def test_a_wrapped_key_copied_to_another_tenant_does_not_unwrap(
    engine: sa.Engine, keyring: Keyring, tenant: str
) -> None:
    keyring.seal(tenant, "token:pan", b"x")
    repository = SqlDataKeyRepository(engine)
    mine = repository.get(tenant, "token:pan", 1)
    assert mine is not None
    thief = f"{tenant}-thief"
    repository.add(WrappedKey(replace(mine.key, tenant_id=thief), mine.wrapped))
    with pytest.raises(KeySourceUnavailable):
        keyring.data_key(thief, "token:pan")
