"""Brute-force defence: consecutive failures per account and per end-user address, and the
locks they earn.

Every failure is counted against the account and the user's IP address (5 consecutive
failures lock the account for 15 minutes by default), audited, published on the bus and
fed to the decision engine (`FailureSignals`). Each factor kind also keeps its own count,
which never locks by itself: it only stops a success of another kind from forgiving it.

An attempt is counted *before* its proof is checked (`reserve`): one atomic statement in the
shared store takes a slot of the account's and of the address's allowance, and refuses when
the key is locked; the slot that reaches the threshold sets the lock. So however many workers
or processes check proofs in parallel, at most `threshold` of them are ever checked before
the lock. A success gives the slot back (`passed`), a rejected proof keeps it (`failed`), and
a fault of ours (the store or a sealed secret unavailable) gives it back without blame
(`abandon`). A worker that dies mid-check leaves its slot counted: it fails closed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from payguard.audit.interfaces import AuditAction, AuditWriter
from payguard.auth.factors import FactorKind
from payguard.auth.interfaces import Context, FailureSignals, Throttle, ThrottleRepository
from payguard.auth.policy import AuthPolicy
from payguard.core.bus import AUTH_FAILED, EventBus
from payguard.core.clock import Clock
from payguard.core.errors import Locked
from payguard.core.ip import canonical_address

#: A threshold no factor kind's own count ever reaches: those counters never lock.
_NEVER = 2**31 - 1


def account_key(user_id: str) -> str:
    return f"account:{user_id}"


def factor_key(user_id: str, kind: FactorKind) -> str:
    """The failures of one factor kind of an account (they never lock by themselves; the
    account's own count does)."""
    return f"account:{user_id}:{kind.value}"


def address_key(ip: str) -> str:
    """The failures of one end-user address, whichever way it is written (`::ffff:a.b.c.d`
    and `a.b.c.d` share one count)."""
    try:
        return f"ip:{canonical_address(ip)}"
    except ValueError:
        return f"ip:{ip}"


@dataclass(frozen=True, slots=True)
class Attempt:
    """One authentication attempt holding a slot of the account's allowance (and of its
    address's, when the partner passed the user's IP). Settle it exactly once:
    `Lockout.passed`, `Lockout.failed` or `Lockout.abandon`."""

    tenant_id: str
    user_id: str
    at: datetime
    #: The account's key as the reservation left it (this attempt already counted).
    account: Throttle
    #: The address's key as the reservation left it; None without a user IP.
    address: Throttle | None = None

    @property
    def failures(self) -> int:
        """The account's consecutive failures before this attempt."""
        return self.account.failures - 1


class Lockout:
    """Counts failures, refuses locked accounts and addresses, forgives on success."""

    def __init__(
        self,
        throttles: ThrottleRepository,
        *,
        audit: AuditWriter,
        bus: EventBus,
        clock: Clock,
        policy: AuthPolicy,
        signals: FailureSignals | None = None,
    ) -> None:
        self._throttles = throttles
        self._audit = audit
        self._bus = bus
        self._clock = clock
        self._policy = policy
        self._signals = signals

    def check(self, tenant_id: str, user_id: str, context: Context) -> int:
        """Raise `Locked` if the account or the user's address is locked; else the
        account's consecutive failures so far."""
        now = self._clock.now()
        failures = 0
        keys = [account_key(user_id)]
        if context.user_ip:
            keys.append(address_key(context.user_ip))
        for key in keys:
            throttle = self._throttles.get_throttle(tenant_id, key)
            if key.startswith("account:"):
                failures = throttle.failures
            if throttle.locked_until is not None and throttle.locked_until > now:
                wait = math.ceil((throttle.locked_until - now).total_seconds())
                what = "account" if key.startswith("account:") else "address"
                raise Locked(
                    f"this {what} is locked after repeated failures; retry in {wait} s",
                    retry_after=wait,
                )
        return failures

    def reserve(self, tenant_id: str, user_id: str, context: Context) -> Attempt:
        """Count an attempt against the account and the user's address before its proof is
        checked; `Locked` (counting nothing) if either is locked. Atomic in the store, so
        parallel attempts on any number of workers never exceed the threshold."""
        now = self._clock.now()
        policy = self._policy
        account = self._throttles.reserve_attempt(
            tenant_id,
            account_key(user_id),
            now,
            threshold=policy.lockout_threshold,
            lock_seconds=policy.lockout_seconds,
        )
        if account is None:
            raise self._refusal(tenant_id, account_key(user_id), now)
        address = None
        if context.user_ip:
            key = address_key(context.user_ip)
            address = self._throttles.reserve_attempt(
                tenant_id,
                key,
                now,
                threshold=policy.ip_lockout_threshold,
                lock_seconds=policy.lockout_seconds,
            )
            if address is None:
                self._release(tenant_id, account, now)
                raise self._refusal(tenant_id, key, now)
        return Attempt(tenant_id, user_id, now, account, address)

    def passed(self, attempt: Attempt, kinds: set[FactorKind]) -> None:
        """The attempt's proofs passed: give its slots back, then forgive the kinds that
        passed (`forgive`)."""
        self.abandon(attempt)
        if attempt.failures:
            self.forgive(attempt.tenant_id, attempt.user_id, kinds)

    def abandon(self, attempt: Attempt) -> None:
        """The attempt could not be judged (a fault of ours, not the user's): give its slots
        back, counting nothing."""
        self._release(attempt.tenant_id, attempt.account, attempt.at)
        if attempt.address is not None:
            self._release(attempt.tenant_id, attempt.address, attempt.at)

    def failed(self, attempt: Attempt, kind: FactorKind, reason: str, context: Context) -> None:
        """The attempt's proof of `kind` was rejected: its slots stay counted; audit,
        publish and signal it like `record_failure`."""
        tenant_id, user_id, now = attempt.tenant_id, attempt.user_id, attempt.at
        self._throttles.record_failure(
            tenant_id, factor_key(user_id, kind), now, threshold=_NEVER, lock_seconds=0
        )
        self._report(tenant_id, user_id, kind, reason, context, attempt.account, attempt.address)

    def forgive(self, tenant_id: str, user_id: str, kinds: set[FactorKind]) -> None:
        """After a success: forget the failures of the kinds that just passed, and reset
        the account's count only when no other kind still has failures. Knowing the
        password must not reset the count of TOTP guesses."""
        outstanding = False
        for kind in FactorKind:
            key = factor_key(user_id, kind)
            if not self._throttles.get_throttle(tenant_id, key).failures:
                continue
            if kind in kinds:
                self._throttles.clear_failures(tenant_id, key)
            else:
                outstanding = True
        if not outstanding:
            self._throttles.clear_failures(tenant_id, account_key(user_id))

    def failures(self, tenant_id: str, user_id: str) -> int:
        """The account's consecutive failures (over every factor kind)."""
        return self._throttles.get_throttle(tenant_id, account_key(user_id)).failures

    def locked_until(self, tenant_id: str, user_id: str) -> datetime | None:
        """When the account's lock ends, if it is locked now."""
        until = self._throttles.get_throttle(tenant_id, account_key(user_id)).locked_until
        return until if until is not None and until > self._clock.now() else None

    def record_failure(
        self, tenant_id: str, user_id: str, kind: FactorKind, reason: str, context: Context
    ) -> None:
        """Count, audit, publish and signal a failed authentication of the user."""
        now = self._clock.now()
        policy = self._policy
        throttle = self._throttles.record_failure(
            tenant_id,
            account_key(user_id),
            now,
            threshold=policy.lockout_threshold,
            lock_seconds=policy.lockout_seconds,
        )
        # Which kinds failed, so that a success of another kind does not forgive them.
        self._throttles.record_failure(
            tenant_id, factor_key(user_id, kind), now, threshold=_NEVER, lock_seconds=0
        )
        by_ip = None
        if context.user_ip:
            by_ip = self._throttles.record_failure(
                tenant_id,
                address_key(context.user_ip),
                now,
                threshold=policy.ip_lockout_threshold,
                lock_seconds=policy.lockout_seconds,
            )
        self._report(tenant_id, user_id, kind, reason, context, throttle, by_ip)

    def _report(
        self,
        tenant_id: str,
        user_id: str,
        kind: FactorKind,
        reason: str,
        context: Context,
        throttle: Throttle,
        by_ip: Throttle | None,
    ) -> None:
        """Audit, publish and signal a failure already counted (`throttle`: the account's
        new state, `by_ip`: the address's)."""
        now = self._clock.now()
        policy = self._policy
        locked = throttle.locked_until is not None and throttle.locked_until > now
        if by_ip is not None and by_ip.locked_until is not None and by_ip.locked_until > now:
            self._audit_locked(tenant_id, by_ip.key, by_ip.failures, context)
        details = {
            "factor": kind.value,
            "reason": reason,
            "failures": throttle.failures,
            "user_ip": context.user_ip,
        }
        target = f"user:{user_id}"
        self._audit.failure(
            AuditAction.AUTH_FAILURE, context.actor, target, tenant_id=tenant_id, details=details
        )
        if locked and throttle.failures % policy.lockout_threshold == 0:
            self._audit_locked(tenant_id, account_key(user_id), throttle.failures, context, kind)
        self._bus.publish(
            AUTH_FAILED,
            {
                "tenant_id": tenant_id,
                "user_id": user_id,
                "factor": kind.value,
                "failures": throttle.failures,
                "locked": locked,
            },
        )
        if self._signals is not None:
            self._signals.login_failed(
                tenant_id,
                user_id,
                method=kind.value,
                reason=reason,
                ip=context.user_ip,
                device_id=context.device_id,
            )

    def _release(self, tenant_id: str, reserved: Throttle, at: datetime) -> None:
        """Give back one reserved slot, and lift the lock if that slot set it."""
        lock = reserved.locked_until
        self._throttles.release_attempt(
            tenant_id, reserved.key, lock=lock if lock is not None and lock > at else None
        )

    def _refusal(self, tenant_id: str, key: str, now: datetime) -> Locked:
        until = self._throttles.get_throttle(tenant_id, key).locked_until
        wait = max(1, math.ceil((until - now).total_seconds())) if until is not None else 1
        what = "account" if key.startswith("account:") else "address"
        return Locked(
            f"this {what} is locked after repeated failures; retry in {wait} s",
            retry_after=wait,
        )

    def _audit_locked(
        self,
        tenant_id: str,
        key: str,
        failures: int,
        context: Context,
        kind: FactorKind | None = None,
    ) -> None:
        details: dict[str, Any] = {"failures": failures, "seconds": self._policy.lockout_seconds}
        if kind is not None:
            details["factor"] = kind.value
        self._audit.denied(
            AuditAction.AUTH_LOCKED, context.actor, key, tenant_id=tenant_id, details=details
        )
