"""Parallel wrong guesses never get more checks than the lockout threshold (issue 13: with 4
workers, 8 of 40 parallel wrong passwords were checked against a threshold of 5).

Each attempt is counted in the store before its password is checked. The tests hold every
password check at a gate until each of the attempts has either reached a check or been
refused: had the lockout let more than the threshold through, they would all be at the gate
together and the count would show it. Nothing here depends on timing.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from tests.auth.conftest import SettingsFactory

from payguard.adapters.sql.auth import SqlAuthRepository
from payguard.api.errors import STATUS
from payguard.audit.interfaces import Actor, AuditAction
from payguard.auth.factors import FactorKind, Passed, Proof
from payguard.auth.interfaces import Context
from payguard.auth.service import AuthService
from payguard.auth.verifiers.password_verifier import PasswordVerifier
from payguard.core.clock import FrozenClock
from payguard.core.errors import FactorRejected, Locked
from payguard.services import Services, build_services

PASSWORD = "correct horse battery staple"
USER = "acct-1"
PARTNER = Actor("partner", source_ip="192.0.2.1")
THRESHOLD = 5
ATTEMPTS = 40


class Gate:
    """Holds each password check until all `expected` attempts have either reached a check
    or been refused by the lockout."""

    def __init__(self, expected: int) -> None:
        self.expected = expected
        self.checked = 0
        self.refused = 0
        self._cond = threading.Condition()

    def _all_in(self) -> bool:
        return self.checked + self.refused == self.expected

    def arrive(self) -> None:
        with self._cond:
            self.checked += 1
            self._cond.notify_all()
            # The timeout only turns a hang into a failure; a passing run never waits on it.
            assert self._cond.wait_for(self._all_in, timeout=120), "attempts went missing"

    def refuse(self) -> None:
        with self._cond:
            self.refused += 1
            self._cond.notify_all()


@pytest.fixture
def gate(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[int], Gate]]:
    """Install a gate in front of every password check (of every deployment here)."""
    installed: list[Gate] = []
    original = PasswordVerifier.verify

    def gated(self: PasswordVerifier, *args: Any, **kwargs: Any) -> Passed:
        installed[-1].arrive()
        return original(self, *args, **kwargs)

    monkeypatch.setattr(PasswordVerifier, "verify", gated)

    def install(expected: int) -> Gate:
        installed.append(Gate(expected))
        return installed[-1]

    yield install


def tenant_of(services: Services) -> str:
    made, _ = services.tenants.create_tenant("acme", actor=Actor.system("test"))
    return made.id


def guess_in_parallel(
    gate: Gate, attempts: list[tuple[AuthService, str, Context]], tenant: str
) -> Counter[str]:
    """Fire every (service, user, context) wrong guess at once; how each one ended."""
    start = threading.Barrier(len(attempts))

    def guess(attempt: tuple[AuthService, str, Context]) -> str:
        auth, user, context = attempt
        start.wait()
        proof = Proof(FactorKind.PASSWORD, secret="wrong password")
        try:
            auth.verify(tenant, user, [proof], context=context)
        except FactorRejected:
            return "rejected"
        except Locked as locked:
            assert locked.retry_after and locked.retry_after > 0
            gate.refuse()
            return "locked"
        return "passed"

    with ThreadPoolExecutor(max_workers=len(attempts)) as pool:
        return Counter(pool.map(guess, attempts))


def assert_at_most_threshold_checked(
    services: Services, tenant: str, gate: Gate, outcomes: Counter[str], threshold: int
) -> None:
    assert gate.checked == threshold
    assert outcomes == {"rejected": threshold, "locked": ATTEMPTS - threshold}
    failures = services.audit.list(tenant_id=tenant, action=AuditAction.AUTH_FAILURE)
    assert len(failures) == threshold
    assert services.audit.list(tenant_id=tenant, action=AuditAction.AUTH_LOCKED)
    # The refused ones answer like any locked account: 429 with Retry-After.
    assert STATUS[Locked] == 429


@pytest.fixture
def services(auth_settings: SettingsFactory, clock: FrozenClock) -> Iterator[Services]:
    built = build_services(
        auth_settings(lockout_threshold=THRESHOLD, ip_lockout_threshold=THRESHOLD), clock=clock
    )
    yield built
    built.close()


def test_parallel_wrong_passwords_on_one_account_get_at_most_threshold_checks(
    services: Services, gate: Callable[[int], Gate]
) -> None:
    tenant = tenant_of(services)
    auth = services.auth
    auth.create_user(tenant, USER, password=PASSWORD, context=Context(actor=PARTNER))
    held = gate(ATTEMPTS)
    context = Context(actor=PARTNER)  # no user IP: only the account's own count locks
    outcomes = guess_in_parallel(held, [(auth, USER, context)] * ATTEMPTS, tenant)

    assert_at_most_threshold_checked(services, tenant, held, outcomes, THRESHOLD)
    assert auth.failures(tenant, USER) == THRESHOLD
    assert auth.locked_until(tenant, USER) is not None


def test_parallel_wrong_passwords_from_one_address_get_at_most_its_threshold(
    services: Services, gate: Callable[[int], Gate]
) -> None:
    tenant = tenant_of(services)
    auth = services.auth
    users = [f"acct-{n}" for n in range(ATTEMPTS)]
    for user in users:
        auth.create_user(tenant, user, password=PASSWORD, context=Context(actor=PARTNER))
    held = gate(ATTEMPTS)
    context = Context(actor=PARTNER, user_ip="203.0.113.9")
    outcomes = guess_in_parallel(held, [(auth, user, context) for user in users], tenant)

    assert_at_most_threshold_checked(services, tenant, held, outcomes, THRESHOLD)
    # The accounts refused by the address lock were not counted against.
    assert sum(auth.failures(tenant, user) for user in users) == THRESHOLD


def test_parallel_wrong_passwords_on_separate_postgres_connections(
    postgres_own_url: str,
    auth_settings: SettingsFactory,
    clock: FrozenClock,
    gate: Callable[[int], Gate],
) -> None:
    """Eight deployments (each its own engine and connections, as separate workers would
    be) share one PostgreSQL schema; five guesses from each."""
    settings = auth_settings(
        database_url=postgres_own_url,
        lockout_threshold=THRESHOLD,
        ip_lockout_threshold=THRESHOLD,
    )
    workers = [build_services(settings, clock=clock) for _ in range(8)]
    try:
        tenant = tenant_of(workers[0])
        workers[0].auth.create_user(tenant, USER, password=PASSWORD, context=Context(actor=PARTNER))
        held = gate(ATTEMPTS)
        context = Context(actor=PARTNER, user_ip="203.0.113.9")
        attempts = [(workers[n % len(workers)].auth, USER, context) for n in range(ATTEMPTS)]
        outcomes = guess_in_parallel(held, attempts, tenant)

        assert_at_most_threshold_checked(workers[0], tenant, held, outcomes, THRESHOLD)
        assert workers[3].auth.failures(tenant, USER) == THRESHOLD
    finally:
        for worker in workers:
            worker.close()


def test_a_success_gives_its_slot_back(services: Services) -> None:
    """The attempt counted before the check is given back when the password is right, so
    successes never lock an account nor use up the address's allowance."""
    tenant = tenant_of(services)
    auth = services.auth
    auth.create_user(tenant, USER, password=PASSWORD, context=Context(actor=PARTNER))
    context = Context(actor=PARTNER, user_ip="203.0.113.9")
    for _ in range(THRESHOLD * 2):
        auth.verify(tenant, USER, [Proof(FactorKind.PASSWORD, secret=PASSWORD)], context=context)
    assert auth.failures(tenant, USER) == 0
    for _ in range(THRESHOLD - 1):
        with pytest.raises(FactorRejected):
            auth.verify(tenant, USER, [Proof(FactorKind.PASSWORD, secret="nope")], context=context)
    # The last slot before the lock: a right password takes it, gives it back, and resets.
    auth.verify(tenant, USER, [Proof(FactorKind.PASSWORD, secret=PASSWORD)], context=context)
    assert auth.failures(tenant, USER) == 0
    assert auth.locked_until(tenant, USER) is None


