"""Risk-based step-up: the engine's `challenge` becomes a proof the user must give, bound to
the exact payment, and the assessment's final decision becomes `allow` or `block`.

Dynamic linking (PSD2 RTS art. 5): a step-up challenge carries the assessment's amount,
currency and payee. A passkey signs `passkeys.transaction_challenge(...)` over them, and a
bound device signs a request whose body is that same digest, so a proof made for one
payment does not verify for another amount or payee. A TOTP or recovery code cannot cover
the payment itself; it authorises only the one challenge it is consumed by (each code works
once). So every answer to a payment's step-up must also say which amount and payee the
client showed the user (`amount`, `payee`): an answer that leaves out one the challenge is
bound to is refused (422, naming it, using no attempt), and one that differs from the
challenged payment is refused and counted as a failed attempt.

An attempt is counted before the proofs are checked (so parallel answers cannot exceed the
maximum), and given back when the check itself fails on our side (503): a server fault never
uses up the user's attempts.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from payguard.audit.interfaces import AuditAction, AuditWriter
from payguard.auth import passkeys
from payguard.auth.factors import FactorKind, Proof, assurance
from payguard.auth.interfaces import (
    Challenge,
    ChallengePurpose,
    ChallengeRepository,
    ChallengeStatus,
    Context,
    RiskDecisions,
)
from payguard.auth.service import AuthService
from payguard.auth.verifiers import Linking
from payguard.core.bus import STEP_UP_SETTLED, EventBus
from payguard.core.clock import Clock
from payguard.core.decisions import STEP_UP_METHODS, Action, AssuranceLevel, Decision
from payguard.core.errors import Conflict, FactorRejected, NotFound, ValidationFailed
from payguard.core.ids import new_id


@dataclass(frozen=True, slots=True)
class StepUpResult:
    """Where a step-up stands after a verification attempt."""

    challenge: Challenge
    decision: Decision
    verified: bool
    attempts_left: int
    level: int | None = None
    reason: str | None = None


class StepUpService:
    """Opens and settles step-up challenges for assessments the engine challenged."""

    def __init__(
        self,
        auth: AuthService,
        risk: RiskDecisions,
        *,
        challenges: ChallengeRepository,
        audit: AuditWriter,
        bus: EventBus,
        clock: Clock,
    ) -> None:
        self._auth = auth
        self._risk = risk
        self._challenges = challenges
        self._audit = audit
        self._bus = bus
        self._clock = clock

    def open(
        self, tenant_id: str, assessment_id: str, *, context: Context
    ) -> tuple[Challenge, Decision]:
        """The pending step-up of a challenged assessment: a new one, or the one still open
        (asking twice does not give an attacker more attempts)."""
        decision = self._risk.get(tenant_id, assessment_id)
        if decision.decision != Action.CHALLENGE or decision.step_up is None:
            raise Conflict(
                f"assessment {assessment_id!r} was decided {decision.decision.value}, "
                "not challenge: there is nothing to step up"
            )
        if decision.final is not None:
            raise Conflict(f"assessment {assessment_id!r} is already settled: {decision.final}")
        self._auth.user(tenant_id, decision.account_id)
        now = self._clock.now()
        existing = self._challenges.pending_step_up(tenant_id, assessment_id)
        if existing is not None and existing.status == ChallengeStatus.PENDING:
            if now < existing.expires_at:
                return existing, decision
            # Unanswered in time: the payment is blocked; a retry is a new assessment.
            self._settle(existing, passed=False, reason="expired", context=context)
            raise Conflict(f"the step-up of assessment {assessment_id!r} expired: blocked")
        challenge = Challenge(
            tenant_id=tenant_id,
            id=new_id(),
            user_id=decision.account_id,
            purpose=ChallengePurpose.STEP_UP,
            created_at=now,
            expires_at=now + timedelta(seconds=self._auth.policy.challenge_ttl_seconds),
            nonce=secrets.token_bytes(passkeys.CHALLENGE_BYTES),
            level=int(decision.step_up.level),
            assessment_id=assessment_id,
            binding=binding_of(decision),
        )
        try:
            self._challenges.add_challenge(challenge)
        except Conflict:
            # Opened concurrently: there is one pending step-up per assessment; share it.
            pending = self._challenges.pending_step_up(tenant_id, assessment_id)
            if pending is None or pending.status != ChallengeStatus.PENDING:
                raise
            return pending, decision
        self._audit.success(
            AuditAction.STEP_UP_CREATE,
            context.actor,
            f"assessment:{assessment_id}",
            tenant_id=tenant_id,
            details={"challenge_id": challenge.id, "level": challenge.level},
        )
        return challenge, decision

    def get(self, tenant_id: str, challenge_id: str) -> Challenge:
        challenge = self._challenges.get_challenge(tenant_id, challenge_id)
        if challenge is None or challenge.purpose != ChallengePurpose.STEP_UP:
            raise NotFound(f"no step-up challenge {challenge_id!r}")
        return challenge

    def attempts_left(self, challenge: Challenge) -> int:
        """Answers the challenge may still take; 0 once it is settled."""
        if challenge.status != ChallengeStatus.PENDING:
            return 0
        return max(0, self._auth.policy.challenge_max_attempts - challenge.attempts)

    def options(self, challenge: Challenge) -> dict[str, Any]:
        """What the client needs to answer: the methods that meet the level, the passkey
        request options over the payment's digest, and what a bound device signs."""
        linking = self.linking(challenge)
        level = AssuranceLevel(challenge.level or 2)
        return {
            "methods": list(STEP_UP_METHODS[level]),
            "passkey": passkeys.authentication_options(
                self._auth.relying_party,
                challenge=linking.webauthn_challenge,
                allow=self._auth.passkey_ids(challenge.tenant_id, challenge.user_id),
                user_verification=(
                    passkeys.UserVerification.REQUIRED
                    if level >= AssuranceLevel.AAL2
                    else passkeys.UserVerification.PREFERRED
                ),
                timeout_ms=self._auth.policy.challenge_ttl_seconds * 1000,
            ),
            "device": {
                "method": linking.device_method,
                "path": linking.device_path,
                "body_sha256_of": "the passkey challenge bytes (the payment digest)",
            },
        }

    @staticmethod
    def linking(challenge: Challenge) -> Linking:
        binding = challenge.binding
        digest = passkeys.transaction_challenge(
            nonce=challenge.nonce,
            challenge_id=challenge.id,
            amount=binding.get("amount"),
            currency=binding.get("currency"),
            payee=binding.get("payee"),
        )
        return Linking(
            webauthn_challenge=digest,
            device_method="POST",
            device_path=f"/v1/auth/challenges/{challenge.id}/verify",
            device_body=digest,
        )

    def verify(
        self,
        tenant_id: str,
        challenge_id: str,
        proofs: Sequence[Proof],
        *,
        context: Context,
        amount: tuple[str, str] | None = None,
        payee: str | None = None,
    ) -> StepUpResult:
        """One attempt at the challenge. A rejected proof leaves it pending until the
        attempts run out; then it fails and the assessment is blocked. Passing it allows
        the assessment.

        `amount` (value, currency) and `payee` are what the client showed the user; each is
        required when the challenge is bound to one (a payment), else `ValidationFailed`.
        """
        challenge = self.get(tenant_id, challenge_id)
        # A malformed answer (422) or a locked account (429) must not use up an attempt.
        self._auth.precheck(tenant_id, challenge.user_id, proofs, context=context)
        maximum = self._auth.policy.challenge_max_attempts
        if challenge.status != ChallengeStatus.PENDING:
            raise Conflict(f"challenge {challenge_id!r} is already {challenge.status.value}")
        self._require_linking_claims(challenge, amount, payee)
        if self._clock.now() >= challenge.expires_at:
            return self._settle(challenge, passed=False, reason="expired", context=context)
        if not self._challenges.count_attempt(tenant_id, challenge_id, challenge.attempts):
            raise Conflict("this challenge was answered concurrently; retry")
        # What count_attempt just stored, compare-and-set from `challenge`.
        attempted = replace(challenge, attempts=challenge.attempts + 1)
        mismatch = self._mismatch(challenge, amount, payee)
        if mismatch is not None:
            kind = proofs[0].kind if proofs else FactorKind.PASSWORD
            self._auth.record_failure(tenant_id, challenge.user_id, kind, mismatch, context)
            return self._rejected(attempted, mismatch, maximum, context)
        try:
            passed = self._auth.verify(
                tenant_id,
                challenge.user_id,
                proofs,
                context=context,
                linking=self.linking(challenge),
            )
        except FactorRejected as exc:
            return self._rejected(attempted, exc.message, maximum, context)
        except BaseException:
            # Not the user's failure (a 503: the store or a sealed TOTP secret unavailable;
            # or locked meanwhile): the attempt counted above is given back.
            self._challenges.return_attempt(tenant_id, challenge_id, attempted.attempts)
            raise
        level = assurance(passed)
        required = challenge.level or 2
        if level < required:
            reason = f"these factors earn AAL{level}; this payment needs AAL{required}"
            return self._rejected(attempted, reason, maximum, context)
        return self._settle(
            attempted,
            passed=True,
            reason=None,
            context=context,
            level=level,
            factors=[p.kind.value for p in passed],
        )

    def _rejected(
        self, challenge: Challenge, reason: str, maximum: int, context: Context
    ) -> StepUpResult:
        if challenge.attempts >= maximum:
            return self._settle(challenge, passed=False, reason=reason, context=context)
        decision = self._risk.get(challenge.tenant_id, challenge.assessment_id or "")
        left = self.attempts_left(challenge)
        return StepUpResult(challenge, decision, verified=False, attempts_left=left, reason=reason)

    def _settle(
        self,
        challenge: Challenge,
        *,
        passed: bool,
        reason: str | None,
        context: Context,
        level: int | None = None,
        factors: Sequence[str] = (),
    ) -> StepUpResult:
        tenant_id = challenge.tenant_id
        now = self._clock.now()
        status = ChallengeStatus.PASSED if passed else ChallengeStatus.FAILED
        if not self._challenges.finish_challenge(
            tenant_id, challenge.id, status=status, at=now, factors=factors
        ):
            raise Conflict(f"challenge {challenge.id!r} was settled concurrently")
        final = Action.ALLOW if passed else Action.BLOCK
        assert challenge.assessment_id is not None
        decision = self._risk.finalize(tenant_id, challenge.assessment_id, final)
        if passed and (level or 0) >= 2:
            self._risk.reset_exemptions(tenant_id, challenge.user_id, now)
        details = {
            "challenge_id": challenge.id,
            "level": level,
            "factors": list(factors),
            "reason": reason,
        }
        target = f"assessment:{challenge.assessment_id}"
        if passed:
            audit, action = self._audit.success, AuditAction.STEP_UP_PASS
        else:
            audit, action = self._audit.denied, AuditAction.STEP_UP_FAIL
        audit(action, context.actor, target, tenant_id=tenant_id, details=details)
        self._bus.publish(
            STEP_UP_SETTLED,
            {
                "tenant_id": tenant_id,
                "assessment_id": challenge.assessment_id,
                "challenge_id": challenge.id,
                "final": final.value,
            },
        )
        # What finish_challenge just stored, compare-and-set from the pending `challenge`.
        settled = replace(challenge, status=status, completed_at=now, factors=tuple(factors))
        return StepUpResult(settled, decision, passed, attempts_left=0, level=level, reason=reason)

    @staticmethod
    def _require_linking_claims(
        challenge: Challenge, amount: tuple[str, str] | None, payee: str | None
    ) -> None:
        """Dynamic linking is not optional: a step-up bound to a payment's amount or payee
        is answered only with the amount and payee the user was shown."""
        binding = challenge.binding
        if amount is None and binding.get("amount") is not None:
            raise ValidationFailed(
                "this step-up is for a payment: `amount`, the amount shown to the user, "
                "is required",
                field="amount",
            )
        if payee is None and binding.get("payee") is not None:
            raise ValidationFailed(
                "this step-up is for a payment: `payee`, the payee shown to the user, is required",
                field="payee",
            )

    @staticmethod
    def _mismatch(
        challenge: Challenge, amount: tuple[str, str] | None, payee: str | None
    ) -> str | None:
        binding = challenge.binding
        if amount is not None:
            value, currency = amount
            bound = binding.get("amount")
            if bound is None or currency != binding.get("currency") or not _same(value, bound):
                return "the amount does not match the challenged payment"
        if payee is not None and payee != binding.get("payee"):
            return "the payee does not match the challenged payment"
        return None


def binding_of(decision: Decision) -> dict[str, Any]:
    """The payment a step-up authorises: amount, currency and payee of the assessed event."""
    event = decision.event
    amount = event.get("amount") or {}
    payee = event.get("payee") or {}
    return {
        "amount": amount.get("value"),
        "currency": amount.get("currency"),
        "payee": payee.get("id"),
    }


def _same(value: str, bound: str) -> bool:
    try:
        return Decimal(value) == Decimal(bound)
    except InvalidOperation:
        return False
