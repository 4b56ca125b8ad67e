"""StepUpService at the service level: which assessments can be stepped up, the life of a
pending challenge, expiry, concurrent answers, dynamic linking and the exemption reset."""

from __future__ import annotations

import dataclasses
import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pyotp
import pytest
from tests.auth.test_service import reseal_under_another_key

from payguard.adapters.sql.auth import SqlAuthRepository
from payguard.audit.interfaces import Actor, AuditAction
from payguard.auth.factors import FactorKind, Proof
from payguard.auth.interfaces import Challenge, ChallengePurpose, ChallengeStatus, Context
from payguard.auth.stepup import StepUpResult, StepUpService, binding_of
from payguard.core.bus import STEP_UP_SETTLED
from payguard.core.clock import FrozenClock
from payguard.core.decisions import Action, Decision
from payguard.core.errors import BackendUnavailable, Conflict, NotFound, ValidationFailed
from payguard.core.events import Device, Event, EventType, Payee
from payguard.core.money import Money
from payguard.services import Services

PASSWORD = "correct horse battery staple"
USER = "acct-1"
CTX = Context(actor=Actor("partner", source_ip="192.0.2.1"))

RULES = """
rules:
  - id: big_payment
    when: event_type == "payment" && amount >= 100.0
    action: challenge
    step_up: AAL2
    reason: BIG_PAYMENT
    message: A large payment needs a second factor.
  - id: medium_payment
    when: event_type == "payment" && amount >= 50.0 && amount < 100.0
    action: challenge
    step_up: AAL1
    reason: MEDIUM_PAYMENT
    message: A medium payment needs one factor.
  - id: huge_payment
    when: event_type == "payment" && amount >= 10000.0
    action: block
    score: 900
    reason: HUGE_PAYMENT
    message: Far too large.
  - id: credential_change
    when: event_type == "credential_change"
    action: challenge
    step_up: AAL2
    reason: CREDENTIAL_CHANGE
    message: Changing credentials needs a second factor.
# Only EUR payments qualify, so the SGD payments of the other tests are always stepped up.
low_risk_exemption:
  currency: EUR
  max_amount: "150"
  max_count: 5
  max_total: "500"
"""


@pytest.fixture
def tenant(services: Services) -> str:
    made, _ = services.tenants.create_tenant("acme", actor=Actor.system("test"))
    services.rules.update(tenant_id=made.id, source=RULES, actor=Actor("test"))
    return made.id


@pytest.fixture
def step_up(services: Services) -> StepUpService:
    return services.step_up


@pytest.fixture
def secret(services: Services, tenant: str, clock: FrozenClock) -> str:
    """USER with a password and a confirmed TOTP app; the clock is a step past its first code."""
    auth = services.auth
    auth.create_user(tenant, USER, password=PASSWORD, context=CTX)
    enrolment = auth.enrol_totp(tenant, USER, label="phone", context=CTX)
    first = pyotp.TOTP(enrolment.secret).at(clock.now())
    auth.confirm_totp(tenant, USER, enrolment.credential.id, first, context=CTX)
    clock.advance(timedelta(seconds=30))
    return enrolment.secret


_ids = iter(range(1_000_000))


def assess(
    services: Services,
    tenant: str,
    *,
    amount: str | None = "250.00",
    currency: str = "SGD",
    payee: str | None = "payee-1",
    event_type: EventType = EventType.PAYMENT,
    account: str = USER,
) -> Decision:
    event = Event(
        event_id=f"evt-{next(_ids)}",
        event_type=event_type,
        occurred_at=services.clock.now(),
        account_id=account,
        amount=None if amount is None else Money(Decimal(amount), currency),
        payee=None if payee is None else Payee(payee),
        device=Device("dev-1"),
        ip="198.51.100.7",
    )
    decision, _ = services.assessments.assess(tenant, event)
    return decision


def strong(secret: str, clock: FrozenClock, steps: int = 0) -> list[Proof]:
    code = pyotp.TOTP(secret).at(clock.now() + timedelta(seconds=30 * steps))
    return [Proof(FactorKind.PASSWORD, secret=PASSWORD), Proof(FactorKind.TOTP, secret=code)]


