"""Low-risk exemptions: which decisions qualify, how a rule set declares the policy, and how
AssessmentService counts them in the account's state, in the same compare-and-set as the
decision, on every state backend."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyotp
import pytest
import sqlalchemy as sa
import yaml
from tests.risk.conftest import EventFactory

from payguard.audit.interfaces import Actor
from payguard.auth.factors import FactorKind, Proof
from payguard.auth.interfaces import Context
from payguard.core.clock import FrozenClock
from payguard.core.decisions import (
    STEP_UP_METHODS,
    Action,
    AssuranceLevel,
    Decision,
    Reason,
    StepUp,
)
from payguard.core.errors import Conflict, NotFound, StateConflict, ValidationFailed
from payguard.core.events import Event, EventType
from payguard.core.money import Money
from payguard.risk.exemptions import EXEMPT, exempted, exemptible
from payguard.risk.features.state import EXEMPTIONS
from payguard.risk.interfaces import Decide, EntityState
from payguard.risk.rules.ruleset import LowRiskExemption, compile_rule_set, parse
from payguard.services import Services, build_services
from payguard.settings import Settings

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
CTX = Context(actor=Actor("partner"))
ACTOR = Actor.system("test")
PASSWORD = "correct horse battery staple"

# -- exemptible() --------------------------------------------------------------------------

POLICY = LowRiskExemption(
    currency="SGD",
    max_amount=Decimal("150"),
    max_count=5,
    max_total=Decimal("400"),
    max_score=500,
    max_level="AAL2",
)


def _decision(
    action: Action = Action.CHALLENGE, score: int = 100, level: int | None = 2
) -> Decision:
    step_up = None
    if action == Action.CHALLENGE and level is not None:
        assurance = AssuranceLevel(level)
        step_up = StepUp(level=assurance, methods=STEP_UP_METHODS[assurance])
    return Decision(
        assessment_id="a-1",
        tenant_id="t-1",
        event_id="e-1",
        event_type="payment",
        account_id="acct-1",
        decision=action,
        score=score,
        reasons=(Reason("BIG_PAYMENT", "A large payment."),),
        warnings=(),
        step_up=step_up,
        rule_hits=(),
        model=None,
        rule_set_version=1,
        occurred_at=T0,
        decided_at=T0,
    )


def _event(
    amount: str | None = "110.00",
    currency: str = "SGD",
    event_type: EventType = EventType.PAYMENT,
) -> Event:
    return Event(
        event_id="e-1",
        event_type=event_type,
        occurred_at=T0,
        account_id="acct-1",
        amount=None if amount is None else Money(Decimal(amount), currency),
    )


@pytest.mark.parametrize(
    ("decision", "event", "policy", "expected"),
    [
        pytest.param(_decision(), _event(), POLICY, 11_000, id="qualifies"),
        pytest.param(_decision(), _event("110.5"), POLICY, 11_050, id="minor-units"),
        pytest.param(_decision(), _event("150.00"), POLICY, 15_000, id="at-max-amount"),
        pytest.param(_decision(), _event("150.01"), POLICY, None, id="over-max-amount"),
        pytest.param(_decision(), _event("0.01"), POLICY, 1, id="one-cent"),
        pytest.param(_decision(), _event(currency="USD"), POLICY, None, id="other-currency"),
        pytest.param(_decision(), _event(amount=None), POLICY, None, id="payment-without-amount"),
        pytest.param(
            _decision(), _event(event_type=EventType.WITHDRAWAL), POLICY, None, id="withdrawal"
        ),
        pytest.param(
            _decision(), _event(amount=None, event_type=EventType.LOGIN), POLICY, None, id="login"
        ),
        pytest.param(_decision(score=499), _event(), POLICY, 11_000, id="score-below-max"),
        pytest.param(_decision(score=500), _event(), POLICY, None, id="score-at-max"),
        pytest.param(_decision(score=900), _event(), POLICY, None, id="score-over-max"),
        pytest.param(_decision(level=1), _event(), POLICY, 11_000, id="aal1"),
        pytest.param(_decision(level=3), _event(), POLICY, None, id="aal3-over-max-level"),
        pytest.param(
            _decision(level=3),
            _event(),
            POLICY.model_copy(update={"max_level": "AAL3"}),
            11_000,
            id="aal3-allowed",
        ),
        pytest.param(
            _decision(level=2),
            _event(),
            POLICY.model_copy(update={"max_level": "AAL1"}),
            None,
            id="aal2-over-aal1",
        ),
        pytest.param(_decision(Action.ALLOW), _event(), POLICY, None, id="allow"),
        pytest.param(_decision(Action.REVIEW), _event(), POLICY, None, id="review"),
        pytest.param(_decision(Action.BLOCK), _event(), POLICY, None, id="block"),
        pytest.param(
            _decision(),
            _event("1500", "JPY"),
            LowRiskExemption(currency="JPY", max_amount=Decimal("2000"), max_total=Decimal("9000")),
            1_500,
            id="jpy-no-minor-units",
        ),
        pytest.param(
            _decision(),
            _event("1.234", "KWD"),
            LowRiskExemption(currency="KWD", max_amount=Decimal("5"), max_total=Decimal("10")),
            1_234,
            id="kwd-three-minor-units",
        ),
    ],
)
def test_exemptible(
    decision: Decision, event: Event, policy: LowRiskExemption, expected: int | None
) -> None:
    assert exemptible(decision, event, policy) == expected


def test_exempted_allows_without_step_up_and_says_why() -> None:
    challenged = _decision()
    let_through = exempted(challenged)
    assert let_through.decision == Action.ALLOW and let_through.step_up is None
    assert let_through.reasons == (*challenged.reasons, EXEMPT)
    assert EXEMPT.code == "SCA_EXEMPT_LOW_RISK"
    unchanged = {"decision", "step_up", "reasons"}
    for field in dataclasses.fields(Decision):
        if field.name not in unchanged:
            assert getattr(let_through, field.name) == getattr(challenged, field.name)


# -- the rule set's `low_risk_exemption` ---------------------------------------------------

VALID = {"currency": "SGD", "max_amount": "150", "max_total": "250"}


def _source(policy: Any) -> str:
    return yaml.safe_dump({"rules": [], "low_risk_exemption": policy})


def test_a_valid_policy_with_defaults() -> None:
    policy = parse(_source(VALID)).low_risk_exemption
    assert policy == LowRiskExemption(
        currency="SGD", max_amount=Decimal("150"), max_total=Decimal("250")
    )
    assert (policy.max_count, policy.max_score, policy.max_level) == (5, 1001, "AAL2")
    compiled = compile_rule_set(_source(VALID), version=3)
    assert compiled.exemption == policy
    assert compile_rule_set("rules: []\n", version=1).exemption is None


@pytest.mark.parametrize(
    "policy",
    [
        {**VALID, "max_amount": 150, "max_total": 250.5},  # YAML numbers
        {**VALID, "max_amount": "250", "max_total": "250"},  # equal limits
        {"currency": "JPY", "max_amount": "5000", "max_total": "20000"},
        {"currency": "KWD", "max_amount": "1.234", "max_total": "10.5"},
        {**VALID, "max_amount": "1E+2"},
        {**VALID, "max_count": 1000, "max_score": 0, "max_level": "AAL3"},
    ],
)
def test_valid_policies(policy: dict[str, Any]) -> None:
    assert parse(_source(policy)).low_risk_exemption is not None


@pytest.mark.parametrize(
    ("policy", "fields"),
    [
        pytest.param(
            {k: v for k, v in VALID.items() if k != "currency"}, {"currency"}, id="no-currency"
        ),
        pytest.param({**VALID, "currency": "sgd"}, {"currency"}, id="lowercase-currency"),
        pytest.param({**VALID, "currency": "XXX"}, {"currency"}, id="unknown-currency"),
        pytest.param(
            {"currency": "JPY", "max_amount": "1.5", "max_total": "100"},
            {"max_amount"},
            id="jpy-decimals",
        ),
        pytest.param({**VALID, "max_total": "250.001"}, {"max_total"}, id="sgd-3-decimals"),
        pytest.param(
            {**VALID, "max_amount": "300"},
            {"max_amount", "max_total"},
            id="max-amount-over-max-total",
        ),
        pytest.param({**VALID, "max_amount": "-3"}, {"max_amount"}, id="negative-amount"),
        pytest.param({**VALID, "max_amount": "0"}, {"max_amount"}, id="zero-amount"),
        pytest.param({**VALID, "max_total": "-1"}, {"max_total"}, id="negative-total"),
        pytest.param({**VALID, "max_amount": "NaN"}, {"max_amount"}, id="nan"),
        pytest.param({**VALID, "max_total": "1e13"}, {"max_total"}, id="huge-total"),
        pytest.param({**VALID, "max_count": 0}, {"max_count"}, id="zero-count"),
        pytest.param({**VALID, "max_count": 1001}, {"max_count"}, id="count-too-big"),
        pytest.param({**VALID, "max_score": -1}, {"max_score"}, id="negative-score"),
        pytest.param({**VALID, "max_level": "AAL4"}, {"max_level"}, id="unknown-level"),
        pytest.param({**VALID, "max_days": 30}, {"max_days"}, id="unknown-key"),
    ],
)
def test_invalid_policies_name_the_field(
    policy: dict[str, Any], fields: set[str], services: Services, tenant: str
) -> None:
    expected = {f"low_risk_exemption.{name}" for name in fields}
    with pytest.raises(ValidationFailed) as caught:
        parse(_source(policy))
    assert caught.value.field in expected, caught.value.message
    # Publishing it is refused the same way, and the active rule set does not change.
    before = services.rules.active(tenant).version
    with pytest.raises(ValidationFailed) as refused:
        services.rules.update(tenant_id=tenant, source=_source(policy), actor=ACTOR)
    assert refused.value.field == caught.value.field
    assert services.rules.active(tenant).version == before


def test_a_policy_that_is_not_a_mapping() -> None:
    with pytest.raises(ValidationFailed) as caught:
        parse(_source("yes please"))
    assert caught.value.field == "low_risk_exemption"


# -- AssessmentService ---------------------------------------------------------------------


def rules(
    *,
    max_count: int = 3,
    max_total: str = "1000",
    max_amount: str = "150",
    max_score: int = 300,
    currency: str = "SGD",
) -> str:
    return f"""
