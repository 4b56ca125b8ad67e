"""Contract tests for `SqlAuthRepository` on every SQL backend: each section exercises one
port of `payguard.auth.interfaces` (its tests take the repository as that port)."""

from __future__ import annotations

import inspect
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, TypeVar

import pytest
import sqlalchemy as sa

from payguard.adapters.sql.auth import SqlAuthRepository
from payguard.auth.interfaces import (
    AuthUser,
    Challenge,
    ChallengePurpose,
    ChallengeRepository,
    ChallengeStatus,
    Credential,
    CredentialKind,
    NonceRepository,
    Session,
    SessionRepository,
    Throttle,
    ThrottleRepository,
    UserRepository,
)
from payguard.core.errors import Conflict, NotFound

T0 = datetime(2026, 3, 2, 9, 30, 15, 123456, tzinfo=UTC)
NAIROBI = timezone(timedelta(hours=3))
RACERS = 8

_R = TypeVar("_R")


PORTS = [
    UserRepository,
    SessionRepository,
    ChallengeRepository,
    ThrottleRepository,
    NonceRepository,
]


@pytest.fixture
def repository(sql_engine: sa.Engine) -> SqlAuthRepository:
    return SqlAuthRepository(sql_engine)


def _id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex}"


def new_user(tenant_id: str, **overrides: Any) -> AuthUser:
    fields: dict[str, Any] = {
        "tenant_id": tenant_id,
        "user_id": _id("acct"),
        "created_at": T0,
        "handle": uuid.uuid4().bytes + b"\x00\xff",
    }
    fields.update(overrides)
    return AuthUser(**fields)


def new_credential(tenant_id: str, **overrides: Any) -> Credential:
    fields: dict[str, Any] = {
        "tenant_id": tenant_id,
        "id": _id("cred"),
        "user_id": "acct-1",
        "kind": CredentialKind.PASSKEY,
        "label": "YubiKey 5",
        "created_at": T0,
        "lookup": _id("lookup"),
        "counter": 0,
        "data": {"alg": -7, "cose": "pQECAyYgASFYIA", "flags": {"uv": True}, "n": [1, 2.5]},
    }
    fields.update(overrides)
    return Credential(**fields)


def new_challenge(tenant_id: str, **overrides: Any) -> Challenge:
    fields: dict[str, Any] = {
        "tenant_id": tenant_id,
        "id": _id("ch"),
        "user_id": "acct-1",
        "purpose": ChallengePurpose.STEP_UP,
        "created_at": T0,
        "expires_at": T0 + timedelta(minutes=5),
        "nonce": uuid.uuid4().bytes + b"\x00\x80\xff",
        "level": 2,
        "assessment_id": _id("asm"),
        "binding": {"amount": "12.50", "currency": "EUR", "payee": "p-1"},
    }
    fields.update(overrides)
    return Challenge(**fields)


def new_session(tenant_id: str, **overrides: Any) -> Session:
    fields: dict[str, Any] = {
        "tenant_id": tenant_id,
        "id": _id("sess"),
        "user_id": "acct-1",
        "level": 1,
        "token_hash": uuid.uuid4().hex * 2,
        "refresh_hash": uuid.uuid4().hex * 2,
        "created_at": T0,
        "last_seen_at": T0,
        "idle_expires_at": T0 + timedelta(minutes=30),
        "absolute_expires_at": T0 + timedelta(hours=12),
    }
    fields.update(overrides)
    return Session(**fields)


def race(work: Callable[[int], _R], workers: int = RACERS) -> list[_R]:
    """Run `work(i)` on `workers` threads released at the same instant."""
    start = threading.Barrier(workers)

    def run(i: int) -> _R:
        start.wait()
        return work(i)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(run, range(workers)))


# users


