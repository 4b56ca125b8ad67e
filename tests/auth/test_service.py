"""AuthService against the real SQL store: users, TOTP enrolment and sealing, password
rehashing, lockout, verification rules, sessions, signed requests and the engine signals."""

from __future__ import annotations

import base64
import secrets
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pyotp
import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from hypothesis import given
from hypothesis import strategies as st
from structlog.testing import capture_logs

from payguard.adapters.sql.auth import SqlAuthRepository
from payguard.audit.interfaces import Actor
from payguard.auth import devicekeys
from payguard.auth.factors import FactorKind, Passed, Proof
from payguard.auth.interfaces import Context, Credential, CredentialKind
from payguard.auth.passwords import PasswordHasher
from payguard.auth.policy import SessionLimits
from payguard.auth.sealing import SecretBox, load_or_create_key
from payguard.auth.service import AuthService
from payguard.auth.sessions import idle_until, token_hash
from payguard.auth.verifiers import device_verifier
from payguard.core.clock import FrozenClock
from payguard.core.errors import (
    BackendUnavailable,
    Conflict,
    FactorRejected,
    Locked,
    NotFound,
    ValidationFailed,
)
from payguard.core.replay import MAX_SKEW_SECONDS
from payguard.services import Services, build_services
from payguard.settings import Settings
from payguard.vault.interfaces import SealedValueRejected

PASSWORD = "correct horse battery staple"
USER = "acct-1"
PARTNER = Actor("partner", source_ip="192.0.2.1")
CTX = Context(actor=PARTNER, user_ip="203.0.113.9", device_id="dev-9")


@pytest.fixture
def tenant(services: Services) -> str:
    made, _ = services.tenants.create_tenant("acme", actor=Actor.system("test"))
    return made.id


@pytest.fixture
def auth(services: Services) -> AuthService:
    return services.auth


def user_with_password(auth: AuthService, tenant: str, user: str = USER) -> None:
    auth.create_user(tenant, user, password=PASSWORD, context=CTX)


def code_at(secret: str, clock: FrozenClock, steps: int = 0) -> str:
    return pyotp.TOTP(secret).at(clock.now() + timedelta(seconds=30 * steps))


def wrong_code(secret: str, clock: FrozenClock) -> str:
    """Six digits valid for no step in the acceptance window around now."""
    valid = {code_at(secret, clock, steps) for steps in (-1, 0, 1)}
    return next(c for c in ("000000", "111111", "222222", "333333") if c not in valid)


def confirmed_totp(auth: AuthService, tenant: str, clock: FrozenClock, user: str = USER) -> str:
    """Enrol and confirm a TOTP app; the clock moves on a step so a fresh code exists."""
    enrolment = auth.enrol_totp(tenant, user, label="phone", context=CTX)
    auth.confirm_totp(
        tenant, user, enrolment.credential.id, code_at(enrolment.secret, clock), context=CTX
    )
    clock.advance(timedelta(seconds=30))
    return enrolment.secret


def raw_data(services: Services, credential_id: str) -> str:
    with services.engine.connect() as conn:
        return conn.execute(
            sa.text("SELECT data FROM auth_credentials WHERE credential_id = :id"),
            {"id": credential_id},
        ).scalar_one()


def failures(auth: AuthService, tenant: str, user: str = USER) -> int:
    return auth.failures(tenant, user)


def credential_of(
    auth: AuthService, tenant: str, credential_id: str, user: str = USER
) -> Credential:
    (found,) = [c for c in auth.credentials(tenant, user) if c.id == credential_id]
    return found


# -- users and passwords -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("user", "password", "words"),
    [
        (USER, "short", "at least 8"),
        (USER, "password", "too common"),
        (USER, "12345678", "too common"),
        (USER, "x" * 129, "at most 128"),
        ("Account-Holder-7", "account-holder-7", "account id"),
    ],
)
def test_create_user_refuses_weak_passwords_naming_the_field(
    auth: AuthService, tenant: str, user: str, password: str, words: str
) -> None:
    with pytest.raises(ValidationFailed) as caught:
        auth.create_user(tenant, user, password=password, context=CTX)
    assert caught.value.field == "password"
    assert words in caught.value.message
    # Nothing was stored: the same id can still be created.
    with pytest.raises(NotFound):
        auth.user(tenant, user)
    auth.create_user(tenant, user, password=PASSWORD, context=CTX)


def test_create_user_twice_is_a_conflict(auth: AuthService, tenant: str) -> None:
    user_with_password(auth, tenant)
    with pytest.raises(Conflict):
        auth.create_user(tenant, USER, password=None, context=CTX)


def test_users_are_per_tenant(services: Services, auth: AuthService, tenant: str) -> None:
    other, _ = services.tenants.create_tenant("globex", actor=Actor.system("test"))
    user_with_password(auth, tenant)
    with pytest.raises(NotFound):
        auth.user(other.id, USER)
    auth.create_user(other.id, USER, password=None, context=CTX)  # no clash
    assert auth.user(other.id, USER).password_hash is None


def test_set_password_errors(auth: AuthService, tenant: str) -> None:
    with pytest.raises(NotFound):
        auth.set_password(tenant, "nobody", PASSWORD, context=CTX)
    user_with_password(auth, tenant)
    before = auth.user(tenant, USER).password_hash
    with pytest.raises(ValidationFailed) as caught:
        auth.set_password(tenant, USER, "password", context=CTX)
    assert caught.value.field == "password"
    assert auth.user(tenant, USER).password_hash == before


def test_set_password_replaces_the_hash_and_revokes_sessions(
    auth: AuthService, tenant: str, clock: FrozenClock
) -> None:
    user_with_password(auth, tenant)
    issued = auth.open_session(tenant, USER, 1, context=CTX)
    clock.advance(timedelta(minutes=1))

    auth.set_password(tenant, USER, "a brand new passphrase", context=CTX)

    assert auth.user(tenant, USER).password_changed_at == clock.now()
    assert auth.introspect(tenant, issued.access_token)[1] == "revoked"
    with pytest.raises(FactorRejected):
        auth.verify(tenant, USER, [Proof(FactorKind.PASSWORD, secret=PASSWORD)], context=CTX)
    verified = auth.verify(
        tenant, USER, [Proof(FactorKind.PASSWORD, secret="a brand new passphrase")], context=CTX
    )
    assert verified == [Passed(FactorKind.PASSWORD)]