rules:
  - id: big_payment
    when: event_type == "payment" && amount >= 100.0
    action: challenge
    step_up: AAL2
    score: 100
    reason: BIG_PAYMENT
    message: A large payment needs a second factor.
  - id: rooted_device
    when: rooted
    action: challenge
    step_up: AAL2
    score: 400
    reason: ROOTED
    message: The device is rooted.
  - id: emulator
    when: emulator
    action: challenge
    step_up: AAL3
    reason: EMULATOR
    message: An emulator needs the strongest proof.
low_risk_exemption:
  currency: {currency}
  max_amount: "{max_amount}"
  max_count: {max_count}
  max_total: "{max_total}"
  max_score: {max_score}
"""


@pytest.fixture(
    params=[
        "cached",
        "uncached",
        pytest.param("redis", marks=pytest.mark.redis),
    ]
)
def state_backend(request: pytest.FixtureRequest) -> str:
    """Where entity state (and so the counters) lives: SQLite behind the in-process cache,
    SQLite read fresh, or Redis beside the SQLite decisions."""
    param: str = request.param
    return param


@pytest.fixture
def services(
    tmp_path: Path, clock: FrozenClock, state_backend: str, request: pytest.FixtureRequest
) -> Iterator[Services]:
    fields: dict[str, Any] = {}
    if state_backend == "uncached":
        fields["state_cache"] = False
    elif state_backend == "redis":
        fields["kv_url"] = request.getfixturevalue("redis_url")
        fields["namespace"] = request.getfixturevalue("namespace")
    settings = Settings(
        database_url=f"sqlite:///{tmp_path}/t.db",
        cache_ttl_seconds=0,
        argon2_time_cost=1,
        argon2_memory_kib=8192,
        **fields,
    )
    built = build_services(settings, clock=clock)
    yield built
    built.close()
    if state_backend == "redis":
        from payguard.adapters.kv.redis import RedisEntityStateStore

        states = RedisEntityStateStore(settings.kv_url, namespace=settings.namespace)
        states.purge_namespace()
        states.close()


@pytest.fixture
def tenant(services: Services) -> str:
    made, _ = services.tenants.create_tenant("acme", actor=Actor.system("test"))
    return made.id


Publish = Callable[..., None]


@pytest.fixture
def publish(services: Services, tenant: str) -> Publish:
    def run(**limits: Any) -> None:
        services.rules.update(tenant_id=tenant, source=rules(**limits), actor=ACTOR)

    return run


def counters(services: Services, tenant: str, account: str = "acct-1") -> tuple[int, int, Any]:
    return services.assessments.exemption_usage(tenant, account)


def account_state(services: Services, tenant: str, account: str = "acct-1") -> EntityState:
    key = f"account:{account}"
    return services.assessments.store.load_states(tenant, [key])[key]


def is_exempt(decision: Decision) -> bool:
    return decision.decision == Action.ALLOW and EXEMPT in decision.reasons


def test_an_exempted_decision_is_counted_in_the_same_write(
    services: Services, tenant: str, publish: Publish, make_event: EventFactory
) -> None:
    publish()
    decision, replayed = services.assessments.assess(tenant, make_event(amount="110.00"))
    assert not replayed and is_exempt(decision) and decision.step_up is None
    assert [r.code for r in decision.reasons] == ["BIG_PAYMENT", "SCA_EXEMPT_LOW_RISK"]
    assert services.assessments.get(tenant, decision.assessment_id) == decision
    assert counters(services, tenant) == (1, 11_000, "SGD")
    # The counters are the account's state, written once, by the decision's own write.
    account = account_state(services, tenant)
    assert account.version == 1
    assert account.data[EXEMPTIONS] == [1, 11_000, "SGD", None]


@pytest.mark.parametrize(
    ("overrides", "action"),
    [
        pytest.param({"amount": "150.01"}, Action.CHALLENGE, id="over-max-amount"),
        pytest.param({"currency": "USD"}, Action.CHALLENGE, id="other-currency"),
        pytest.param({"rooted": True}, Action.CHALLENGE, id="score-too-high"),
        pytest.param({"emulator": True}, Action.CHALLENGE, id="aal3"),
        pytest.param({"amount": "99.99"}, Action.ALLOW, id="not-challenged"),
    ],
)
def test_what_does_not_qualify_counts_nothing(
    services: Services,
    tenant: str,
    publish: Publish,
    make_event: EventFactory,
    overrides: dict[str, Any],
    action: Action,
) -> None:
    publish()
    fields: dict[str, Any] = {"amount": "110.00", **overrides}
    decision, _ = services.assessments.assess(tenant, make_event(**fields))
    assert decision.decision == action and EXEMPT not in decision.reasons
    assert counters(services, tenant) == (0, 0, None)
    assert EXEMPTIONS not in account_state(services, tenant).data


def test_a_replayed_event_counts_nothing(
    services: Services, tenant: str, publish: Publish, make_event: EventFactory
) -> None:
    publish()
    event = make_event(amount="110.00")
    first, _ = services.assessments.assess(tenant, event)
    again, replayed = services.assessments.assess(tenant, event)
    assert replayed and again == first and is_exempt(again)
    assert counters(services, tenant) == (1, 11_000, "SGD")


def _lose_first_write(
    monkeypatch: pytest.MonkeyPatch, services: Services, error: BaseException
) -> list[Decision]:
    """The store's next `record` raises `error`, as if another worker won (or it broke)."""
    store = services.assessments.store
    original = store.record
    attempted: list[Decision] = []

    def record(decision: Decision, updates: Sequence[EntityState]) -> Decision:
        attempted.append(decision)
        if len(attempted) == 1:
            raise error
        return original(decision, updates)

    monkeypatch.setattr(store, "record", record)
    return attempted