def test_users_round_trip(repository: UserRepository, tenant: str) -> None:
    user = new_user(tenant)
    repository.add_user(user)
    assert repository.get_user(tenant, user.user_id) == user
    assert repository.get_user(tenant, "missing") is None

    changed = datetime(2026, 3, 3, 12, 0, tzinfo=NAIROBI)
    repository.set_password(tenant, user.user_id, "$argon2id$v=19$m=65536,t=3,p=4$abc", changed)
    stored = repository.get_user(tenant, user.user_id)
    assert stored is not None
    assert stored.password_hash == "$argon2id$v=19$m=65536,t=3,p=4$abc"
    assert stored.password_changed_at == changed
    assert stored.password_changed_at is not None and stored.password_changed_at.tzinfo == UTC
    assert stored.handle == user.handle
    assert stored.created_at == T0 and stored.created_at.tzinfo == UTC


def test_a_user_with_a_password_round_trips(repository: UserRepository, tenant: str) -> None:
    user = new_user(tenant, password_hash="hash", password_changed_at=T0)
    repository.add_user(user)
    assert repository.get_user(tenant, user.user_id) == user


def test_a_duplicate_user_is_a_conflict(
    repository: UserRepository, tenant: str, other_tenant: str
) -> None:
    user = new_user(tenant)
    repository.add_user(user)
    with pytest.raises(Conflict):
        repository.add_user(new_user(tenant, user_id=user.user_id))
    # The same account id in another tenant is another user.
    repository.add_user(new_user(other_tenant, user_id=user.user_id))


def test_set_password_of_an_unknown_user_is_not_found(
    repository: UserRepository, tenant: str, other_tenant: str
) -> None:
    with pytest.raises(NotFound):
        repository.set_password(tenant, "missing", "hash", T0)
    user = new_user(tenant)
    repository.add_user(user)
    with pytest.raises(NotFound):
        repository.set_password(other_tenant, user.user_id, "hash", T0)
    assert repository.get_user(tenant, user.user_id) == user


# credentials


def test_credentials_round_trip(repository: UserRepository, tenant: str) -> None:
    passkey = new_credential(tenant, counter=2**32 - 1, last_used_at=T0 + timedelta(seconds=1))
    totp = new_credential(
        tenant,
        kind=CredentialKind.TOTP,
        lookup=None,
        counter=-1,
        confirmed=False,
        data={"secret": "sealed:v1:AAAA"},
        created_at=T0 + timedelta(seconds=1),
    )
    repository.add_credential(passkey)
    repository.add_credential(totp)
    assert repository.get_credential(tenant, passkey.id) == passkey
    assert repository.get_credential(tenant, totp.id) == totp
    assert repository.get_credential(tenant, "missing") is None
    assert repository.find_credential(tenant, CredentialKind.PASSKEY, passkey.lookup or "") == (
        passkey
    )
    assert repository.find_credential(tenant, CredentialKind.DEVICE, passkey.lookup or "") is None
    assert repository.list_credentials(tenant, "acct-1") == [passkey, totp]
    assert repository.list_credentials(tenant, "acct-2") == []


def test_a_live_duplicate_lookup_is_a_conflict_until_revoked(
    repository: UserRepository, tenant: str, other_tenant: str
) -> None:
    first = new_credential(tenant, lookup="cred-abc")
    repository.add_credential(first)
    with pytest.raises(Conflict):
        repository.add_credential(new_credential(tenant, lookup="cred-abc", user_id="acct-2"))
    with pytest.raises(Conflict):
        repository.add_credential(new_credential(tenant, id=first.id, lookup="other"))
    # Another kind or another tenant may use the same lookup.
    repository.add_credential(new_credential(tenant, lookup="cred-abc", kind=CredentialKind.DEVICE))
    repository.add_credential(new_credential(other_tenant, lookup="cred-abc"))
    # Credentials without a lookup never collide.
    for _ in range(2):
        repository.add_credential(new_credential(tenant, kind=CredentialKind.TOTP, lookup=None))

    assert repository.revoke_credential(tenant, first.id, T0 + timedelta(days=1))
    again = new_credential(tenant, lookup="cred-abc")
    repository.add_credential(again)
    assert repository.find_credential(tenant, CredentialKind.PASSKEY, "cred-abc") == again
    # The revoked one stays on file; only it and the live one are listed with it.
    listed = repository.list_credentials(tenant, "acct-1", include_revoked=True)
    assert first.id in {c.id for c in listed} and again.id in {c.id for c in listed}
    assert first.id not in {c.id for c in repository.list_credentials(tenant, "acct-1")}


