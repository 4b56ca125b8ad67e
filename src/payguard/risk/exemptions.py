"""Low-risk exemptions from step-up: a rule set's `low_risk_exemption` turns a `challenge`
into `allow` for a small, low-score payment while the user's payments since their last
strong authentication stay within the limits.

The counters live in the account's entity state (`state.EXEMPTIONS`): the decision that uses
an exemption writes them in the same compare-and-set as the rest of the account's state, so
a stored exempted decision and its count cannot disagree, a lost race is decided again on the
counters that won, and a replayed event writes nothing. A strong (AAL2+) sign-in or step-up
resets them (`AssessmentService.reset_exemptions`), under the same version check.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from payguard.core.decisions import Action, AssuranceLevel, Decision, Reason
from payguard.core.events import Event, EventType
from payguard.risk.features.state import EXEMPTIONS
from payguard.risk.rules.ruleset import LowRiskExemption

EXEMPT = Reason(
    "SCA_EXEMPT_LOW_RISK",
    "Low-risk payment within the limits since the last strong authentication; no step-up",
)

#: The counters of an account with no exempted payment and no strong authentication yet.
_NONE: tuple[int, int, None, None] = (0, 0, None, None)


def exemptible(decision: Decision, event: Event, policy: LowRiskExemption) -> int | None:
    """The payment's amount in minor units if the policy may exempt this decision, else
    None: a payment challenged below `max_score`, at most `max_level`, of at most
    `max_amount` in the policy's currency."""
    if decision.decision != Action.CHALLENGE or event.event_type != EventType.PAYMENT:
        return None
    amount = event.amount
    if amount is None or amount.currency != policy.currency or amount.value > policy.max_amount:
        return None
    if decision.score >= policy.max_score:
        return None
    if decision.step_up is not None and decision.step_up.level > AssuranceLevel[policy.max_level]:
        return None
    return policy.minor(amount.value)


def exempted(decision: Decision) -> Decision:
    """`decision` let through without its step-up."""
    return dataclasses.replace(
        decision, decision=Action.ALLOW, step_up=None, reasons=(*decision.reasons, EXEMPT)
    )


def usage(account: Mapping[str, Any]) -> tuple[int, int, str | None]:
    """(payments, total in minor units, currency) exempted since the last strong
    authentication, from an account's state."""
    count, total_minor, currency, _ = account.get(EXEMPTIONS) or _NONE
    return int(count), int(total_minor), currency


def count_in(account: dict[str, Any], amount_minor: int, policy: LowRiskExemption) -> bool:
    """Count one exempted payment of `amount_minor` in `account` (the account's new state,
    about to be written) if the new count and total stay within the policy's limits and the
    payments counted so far are in its currency; otherwise change nothing and return False."""
    if amount_minor < 0:
        raise ValueError("amount_minor must not be negative")
    count, total_minor, currency, since = account.get(EXEMPTIONS) or _NONE
    if count > 0 and currency is not None and currency != policy.currency:
        return False  # the tenant changed the policy's currency since: wait for a reset
    count, total_minor = count + 1, total_minor + amount_minor
    if count > policy.max_count or total_minor > policy.minor(policy.max_total):
        return False
    # The first payment since the last reset fixes the currency.
    account[EXEMPTIONS] = [count, total_minor, currency if count > 1 else policy.currency, since]
    return True


def reset(account: Mapping[str, Any], at: datetime) -> dict[str, Any]:
    """A copy of an account's state with its counters zeroed by a strong authentication at
    `at`: only payments counted after it count."""
    return {**account, EXEMPTIONS: [0, 0, None, at.timestamp()]}