def test_a_replay_found_on_the_contended_path_counts_nothing(
    services: Services,
    tenant: str,
    publish: Publish,
    make_event: EventFactory,
    monkeypatch: pytest.MonkeyPatch,
    state_backend: str,
) -> None:
    publish()
    event = make_event(amount="110.00")
    first, _ = services.assessments.assess(tenant, event)
    attempted = _lose_first_write(monkeypatch, services, StateConflict("lost"))

    again, replayed = services.assessments.assess(tenant, event)

    # Counted, then lost the race (with Redis the held-state path goes through `record` too).
    assert len(attempted) == (2 if state_backend == "redis" else 1)
    assert is_exempt(attempted[0])
    assert replayed and again.assessment_id == first.assessment_id
    assert counters(services, tenant) == (1, 11_000, "SGD")


def test_a_re_decision_after_a_lost_race_counts_once(
    services: Services,
    tenant: str,
    publish: Publish,
    make_event: EventFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    publish()
    attempted = _lose_first_write(monkeypatch, services, StateConflict("lost"))

    decision, replayed = services.assessments.assess(tenant, make_event(amount="110.00"))

    assert not replayed and is_exempt(decision)
    assert decision.assessment_id != attempted[0].assessment_id  # decided again, held
    assert counters(services, tenant) == (1, 11_000, "SGD")  # counted once, not twice


def test_a_re_decision_that_no_longer_qualifies_counts_nothing(
    services: Services,
    tenant: str,
    publish: Publish,
    make_event: EventFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    publish()
    _lose_first_write(monkeypatch, services, StateConflict("lost"))
    store = services.assessments.store
    original = store.decide_and_record

    def decide_and_record(
        tenant_id: str, keys: Sequence[str], decide: Decide
    ) -> tuple[Decision, Decision]:
        # Between the two attempts the tenant published rules that no longer challenge it.
        services.rules.update(tenant_id=tenant, source="rules: []\n", actor=ACTOR)
        return original(tenant_id, keys, decide)

    monkeypatch.setattr(store, "decide_and_record", decide_and_record)

    decision, _ = services.assessments.assess(tenant, make_event(amount="110.00"))

    assert decision.decision == Action.ALLOW and EXEMPT not in decision.reasons
    assert counters(services, tenant) == (0, 0, None)


def test_a_failed_record_counts_nothing(
    services: Services,
    tenant: str,
    publish: Publish,
    make_event: EventFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    publish()
    _lose_first_write(monkeypatch, services, RuntimeError("disk full"))
    event = make_event(amount="110.00")

    with pytest.raises(RuntimeError, match="disk full"):
        services.assessments.assess(tenant, event)

    assert counters(services, tenant) == (0, 0, None)
    assert services.assessments.store.get_by_event(tenant, event.event_id) is None
    # The retry of the same event is exempted and counted once.
    decision, replayed = services.assessments.assess(tenant, event)
    assert not replayed and is_exempt(decision)
    assert counters(services, tenant) == (1, 11_000, "SGD")


def _short_busy_timeout(services: Services) -> None:
    """Make a SQLite lock wait fail after 0.2 s instead of 5 s (new connections only)."""

    def fast(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.execute("PRAGMA busy_timeout=200")

    sa.event.listen(services.engine, "connect", fast)
    services.engine.pool.dispose()


def test_a_lost_race_at_the_limit_is_decided_again_without_deadlock(
    services: Services,
    tenant: str,
    publish: Publish,
    make_event: EventFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    publish(max_count=1)
    first, _ = services.assessments.assess(tenant, make_event(amount="110.00"))
    assert is_exempt(first)
    _short_busy_timeout(services)
    # The optimistic attempt finds the counters full and loses its write.
    _lose_first_write(monkeypatch, services, StateConflict("lost"))

    decision, _ = services.assessments.assess(tenant, make_event(amount="110.00"))

    assert decision.decision == Action.CHALLENGE
    assert counters(services, tenant) == (1, 11_000, "SGD")


def test_the_count_limit_holds_across_sequential_payments(
    services: Services, tenant: str, publish: Publish, make_event: EventFactory
) -> None:
    publish(max_count=3, max_total="1000")
    decisions = [
        services.assessments.assess(tenant, make_event(amount="110.00", seconds=i))[0]
        for i in range(6)
    ]
    assert [is_exempt(d) for d in decisions] == [True] * 3 + [False] * 3
    assert all(d.decision == Action.CHALLENGE for d in decisions[3:])
    assert counters(services, tenant) == (3, 33_000, "SGD")


def test_the_total_limit_holds_across_sequential_payments(
    services: Services, tenant: str, publish: Publish, make_event: EventFactory
) -> None:
    publish(max_count=10, max_total="400")
    amounts = ["150.00", "150.00", "150.00", "100.00", "100.00", "100.00"]
    decisions = [
        services.assessments.assess(tenant, make_event(amount=a, seconds=i))[0]
        for i, a in enumerate(amounts)
    ]
    # 150 + 150 = 300; a third 150 would be 450 > 400; 100 still fits (400 exactly).
    assert [is_exempt(d) for d in decisions] == [True, True, False, True, False, False]
    assert counters(services, tenant) == (3, 40_000, "SGD")


def test_the_limits_hold_across_concurrent_payments(
    services: Services, tenant: str, publish: Publish, make_event: EventFactory
) -> None:
    """Threads assessing one account's payments at once: exactly `max_count` are exempted,
    each counted once, whoever wins each race."""
    publish(max_count=7, max_total="5000")
    events = [make_event(amount="110.00", seconds=i, device=f"dev-{i % 4}") for i in range(20)]

    def assess(event: Event) -> Decision:
        while True:
            try:
                return services.assessments.assess(tenant, event)[0]
            except Conflict:
                continue  # retries ran out on a busy entity (Redis): a partner tries again

    with ThreadPoolExecutor(max_workers=4) as pool:
        decisions = list(pool.map(assess, events))

    assert sum(is_exempt(d) for d in decisions) == 7
    assert counters(services, tenant) == (7, 77_000, "SGD")


def test_the_group_committer_counts_each_exemption_once(
    tmp_path: Path, clock: FrozenClock, make_event: EventFactory
) -> None:
    """Concurrent assessments of one account in one batch chain their counters through the
    committer's overlay; a lost write is decided again on the counters that won."""
    settings = Settings(database_url=f"sqlite:///{tmp_path}/g.db", group_commit=True)
    services = build_services(settings, clock=clock)
    try:
        tenant, _ = services.tenants.create_tenant("acme", actor=Actor.system("test"))
        services.rules.update(tenant_id=tenant.id, source=rules(max_count=4), actor=ACTOR)
        events = [make_event(amount="110.00", seconds=i) for i in range(10)]

        async def assess_all() -> list[tuple[Decision, bool]]:
            return await asyncio.gather(
                *(services.assessments.assess_async(tenant.id, e) for e in events)
            )

        decisions = [decision for decision, _ in asyncio.run(assess_all())]
        assert sum(is_exempt(d) for d in decisions) == 4
        assert counters(services, tenant.id) == (4, 44_000, "SGD")
    finally:
        services.close()


def test_counters_in_another_currency_wait_for_a_reset(
    services: Services,
    tenant: str,
    publish: Publish,
    make_event: EventFactory,
    clock: FrozenClock,
) -> None:
    publish()
    assert is_exempt(services.assessments.assess(tenant, make_event(amount="110.00"))[0])
    # The tenant moves its policy to USD while the counters hold an SGD payment.
    publish(currency="USD")
    usd = make_event(amount="110.00", currency="USD", seconds=1)
    assert services.assessments.assess(tenant, usd)[0].decision == Action.CHALLENGE
    assert counters(services, tenant) == (1, 11_000, "SGD")

    services.assessments.reset_exemptions(tenant, "acct-1", clock.now())
    usd = make_event(amount="120.00", currency="USD", seconds=2)
    assert is_exempt(services.assessments.assess(tenant, usd)[0])
    assert counters(services, tenant) == (1, 12_000, "USD")


# -- reset_exemptions -----------------------------------------------------------------------


def test_a_reset_zeroes_the_counters_and_stamps_its_time(
    services: Services,
    tenant: str,
    publish: Publish,
    make_event: EventFactory,
    clock: FrozenClock,
) -> None:
    publish(max_count=2)
    for i in range(3):
        services.assessments.assess(tenant, make_event(amount="110.00", seconds=i))
    assert counters(services, tenant) == (2, 22_000, "SGD")

    clock.advance(timedelta(minutes=5))
    services.assessments.reset_exemptions(tenant, "acct-1", clock.now())

    assert counters(services, tenant) == (0, 0, None)
    account = account_state(services, tenant)
    assert account.data[EXEMPTIONS] == [0, 0, None, clock.now().timestamp()]
    assert account.version == 4  # three decisions, then the reset
    decisions = [
        services.assessments.assess(tenant, make_event(amount="110.00", seconds=10 + i))[0]
        for i in range(3)
    ]
    assert [is_exempt(d) for d in decisions] == [True, True, False]
    assert counters(services, tenant) == (2, 22_000, "SGD")
    assert account_state(services, tenant).data[EXEMPTIONS][3] == clock.now().timestamp()


def test_a_reset_of_an_account_never_seen_stamps_it(
    services: Services, tenant: str, clock: FrozenClock
) -> None:
    services.assessments.reset_exemptions(tenant, "ghost", clock.now())
    assert counters(services, tenant, "ghost") == (0, 0, None)
    assert account_state(services, tenant, "ghost") == EntityState(
        "account:ghost", 1, {EXEMPTIONS: [0, 0, None, clock.now().timestamp()]}
    )


def test_a_reset_between_a_read_and_its_write_is_decided_again(
    services: Services,
    tenant: str,
    publish: Publish,
    make_event: EventFactory,
    clock: FrozenClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The counters are read and written under the decision's compare-and-set: a payment
    that read full counters, and whose write comes after a reset, is decided again on the
    reset counters, and exempted."""
    publish(max_count=1)
    assert is_exempt(services.assessments.assess(tenant, make_event(amount="110.00"))[0])
    store = services.assessments.store
    original = store.load_states
    armed = [True]

    def load_states(tenant_id: str, keys: Sequence[str]) -> dict[str, EntityState]:
        states = original(tenant_id, keys)
        if armed[0]:
            armed[0] = False
            services.assessments.reset_exemptions(tenant, "acct-1", clock.now())
        return states

    monkeypatch.setattr(store, "load_states", load_states)

    decision, _ = services.assessments.assess(tenant, make_event(amount="120.00", seconds=1))

    assert not armed[0] and is_exempt(decision)
    assert counters(services, tenant) == (1, 12_000, "SGD")


def test_a_reset_that_loses_a_race_is_tried_again(
    services: Services,
    tenant: str,
    publish: Publish,
    make_event: EventFactory,
    clock: FrozenClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    publish()
    services.assessments.assess(tenant, make_event(amount="110.00"))
    store = services.assessments.store
    original = store.write_states
    calls: list[int] = []

    def write_states(tenant_id: str, updates: Sequence[EntityState]) -> None:
        calls.append(updates[0].version)
        if len(calls) == 1:
            # Another worker's payment lands between the reset's read and its write.
            services.assessments.assess(tenant, make_event(amount="120.00", seconds=1))
        original(tenant_id, updates)

    monkeypatch.setattr(store, "write_states", write_states)

    services.assessments.reset_exemptions(tenant, "acct-1", clock.now())

    assert calls == [1, 2]  # the stale write was refused, the fresh one landed
    assert counters(services, tenant) == (0, 0, None)


def test_a_reset_that_keeps_losing_is_a_conflict(
    services: Services, tenant: str, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = services.assessments.store
    tries: list[int] = []

    def write_states(tenant_id: str, updates: Sequence[EntityState]) -> None:
        tries.append(1)
        raise StateConflict("another worker wrote this account first")

    monkeypatch.setattr(store, "write_states", write_states)

    with pytest.raises(Conflict):
        services.assessments.reset_exemptions(tenant, "acct-1", clock.now())
    assert len(tries) == services.settings.state_retries


def _strong_user(services: Services, tenant: str, clock: FrozenClock, user: str) -> str:
    auth = services.auth
    auth.create_user(tenant, user, password=PASSWORD, context=CTX)
    enrolment = auth.enrol_totp(tenant, user, label="phone", context=CTX)
    code = pyotp.TOTP(enrolment.secret).at(clock.now())
    auth.confirm_totp(tenant, user, enrolment.credential.id, code, context=CTX)
    clock.advance(timedelta(seconds=30))
    return enrolment.secret


def test_a_strong_sign_in_resets_the_counters_and_lets_more_through(
    services: Services,
    tenant: str,
    publish: Publish,
    make_event: EventFactory,
    clock: FrozenClock,
) -> None:
    secret = _strong_user(services, tenant, clock, "acct-1")
    publish(max_count=2)

    def pay(seconds: int) -> Decision:
        return services.assessments.assess(tenant, make_event(amount="110.00", seconds=seconds))[0]

    assert [is_exempt(pay(i)) for i in range(3)] == [True, True, False]

    # A password alone is AAL1: no reset.
    services.auth.sign_in(
        tenant, "acct-1", [Proof(FactorKind.PASSWORD, secret=PASSWORD)], context=CTX
    )
    assert counters(services, tenant) == (2, 22_000, "SGD")
    assert not is_exempt(pay(3))

    code = pyotp.TOTP(secret).at(clock.now())
    session = services.auth.sign_in(
        tenant,
        "acct-1",
        [Proof(FactorKind.PASSWORD, secret=PASSWORD), Proof(FactorKind.TOTP, secret=code)],
        context=CTX,
    )
    assert session.session.level == 2
    assert counters(services, tenant) == (0, 0, None)
    assert [is_exempt(pay(i)) for i in range(4, 7)] == [True, True, False]
    assert counters(services, tenant) == (2, 22_000, "SGD")


def test_without_any_auth_user_the_exemption_still_counts_per_account(
    services: Services, tenant: str, publish: Publish, make_event: EventFactory
) -> None:
    publish(max_count=2)
    for account in ("ghost-1", "ghost-2"):
        with pytest.raises(NotFound):
            services.auth.user(tenant, account)
    outcomes = {
        account: [
            is_exempt(
                services.assessments.assess(
                    tenant, make_event(amount="120.00", account=account, seconds=i)
                )[0]
            )
            for i in range(3)
        ]
        for account in ("ghost-1", "ghost-2")
    }
    assert outcomes == {"ghost-1": [True, True, False], "ghost-2": [True, True, False]}
    assert counters(services, tenant, "ghost-1") == (2, 24_000, "SGD")
    assert counters(services, tenant, "ghost-2") == (2, 24_000, "SGD")
    # Counters are per tenant as well.
    other, _ = services.tenants.create_tenant("globex", actor=Actor.system("test"))
    assert services.assessments.exemption_usage(other.id, "ghost-1") == (0, 0, None)