def test_revoke_credential(repository: UserRepository, tenant: str) -> None:
    credential = new_credential(tenant)
    repository.add_credential(credential)
    at = T0 + timedelta(days=1)
    assert repository.revoke_credential(tenant, credential.id, at)
    assert not repository.revoke_credential(tenant, credential.id, at + timedelta(days=1))
    assert not repository.revoke_credential(tenant, "missing", at)
    stored = repository.get_credential(tenant, credential.id)
    assert stored is not None and stored.revoked_at == at
    assert repository.find_credential(tenant, credential.kind, credential.lookup or "") is None
    assert repository.list_credentials(tenant, credential.user_id) == []
    assert repository.list_credentials(tenant, credential.user_id, include_revoked=True) == [stored]


def test_some_totp_credentials_are_live_totp_ones_up_to_the_limit(
    repository: SqlAuthRepository, tenant: str
) -> None:
    live = new_credential(tenant, kind=CredentialKind.TOTP, lookup=None, data={"secret": "v1.x"})
    revoked = new_credential(tenant, kind=CredentialKind.TOTP, lookup=None, data={"secret": "v1.y"})
    passkey = new_credential(tenant)
    for credential in (live, revoked, passkey):
        repository.add_credential(credential)
    repository.revoke_credential(tenant, revoked.id, T0)
    found = repository.some_totp_credentials(100_000)  # other tests' rows may be there too
    assert all(c.kind == CredentialKind.TOTP and c.revoked_at is None for c in found)
    assert live in found
    assert {revoked.id, passkey.id}.isdisjoint(c.id for c in found)
    assert len(repository.some_totp_credentials(1)) == 1
    assert repository.some_totp_credentials(0) == []


def test_confirm_credential(repository: UserRepository, tenant: str) -> None:
    pending = new_credential(tenant, kind=CredentialKind.TOTP, lookup=None, confirmed=False)
    repository.add_credential(pending)
    at = T0 + timedelta(minutes=1)
    assert repository.confirm_credential(tenant, pending.id, at)
    assert not repository.confirm_credential(tenant, pending.id, at)
    stored = repository.get_credential(tenant, pending.id)
    assert stored is not None and stored.confirmed
    assert not repository.confirm_credential(tenant, "missing", at)

    revoked = new_credential(tenant, kind=CredentialKind.TOTP, lookup=None, confirmed=False)
    repository.add_credential(revoked)
    repository.revoke_credential(tenant, revoked.id, at)
    assert not repository.confirm_credential(tenant, revoked.id, at)


def test_advance_counter_is_a_compare_and_set(repository: UserRepository, tenant: str) -> None:
    credential = new_credential(tenant, kind=CredentialKind.TOTP, lookup=None, counter=-1)
    repository.add_credential(credential)
    at = T0 + timedelta(seconds=30)
    assert repository.advance_counter(tenant, credential.id, -1, 58_000_000, at)
    stored = repository.get_credential(tenant, credential.id)
    assert stored is not None
    assert (stored.counter, stored.last_used_at) == (58_000_000, at)
    # Someone else used the step first: the stale expectation loses.
    assert not repository.advance_counter(tenant, credential.id, -1, 58_000_001, at)
    assert not repository.advance_counter(tenant, "missing", -1, 1, at)
    assert repository.advance_counter(tenant, credential.id, 58_000_000, 58_000_001, at)

    repository.revoke_credential(tenant, credential.id, at)
    assert not repository.advance_counter(tenant, credential.id, 58_000_001, 58_000_002, at)
    stored = repository.get_credential(tenant, credential.id)
    assert stored is not None and stored.counter == 58_000_001


# recovery codes