def test_a_user_without_a_password_fails_password_proofs(auth: AuthService, tenant: str) -> None:
    auth.create_user(tenant, USER, password=None, context=CTX)
    with pytest.raises(FactorRejected):
        auth.verify(tenant, USER, [Proof(FactorKind.PASSWORD, secret="")], context=CTX)
    assert failures(auth, tenant) == 1


def test_verify_of_an_unknown_user_is_not_found(auth: AuthService, tenant: str) -> None:
    with pytest.raises(NotFound):
        auth.verify(tenant, "nobody", [Proof(FactorKind.PASSWORD, secret=PASSWORD)], context=CTX)


@pytest.fixture
def dummy_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The passwords checked against the stand-in hash (the real check still runs)."""
    calls: list[str] = []
    real = PasswordHasher.verify_dummy

    def spy(hasher: PasswordHasher, password: str) -> None:
        calls.append(password)
        real(hasher, password)

    monkeypatch.setattr(PasswordHasher, "verify_dummy", spy)
    return calls


def test_an_unknown_user_costs_the_dummy_hash_before_the_404(
    auth: AuthService, tenant: str, dummy_calls: list[str]
) -> None:
    password = Proof(FactorKind.PASSWORD, secret="a guess for nobody")
    with pytest.raises(NotFound):
        auth.verify(tenant, "nobody", [password], context=CTX)
    assert dummy_calls == ["a guess for nobody"]
    # Also when the password comes with another factor.
    with pytest.raises(NotFound):
        auth.verify(
            tenant, "nobody", [Proof(FactorKind.TOTP, secret="123456"), password], context=CTX
        )
    assert len(dummy_calls) == 2
    # Nothing is counted against a user that does not exist.
    assert failures(auth, tenant, "nobody") == 0


def test_sign_in_of_an_unknown_user_costs_the_dummy_hash(
    auth: AuthService, tenant: str, dummy_calls: list[str]
) -> None:
    password = Proof(FactorKind.PASSWORD, secret="a guess for nobody")
    with pytest.raises(NotFound):
        auth.sign_in(tenant, "nobody", [password], context=CTX)
    # With a sign-in ceremony named too, the user is looked up (and the hash spent) first.
    with pytest.raises(NotFound):
        auth.sign_in(tenant, "nobody", [password], context=CTX, challenge_id="no-such-ceremony")
    assert dummy_calls == ["a guess for nobody"] * 2


def test_a_known_users_wrong_password_is_checked_against_its_own_hash(
    auth: AuthService, tenant: str, dummy_calls: list[str]
) -> None:
    user_with_password(auth, tenant)
    with pytest.raises(FactorRejected):
        auth.verify(tenant, USER, [Proof(FactorKind.PASSWORD, secret="not it at all")], context=CTX)
    assert dummy_calls == []
    assert failures(auth, tenant) == 1


# -- TOTP ----------------------------------------------------------------------------------


def test_totp_enrol_confirm_verify(auth: AuthService, tenant: str, clock: FrozenClock) -> None:
    user_with_password(auth, tenant)
    session = auth.open_session(tenant, USER, 1, context=CTX)
    enrolment = auth.enrol_totp(tenant, USER, label="phone", context=CTX)
    credential = enrolment.credential
    assert credential.kind == CredentialKind.TOTP and not credential.confirmed
    assert credential.counter == -1
    assert enrolment.uri.startswith("otpauth://totp/") and enrolment.secret in enrolment.uri
    assert enrolment.qr_png.startswith(b"\x89PNG") and "<svg" in enrolment.qr_svg
    code = code_at(enrolment.secret, clock)

    # An unconfirmed enrolment verifies nothing.
    with pytest.raises(FactorRejected):
        auth.verify(tenant, USER, [Proof(FactorKind.TOTP, secret=code)], context=CTX)
    # A wrong first code does not confirm it.
    with pytest.raises(FactorRejected):
        auth.confirm_totp(
            tenant, USER, credential.id, wrong_code(enrolment.secret, clock), context=CTX
        )
    assert not credential_of(auth, tenant, credential.id).confirmed

    confirmed = auth.confirm_totp(tenant, USER, credential.id, code, context=CTX)
    assert confirmed.confirmed and confirmed.counter == int(clock.now().timestamp()) // 30
    assert auth.introspect(tenant, session.access_token)[1] == "revoked"  # credentials changed
    with pytest.raises(Conflict):
        auth.confirm_totp(tenant, USER, credential.id, code, context=CTX)

    # The confirming code was used up; the next step's code works, once.
    with pytest.raises(FactorRejected):
        auth.verify(tenant, USER, [Proof(FactorKind.TOTP, secret=code)], context=CTX)
    clock.advance(timedelta(seconds=30))
    fresh = code_at(enrolment.secret, clock)
    passed = auth.verify(tenant, USER, [Proof(FactorKind.TOTP, secret=fresh)], context=CTX)
    assert passed == [Passed(FactorKind.TOTP, credential.id)]
    with pytest.raises(FactorRejected):
        auth.verify(tenant, USER, [Proof(FactorKind.TOTP, secret=fresh)], context=CTX)
    # A code older than the last accepted one is refused too, though still in the window.
    previous = code_at(enrolment.secret, clock, -1)
    with pytest.raises(FactorRejected):
        auth.verify(tenant, USER, [Proof(FactorKind.TOTP, secret=previous)], context=CTX)


def test_confirm_of_another_users_or_unknown_credential_is_not_found(
    auth: AuthService, tenant: str, clock: FrozenClock
) -> None:
    user_with_password(auth, tenant)
    user_with_password(auth, tenant, "acct-2")
    enrolment = auth.enrol_totp(tenant, USER, label="phone", context=CTX)
    code = code_at(enrolment.secret, clock)
    with pytest.raises(NotFound):
        auth.confirm_totp(tenant, "acct-2", enrolment.credential.id, code, context=CTX)
    with pytest.raises(NotFound):
        auth.confirm_totp(tenant, USER, "no-such-credential", code, context=CTX)
    with pytest.raises(NotFound):
        auth.enrol_totp(tenant, "nobody", label="phone", context=CTX)


def test_totp_secret_is_stored_sealed(
    services: Services, auth: AuthService, tenant: str, tmp_path: Path
) -> None:
    user_with_password(auth, tenant)
    enrolment = auth.enrol_totp(tenant, USER, label="phone", context=CTX)

    raw = raw_data(services, enrolment.credential.id)
    assert enrolment.secret not in raw
    assert enrolment.secret.lower() not in raw.lower()
    sealed = orjson.loads(raw)["secret"]
    assert sealed.startswith("kr1.")
    # It opens, on the deployment's keyring, only with the AAD naming its tenant and id.
    body = base64.urlsafe_b64decode(sealed[len("kr1.") :])
    aad = f"payguard-totp-v1:{tenant}:{enrolment.credential.id}".encode()
    assert services.keys.open(tenant, "seal:totp", body, aad).decode() == enrolment.secret
    with pytest.raises(SealedValueRejected):
        services.keys.open(
            tenant, "seal:totp", body, f"payguard-totp-v1:other:{enrolment.credential.id}".encode()
        )
    assert not (tmp_path / "auth.key").exists()  # the legacy key is no longer made


def test_a_sealed_secret_copied_to_another_credential_does_not_open(
    services: Services, auth: AuthService, tenant: str, clock: FrozenClock, tmp_path: Path
) -> None:
    user_with_password(auth, tenant)
    first = auth.enrol_totp(tenant, USER, label="phone", context=CTX)
    second = auth.enrol_totp(tenant, USER, label="tablet", context=CTX)
    with services.engine.begin() as conn:
        conn.execute(
            sa.text("UPDATE auth_credentials SET data = :data WHERE credential_id = :id"),
            {"data": raw_data(services, first.credential.id), "id": second.credential.id},
        )

    sealed = orjson.loads(raw_data(services, second.credential.id))["secret"]
    with pytest.raises(SealedValueRejected):
        services.keys.open(
            tenant,
            "seal:totp",
            base64.urlsafe_b64decode(sealed[len("kr1.") :]),
            f"payguard-totp-v1:{tenant}:{second.credential.id}".encode(),
        )
    # Through the service: the first secret's code cannot confirm the second credential, and
    # the server's fault (a row that does not open) is not blamed on the user.
    with pytest.raises(BackendUnavailable):
        auth.confirm_totp(
            tenant, USER, second.credential.id, code_at(first.secret, clock), context=CTX
        )
    assert not credential_of(auth, tenant, second.credential.id).confirmed
    # The original row still works.
    auth.confirm_totp(tenant, USER, first.credential.id, code_at(first.secret, clock), context=CTX)


def reseal_under_another_key(services: Services, tenant: str, credential_id: str) -> None:
    """Replace a credential's sealed secret by one sealed under a key the server lacks, as
    after a change of PAYGUARD_AUTH_KEY or of the key file."""
    sealed = SecretBox(secrets.token_bytes(32)).seal(
        b"JBSWY3DPEHPK3PXP", aad=f"payguard-totp-v1:{tenant}:{credential_id}".encode()
    )
    with services.engine.begin() as conn:
        conn.execute(
            sa.text("UPDATE auth_credentials SET data = :data WHERE credential_id = :id"),
            {"data": orjson.dumps({"secret": sealed}).decode(), "id": credential_id},
        )


def seal_as_before_the_keyring(
    services: Services, tenant: str, credential_id: str, secret: str, key: bytes
) -> None:
    """Store a credential's secret as deployments sealed it before the keyring: `v1.`, by a
    SecretBox under PAYGUARD_AUTH_KEY or the auth key file."""
    sealed = SecretBox(key).seal(
        secret.encode(), aad=f"payguard-totp-v1:{tenant}:{credential_id}".encode()
    )
    with services.engine.begin() as conn:
        conn.execute(
            sa.text("UPDATE auth_credentials SET data = :data WHERE credential_id = :id"),
            {"data": orjson.dumps({"secret": sealed}).decode(), "id": credential_id},
        )


def test_a_totp_secret_sealed_under_another_key_is_a_server_fault_not_a_failure(
    services: Services, auth: AuthService, tenant: str, clock: FrozenClock
) -> None:
    user_with_password(auth, tenant)
    secret = confirmed_totp(auth, tenant, clock)
    (credential,) = auth.credentials(tenant, USER)
    reseal_under_another_key(services, tenant, credential.id)
    threshold = services.settings.lockout_threshold
    with capture_logs() as logs:
        for _ in range(threshold + 1):  # more than enough to lock, were they counted
            with pytest.raises(BackendUnavailable):
                auth.verify(
                    tenant,
                    USER,
                    [Proof(FactorKind.TOTP, secret=code_at(secret, clock))],
                    context=CTX,
                )
    assert failures(auth, tenant) == 0
    assert auth.locked_until(tenant, USER) is None
    errors = [e for e in logs if e["log_level"] == "error"]
    assert errors and all(e["event"] == "auth.totp_secret_unopenable" for e in errors)
    assert secret not in repr(logs) and raw_data(services, credential.id) not in repr(logs)
    # The password still works and nothing was held against the user.
    auth.verify(tenant, USER, [Proof(FactorKind.PASSWORD, secret=PASSWORD)], context=CTX)


def test_an_unopenable_totp_app_does_not_hide_the_users_other_apps(
    services: Services, auth: AuthService, tenant: str, clock: FrozenClock
) -> None:
    user_with_password(auth, tenant)
    confirmed_totp(auth, tenant, clock)
    (broken_id,) = [c.id for c in auth.credentials(tenant, USER)]
    working = confirmed_totp(auth, tenant, clock)
    reseal_under_another_key(services, tenant, broken_id)
    # The other app still opens: its code passes, and a wrong code is an ordinary failure.
    with pytest.raises(FactorRejected):
        auth.verify(
            tenant, USER, [Proof(FactorKind.TOTP, secret=wrong_code(working, clock))], context=CTX
        )
    assert failures(auth, tenant) == 1
    passed = auth.verify(
        tenant, USER, [Proof(FactorKind.TOTP, secret=code_at(working, clock))], context=CTX
    )
    assert passed[0].kind == FactorKind.TOTP and passed[0].credential_id != broken_id


def enrol_in_own_deployment(
    auth_settings: Callable[..., Settings], clock: FrozenClock, **overrides: object
) -> None:
    """One start of a deployment from before the keyring that enrols and confirms a TOTP
    app, then stops: its secret is sealed under the auth key (`auth_key`, else the key file,
    made if missing, as deployments then did)."""
    built = build_services(auth_settings(**overrides), clock=clock)
    try:
        made, _ = built.tenants.create_tenant("acme", actor=Actor.system("test"))
        user_with_password(built.auth, made.id)
        secret = confirmed_totp(built.auth, made.id, clock)
        (credential,) = built.auth.credentials(made.id, USER)
        if built.settings.auth_key:
            key = base64.b64decode(built.settings.auth_key)
        else:
            database = sa.engine.make_url(built.settings.database_url).database
            assert database is not None
            key = load_or_create_key(Path(database).parent / "auth.key")
        seal_as_before_the_keyring(built, made.id, credential.id, secret, key)
    finally:
        built.close()


def test_start_refuses_an_auth_key_that_does_not_open_the_stored_secrets(
    auth_settings: Callable[..., Settings], clock: FrozenClock
) -> None:
    key = base64.b64encode(secrets.token_bytes(32)).decode()
    other = base64.b64encode(secrets.token_bytes(32)).decode()
    enrol_in_own_deployment(auth_settings, clock, auth_key=key)
    with capture_logs() as logs, pytest.raises(BackendUnavailable, match="another key"):
        build_services(auth_settings(auth_key=other), clock=clock)
    assert key not in repr(logs) and other not in repr(logs)
    build_services(auth_settings(auth_key=key), clock=clock).close()  # the right key starts


def test_start_refuses_a_changed_or_missing_key_file(
    auth_settings: Callable[..., Settings], clock: FrozenClock, tmp_path: Path
) -> None:
    enrol_in_own_deployment(auth_settings, clock)
    key_file = tmp_path / "auth.key"
    original = key_file.read_text()
    key_file.write_text(base64.b64encode(secrets.token_bytes(32)).decode())
    with pytest.raises(BackendUnavailable, match="another key"):
        build_services(auth_settings(), clock=clock)
    key_file.unlink()
    with pytest.raises(ValueError, match="missing"):
        build_services(auth_settings(), clock=clock)
    assert not key_file.exists()  # no new key was made in its place
    key_file.write_text(original)
    build_services(auth_settings(), clock=clock).close()


def test_a_fresh_install_makes_no_auth_key_and_seals_on_the_keyring(
    auth_settings: Callable[..., Settings], clock: FrozenClock, tmp_path: Path
) -> None:
    key_file = tmp_path / "auth.key"
    # A process that starts before anything is sealed reads no legacy key...
    early = build_services(auth_settings(), clock=clock)
    try:
        # ...while another enrols the first TOTP app: on the shared keyring, no key file.
        built = build_services(auth_settings(), clock=clock)
        try:
            made, _ = built.tenants.create_tenant("acme", actor=Actor.system("test"))
            user_with_password(built.auth, made.id)
            secret = confirmed_totp(built.auth, made.id, clock)
        finally:
            built.close()
        assert not key_file.exists()
        # The early process opens it with the same keyring.
        code = Proof(FactorKind.TOTP, secret=code_at(secret, clock))
        (passed,) = early.auth.verify(made.id, USER, [code], context=CTX)
        assert passed.kind == FactorKind.TOTP
        assert early.auth.failures(made.id, USER) == 0
    finally:
        early.close()


# -- password rehash -----------------------------------------------------------------------


def test_verify_rehashes_a_password_made_with_other_parameters(
    services: Services, tenant: str, clock: FrozenClock, auth_settings: Callable[..., Settings]
) -> None:
    services.auth.create_user(tenant, USER, password=PASSWORD, context=CTX)
    cheap = services.auth.user(tenant, USER)
    assert cheap.password_hash is not None and "t=1" in cheap.password_hash
    stronger = build_services(auth_settings(argon2_time_cost=2), clock=clock)
    try:
        clock.advance(timedelta(days=1))
        # A wrong password changes nothing.
        with pytest.raises(FactorRejected):
            stronger.auth.verify(
                tenant, USER, [Proof(FactorKind.PASSWORD, secret="not it at all")], context=CTX
            )
        assert stronger.auth.user(tenant, USER).password_hash == cheap.password_hash

        stronger.auth.verify(
            tenant, USER, [Proof(FactorKind.PASSWORD, secret=PASSWORD)], context=CTX
        )

        rehashed = stronger.auth.user(tenant, USER)
        assert rehashed.password_hash != cheap.password_hash
        assert rehashed.password_hash is not None and "t=2" in rehashed.password_hash
        # A rehash is not a password change.
        assert rehashed.password_changed_at == cheap.password_changed_at
        # Still the same password, for either service; no further rehash.
        stronger.auth.verify(
            tenant, USER, [Proof(FactorKind.PASSWORD, secret=PASSWORD)], context=CTX
        )
        assert stronger.auth.user(tenant, USER).password_hash == rehashed.password_hash
        services.auth.verify(
            tenant, USER, [Proof(FactorKind.PASSWORD, secret=PASSWORD)], context=CTX
        )
    finally:
        stronger.close()


# -- lockout -------------------------------------------------------------------------------


def wrong(auth: AuthService, tenant: str, context: Context = CTX, user: str = USER) -> None:
    with pytest.raises(FactorRejected):
        auth.verify(
            tenant, user, [Proof(FactorKind.PASSWORD, secret="wrong password")], context=context
        )


def right(auth: AuthService, tenant: str, context: Context = CTX, user: str = USER) -> None:
    auth.verify(tenant, user, [Proof(FactorKind.PASSWORD, secret=PASSWORD)], context=context)


def test_lockout_at_exactly_the_threshold_and_unlock_after_lock_seconds(
    auth: AuthService, tenant: str, clock: FrozenClock
) -> None:
    user_with_password(auth, tenant)
    threshold = auth.policy.lockout_threshold
    seconds = int(auth.policy.lockout_seconds)
    assert (threshold, seconds) == (5, 900)
    for _ in range(threshold - 1):
        wrong(auth, tenant)
    assert auth.failures(tenant, USER) == threshold - 1
    assert auth.locked_until(tenant, USER) is None

    wrong(auth, tenant)  # the threshold-th failure is still answered, and locks
    assert auth.locked_until(tenant, USER) == (clock.now() + timedelta(seconds=seconds))
    with pytest.raises(Locked) as locked:
        right(auth, tenant)
    assert locked.value.retry_after == seconds
    # While locked nothing is checked, so nothing more is counted.
    with pytest.raises(Locked):
        auth.verify(
            tenant, USER, [Proof(FactorKind.PASSWORD, secret="wrong password")], context=CTX
        )
    assert failures(auth, tenant) == threshold

    clock.advance(timedelta(seconds=seconds - 1))
    with pytest.raises(Locked) as almost:
        right(auth, tenant)
    assert almost.value.retry_after == 1
    clock.advance(timedelta(seconds=1))
    right(auth, tenant)
    assert failures(auth, tenant) == 0


def test_a_success_resets_the_consecutive_failures(auth: AuthService, tenant: str) -> None:
    user_with_password(auth, tenant)
    for _ in range(auth.policy.lockout_threshold - 1):
        wrong(auth, tenant)
    right(auth, tenant)
    assert failures(auth, tenant) == 0
    # A full threshold is needed again before the lock.
    for _ in range(auth.policy.lockout_threshold - 1):
        wrong(auth, tenant)
    right(auth, tenant)
    assert auth.locked_until(tenant, USER) is None


def test_after_a_lock_expires_the_next_lock_comes_at_the_next_multiple(
    auth: AuthService, tenant: str, clock: FrozenClock
) -> None:
    user_with_password(auth, tenant)
    threshold = auth.policy.lockout_threshold
    for _ in range(threshold):
        wrong(auth, tenant)
    clock.advance(timedelta(seconds=auth.policy.lockout_seconds))
    for _ in range(threshold - 1):
        wrong(auth, tenant)  # failures 6..9: answered, not locked
    right(auth, tenant)
    assert failures(auth, tenant) == 0


def test_the_lock_is_per_account_and_tenant(
    services: Services, auth: AuthService, tenant: str
) -> None:
    user_with_password(auth, tenant)
    user_with_password(auth, tenant, "acct-2")
    other, _ = services.tenants.create_tenant("globex", actor=Actor.system("test"))
    user_with_password(auth, other.id)
    for _ in range(auth.policy.lockout_threshold):
        wrong(auth, tenant)
    with pytest.raises(Locked):
        right(auth, tenant)
    right(auth, tenant, user="acct-2")
    right(auth, other.id)


def test_an_address_is_locked_across_accounts(
    auth_settings: Callable[..., Settings], clock: FrozenClock
) -> None:
    built = build_services(auth_settings(ip_lockout_threshold=3), clock=clock)
    try:
        tenant, _ = built.tenants.create_tenant("acme", actor=Actor.system("test"))
        for user in ("a-1", "a-2", "a-3", "a-4"):
            built.auth.create_user(tenant.id, user, password=PASSWORD, context=CTX)
        for user in ("a-1", "a-2", "a-3"):
            wrong(built.auth, tenant.id, user=user)
        with pytest.raises(Locked) as locked:
            right(built.auth, tenant.id, user="a-4")
        assert "address" in locked.value.message
        # Another address, or none, is not locked.
        right(built.auth, tenant.id, Context(actor=PARTNER, user_ip="198.51.100.1"), "a-4")
        right(built.auth, tenant.id, Context(actor=PARTNER), "a-4")
    finally:
        built.close()


# -- verify's own rules ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "proofs",
    [
        [],
        [Proof(FactorKind.PASSWORD, secret=PASSWORD), Proof(FactorKind.PASSWORD, secret="x" * 9)],
        [
            Proof(FactorKind.TOTP, secret="123456"),
            Proof(FactorKind.PASSWORD, secret=PASSWORD),
            Proof(FactorKind.TOTP, secret="654321"),
        ],
    ],
    ids=["empty", "two-passwords", "two-totps"],
)
def test_verify_refuses_empty_and_duplicate_factor_lists(
    auth: AuthService, tenant: str, proofs: list[Proof]
) -> None:
    user_with_password(auth, tenant)
    with pytest.raises(ValidationFailed) as caught:
        auth.verify(tenant, USER, proofs, context=CTX)
    assert caught.value.field == "factors"
    assert failures(auth, tenant) == 0  # nothing was checked, nothing counted
    # Checked before the user is looked up: no account enumeration through it.
    with pytest.raises(ValidationFailed):
        auth.verify(tenant, "nobody", proofs, context=CTX)


def test_all_proofs_must_pass_and_the_first_failure_is_counted(
    auth: AuthService, tenant: str, clock: FrozenClock
) -> None:
    user_with_password(auth, tenant)
    secret = confirmed_totp(auth, tenant, clock)
    with pytest.raises(FactorRejected):
        auth.verify(
            tenant,
            USER,
            [
                Proof(FactorKind.PASSWORD, secret=PASSWORD),
                Proof(FactorKind.TOTP, secret=wrong_code(secret, clock)),
            ],
            context=CTX,
        )
    assert failures(auth, tenant) == 1
    passed = auth.verify(
        tenant,
        USER,
        [
            Proof(FactorKind.PASSWORD, secret=PASSWORD),
            Proof(FactorKind.TOTP, secret=code_at(secret, clock)),
        ],
        context=CTX,
    )
    assert [p.kind for p in passed] == [FactorKind.PASSWORD, FactorKind.TOTP]
    assert failures(auth, tenant) == 0


# -- sessions ------------------------------------------------------------------------------


T0 = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


@given(
    elapsed=st.integers(min_value=0, max_value=10**7),
    idle=st.integers(min_value=1, max_value=10**7),
    absolute=st.integers(min_value=1, max_value=10**7),
)
def test_idle_until_never_passes_the_absolute_expiry(
    elapsed: int, idle: int, absolute: int
) -> None:
    now = T0 + timedelta(seconds=elapsed)
    until = idle_until(now, T0, SessionLimits(idle=idle, absolute=absolute))
    assert until <= T0 + timedelta(seconds=absolute)
    assert until <= now + timedelta(seconds=idle)
    assert until in (T0 + timedelta(seconds=absolute), now + timedelta(seconds=idle))


def test_session_idle_timer_restarts_on_use_up_to_the_absolute_expiry(
    auth: AuthService, tenant: str, clock: FrozenClock
) -> None:
    user_with_password(auth, tenant)
    limits = auth.policy.sessions[2]
    assert (limits.idle, limits.absolute) == (30 * 60, 12 * 3600)
    issued = auth.open_session(tenant, USER, 2, context=CTX)
    start = clock.now()
    absolute = start + timedelta(seconds=limits.absolute)
    assert issued.session.idle_expires_at == start + timedelta(seconds=limits.idle)
    assert issued.session.absolute_expires_at == absolute

    step = timedelta(seconds=limits.idle - 100)
    capped = 0
    while clock.now() + step < absolute:
        clock.advance(step)
        session, refusal = auth.introspect(tenant, issued.access_token)
        assert refusal is None and session is not None
        assert session.last_seen_at == clock.now()
        assert session.idle_expires_at == min(
            clock.now() + timedelta(seconds=limits.idle), absolute
        )
        assert session.idle_expires_at <= session.absolute_expires_at == absolute
        capped += session.idle_expires_at == absolute
    assert capped >= 1  # the last touches were capped at the absolute expiry

    clock.set(absolute - timedelta(seconds=1))
    assert auth.introspect(tenant, issued.access_token)[1] is None
    clock.set(absolute)
    session, refusal = auth.introspect(tenant, issued.access_token)
    assert refusal == "expired" and session is not None


def test_an_unused_session_goes_idle_and_a_refused_one_is_not_touched(
    auth: AuthService, tenant: str, clock: FrozenClock
) -> None:
    user_with_password(auth, tenant)
    issued = auth.open_session(tenant, USER, 3, context=CTX)
    idle = auth.policy.sessions[3].idle
    clock.advance(timedelta(seconds=idle - 1))
    assert auth.introspect(tenant, issued.access_token)[1] is None
    clock.advance(timedelta(seconds=idle))
    session, refusal = auth.introspect(tenant, issued.access_token)
    assert refusal == "idle" and session is not None
    clock.advance(timedelta(seconds=1))
    again, _ = auth.introspect(tenant, issued.access_token)
    assert again is not None and again.last_seen_at == session.last_seen_at
    assert auth.introspect(tenant, "pgs_not-a-token") == (None, "unknown")


def test_an_aal1_session_has_one_fixed_expiry(
    auth: AuthService, tenant: str, clock: FrozenClock
) -> None:
    user_with_password(auth, tenant)
    issued = auth.open_session(tenant, USER, 1, context=CTX)
    clock.advance(timedelta(days=10))
    session, _ = auth.introspect(tenant, issued.access_token)
    assert session is not None
    assert session.idle_expires_at == session.absolute_expires_at


def test_revoked_wins_over_expired(auth: AuthService, tenant: str, clock: FrozenClock) -> None:
    user_with_password(auth, tenant)
    issued = auth.open_session(tenant, USER, 2, context=CTX)
    auth.revoke_session(tenant, issued.session.id, context=CTX)
    clock.advance(timedelta(days=2))
    assert auth.introspect(tenant, issued.access_token)[1] == "revoked"
    with pytest.raises(NotFound):
        auth.revoke_session(tenant, issued.session.id, context=CTX)


def test_refresh_rotates_tokens_and_keeps_the_absolute_expiry(
    auth: AuthService, tenant: str, clock: FrozenClock
) -> None:
    user_with_password(auth, tenant)
    issued = auth.open_session(tenant, USER, 2, context=CTX)
    clock.advance(timedelta(minutes=20))

    rotated = auth.refresh(tenant, issued.refresh_token, context=CTX)

    assert rotated.session.id == issued.session.id
    assert {rotated.access_token, rotated.refresh_token}.isdisjoint(
        {issued.access_token, issued.refresh_token}
    )
    assert rotated.session.absolute_expires_at == issued.session.absolute_expires_at
    assert rotated.session.idle_expires_at == clock.now() + timedelta(minutes=30)
    assert auth.introspect(tenant, issued.access_token) == (None, "unknown")
    assert auth.introspect(tenant, rotated.access_token)[1] is None


def test_a_refresh_token_used_twice_concurrently_revokes_the_session(
    services: Services, auth: AuthService, tenant: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = SqlAuthRepository(services.engine)
    user_with_password(auth, tenant)
    issued = auth.open_session(tenant, USER, 2, context=CTX)
    # The second of two requests carrying the same refresh token read the session before
    # the first rotated it.
    stale = store.find_session_by_refresh(tenant, token_hash(issued.refresh_token))
    winner = auth.refresh(tenant, issued.refresh_token, context=CTX)
    monkeypatch.setattr(SqlAuthRepository, "find_session_by_refresh", lambda *_: stale)

    with pytest.raises(FactorRejected) as caught:
        auth.refresh(tenant, issued.refresh_token, context=CTX)

    assert "already used" in caught.value.message
    session = store.get_session(tenant, issued.session.id)
    assert session is not None and session.revoked_reason == "refresh token reused"
    assert auth.introspect(tenant, winner.access_token)[1] == "revoked"


def test_a_refresh_token_reused_after_rotation_revokes_the_session(
    auth: AuthService, tenant: str, clock: FrozenClock
) -> None:
    user_with_password(auth, tenant)
    issued = auth.open_session(tenant, USER, 2, context=CTX)
    legitimate = auth.refresh(tenant, issued.refresh_token, context=CTX)
    clock.advance(timedelta(minutes=1))

    # A thief replays the refresh token the client already used.
    with pytest.raises(FactorRejected):
        auth.refresh(tenant, issued.refresh_token, context=CTX)

    assert auth.introspect(tenant, legitimate.access_token)[1] == "revoked"
    with pytest.raises(FactorRejected):
        auth.refresh(tenant, legitimate.refresh_token, context=CTX)


@pytest.mark.parametrize("how", ["revoked", "expired"])
def test_a_dead_session_cannot_be_refreshed(
    auth: AuthService, tenant: str, clock: FrozenClock, how: str
) -> None:
    user_with_password(auth, tenant)
    issued = auth.open_session(tenant, USER, 2, context=CTX)
    if how == "revoked":
        auth.revoke_sessions(tenant, USER, context=CTX)
    else:
        clock.advance(timedelta(hours=12))
    with pytest.raises(FactorRejected) as caught:
        auth.refresh(tenant, issued.refresh_token, context=CTX)
    assert how in caught.value.message


def test_sign_in_opens_a_session_at_the_level_earned(
    auth: AuthService, tenant: str, clock: FrozenClock
) -> None:
    user_with_password(auth, tenant)
    secret = confirmed_totp(auth, tenant, clock)
    one = auth.sign_in(tenant, USER, [Proof(FactorKind.PASSWORD, secret=PASSWORD)], context=CTX)
    two = auth.sign_in(
        tenant,
        USER,
        [
            Proof(FactorKind.PASSWORD, secret=PASSWORD),
            Proof(FactorKind.TOTP, secret=code_at(secret, clock)),
        ],
        context=CTX,
    )
    assert (one.session.level, two.session.level) == (1, 2)
    assert {s.id for s in auth.sessions(tenant, USER)} == {one.session.id, two.session.id}
    assert auth.introspect(tenant, two.access_token)[0] == two.session


# -- signed requests -----------------------------------------------------------------------

P256 = ec.derive_private_key(0xC0FFEE1234, ec.SECP256R1())


def p256_public(der: bool = False) -> str:
    public = P256.public_key()
    raw = (
        public.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        if der
        else public.public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
    )
    return base64.b64encode(raw).decode()


def signed(
    clock: FrozenClock,
    *,
    raw: bool,
    body: bytes = b'{"amount":"12.50"}',
    path: str = "/v1/payments/p-1/confirm",
    nonce: str | None = None,
    skew: int = 0,
) -> dict[str, object]:
    timestamp = int(clock.now().timestamp()) + skew
    nonce = nonce or secrets.token_urlsafe(16)
    message = devicekeys.signed_message(
        method="POST", path=path, body=body, timestamp=timestamp, nonce=nonce
    )
    der = P256.sign(message, ec.ECDSA(hashes.SHA256()))
    if raw:
        r, s = decode_dss_signature(der)
        signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    else:
        signature = der
    return {
        "device_id": "phone-1",
        "method": "POST",
        "path": path,
        "body": body,
        "timestamp": timestamp,
        "nonce": nonce,
        "signature": base64.urlsafe_b64encode(signature).decode(),
    }


@pytest.fixture
def device(auth: AuthService, tenant: str) -> str:
    user_with_password(auth, tenant)
    bound = auth.bind_device(
        tenant,
        USER,
        device_id="phone-1",
        algorithm="p256",
        public_key=p256_public(),
        label="phone",
        context=CTX,
    )
    return bound.id


@pytest.mark.parametrize("raw", [False, True], ids=["der", "raw-r-s"])
def test_verify_signed_request_with_p256(
    auth: AuthService, tenant: str, clock: FrozenClock, device: str, raw: bool
) -> None:
    request = signed(clock, raw=raw)
    credential = auth.verify_signed_request(tenant, **request, context=CTX)  # type: ignore[arg-type]
    assert credential.id == device and credential.user_id == USER
    assert credential_of(auth, tenant, device).last_used_at == clock.now()

    # The same request again is a replay.
    with pytest.raises(FactorRejected) as replayed:
        auth.verify_signed_request(tenant, **request, context=CTX)  # type: ignore[arg-type]
    assert "replayed" in replayed.value.message
    assert failures(auth, tenant) == 1


def test_a_device_bound_with_a_der_public_key_verifies(
    auth: AuthService, tenant: str, clock: FrozenClock
) -> None:
    user_with_password(auth, tenant)
    auth.bind_device(
        tenant,
        USER,
        device_id="phone-1",
        algorithm="p256",
        public_key=p256_public(der=True),
        label="phone",
        context=CTX,
    )
    auth.verify_signed_request(tenant, **signed(clock, raw=True), context=CTX)  # type: ignore[arg-type]


@pytest.mark.parametrize("change", ["body", "path", "stale", "future"])
def test_a_signed_request_that_does_not_match_is_rejected_and_counted(
    auth: AuthService, tenant: str, clock: FrozenClock, device: str, change: str
) -> None:
    request = signed(clock, raw=False, skew={"stale": -301, "future": 301}.get(change, 0))
    if change == "body":
        request["body"] = b'{"amount":"99.50"}'
    elif change == "path":
        request["path"] = "/v1/payments/p-2/confirm"
    with pytest.raises(FactorRejected):
        auth.verify_signed_request(tenant, **request, context=CTX)  # type: ignore[arg-type]
    assert failures(auth, tenant) == 1


def test_a_rejected_signature_does_not_use_up_its_nonce(
    auth: AuthService, tenant: str, clock: FrozenClock, device: str
) -> None:
    forged = signed(clock, raw=False, nonce="shared-nonce-0123456789")
    forged["body"] = b"tampered"
    with pytest.raises(FactorRejected):
        auth.verify_signed_request(tenant, **forged, context=CTX)  # type: ignore[arg-type]
    genuine = signed(clock, raw=False, nonce="shared-nonce-0123456789")
    auth.verify_signed_request(tenant, **genuine, context=CTX)  # type: ignore[arg-type]


def test_signed_request_errors_before_any_user_is_known(
    auth: AuthService, tenant: str, clock: FrozenClock, device: str
) -> None:
    with pytest.raises(FactorRejected):
        auth.verify_signed_request(
            tenant,
            **{**signed(clock, raw=False), "device_id": "unknown"},
            context=CTX,  # type: ignore[arg-type]
        )
    with pytest.raises(ValidationFailed) as bad_nonce:
        auth.verify_signed_request(
            tenant,
            **{**signed(clock, raw=False), "nonce": "short"},
            context=CTX,  # type: ignore[arg-type]
        )
    assert bad_nonce.value.field == "nonce"
    assert failures(auth, tenant) == 0


def test_signed_requests_of_a_locked_account_are_refused(
    auth: AuthService, tenant: str, clock: FrozenClock, device: str
) -> None:
    for _ in range(auth.policy.lockout_threshold):
        wrong(auth, tenant)
    with pytest.raises(Locked):
        auth.verify_signed_request(tenant, **signed(clock, raw=True), context=CTX)  # type: ignore[arg-type]


@pytest.mark.parametrize("draw", [0, 1])
def test_about_one_signed_request_in_purge_every_forgets_expired_nonces(
    services: Services,
    auth: AuthService,
    tenant: str,
    clock: FrozenClock,
    device: str,
    monkeypatch: pytest.MonkeyPatch,
    draw: int,
) -> None:
    def nonces() -> int:
        with services.engine.connect() as conn:
            return conn.execute(sa.text("SELECT count(*) FROM auth_nonces")).scalar_one()

    auth.verify_signed_request(tenant, **signed(clock, raw=True), context=CTX)  # type: ignore[arg-type]
    assert nonces() == 1
    clock.advance(timedelta(seconds=2 * MAX_SKEW_SECONDS + 1))  # now expired
    draws: list[int] = []

    def randbelow(n: int) -> int:
        draws.append(n)
        return draw

    monkeypatch.setattr(device_verifier.secrets, "randbelow", randbelow)
    auth.verify_signed_request(tenant, **signed(clock, raw=True), context=CTX)  # type: ignore[arg-type]
    assert draws == [device_verifier.PURGE_EVERY]
    assert nonces() == (1 if draw == 0 else 2)  # purged: only the new one is left


# -- failures feed the engine ----------------------------------------------------------------


def logins(services: Services, tenant: str) -> list:
    return [d for d in services.assessments.store.iter_decisions(tenant) if d.event_type == "login"]


def test_a_failed_password_is_assessed_as_a_failed_login(
    services: Services, auth: AuthService, tenant: str, clock: FrozenClock
) -> None:
    user_with_password(auth, tenant)
    right(auth, tenant)
    assert logins(services, tenant) == []  # a success is not a signal

    wrong(auth, tenant)

    (login,) = logins(services, tenant)
    assert login.account_id == USER and login.occurred_at == clock.now()
    assert login.event_id.startswith("auth-failure-")
    assert login.event["attributes"] == {"success": False, "auth_method": "password"}
    assert login.event["ip"] == CTX.user_ip
    assert login.event["device"] == {"id": CTX.device_id}
    assert login.features["login_failed"] is True
    assert PASSWORD not in str(login.event) and "wrong password" not in str(login.event)


def test_each_failure_is_its_own_login_and_a_lock_adds_none(
    services: Services, auth: AuthService, tenant: str, clock: FrozenClock
) -> None:
    user_with_password(auth, tenant)
    secret = confirmed_totp(auth, tenant, clock)
    with pytest.raises(FactorRejected):
        auth.verify(
            tenant, USER, [Proof(FactorKind.TOTP, secret=wrong_code(secret, clock))], context=CTX
        )
    for _ in range(auth.policy.lockout_threshold - 1):
        wrong(auth, tenant, Context(actor=PARTNER))
    with pytest.raises(Locked):
        right(auth, tenant)

    found = logins(services, tenant)
    assert len(found) == auth.policy.lockout_threshold
    assert len({d.event_id for d in found}) == len(found)
    methods = sorted(d.event["attributes"]["auth_method"] for d in found)
    assert methods == ["password"] * (auth.policy.lockout_threshold - 1) + ["totp"]
    assert all(
        "ip" not in d.event for d in found if d.event["attributes"]["auth_method"] == "password"
    )


# -- recovery codes and housekeeping ---------------------------------------------------------


def test_recovery_codes_left_counts_the_unused_ones(auth: AuthService, tenant: str) -> None:
    user_with_password(auth, tenant)
    assert auth.recovery_codes_left(tenant, USER) == 0
    codes = auth.new_recovery_codes(tenant, USER, context=CTX)
    auth.verify(tenant, USER, [Proof(FactorKind.RECOVERY_CODE, secret=codes[0])], context=CTX)
    assert auth.recovery_codes_left(tenant, USER) == len(codes) - 1


def test_purge_forgets_expired_nonces_challenges_and_ended_sessions(
    auth: AuthService, tenant: str, clock: FrozenClock, device: str
) -> None:
    auth.verify_signed_request(tenant, **signed(clock, raw=True), context=CTX)  # type: ignore[arg-type]
    auth.passkey_login(tenant, USER)
    ended = auth.open_session(tenant, USER, 2, context=CTX)
    auth.revoke_session(tenant, ended.session.id, context=CTX)
    live = auth.open_session(tenant, USER, 1, context=CTX)
    now = clock.now()
    assert auth.purge(now=now, before=now) == {"nonces": 0, "challenges": 0, "sessions": 0}

    clock.advance(timedelta(days=1))
    now = clock.now()
    assert auth.purge(now=now, before=now) == {"nonces": 1, "challenges": 1, "sessions": 1}
    assert [s.id for s in auth.sessions(tenant, USER)] == [live.session.id]


def test_audit_records_name_the_partner_its_address_and_the_users_tenant(
    services: Services, auth: AuthService, tenant: str
) -> None:
    user_with_password(auth, tenant)
    wrong(auth, tenant)
    right(auth, tenant)

    records = [r for r in services.audit.list(tenant_id=tenant) if r.action.startswith("auth:")]
    assert [(r.action, r.outcome) for r in reversed(records)] == [
        ("auth:user_create", "success"),
        ("auth:failure", "failure"),
        ("auth:verify", "success"),
    ]
    assert {(r.actor, r.source_ip, r.target) for r in records} == {
        ("partner", "192.0.2.1", f"user:{USER}")
    }
    assert records[0].details == {"factors": ["password"], "level": 1}
