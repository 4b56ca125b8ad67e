"""`Rewrapper`: stored TOTP secrets re-sealed under the current key version, online (compare
and set per row), idempotent, audited; counted by version for `keys status`; and a rotation
plus rewrap under concurrent verifies and enrolments loses nothing."""

from __future__ import annotations

import base64
import secrets
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from tests.auth.test_service import (
    CTX,
    code_at,
    confirmed_totp,
    seal_as_before_the_keyring,
    user_with_password,
)

from payguard.adapters.sql.auth import SqlAuthRepository
from payguard.audit.interfaces import Actor, AuditAction
from payguard.auth.factors import FactorKind, Proof
from payguard.auth.sealing import SecretBox
from payguard.auth.verifiers.totp_verifier import TotpSealedValues, TotpSecrets
from payguard.core.clock import FrozenClock
from payguard.services import Services, build_services
from payguard.settings import Settings
from payguard.vault.interfaces import SealedRecord, SealedValueRejected
from payguard.vault.rewrap import Rewrapper

OPERATOR = Actor.system("test")
PURPOSE = "seal:totp"


@pytest.fixture
def legacy_key() -> bytes:
    return secrets.token_bytes(32)


@pytest.fixture(params=["sqlite", "postgresql"])
def services(
    request: pytest.FixtureRequest, tmp_path: Path, clock: FrozenClock, legacy_key: bytes
) -> Iterator[Services]:
    if request.param == "postgresql":
        url = request.getfixturevalue("postgres_own_url")
    else:
        url = f"sqlite:///{tmp_path}/t.db"
    built = build_services(
        Settings(
            database_url=url,
            vault_key_file=str(tmp_path / "vault.key"),
            cache_ttl_seconds=0,
            argon2_time_cost=1,
            argon2_memory_kib=8192,
            auth_key=base64.b64encode(legacy_key).decode(),
        ),
        clock=clock,
    )
    yield built
    built.close()


def totp_store(services: Services, clock: FrozenClock, legacy_key: bytes) -> TotpSealedValues:
    secrets_ = TotpSecrets(services.keys, clock, legacy=SecretBox(legacy_key))
    return TotpSealedValues(SqlAuthRepository(services.engine), secrets_)


def users(
    services: Services, clock: FrozenClock, legacy_key: bytes, count: int
) -> dict[tuple[str, str], str]:
    """`count` users in two tenants, each with a confirmed TOTP app; every other one sealed
    the legacy way. Their secrets by (tenant, user)."""
    made: dict[tuple[str, str], str] = {}
    tenants = [services.tenants.create_tenant(name, actor=OPERATOR)[0].id for name in "ab"]
    for n in range(count):
        tenant, user = tenants[n % 2], f"user-{n}"
        user_with_password(services.auth, tenant, user)
        secret = confirmed_totp(services.auth, tenant, clock, user)
        if n % 3 == 0:
            (credential,) = services.auth.credentials(tenant, user)
            seal_as_before_the_keyring(services, tenant, credential.id, secret, legacy_key)
        made[(tenant, user)] = secret
    return made


def versions(store: TotpSealedValues) -> list[int]:
    return sorted(record.version for record in store.records(limit=100_000))


def test_rewrap_moves_every_secret_to_the_current_version_once_and_audits(
    services: Services, clock: FrozenClock, legacy_key: bytes
) -> None:
    made = users(services, clock, legacy_key, 7)
    store = totp_store(services, clock, legacy_key)
    assert versions(store) == [0, 0, 0, 1, 1, 1, 1]
    services.keys.rotate(actor=OPERATOR, purpose=PURPOSE)
    rewrap = Rewrapper(services.keys, [store], audit=services.audit, batch=2)
    assert rewrap.pending() == 7
    seen: list[int] = []
    results = rewrap.rewrap(actor=OPERATOR, progress=seen.append)
    assert sum(seen) == 7 and all(0 < n <= 2 for n in seen)
    assert sum(r.resealed for r in results) == 7
    assert not any(r.changed or r.unopenable for r in results)
    assert versions(store) == [2] * 7
    # Idempotent: nothing left to do, nothing audited again.
    assert rewrap.pending() == 0 and rewrap.rewrap(actor=OPERATOR) == []
    for tenant in {t for t, _ in made}:
        lines = services.audit.list(tenant_id=tenant, action=AuditAction.KEY_REWRAP)
        assert len(lines) == 1 and lines[0].details["store"] == "totp secrets"
    # Counted by version for `keys status`.
    status = {(r.key.tenant_id, r.key.version): r.protects for r in rewrap.status()}
    for tenant in {t for t, _ in made}:
        assert status[(tenant, 1)] == 0
        assert status[(tenant, 2)] == sum(1 for t, _ in made if t == tenant)