def test_recovery_codes(repository: UserRepository, tenant: str) -> None:
    repository.replace_recovery_codes(tenant, "acct-1", ["h1", "h2", "h3"], T0)
    assert repository.count_recovery_codes(tenant, "acct-1") == 3
    assert repository.use_recovery_code(tenant, "acct-1", "h2", T0)
    assert not repository.use_recovery_code(tenant, "acct-1", "h2", T0)
    assert not repository.use_recovery_code(tenant, "acct-1", "unknown", T0)
    assert not repository.use_recovery_code(tenant, "acct-2", "h1", T0)
    assert repository.count_recovery_codes(tenant, "acct-1") == 2

    repository.replace_recovery_codes(tenant, "acct-1", ["n1", "n2", "n2"], T0)
    assert repository.count_recovery_codes(tenant, "acct-1") == 2
    assert not repository.use_recovery_code(tenant, "acct-1", "h1", T0)
    assert repository.use_recovery_code(tenant, "acct-1", "n1", T0)

    repository.replace_recovery_codes(tenant, "acct-1", [], T0)
    assert repository.count_recovery_codes(tenant, "acct-1") == 0
    assert repository.count_recovery_codes(tenant, "acct-unknown") == 0


def test_replacing_codes_leaves_other_users_alone(repository: UserRepository, tenant: str) -> None:
    repository.replace_recovery_codes(tenant, "acct-1", ["a"], T0)
    repository.replace_recovery_codes(tenant, "acct-2", ["a", "b"], T0)
    repository.replace_recovery_codes(tenant, "acct-1", ["c"], T0)
    assert repository.count_recovery_codes(tenant, "acct-2") == 2
    assert repository.use_recovery_code(tenant, "acct-2", "a", T0)


# nonces


def test_a_nonce_is_accepted_once_per_scope_and_tenant(
    repository: NonceRepository, tenant: str, other_tenant: str
) -> None:
    until = T0 + timedelta(minutes=5)
    assert repository.use_nonce(tenant, "device:d-1", "n-1", until)
    assert not repository.use_nonce(tenant, "device:d-1", "n-1", until)
    assert not repository.use_nonce(tenant, "device:d-1", "n-1", until + timedelta(hours=1))
    assert repository.use_nonce(tenant, "device:d-2", "n-1", until)
    assert repository.use_nonce(other_tenant, "device:d-1", "n-1", until)
    assert repository.use_nonce(tenant, "device:d-1", "n-2", until)


def test_purge_nonces_forgets_only_expired_ones(repository: NonceRepository, tenant: str) -> None:
    # Far in the past, so no other test's nonces are touched by this purge.
    old = datetime(2001, 1, 1, tzinfo=UTC)
    assert repository.use_nonce(tenant, "s", "expired", old)
    assert repository.use_nonce(tenant, "s", "boundary", old + timedelta(minutes=1))
    assert repository.use_nonce(tenant, "s", "fresh", old + timedelta(minutes=2))

    assert repository.purge_nonces(old + timedelta(minutes=1)) >= 1
    assert repository.use_nonce(tenant, "s", "expired", T0)  # forgotten: usable again
    assert not repository.use_nonce(tenant, "s", "boundary", T0)
    assert not repository.use_nonce(tenant, "s", "fresh", T0)


# challenges


def test_challenges_round_trip(repository: ChallengeRepository, tenant: str) -> None:
    step_up = new_challenge(tenant)
    ceremony = new_challenge(
        tenant,
        purpose=ChallengePurpose.PASSKEY_REGISTRATION,
        level=None,
        assessment_id=None,
        binding={},
    )
    finished = new_challenge(
        tenant,
        status=ChallengeStatus.PASSED,
        attempts=2,
        completed_at=T0 + timedelta(seconds=20),
        factors=("passkey", "device"),
        binding={"amount": None, "currency": None, "payee": None},
    )
    for challenge in (step_up, ceremony, finished):
        repository.add_challenge(challenge)
        assert repository.get_challenge(tenant, challenge.id) == challenge
    assert repository.get_challenge(tenant, "missing") is None
    with pytest.raises(Conflict):
        repository.add_challenge(new_challenge(tenant, id=step_up.id))


def test_count_attempt_is_a_compare_and_set(repository: ChallengeRepository, tenant: str) -> None:
    challenge = new_challenge(tenant)
    repository.add_challenge(challenge)
    assert repository.count_attempt(tenant, challenge.id, 0)
    assert not repository.count_attempt(tenant, challenge.id, 0)
    assert repository.count_attempt(tenant, challenge.id, 1)
    assert not repository.count_attempt(tenant, "missing", 0)
    stored = repository.get_challenge(tenant, challenge.id)
    assert stored is not None and stored.attempts == 2

    repository.finish_challenge(tenant, challenge.id, status=ChallengeStatus.FAILED, at=T0)
    assert not repository.count_attempt(tenant, challenge.id, 2)


