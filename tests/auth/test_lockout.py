"""Lockout on its own port (`ThrottleRepository`): locks at the threshold, per-kind
forgiveness, the address lock, and what each failure tells the audit log, the bus and the
engine."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from payguard.adapters.sql.auth import SqlAuthRepository
from payguard.audit.interfaces import Actor, AuditAction, AuditOutcome
from payguard.auth.factors import FactorKind
from payguard.auth.interfaces import Context
from payguard.auth.lockout import Lockout
from payguard.auth.policy import AuthPolicy
from payguard.core.bus import AUTH_FAILED
from payguard.core.clock import FrozenClock
from payguard.core.errors import Locked
from payguard.services import Services

TENANT = "t-1"
USER = "acct-1"
PARTNER = Actor("partner", source_ip="192.0.2.1")
CTX = Context(actor=PARTNER, user_ip="203.0.113.9", device_id="dev-9")
POLICY = AuthPolicy(lockout_threshold=3, lockout_seconds=60, ip_lockout_threshold=4)


class Signals:
    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def login_failed(self, tenant_id: str, user_id: str, **details: Any) -> None:
        self.calls.append({"tenant_id": tenant_id, "user_id": user_id, **details})


@pytest.fixture
def signals() -> Signals:
    return Signals()


@pytest.fixture
def lockout(services: Services, clock: FrozenClock, signals: Signals) -> Lockout:
    return Lockout(
        SqlAuthRepository(services.engine),
        audit=services.audit,
        bus=services.bus,
        clock=clock,
        policy=POLICY,
        signals=signals,
    )


def fail(lockout: Lockout, kind: FactorKind = FactorKind.PASSWORD, user: str = USER) -> None:
    lockout.record_failure(TENANT, user, kind, "wrong", CTX)


def test_the_account_locks_at_the_threshold_until_lock_seconds_pass(
    lockout: Lockout, clock: FrozenClock
) -> None:
    for _ in range(POLICY.lockout_threshold - 1):
        fail(lockout)
    assert lockout.check(TENANT, USER, CTX) == 2
    assert lockout.locked_until(TENANT, USER) is None

    fail(lockout)

    assert lockout.locked_until(TENANT, USER) == clock.now() + timedelta(seconds=60)
    with pytest.raises(Locked) as locked:
        lockout.check(TENANT, USER, CTX)
    assert locked.value.retry_after == 60 and "account" in locked.value.message
    clock.advance(timedelta(seconds=60))
    assert lockout.check(TENANT, USER, CTX) == POLICY.lockout_threshold


def test_a_success_forgives_only_the_kinds_that_passed(lockout: Lockout) -> None:
    fail(lockout, FactorKind.TOTP)
    fail(lockout, FactorKind.PASSWORD)

    lockout.forgive(TENANT, USER, {FactorKind.PASSWORD})
    assert lockout.failures(TENANT, USER) == 2  # the TOTP guess still counts

    lockout.forgive(TENANT, USER, {FactorKind.TOTP})
    assert lockout.failures(TENANT, USER) == 0


def test_failures_from_one_address_lock_it_for_every_account(lockout: Lockout) -> None:
    for user in ("a-1", "a-2", "a-3", "a-4"):
        fail(lockout, user=user)
    with pytest.raises(Locked) as locked:
        lockout.check(TENANT, "a-5", CTX)
    assert "address" in locked.value.message
    assert lockout.check(TENANT, "a-5", Context(actor=PARTNER)) == 0


def test_each_failure_is_audited_published_and_signalled(
    services: Services, lockout: Lockout, signals: Signals
) -> None:
    published: list[dict[str, Any]] = []
    services.bus.subscribe(AUTH_FAILED, lambda _s, m: published.append(m), durable="test")
    for _ in range(POLICY.lockout_threshold):
        fail(lockout, FactorKind.TOTP)

    failures = services.audit.list(tenant_id=TENANT, action=AuditAction.AUTH_FAILURE)
    assert len(failures) == 3
    newest = failures[0]
    assert (newest.actor, newest.source_ip, newest.target, newest.outcome) == (
        "partner",
        "192.0.2.1",
        f"user:{USER}",
        AuditOutcome.FAILURE,
    )
    assert newest.details == {
        "factor": "totp",
        "reason": "wrong",
        "failures": 3,
        "user_ip": "203.0.113.9",
    }
    (locked,) = services.audit.list(tenant_id=TENANT, action=AuditAction.AUTH_LOCKED)
    assert (locked.target, locked.outcome) == (f"account:{USER}", AuditOutcome.DENIED)
    assert locked.details == {"failures": 3, "seconds": 60, "factor": "totp"}

    services.bus.flush()
    assert [(m["failures"], m["locked"]) for m in published] == [(1, False), (2, False), (3, True)]

    assert signals.calls[-1] == {
        "tenant_id": TENANT,
        "user_id": USER,
        "method": "totp",
        "reason": "wrong",
        "ip": "203.0.113.9",
        "device_id": "dev-9",
    }
