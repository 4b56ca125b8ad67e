"""TOTP secrets on the vault's keyring: sealed under `seal:totp` with the key version in the
header, rotated like every other sealed value; secrets sealed before it (`v1.`, under the auth
key) still open with that key; a key that opens nothing stops the start, per format; a secret
that does not open is a server fault no user is blamed for."""

from __future__ import annotations

import base64
import secrets
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import orjson
import pytest
import sqlalchemy as sa
from structlog.testing import capture_logs
from tests.auth.test_service import (
    CTX,
    USER,
    code_at,
    confirmed_totp,
    raw_data,
    seal_as_before_the_keyring,
    user_with_password,
)

from payguard.audit.interfaces import Actor
from payguard.auth.factors import FactorKind, Proof
from payguard.auth.verifiers.totp_verifier import LEGACY_VERSION, sealed_version
from payguard.core.clock import FrozenClock
from payguard.core.errors import BackendUnavailable
from payguard.services import Services, build_services
from payguard.settings import Settings

OPERATOR = Actor.system("test")


@pytest.fixture
def tenant(services: Services) -> str:
    made, _ = services.tenants.create_tenant("acme", actor=OPERATOR)
    return made.id


def stored_secret(services: Services, credential_id: str) -> str:
    return str(orjson.loads(raw_data(services, credential_id))["secret"])


def totp_passes(services: Services, tenant: str, secret: str, clock: FrozenClock) -> bool:
    clock.advance(timedelta(seconds=30))
    proof = Proof(FactorKind.TOTP, secret=code_at(secret, clock))
    (passed,) = services.auth.verify(tenant, USER, [proof], context=CTX)
    return passed.kind == FactorKind.TOTP


def test_a_new_secret_is_sealed_on_the_keyring_and_follows_its_rotation(
    services: Services, tenant: str, clock: FrozenClock
) -> None:
    user_with_password(services.auth, tenant)
    first = confirmed_totp(services.auth, tenant, clock)
    (old,) = services.auth.credentials(tenant, USER)
    assert sealed_version(stored_secret(services, old.id)) == 1
    services.keys.rotate(actor=OPERATOR, tenant_id=tenant, purpose="seal:totp")
    second = confirmed_totp(services.auth, tenant, clock)
    (new,) = [c for c in services.auth.credentials(tenant, USER) if c.id != old.id]
    assert sealed_version(stored_secret(services, new.id)) == 2
    # Both open: the older version still does until it is retired.
    assert totp_passes(services, tenant, first, clock)
    assert totp_passes(services, tenant, second, clock)


def test_a_secret_under_a_retired_version_is_a_server_fault_not_a_failure(
    services: Services, tenant: str, clock: FrozenClock
) -> None:
    user_with_password(services.auth, tenant)
    secret = confirmed_totp(services.auth, tenant, clock)
    services.keys.rotate(actor=OPERATOR, tenant_id=tenant, purpose="seal:totp")
    services.keys.retire(below=2, actor=OPERATOR, tenant_id=tenant, purpose="seal:totp")
    proof = Proof(FactorKind.TOTP, secret=code_at(secret, clock))
    with capture_logs() as logs:
        for _ in range(services.settings.lockout_threshold + 1):
            with pytest.raises(BackendUnavailable):
                services.auth.verify(tenant, USER, [proof], context=CTX)
    assert services.auth.failures(tenant, USER) == 0
    assert services.auth.locked_until(tenant, USER) is None
    assert {e["event"] for e in logs if e["log_level"] == "error"} == {
        "auth.totp_secret_key_retired",
        "auth.totp_secret_unopenable",
    }
    assert secret not in repr(logs)


def test_a_legacy_secret_still_opens_with_the_auth_key(
    auth_settings: Callable[..., Settings], clock: FrozenClock
) -> None:
    key = secrets.token_bytes(32)
    built = build_services(auth_settings(auth_key=base64.b64encode(key).decode()), clock=clock)
    try:
        made, _ = built.tenants.create_tenant("acme", actor=OPERATOR)
        user_with_password(built.auth, made.id)
        secret = confirmed_totp(built.auth, made.id, clock)
        (credential,) = built.auth.credentials(made.id, USER)
        seal_as_before_the_keyring(built, made.id, credential.id, secret, key)
        assert sealed_version(stored_secret(built, credential.id)) == LEGACY_VERSION
        assert totp_passes(built, made.id, secret, clock)
    finally:
        built.close()