def test_finish_challenge_once(repository: ChallengeRepository, tenant: str) -> None:
    challenge = new_challenge(tenant)
    repository.add_challenge(challenge)
    at = T0 + timedelta(seconds=40)
    assert repository.finish_challenge(
        tenant, challenge.id, status=ChallengeStatus.PASSED, at=at, factors=["passkey", "totp"]
    )
    assert not repository.finish_challenge(
        tenant, challenge.id, status=ChallengeStatus.FAILED, at=at
    )
    assert not repository.finish_challenge(tenant, "missing", status=ChallengeStatus.PASSED, at=at)
    stored = repository.get_challenge(tenant, challenge.id)
    assert stored is not None
    assert stored.status is ChallengeStatus.PASSED
    assert stored.completed_at == at
    assert stored.factors == ("passkey", "totp")
    with pytest.raises(ValueError, match="pending"):
        repository.finish_challenge(tenant, challenge.id, status=ChallengeStatus.PENDING, at=at)


def test_pending_step_up_is_the_newest_for_the_assessment(
    repository: ChallengeRepository, tenant: str
) -> None:
    assessment = _id("asm")
    older = new_challenge(tenant, assessment_id=assessment)
    newer = new_challenge(tenant, assessment_id=assessment, created_at=T0 + timedelta(minutes=1))
    repository.add_challenge(older)
    # One pending step-up per assessment: a second is refused until the first is settled.
    with pytest.raises(Conflict):
        repository.add_challenge(newer)
    repository.finish_challenge(tenant, older.id, status=ChallengeStatus.FAILED, at=T0)
    repository.add_challenge(newer)
    repository.add_challenge(new_challenge(tenant, created_at=T0 + timedelta(hours=1)))
    repository.add_challenge(
        new_challenge(
            tenant,
            purpose=ChallengePurpose.PASSKEY_LOGIN,
            assessment_id=assessment,
            created_at=T0 + timedelta(hours=1),
        )
    )
    assert repository.pending_step_up(tenant, assessment) == newer
    # Whatever its status.
    repository.finish_challenge(tenant, newer.id, status=ChallengeStatus.FAILED, at=T0)
    found = repository.pending_step_up(tenant, assessment)
    assert found is not None and found.id == newer.id and found.status is ChallengeStatus.FAILED
    assert repository.pending_step_up(tenant, "missing") is None


# sessions


def test_sessions_round_trip_and_lookups(repository: SessionRepository, tenant: str) -> None:
    session = new_session(tenant, level=2)
    repository.add_session(session)
    assert repository.get_session(tenant, session.id) == session
    assert repository.find_session(tenant, session.token_hash) == session
    assert repository.find_session_by_refresh(tenant, session.refresh_hash) == session
    assert repository.get_session(tenant, "missing") is None
    assert repository.find_session(tenant, session.refresh_hash) is None
    assert repository.find_session_by_refresh(tenant, session.token_hash) is None
    with pytest.raises(Conflict):
        repository.add_session(new_session(tenant, token_hash=session.token_hash))
    with pytest.raises(Conflict):
        repository.add_session(new_session(tenant, id=session.id))


def test_touch_session(repository: SessionRepository, tenant: str) -> None:
    session = new_session(tenant)
    repository.add_session(session)
    seen = T0 + timedelta(minutes=10)
    repository.touch_session(tenant, session.id, seen, seen + timedelta(minutes=30))
    stored = repository.get_session(tenant, session.id)
    assert stored is not None
    assert (stored.last_seen_at, stored.idle_expires_at) == (seen, seen + timedelta(minutes=30))
    # An older touch arriving late does not move the clock back.
    repository.touch_session(tenant, session.id, T0, T0 + timedelta(minutes=30))
    assert repository.get_session(tenant, session.id) == stored