WRONG = [Proof(FactorKind.PASSWORD, secret="not the password")]

#: `verify_shown`'s default: claim the amount and payee the challenge is bound to.
SHOWN: Any = object()


def verify_shown(
    step_up: StepUpService,
    tenant: str,
    challenge_id: str,
    proofs: list[Proof],
    *,
    context: Context,
    amount: Any = SHOWN,
    payee: Any = SHOWN,
) -> StepUpResult:
    """An answer as a client that follows dynamic linking sends it: the proofs, and the amount
    and payee it showed the user (the challenged ones, unless the test says otherwise)."""
    binding = step_up.get(tenant, challenge_id).binding
    if amount is SHOWN:
        bound = binding.get("amount")
        amount = None if bound is None else (bound, binding.get("currency"))
    if payee is SHOWN:
        payee = binding.get("payee")
    return step_up.verify(tenant, challenge_id, proofs, context=context, amount=amount, payee=payee)


# -- opening -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "action"), [("10.00", Action.ALLOW), ("20000.00", Action.BLOCK)]
)
def test_opening_a_step_up_for_an_assessment_not_challenged_is_a_conflict(
    services: Services,
    step_up: StepUpService,
    tenant: str,
    secret: str,
    amount: str,
    action: Action,
) -> None:
    decided = assess(services, tenant, amount=amount)
    assert decided.decision == action and decided.step_up is None
    with pytest.raises(Conflict, match="nothing to step up"):
        step_up.open(tenant, decided.assessment_id, context=CTX)
    store = SqlAuthRepository(services.engine)
    assert store.pending_step_up(tenant, decided.assessment_id) is None


def test_opening_for_an_unknown_assessment_or_user_is_not_found(
    services: Services, step_up: StepUpService, tenant: str
) -> None:
    with pytest.raises(NotFound):
        step_up.open(tenant, "no-such-assessment", context=CTX)
    # Challenged, but the account never enrolled with payguard's authentication.
    challenged = assess(services, tenant, account="stranger")
    assert challenged.decision == Action.CHALLENGE
    with pytest.raises(NotFound):
        step_up.open(tenant, challenged.assessment_id, context=CTX)


def test_opening_for_another_tenants_assessment_is_not_found(
    services: Services, step_up: StepUpService, tenant: str, secret: str
) -> None:
    other, _ = services.tenants.create_tenant("globex", actor=Actor.system("test"))
    challenged = assess(services, tenant)
    with pytest.raises(NotFound):
        step_up.open(other.id, challenged.assessment_id, context=CTX)


@pytest.mark.parametrize("final", [Action.ALLOW, Action.BLOCK])
def test_opening_for_an_already_settled_assessment_is_a_conflict(
    services: Services, step_up: StepUpService, tenant: str, secret: str, final: Action
) -> None:
    challenged = assess(services, tenant)
    services.assessments.finalize(tenant, challenged.assessment_id, final)
    with pytest.raises(Conflict, match="already settled"):
        step_up.open(tenant, challenged.assessment_id, context=CTX)


def test_opening_twice_returns_the_same_pending_challenge(
    services: Services, step_up: StepUpService, tenant: str, secret: str, clock: FrozenClock
) -> None:
    challenged = assess(services, tenant)
    first, decision = step_up.open(tenant, challenged.assessment_id, context=CTX)
    assert decision.assessment_id == challenged.assessment_id
    assert first.status == ChallengeStatus.PENDING and first.level == 2
    assert first.user_id == USER and first.assessment_id == challenged.assessment_id
    verify_shown(step_up, tenant, first.id, WRONG, context=CTX)  # one attempt used

    clock.advance(timedelta(seconds=services.auth.policy.challenge_ttl_seconds - 1))
    again, _ = step_up.open(tenant, challenged.assessment_id, context=CTX)

    assert again.id == first.id and again.nonce == first.nonce
    assert again.attempts == 1  # asking again does not give more attempts
    opened = services.audit.list(tenant_id=tenant, action=AuditAction.STEP_UP_CREATE)
    assert len(opened) == 1