# -- the port: reserve and release ----------------------------------------------------------


@pytest.fixture(params=["sqlite", "postgres"])
def throttles(
    request: pytest.FixtureRequest, auth_settings: SettingsFactory, clock: FrozenClock
) -> Iterator[SqlAuthRepository]:
    overrides = {}
    if request.param == "postgres":
        overrides["database_url"] = request.getfixturevalue("postgres_own_url")
    built = build_services(auth_settings(**overrides), clock=clock)
    yield SqlAuthRepository(built.engine)
    built.close()


T0 = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


def test_a_reservation_counts_locks_at_the_threshold_and_is_refused_while_locked(
    throttles: SqlAuthRepository,
) -> None:
    key = "account:a"
    states = [
        throttles.reserve_attempt("t", key, T0, threshold=3, lock_seconds=60) for _ in range(3)
    ]
    assert [s.failures if s else None for s in states] == [1, 2, 3]
    assert states[-1] is not None and states[-1].locked_until == T0 + timedelta(seconds=60)
    assert throttles.reserve_attempt("t", key, T0, threshold=3, lock_seconds=60) is None
    assert throttles.get_throttle("t", key).failures == 3  # a refusal counts nothing
    later = T0 + timedelta(seconds=60)
    fourth = throttles.reserve_attempt("t", key, later, threshold=3, lock_seconds=60)
    assert fourth is not None and fourth.failures == 4
    # Per tenant: another tenant's key of the same name is untouched.
    assert throttles.get_throttle("u", key).failures == 0