def test_rotate_session_is_a_compare_and_set(repository: SessionRepository, tenant: str) -> None:
    session = new_session(tenant)
    repository.add_session(session)
    later = T0 + timedelta(minutes=20)
    rotated = {
        "token_hash": "t2" * 32,
        "refresh_hash": "r2" * 32,
        "last_seen_at": later,
        "idle_expires_at": later + timedelta(minutes=30),
    }
    assert repository.rotate_session(
        tenant, session.id, expected_refresh_hash=session.refresh_hash, **rotated
    )
    # The old refresh token, used a second time, loses.
    assert not repository.rotate_session(
        tenant,
        session.id,
        expected_refresh_hash=session.refresh_hash,
        token_hash="t3" * 32,
        refresh_hash="r3" * 32,
        last_seen_at=later,
        idle_expires_at=later,
    )
    stored = repository.get_session(tenant, session.id)
    assert stored is not None
    assert (stored.token_hash, stored.refresh_hash) == ("t2" * 32, "r2" * 32)
    assert stored.last_seen_at == later
    assert repository.find_session(tenant, session.token_hash) is None
    # The replaced refresh token still finds the session, marked as the previous one, so a
    # reuse can be told from a use.
    assert stored is not None and stored.previous_refresh_hash == session.refresh_hash
    assert repository.find_session_by_refresh(tenant, session.refresh_hash) == stored
    assert repository.find_session_by_refresh(tenant, "r2" * 32) == stored

    assert repository.revoke_session(tenant, session.id, later, "logout")
    assert not repository.rotate_session(
        tenant,
        session.id,
        expected_refresh_hash="r2" * 32,
        token_hash="t4" * 32,
        refresh_hash="r4" * 32,
        last_seen_at=later,
        idle_expires_at=later,
    )


def test_revoke_session(repository: SessionRepository, tenant: str) -> None:
    session = new_session(tenant)
    repository.add_session(session)
    at = T0 + timedelta(hours=1)
    assert repository.revoke_session(tenant, session.id, at, "logout")
    assert not repository.revoke_session(tenant, session.id, at + timedelta(hours=1), "again")
    assert not repository.revoke_session(tenant, "missing", at, "logout")
    stored = repository.find_session(tenant, session.token_hash)
    assert stored is not None
    assert (stored.revoked_at, stored.revoked_reason) == (at, "logout")


def test_revoke_user_sessions_leaves_other_users_alone(
    repository: SessionRepository, tenant: str
) -> None:
    mine = [
        new_session(tenant, user_id="acct-1", created_at=T0 + timedelta(minutes=i))
        for i in range(3)
    ]
    theirs = new_session(tenant, user_id="acct-2")
    for session in (*mine, theirs):
        repository.add_session(session)
    repository.revoke_session(tenant, mine[0].id, T0, "logout")

    at = T0 + timedelta(hours=1)
    assert repository.revoke_user_sessions(tenant, "acct-1", at, "password_changed") == 2
    assert repository.revoke_user_sessions(tenant, "acct-1", at, "password_changed") == 0
    listed = repository.list_sessions(tenant, "acct-1")
    assert [s.id for s in listed] == [s.id for s in reversed(mine)]  # newest first
    assert [s.revoked_reason for s in listed] == ["password_changed", "password_changed", "logout"]
    assert repository.get_session(tenant, theirs.id) == theirs
    assert repository.list_sessions(tenant, "acct-2") == [theirs]


# throttles


def test_failures_lock_at_the_threshold_and_clear(
    repository: ThrottleRepository, tenant: str
) -> None:
    key = "account:acct-1"
    assert repository.get_throttle(tenant, key) == Throttle(key)
    states = [
        repository.record_failure(
            tenant, key, T0 + timedelta(seconds=i), threshold=5, lock_seconds=300
        )
        for i in range(5)
    ]
    assert [s.failures for s in states] == [1, 2, 3, 4, 5]
    assert all(s.locked_until is None for s in states[:4])
    fifth = T0 + timedelta(seconds=4)
    assert states[4] == Throttle(key, 5, fifth, fifth + timedelta(seconds=300))
    assert repository.get_throttle(tenant, key) == states[4]

    # The lock stays until the next multiple of the threshold moves it.
    sixth = repository.record_failure(
        tenant, key, T0 + timedelta(minutes=10), threshold=5, lock_seconds=300
    )
    assert sixth.failures == 6 and sixth.locked_until == states[4].locked_until

    repository.clear_failures(tenant, key)
    assert repository.get_throttle(tenant, key) == Throttle(key)
    assert repository.record_failure(tenant, key, T0, threshold=5, lock_seconds=300).failures == 1