def test_an_expired_pending_challenge_blocks_the_payment_when_asked_again(
    services: Services, step_up: StepUpService, tenant: str, secret: str, clock: FrozenClock
) -> None:
    challenged = assess(services, tenant)
    old, _ = step_up.open(tenant, challenged.assessment_id, context=CTX)
    verify_shown(step_up, tenant, old.id, WRONG, context=CTX)
    clock.advance(timedelta(seconds=services.auth.policy.challenge_ttl_seconds))

    with pytest.raises(Conflict, match="expired"):
        step_up.open(tenant, challenged.assessment_id, context=CTX)

    expired = step_up.get(tenant, old.id)
    assert expired.status == ChallengeStatus.FAILED and expired.completed_at == clock.now()
    assert services.assessments.get(tenant, challenged.assessment_id).final == Action.BLOCK
    with pytest.raises(Conflict, match="already"):
        step_up.open(tenant, challenged.assessment_id, context=CTX)
    with pytest.raises(Conflict, match="already failed"):
        verify_shown(step_up, tenant, old.id, strong(secret, clock), context=CTX)


def test_verifying_after_expiry_fails_the_challenge_and_blocks(
    services: Services, step_up: StepUpService, tenant: str, secret: str, clock: FrozenClock
) -> None:
    challenged = assess(services, tenant)
    challenge, _ = step_up.open(tenant, challenged.assessment_id, context=CTX)
    clock.advance(timedelta(seconds=services.auth.policy.challenge_ttl_seconds))

    result = verify_shown(step_up, tenant, challenge.id, strong(secret, clock), context=CTX)

    assert not result.verified and result.reason == "expired" and result.attempts_left == 0
    assert result.challenge.status == ChallengeStatus.FAILED
    assert result.decision.final == Action.BLOCK
    assert services.assessments.get(tenant, challenged.assessment_id).final == Action.BLOCK
    # The correct factors were never checked: the TOTP code is still unused.
    assert services.auth.failures(tenant, USER) == 0
    with pytest.raises(Conflict):
        verify_shown(step_up, tenant, challenge.id, strong(secret, clock), context=CTX)
    with pytest.raises(Conflict, match="already settled"):
        step_up.open(tenant, challenged.assessment_id, context=CTX)


def test_get_refuses_other_kinds_of_challenge(
    services: Services, step_up: StepUpService, tenant: str, secret: str
) -> None:
    ceremony, _ = services.auth.passkey_login(tenant, USER)
    with pytest.raises(NotFound):
        step_up.get(tenant, ceremony.id)
    with pytest.raises(NotFound):
        verify_shown(step_up, tenant, ceremony.id, WRONG, context=CTX)


# -- settling ------------------------------------------------------------------------------


def test_attempts_run_out_then_the_payment_is_blocked(
    services: Services, step_up: StepUpService, tenant: str, secret: str
) -> None:
    challenged = assess(services, tenant)
    challenge, _ = step_up.open(tenant, challenged.assessment_id, context=CTX)
    maximum = services.auth.policy.challenge_max_attempts
    results = [
        verify_shown(step_up, tenant, challenge.id, WRONG, context=CTX) for _ in range(maximum)
    ]
    assert [r.attempts_left for r in results] == [*range(maximum - 1, 0, -1), 0]
    assert [r.challenge.status for r in results] == [ChallengeStatus.PENDING] * (maximum - 1) + [
        ChallengeStatus.FAILED
    ]
    assert results[-1].decision.final == Action.BLOCK


def test_a_level_too_low_is_a_rejected_attempt(
    services: Services, step_up: StepUpService, tenant: str, secret: str
) -> None:
    challenged = assess(services, tenant)
    challenge, _ = step_up.open(tenant, challenged.assessment_id, context=CTX)
    result = verify_shown(
        step_up, tenant, challenge.id, [Proof(FactorKind.PASSWORD, secret=PASSWORD)], context=CTX
    )
    assert not result.verified and "AAL1" in (result.reason or "")
    assert result.challenge.status == ChallengeStatus.PENDING and result.attempts_left == 2