def test_releasing_the_slot_that_locked_lifts_its_lock(throttles: SqlAuthRepository) -> None:
    key = "ip:203.0.113.9"
    for _ in range(2):
        throttles.reserve_attempt("t", key, T0, threshold=3, lock_seconds=60)
    last = throttles.reserve_attempt("t", key, T0, threshold=3, lock_seconds=60)
    assert last is not None and last.locked_until is not None

    throttles.release_attempt("t", key, lock=last.locked_until)

    after = throttles.get_throttle("t", key)
    assert (after.failures, after.locked_until) == (2, None)


def test_releasing_another_slot_keeps_the_lock_and_never_goes_below_zero(
    throttles: SqlAuthRepository,
) -> None:
    key = "account:b"
    for _ in range(3):
        throttles.reserve_attempt("t", key, T0, threshold=3, lock_seconds=60)
    until = T0 + timedelta(seconds=60)
    throttles.release_attempt("t", key, lock=None)  # a slot that did not set the lock
    assert throttles.get_throttle("t", key).locked_until == until
    throttles.release_attempt("t", key, lock=until - timedelta(seconds=1))  # not this lock
    assert throttles.get_throttle("t", key).locked_until == until
    for _ in range(3):
        throttles.release_attempt("t", key, lock=None)
    assert throttles.get_throttle("t", key).failures == 0
    throttles.release_attempt("t", "account:none", lock=None)  # no row: nothing happens
    assert throttles.get_throttle("t", "account:none").failures == 0


def test_a_rejected_attempt_keeps_its_slots_on_the_account_and_the_address(
    services: Services,
) -> None:
    tenant = tenant_of(services)
    auth = services.auth
    auth.create_user(tenant, USER, password=PASSWORD, context=Context(actor=PARTNER))
    context = Context(actor=PARTNER, user_ip="203.0.113.9")
    with pytest.raises(FactorRejected):
        auth.verify(tenant, USER, [Proof(FactorKind.PASSWORD, secret="nope")], context=context)
    assert auth.failures(tenant, USER) == 1
    repository = SqlAuthRepository(services.engine)
    assert repository.get_throttle(tenant, "ip:203.0.113.9").failures == 1