def test_a_threshold_of_one_locks_at_the_first_failure(
    repository: ThrottleRepository, tenant: str
) -> None:
    state = repository.record_failure(tenant, "ip:10.0.0.1", T0, threshold=1, lock_seconds=1.5)
    assert state.locked_until == T0 + timedelta(seconds=1.5)


# tenant isolation


def test_another_tenant_sees_nothing(
    repository: SqlAuthRepository, tenant: str, other_tenant: str
) -> None:
    user = new_user(tenant)
    credential = new_credential(tenant, user_id=user.user_id, kind=CredentialKind.DEVICE)
    challenge = new_challenge(tenant, user_id=user.user_id)
    session = new_session(tenant, user_id=user.user_id)
    repository.add_user(user)
    repository.add_credential(credential)
    repository.add_challenge(challenge)
    repository.add_session(session)
    repository.replace_recovery_codes(tenant, user.user_id, ["h1"], T0)
    repository.record_failure(tenant, "account:x", T0, threshold=1, lock_seconds=60)
    at = T0 + timedelta(minutes=1)
    uid, other = user.user_id, other_tenant

    assert repository.get_user(other, uid) is None
    assert repository.get_credential(other, credential.id) is None
    assert repository.find_credential(other, credential.kind, credential.lookup or "") is None
    assert repository.list_credentials(other, uid, include_revoked=True) == []
    assert not repository.confirm_credential(other, credential.id, at)
    assert not repository.advance_counter(other, credential.id, 0, 1, at)
    assert not repository.revoke_credential(other, credential.id, at)
    assert repository.count_recovery_codes(other, uid) == 0
    assert not repository.use_recovery_code(other, uid, "h1", at)
    assert repository.get_challenge(other, challenge.id) is None
    assert repository.pending_step_up(other, challenge.assessment_id or "") is None
    assert not repository.count_attempt(other, challenge.id, 0)
    assert not repository.finish_challenge(
        other, challenge.id, status=ChallengeStatus.PASSED, at=at
    )
    assert repository.get_session(other, session.id) is None
    assert repository.find_session(other, session.token_hash) is None
    assert repository.find_session_by_refresh(other, session.refresh_hash) is None
    assert repository.list_sessions(other, uid) == []
    repository.touch_session(other, session.id, at, at)
    assert not repository.rotate_session(
        other,
        session.id,
        expected_refresh_hash=session.refresh_hash,
        token_hash="x",
        refresh_hash="y",
        last_seen_at=at,
        idle_expires_at=at,
    )
    assert not repository.revoke_session(other, session.id, at, "x")
    assert repository.revoke_user_sessions(other, uid, at, "x") == 0
    assert repository.get_throttle(other, "account:x") == Throttle("account:x")
    repository.clear_failures(other, "account:x")
    repository.replace_recovery_codes(other, uid, [], at)

    # And the first tenant's records are untouched by all of that.
    assert repository.get_user(tenant, uid) == user
    assert repository.get_credential(tenant, credential.id) == credential
    assert repository.get_challenge(tenant, challenge.id) == challenge
    assert repository.get_session(tenant, session.id) == session
    assert repository.count_recovery_codes(tenant, uid) == 1
    assert repository.get_throttle(tenant, "account:x").failures == 1


# races


def test_racing_counter_advances_let_one_win(repository: SqlAuthRepository, tenant: str) -> None:
    credential = new_credential(tenant, kind=CredentialKind.TOTP, lookup=None, counter=-1)
    repository.add_credential(credential)
    won = race(lambda i: repository.advance_counter(tenant, credential.id, -1, 100 + i, T0))
    assert won.count(True) == 1
    stored = repository.get_credential(tenant, credential.id)
    assert stored is not None and stored.counter == 100 + won.index(True)