def test_finalize_the_other_way_after_a_pass_is_a_conflict(
    services: Services, step_up: StepUpService, tenant: str, secret: str, clock: FrozenClock
) -> None:
    challenged = assess(services, tenant)
    challenge, _ = step_up.open(tenant, challenged.assessment_id, context=CTX)
    result = verify_shown(step_up, tenant, challenge.id, strong(secret, clock), context=CTX)
    assert result.verified and result.level == 2
    assert result.challenge.status == ChallengeStatus.PASSED
    assert set(result.challenge.factors) == {"password", "totp"}
    settled_at = result.decision.final_at

    with pytest.raises(Conflict, match="already final"):
        services.assessments.finalize(tenant, challenged.assessment_id, Action.BLOCK)
    # The same answer again is idempotent and keeps the first settlement.
    again = services.assessments.finalize(tenant, challenged.assessment_id, Action.ALLOW)
    assert again.final == Action.ALLOW and again.final_at == settled_at
    with pytest.raises(Conflict, match="already passed"):
        verify_shown(step_up, tenant, challenge.id, strong(secret, clock, 1), context=CTX)


def _race(
    step_up: StepUpService, tenant: str, challenge_id: str, answers: list[list[Proof]]
) -> tuple[list[StepUpResult], list[BaseException]]:
    """Every answer on its own thread, released together."""
    barrier = threading.Barrier(len(answers))
    results: list[StepUpResult] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def answer(proofs: list[Proof]) -> None:
        barrier.wait()
        try:
            outcome = verify_shown(step_up, tenant, challenge_id, proofs, context=CTX)
        except BaseException as exc:
            with lock:
                errors.append(exc)
        else:
            with lock:
                results.append(outcome)

    threads = [threading.Thread(target=answer, args=(proofs,)) for proofs in answers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results, errors


@pytest.mark.parametrize("codes", ["same-code", "two-valid-codes"])
def test_concurrent_correct_answers_pass_exactly_once(
    services: Services,
    step_up: StepUpService,
    tenant: str,
    secret: str,
    clock: FrozenClock,
    codes: str,
) -> None:
    settled: list[dict[str, Any]] = []
    services.bus.subscribe(STEP_UP_SETTLED, lambda _s, m: settled.append(m), durable="test")
    for _ in range(3):
        clock.advance(timedelta(seconds=60))
        challenged = assess(services, tenant)
        challenge, _ = step_up.open(tenant, challenged.assessment_id, context=CTX)
        # Both answers are right: the same code twice, or the codes of two steps in the window.
        second = 0 if codes == "same-code" else -1
        results, errors = _race(
            step_up, tenant, challenge.id, [strong(secret, clock), strong(secret, clock, second)]
        )

        assert all(isinstance(e, Conflict) for e in errors), errors
        passed = [r for r in results if r.verified]
        assert len(passed) == 1
        assert passed[0].decision.final == Action.ALLOW
        stored = services.assessments.get(tenant, challenged.assessment_id)
        assert stored.final == Action.ALLOW and stored.final_at == clock.now()
        assert step_up.get(tenant, challenge.id).status == ChallengeStatus.PASSED
    passes = services.audit.list(tenant_id=tenant, action=AuditAction.STEP_UP_PASS)
    assert len(passes) == 3  # one per challenge
    services.bus.flush()
    assert len(settled) == 3 and {m["final"] for m in settled} == {"allow"}


# -- dynamic linking -----------------------------------------------------------------------


def test_binding_of_an_event_without_amount_or_payee(
    services: Services, step_up: StepUpService, tenant: str, secret: str, clock: FrozenClock
) -> None:
    changed = assess(
        services, tenant, amount=None, payee=None, event_type=EventType.CREDENTIAL_CHANGE
    )
    assert changed.decision == Action.CHALLENGE
    assert binding_of(changed) == {"amount": None, "currency": None, "payee": None}
    assert binding_of(dataclasses.replace(changed, event={})) == binding_of(changed)

    challenge, _ = step_up.open(tenant, changed.assessment_id, context=CTX)
    assert challenge.binding == {"amount": None, "currency": None, "payee": None}
    options = step_up.options(challenge)
    assert options["methods"] == [
        "passkey_uv",
        "password+totp",
        "password+device",
        "password+passkey",
        "password+recovery_code",
    ]
    # Claiming any amount for it is a mismatch; claiming none is fine.
    claimed = verify_shown(
        step_up, tenant, challenge.id, strong(secret, clock), context=CTX, amount=("0", "SGD")
    )
    assert not claimed.verified and "amount" in (claimed.reason or "")
    result = verify_shown(step_up, tenant, challenge.id, strong(secret, clock), context=CTX)
    assert result.verified and result.decision.final == Action.ALLOW


def test_binding_of_a_payment(services: Services, tenant: str) -> None:
    decision = assess(services, tenant, amount="250.00", payee="payee-9", account="anyone")
    assert binding_of(decision) == {"amount": "250.00", "currency": "SGD", "payee": "payee-9"}


def _challenge(binding: dict[str, Any]) -> Challenge:
    return Challenge(
        tenant_id="t",
        id="c",
        user_id="u",
        purpose=ChallengePurpose.STEP_UP,
        created_at=datetime(2026, 3, 2, tzinfo=UTC),
        expires_at=datetime(2026, 3, 2, 0, 5, tzinfo=UTC),
        nonce=b"n" * 32,
        level=2,
        binding=binding,
    )


PAYMENT = {"amount": "250.00", "currency": "SGD", "payee": "payee-1"}


@pytest.mark.parametrize(
    ("amount", "payee", "refused"),
    [
        (None, None, None),
        (("250.00", "SGD"), "payee-1", None),
        (("250", "SGD"), None, None),
        (("250.0000", "SGD"), None, None),
        (("2.5E2", "SGD"), None, None),
        (("250.01", "SGD"), None, "amount"),
        (("25", "SGD"), None, "amount"),
        (("250.00", "USD"), None, "amount"),
        (("250.00", "sgd"), None, "amount"),
        (("two hundred", "SGD"), None, "amount"),
        (("NaN", "SGD"), None, "amount"),
        (("", "SGD"), None, "amount"),
        (None, "payee-2", "payee"),
        (None, "", "payee"),
        (("250", "SGD"), "payee-2", "payee"),
    ],
)
def test_mismatch_compares_amounts_as_decimals_and_currencies_exactly(
    amount: tuple[str, str] | None, payee: str | None, refused: str | None
) -> None:
    reason = StepUpService._mismatch(_challenge(PAYMENT), amount, payee)
    if refused is None:
        assert reason is None
    else:
        assert reason is not None and refused in reason


def test_mismatch_with_nothing_bound() -> None:
    unbound = _challenge({"amount": None, "currency": None, "payee": None})
    assert StepUpService._mismatch(unbound, None, None) is None
    assert StepUpService._mismatch(unbound, ("0", "SGD"), None) is not None
    assert StepUpService._mismatch(unbound, None, "payee-1") is not None


def test_a_claimed_amount_written_differently_still_passes(
    services: Services, step_up: StepUpService, tenant: str, secret: str, clock: FrozenClock
) -> None:
    challenged = assess(services, tenant, amount="250.00")
    challenge, _ = step_up.open(tenant, challenged.assessment_id, context=CTX)
    result = verify_shown(
        step_up,
        tenant,
        challenge.id,
        strong(secret, clock),
        context=CTX,
        amount=("250", "SGD"),
        payee="payee-1",
    )
    assert result.verified


def test_a_mismatch_uses_an_attempt_and_counts_a_failure_without_spending_the_code(
    services: Services, step_up: StepUpService, tenant: str, secret: str, clock: FrozenClock
) -> None:
    challenged = assess(services, tenant, amount="250.00")
    challenge, _ = step_up.open(tenant, challenged.assessment_id, context=CTX)
    proofs = strong(secret, clock)
    refused = verify_shown(
        step_up, tenant, challenge.id, proofs, context=CTX, amount=("250.00", "USD")
    )
    assert not refused.verified and refused.attempts_left == 2
    assert services.auth.failures(tenant, USER) == 1
    # The factors were not checked, so the same TOTP code still works for the real payment.
    assert verify_shown(step_up, tenant, challenge.id, proofs, context=CTX).verified


# -- exemption counters ----------------------------------------------------------------------


def _reserve(services: Services, tenant: str) -> None:
    """One low-risk payment the engine let through without its step-up: it counts."""
    exempted = assess(services, tenant, amount="120.00", currency="EUR")
    assert exempted.decision == Action.ALLOW
    assert services.assessments.exemption_usage(tenant, USER) == (1, 12_000, "EUR")


def test_a_passed_aal2_step_up_resets_the_exemption_counters(
    services: Services, step_up: StepUpService, tenant: str, secret: str, clock: FrozenClock
) -> None:
    _reserve(services, tenant)
    challenged = assess(services, tenant)
    challenge, _ = step_up.open(tenant, challenged.assessment_id, context=CTX)
    assert verify_shown(step_up, tenant, challenge.id, strong(secret, clock), context=CTX).verified
    assert services.assessments.exemption_usage(tenant, USER) == (0, 0, None)


def test_an_aal1_pass_or_a_failure_keeps_the_exemption_counters(
    services: Services, step_up: StepUpService, tenant: str, secret: str
) -> None:
    _reserve(services, tenant)
    medium = assess(services, tenant, amount="60.00")
    assert medium.step_up is not None and int(medium.step_up.level) == 1
    challenge, _ = step_up.open(tenant, medium.assessment_id, context=CTX)
    one = verify_shown(
        step_up, tenant, challenge.id, [Proof(FactorKind.PASSWORD, secret=PASSWORD)], context=CTX
    )
    assert one.verified and one.level == 1
    assert services.assessments.exemption_usage(tenant, USER) == (1, 12_000, "EUR")

    big = assess(services, tenant)
    challenge, _ = step_up.open(tenant, big.assessment_id, context=CTX)
    for _ in range(services.auth.policy.challenge_max_attempts):
        verify_shown(step_up, tenant, challenge.id, WRONG, context=CTX)
    assert services.assessments.get(tenant, big.assessment_id).final == Action.BLOCK
    assert services.assessments.exemption_usage(tenant, USER) == (1, 12_000, "EUR")


# -- suspected bugs --------------------------------------------------------------------------


def test_a_malformed_answer_does_not_use_an_attempt(
    services: Services, step_up: StepUpService, tenant: str, secret: str
) -> None:
    challenged = assess(services, tenant)
    challenge, _ = step_up.open(tenant, challenged.assessment_id, context=CTX)
    duplicated = [
        Proof(FactorKind.PASSWORD, secret=PASSWORD),
        Proof(FactorKind.PASSWORD, secret=PASSWORD),
    ]
    for proofs in ([], duplicated):
        with pytest.raises(ValidationFailed):
            verify_shown(step_up, tenant, challenge.id, proofs, context=CTX)
    assert step_up.get(tenant, challenge.id).attempts == 0


def test_concurrent_opens_share_one_pending_challenge(
    services: Services,
    step_up: StepUpService,
    tenant: str,
    secret: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    challenged = assess(services, tenant)
    original = SqlAuthRepository.pending_step_up
    both_read = threading.Barrier(2, timeout=10)
    calls = iter(range(1_000))

    def pending_step_up(
        repository: SqlAuthRepository, tenant_id: str, assessment_id: str
    ) -> Challenge | None:
        found = original(repository, tenant_id, assessment_id)
        if next(calls) < 2:
            # Each open has looked before either adds: the race, made certain. Later reads
            # (a fix may read again after losing) go straight through.
            both_read.wait()
        return found

    monkeypatch.setattr(SqlAuthRepository, "pending_step_up", pending_step_up)
    opened: list[Challenge] = []
    errors: list[BaseException] = []

    def open_it() -> None:
        try:
            opened.append(step_up.open(tenant, challenged.assessment_id, context=CTX)[0])
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=open_it) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    monkeypatch.undo()

    assert all(isinstance(e, Conflict) for e in errors), errors
    assert len({c.id for c in opened}) == 1


# -- dynamic linking is not optional -------------------------------------------------------


@pytest.mark.parametrize("missing", ["amount", "payee", "both"])
def test_a_payment_step_up_answer_without_the_shown_payment_is_refused_using_no_attempt(
    services: Services,
    step_up: StepUpService,
    tenant: str,
    secret: str,
    clock: FrozenClock,
    missing: str,
) -> None:
    challenged = assess(services, tenant, amount="250.00", payee="payee-1")
    challenge, _ = step_up.open(tenant, challenged.assessment_id, context=CTX)
    proofs = strong(secret, clock)
    claims: dict[str, Any] = {"amount": ("250.00", "SGD"), "payee": "payee-1"}
    if missing == "both":
        claims = {}
    else:
        del claims[missing]
    with pytest.raises(ValidationFailed) as caught:
        step_up.verify(tenant, challenge.id, proofs, context=CTX, **claims)
    field = "amount" if missing == "both" else missing
    assert caught.value.field == field
    assert f"`{field}`" in caught.value.message and "required" in caught.value.message
    pending = step_up.get(tenant, challenge.id)
    assert pending.attempts == 0 and pending.status == ChallengeStatus.PENDING
    assert services.auth.failures(tenant, USER) == 0
    assert services.assessments.get(tenant, challenged.assessment_id).final is None
    # The refused answer spent nothing: the same proofs pass once the payment is named.
    result = step_up.verify(
        tenant, challenge.id, proofs, context=CTX, amount=("250.00", "SGD"), payee="payee-1"
    )
    assert result.verified and result.decision.final == Action.ALLOW


def test_a_payment_without_a_payee_needs_only_the_amount(
    services: Services, step_up: StepUpService, tenant: str, secret: str, clock: FrozenClock
) -> None:
    challenged = assess(services, tenant, amount="250.00", payee=None)
    challenge, _ = step_up.open(tenant, challenged.assessment_id, context=CTX)
    assert challenge.binding["payee"] is None
    with pytest.raises(ValidationFailed) as caught:
        step_up.verify(tenant, challenge.id, strong(secret, clock), context=CTX)
    assert caught.value.field == "amount"
    result = step_up.verify(
        tenant, challenge.id, strong(secret, clock), context=CTX, amount=("250.00", "SGD")
    )
    assert result.verified


def test_a_step_up_bound_to_no_payment_needs_no_claims(
    services: Services, step_up: StepUpService, tenant: str, secret: str, clock: FrozenClock
) -> None:
    changed = assess(
        services, tenant, amount=None, payee=None, event_type=EventType.CREDENTIAL_CHANGE
    )
    assert changed.decision == Action.CHALLENGE
    challenge, _ = step_up.open(tenant, changed.assessment_id, context=CTX)
    assert challenge.binding == {"amount": None, "currency": None, "payee": None}
    result = step_up.verify(tenant, challenge.id, strong(secret, clock), context=CTX)
    assert result.verified


def test_a_server_fault_during_verification_uses_no_attempt(
    services: Services, step_up: StepUpService, tenant: str, secret: str, clock: FrozenClock
) -> None:
    """A TOTP secret the server cannot open is a 503, not the user's failure: neither the
    challenge's attempts nor the account's failures move, however often it happens."""
    challenged = assess(services, tenant)
    challenge, _ = step_up.open(tenant, challenged.assessment_id, context=CTX)
    (totp,) = services.auth.credentials(tenant, USER)
    reseal_under_another_key(services, tenant, totp.id)
    for _ in range(services.auth.policy.challenge_max_attempts + 1):
        with pytest.raises(BackendUnavailable):
            verify_shown(step_up, tenant, challenge.id, strong(secret, clock), context=CTX)
    after = step_up.get(tenant, challenge.id)
    assert (after.attempts, after.status) == (0, ChallengeStatus.PENDING)
    assert step_up.attempts_left(after) == services.auth.policy.challenge_max_attempts
    assert services.auth.failures(tenant, USER) == 0
    assert services.assessments.get(tenant, challenged.assessment_id).final is None
    # The user's own mistakes still count.
    result = verify_shown(step_up, tenant, challenge.id, WRONG, context=CTX)
    assert not result.verified and result.attempts_left == 2
