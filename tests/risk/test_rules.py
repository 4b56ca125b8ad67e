from __future__ import annotations

import pytest

from payguard.core.decisions import Action, AssuranceLevel
from payguard.core.errors import PayloadTooLarge, ValidationFailed
from payguard.risk.engine import judge
from payguard.risk.features.extractor import FEATURES
from payguard.risk.models.null import NullScorer
from payguard.risk.rules.ruleset import compile_rule_set
from payguard.risk.rules.service import default_source

RULE = """
rules:
  - id: big
    when: amount > 1000.0
    action: challenge
    score: 400
    reason: BIG
    message: Big payment.
    step_up: AAL3
"""


def features(**values: object) -> dict[str, object]:
    f = dict(FEATURES)
    f.update(values)
    return f


def test_default_rule_set_compiles_and_allows_a_neutral_event() -> None:
    rule_set = compile_rule_set(default_source(), version=0)
    assert len(rule_set.rules) >= 15
    verdict = judge(features(), rule_set, NullScorer())
    assert verdict.action == Action.ALLOW
    assert verdict.score == 0


@pytest.mark.parametrize(
    ("source", "field"),
    [
        ("rules: [", "rules"),
        ("- just a list", "rules"),
        (
            "rules:\n  - id: x\n    when: amount >\n    action: block\n    reason: X\n    message: m",
            "rules[0].when",
        ),
        (
            "rules:\n  - id: x\n    when: nope > 1\n    action: block\n    reason: X\n    message: m",
            "rules[0].when",
        ),
        (
            "rules:\n  - id: x\n    when: amount\n    action: block\n    reason: X\n    message: m",
            "rules[0].when",
        ),
        (
            "rules:\n  - id: x\n    when: 'true'\n    action: maybe\n    reason: X\n    message: m",
            "rules[0].action",
        ),
        (
            "rules:\n  - id: Bad Id\n    when: 'true'\n    action: block\n    reason: X\n    message: m",
            "rules[0].id",
        ),
        (
            "rules:\n  - id: x\n    when: 'true'\n    action: block\n    reason: X\n    message: m\n    extra: 1",
            "rules[0].extra",
        ),
        (
            "rules:\n  - {id: x, when: 'true', action: block, reason: X, message: m}\n"
            "  - {id: x, when: 'true', action: block, reason: X, message: m}",
            "rules[1].id",
        ),
        ("thresholds: {challenge: 900, review: 100}\nrules: []", "thresholds"),
    ],
)
def test_bad_rule_sets_name_the_field(source: str, field: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        compile_rule_set(source, version=1)
    assert caught.value.field == field


def test_oversized_rule_set_is_refused() -> None:
    with pytest.raises(PayloadTooLarge):
        compile_rule_set("#" * (300 * 1024), version=1)


def test_hostile_yaml_is_not_executed() -> None:
    with pytest.raises(ValidationFailed):
        compile_rule_set("!!python/object/apply:os.system ['echo pwned']", version=1)


def test_challenge_carries_the_step_up_level() -> None:
    rule_set = compile_rule_set(RULE, version=3)
    verdict = judge(features(amount=5000.0), rule_set, NullScorer())
    assert verdict.action == Action.CHALLENGE
    assert verdict.step_up is not None and verdict.step_up.level == AssuranceLevel.AAL3
    assert [r.code for r in verdict.reasons] == ["BIG"]


def test_thresholds_escalate_and_severity_wins() -> None:
    source = """
thresholds: {challenge: 100, review: 200, block: 300}
rules:
  - {id: a, when: amount > 1.0, action: allow, score: 150, reason: A, message: a}
  - {id: b, when: amount > 2.0, action: allow, score: 200, reason: B, message: b}
  - {id: c, when: amount > 3.0, action: review, score: 0, reason: C, message: c}
"""
    rule_set = compile_rule_set(source, version=1)
    assert judge(features(amount=1.5), rule_set, NullScorer()).action == Action.CHALLENGE
    assert judge(features(amount=2.5), rule_set, NullScorer()).action == Action.BLOCK
    low = compile_rule_set(
        source.replace("150", "10").replace("200, reason", "10, reason"), version=2
    )
    assert judge(features(amount=3.5), low, NullScorer()).action == Action.REVIEW


def test_score_is_clamped() -> None:
    source = """
rules:
  - {id: a, when: 'true', action: allow, score: 1000, reason: A, message: a}
  - {id: b, when: 'true', action: allow, score: 1000, reason: B, message: b}
"""
    assert judge(features(), compile_rule_set(source, version=1), NullScorer()).score == 1000


def test_runtime_error_in_one_rule_does_not_fail_the_rest() -> None:
    source = """
rules:
  - {id: div, when: 'account_payments_1h / (account_events_1h - 1) > 1', action: block, score: 900, reason: D, message: d}
  - {id: ok, when: amount > 1.0, action: challenge, score: 300, reason: OK, message: ok}
"""
    rule_set = compile_rule_set(source, version=1)
    verdict = judge(features(amount=5.0, account_events_1h=1), rule_set, NullScorer())
    assert [hit.rule_id for hit in verdict.rule_hits] == ["ok"]


def test_default_rules_catch_a_card_testing_burst() -> None:
    rule_set = compile_rule_set(default_source(), version=0)
    verdict = judge(
        features(is_money_event=True, amount=0.5, account_payments_1m=9, event_type="payment"),
        rule_set,
        NullScorer(),
    )
    assert verdict.action == Action.BLOCK
    assert "CARD_TESTING_BURST" in [r.code for r in verdict.reasons]


def test_default_rules_block_listed_payee_with_a_warning() -> None:
    rule_set = compile_rule_set(default_source(), version=0)
    verdict = judge(features(payee_lists=["blocked_payees"]), rule_set, NullScorer())
    assert verdict.action == Action.BLOCK
    assert verdict.warnings


@pytest.mark.parametrize(
    ("values", "action", "reason"),
    [
        (
            {"is_money_event": True, "event_type": "payment", "remote_access": True},
            Action.CHALLENGE,
            "APP_SCAM_REMOTE_ACCESS",
        ),
        (
            {
                "is_money_event": True,
                "event_type": "payment",
                "remote_access": True,
                "new_payee": True,
            },
            Action.REVIEW,
            "APP_SCAM_REMOTE_ACCESS_NEW_PAYEE",
        ),
        (
            {"event_type": "credential_change", "sim_swap_recent": True},
            Action.CHALLENGE,
            "SIM_SWAP_RECENT",
        ),
        (
            {"event_type": "account_open", "promo": True, "device_distinct_accounts_24h": 4},
            Action.REVIEW,
            "PROMO_ABUSE_DEVICE_FARM",
        ),
        (
            {
                "event_type": "payment",
                "channel": "qr",
                "payee_age_days": 0.2,
                "payee_distinct_accounts_24h": 6,
            },
            Action.REVIEW,
            "QR_SWAP_SUSPECTED",
        ),
        (
            {
                "is_money_event": True,
                "event_type": "withdrawal",
                "account_deposits_24h": 4,
                "amount_to_deposits_24h": 0.95,
            },
            Action.REVIEW,
            "MULE_INFLOW_MOVED_ON",
        ),
    ],
)
def test_default_rules_for_scams_sim_swaps_promotions_qr_and_mules(
    values: dict[str, object], action: Action, reason: str
) -> None:
    rule_set = compile_rule_set(default_source(), version=0)
    verdict = judge(features(**values), rule_set, NullScorer())
    assert verdict.action == action
    assert reason in [r.code for r in verdict.reasons]


def test_a_recent_sim_swap_demands_a_passkey() -> None:
    rule_set = compile_rule_set(default_source(), version=0)
    verdict = judge(
        features(event_type="login", new_device=True, sim_swap_recent=True), rule_set, NullScorer()
    )
    assert verdict.step_up is not None and verdict.step_up.level == AssuranceLevel.AAL3
    assert verdict.warnings and "SIM" in verdict.warnings[0]