def test_a_value_changed_between_listing_and_replacing_is_left_as_written(
    services: Services, clock: FrozenClock, legacy_key: bytes
) -> None:
    made = users(services, clock, legacy_key, 1)
    ((tenant, user),) = made
    store = totp_store(services, clock, legacy_key)
    (listed,) = store.records()
    # A concurrent writer re-seals it first (as another rewrap would).
    (credential,) = services.auth.credentials(tenant, user)
    repository = SqlAuthRepository(services.engine)
    fresh = TotpSecrets(services.keys, clock, legacy=SecretBox(legacy_key)).reseal(
        tenant, credential.id, listed.stored
    )
    assert repository.replace_totp_secret(tenant, credential.id, listed.stored, fresh)
    assert store.reseal(listed) is False
    (now,) = store.records()
    assert now.stored == fresh


def test_a_value_that_does_not_open_is_reported_and_left_in_place(
    services: Services, clock: FrozenClock, legacy_key: bytes
) -> None:
    made = users(services, clock, legacy_key, 2)
    (tenant, user), _ = made
    (credential,) = services.auth.credentials(tenant, user)
    seal_as_before_the_keyring(services, tenant, credential.id, "X" * 16, secrets.token_bytes(32))
    store = totp_store(services, clock, legacy_key)
    broken = next(r for r in store.records() if r.id == credential.id)
    with pytest.raises(SealedValueRejected):
        store.reseal(broken)
    results = Rewrapper(services.keys, [store], audit=services.audit).rewrap(actor=OPERATOR)
    assert sum(r.unopenable for r in results) == 1
    assert next(r for r in store.records() if r.id == credential.id).stored == broken.stored


def test_a_store_name_is_registered_once(services: Services) -> None:
    class Store:
        name = "totp secrets"

        def covers(self, purpose: str) -> bool:
            return False

        def records(self, **_: object) -> list[SealedRecord]:
            return []

        def reseal(self, record: SealedRecord) -> bool:
            return False

    with pytest.raises(ValueError, match="registered"):
        services.rewrap.register(Store())


def test_rotation_and_rewrap_under_concurrent_verifies_and_enrolments_lose_nothing(
    services: Services, clock: FrozenClock, legacy_key: bytes
) -> None:
    made = users(services, clock, legacy_key, 12)
    clock.advance(timedelta(seconds=30))  # a step none of the apps has used yet
    store = totp_store(services, clock, legacy_key)
    checker = TotpSecrets(services.keys, clock, legacy=SecretBox(legacy_key))
    repository = SqlAuthRepository(services.engine)
    services.keys.rotate(actor=OPERATOR, purpose=PURPOSE)
    done = threading.Event()
    errors: list[BaseException] = []
    enrolled: dict[tuple[str, str], str] = {}
    reads = [0]

    def verify_codes() -> None:
        try:
            while not done.is_set():
                for (tenant, user), secret in made.items():
                    for credential in repository.list_credentials(tenant, user):
                        step = checker.match(credential, code_at(secret, clock))
                        assert step is not None
                        reads[0] += 1
        except BaseException as exc:
            errors.append(exc)

    def enrol_apps() -> None:
        try:
            n = 0
            while not done.is_set() or n < 3:
                tenant = next(iter(made))[0]
                user = f"late-{n}"
                user_with_password(services.auth, tenant, user)
                enrolment = services.auth.enrol_totp(tenant, user, label="phone", context=CTX)
                services.auth.confirm_totp(
                    tenant,
                    user,
                    enrolment.credential.id,
                    code_at(enrolment.secret, clock),
                    context=CTX,
                )
                enrolled[(tenant, user)] = enrolment.secret
                n += 1
        except BaseException as exc:
            errors.append(exc)

    workers = [threading.Thread(target=verify_codes), threading.Thread(target=enrol_apps)]
    for worker in workers:
        worker.start()
    try:
        results = Rewrapper(services.keys, [store], audit=services.audit, batch=3).rewrap(
            actor=OPERATOR
        )
    finally:
        done.set()
        for worker in workers:
            worker.join(timeout=120)
    assert errors == []
    assert reads[0] > 0
    assert not any(r.unopenable for r in results)
    # Every secret, old or enrolled meanwhile, is under the new version and opens.
    assert set(versions(store)) == {2}
    assert len(versions(store)) == len(made) + len(enrolled)
    services.keys.retire(below=2, actor=OPERATOR, purpose=PURPOSE)
    clock.advance(timedelta(seconds=30))
    for (tenant, user), secret in {**made, **enrolled}.items():
        proof = Proof(FactorKind.TOTP, secret=code_at(secret, clock))
        (passed,) = services.auth.verify(tenant, user, [proof], context=CTX)
        assert passed.kind == FactorKind.TOTP