def test_a_legacy_secret_without_its_key_is_a_server_fault(
    services: Services, tenant: str, clock: FrozenClock
) -> None:
    user_with_password(services.auth, tenant)
    secret = confirmed_totp(services.auth, tenant, clock)
    (credential,) = services.auth.credentials(tenant, USER)
    # Sealed the old way under a key this deployment does not have (no auth key is set).
    seal_as_before_the_keyring(services, tenant, credential.id, secret, secrets.token_bytes(32))
    with pytest.raises(BackendUnavailable):
        services.auth.verify(
            tenant, USER, [Proof(FactorKind.TOTP, secret=code_at(secret, clock))], context=CTX
        )
    assert services.auth.failures(tenant, USER) == 0


def test_a_keyring_secret_copied_to_another_credential_does_not_open(
    services: Services, tenant: str, clock: FrozenClock
) -> None:
    user_with_password(services.auth, tenant)
    first = services.auth.enrol_totp(tenant, USER, label="phone", context=CTX)
    second = services.auth.enrol_totp(tenant, USER, label="tablet", context=CTX)
    with services.engine.begin() as conn:
        conn.execute(
            sa.text("UPDATE auth_credentials SET data = :data WHERE credential_id = :id"),
            {"data": raw_data(services, first.credential.id), "id": second.credential.id},
        )
    with pytest.raises(BackendUnavailable):
        services.auth.confirm_totp(
            tenant, USER, second.credential.id, code_at(first.secret, clock), context=CTX
        )
    assert services.auth.failures(tenant, USER) == 0


def enrol(settings: Settings, clock: FrozenClock) -> str:
    """One start that enrols and confirms a TOTP app on the keyring; the tenant's id."""
    built = build_services(settings, clock=clock)
    try:
        made, _ = built.tenants.create_tenant("acme", actor=OPERATOR)
        user_with_password(built.auth, made.id)
        confirmed_totp(built.auth, made.id, clock)
        return made.id
    finally:
        built.close()


def test_start_refuses_a_vault_key_that_opens_none_of_the_keyring_secrets(
    auth_settings: Callable[..., Settings], clock: FrozenClock, tmp_path: Path
) -> None:
    enrol(auth_settings(), clock)
    key_file = tmp_path / "vault.key"
    original = key_file.read_bytes()
    # Another KEK in the same file: the stored data keys (and so the secrets) do not open.
    other = tmp_path / "other" / "vault.key"
    built = build_services(auth_settings(database_url=f"sqlite:///{other.parent}/t.db"))
    try:
        built.keys.seal("t", "token:pan", b"x")  # makes the other deployment's key file
    finally:
        built.close()
    key_file.write_bytes(other.read_bytes())
    with pytest.raises(BackendUnavailable):
        build_services(auth_settings(), clock=clock)
    key_file.write_bytes(original)
    build_services(auth_settings(), clock=clock).close()


def test_start_checks_the_legacy_key_even_when_keyring_secrets_open(
    auth_settings: Callable[..., Settings], clock: FrozenClock
) -> None:
    key = secrets.token_bytes(32)
    settings = auth_settings(auth_key=base64.b64encode(key).decode())
    built = build_services(settings, clock=clock)
    try:
        made, _ = built.tenants.create_tenant("acme", actor=OPERATOR)
        user_with_password(built.auth, made.id)
        secret = confirmed_totp(built.auth, made.id, clock)
        (legacy,) = built.auth.credentials(made.id, USER)
        seal_as_before_the_keyring(built, made.id, legacy.id, secret, key)
        confirmed_totp(built.auth, made.id, clock)  # a second app, on the keyring
    finally:
        built.close()
    other = base64.b64encode(secrets.token_bytes(32)).decode()
    with pytest.raises(BackendUnavailable, match="another key"):
        build_services(auth_settings(auth_key=other), clock=clock)
    with pytest.raises(ValueError, match="missing"):
        build_services(auth_settings(), clock=clock)  # no auth key, no key file
    build_services(settings, clock=clock).close()


def test_start_refuses_when_the_keyring_opens_none_of_its_totp_secrets(
    auth_settings: Callable[..., Settings], clock: FrozenClock
) -> None:
    tenant = enrol(auth_settings(), clock)
    built = build_services(auth_settings(), clock=clock)
    try:
        (credential,) = built.auth.credentials(tenant, USER)
        # Sealed on the same keyring for another row: it does not open for this one.
        alien = built.keys.seal(tenant, "seal:totp", b"JBSWY3DPEHPK3PXP", b"another row")
        stored = "kr1." + base64.urlsafe_b64encode(alien).decode()
        with built.engine.begin() as conn:
            conn.execute(
                sa.text("UPDATE auth_credentials SET data = :data WHERE credential_id = :id"),
                {"data": orjson.dumps({"secret": stored}).decode(), "id": credential.id},
            )
    finally:
        built.close()
    with capture_logs() as logs, pytest.raises(BackendUnavailable, match="vault's keys"):
        build_services(auth_settings(), clock=clock)
    assert any(e["event"] == "auth.sealing_key_mismatch" for e in logs)