def test_racing_nonce_uses_let_one_win(repository: SqlAuthRepository, tenant: str) -> None:
    won = race(lambda _: repository.use_nonce(tenant, "device:d-1", "n-1", T0))
    assert won.count(True) == 1


def test_racing_recovery_code_uses_let_one_win(repository: SqlAuthRepository, tenant: str) -> None:
    repository.replace_recovery_codes(tenant, "acct-1", ["h1", "h2"], T0)
    won = race(lambda _: repository.use_recovery_code(tenant, "acct-1", "h1", T0))
    assert won.count(True) == 1
    assert repository.count_recovery_codes(tenant, "acct-1") == 1


def test_racing_challenge_finishes_let_one_win(repository: SqlAuthRepository, tenant: str) -> None:
    challenge = new_challenge(tenant)
    repository.add_challenge(challenge)
    statuses = [ChallengeStatus.PASSED, ChallengeStatus.FAILED]
    won = race(
        lambda i: repository.finish_challenge(
            tenant, challenge.id, status=statuses[i % 2], at=T0, factors=[f"f{i}"]
        )
    )
    assert won.count(True) == 1
    winner = won.index(True)
    stored = repository.get_challenge(tenant, challenge.id)
    assert stored is not None
    assert (stored.status, stored.factors) == (statuses[winner % 2], (f"f{winner}",))


def test_racing_failures_are_all_counted(repository: SqlAuthRepository, tenant: str) -> None:
    states = race(
        lambda _: repository.record_failure(
            tenant, "account:acct-1", T0, threshold=5, lock_seconds=60
        )
    )
    assert sorted(s.failures for s in states) == list(range(1, RACERS + 1))
    final = repository.get_throttle(tenant, "account:acct-1")
    assert final.failures == RACERS
    assert final.locked_until == T0 + timedelta(seconds=60)


# housekeeping: every tenant's old rows (dated long ago here, so that the purge cannot touch
# what other tests keep in the shared database)

ANCIENT = datetime(2001, 1, 1, tzinfo=UTC)


def test_purge_removes_only_expired_challenges_and_ended_sessions(
    repository: SqlAuthRepository, tenant: str
) -> None:
    old = new_challenge(tenant, created_at=ANCIENT, expires_at=ANCIENT + timedelta(minutes=5))
    fresh = new_challenge(tenant, created_at=ANCIENT, expires_at=ANCIENT + timedelta(days=400))
    repository.add_challenge(old)
    repository.add_challenge(fresh)
    ended = new_session(
        tenant, created_at=ANCIENT, absolute_expires_at=ANCIENT + timedelta(hours=12)
    )
    revoked = new_session(
        tenant, created_at=ANCIENT, absolute_expires_at=ANCIENT + timedelta(days=400)
    )
    live = new_session(
        tenant, created_at=ANCIENT, absolute_expires_at=ANCIENT + timedelta(days=400)
    )
    for session in (ended, revoked, live):
        repository.add_session(session)
    repository.revoke_session(tenant, revoked.id, ANCIENT + timedelta(hours=1), "test")
    cutoff = ANCIENT + timedelta(days=30)

    assert repository.purge_challenges(cutoff) >= 1
    assert repository.purge_sessions(cutoff) >= 2

    assert repository.get_challenge(tenant, old.id) is None
    assert repository.get_challenge(tenant, fresh.id) is not None
    assert repository.get_session(tenant, ended.id) is None
    assert repository.get_session(tenant, revoked.id) is None
    assert repository.get_session(tenant, live.id) is not None


# ports


@pytest.mark.parametrize("port", PORTS, ids=lambda port: port.__name__)
def test_the_sql_repository_implements_every_method_of_the_port(port: type) -> None:
    methods = [
        name for name, _ in inspect.getmembers(port, inspect.isfunction) if not name.startswith("_")
    ]
    assert methods and all(hasattr(SqlAuthRepository, name) for name in methods)
    for name in methods:
        declared = inspect.signature(getattr(port, name))
        implemented = inspect.signature(getattr(SqlAuthRepository, name))
        assert list(implemented.parameters) == list(declared.parameters), name


def test_the_exemption_counters_belong_to_no_auth_port() -> None:
    for port in PORTS:
        assert not [name for name in dir(port) if "exemption" in name], port.__name__
