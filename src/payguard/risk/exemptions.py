"""Low-risk exemptions from step-up: a rule set's `low_risk_exemption` turns a `challenge`
into `allow` for a small, low-score payment while the user's payments since their last
strong authentication stay within the limits.

The counters live with the authentication records (`AuthRepository.reserve_exemption`) and
are reset when the user next passes an AAL2+ step-up or signs in at AAL2+. A reservation is
taken before the decision is stored and given back if the decision is not stored after all
(a replayed event, a lost race), so the limits hold across workers.
"""

from __future__ import annotations

import dataclasses
from typing import Protocol

from payguard.core.decisions import Action, AssuranceLevel, Decision, Reason
from payguard.core.events import Event, EventType
from payguard.risk.rules.ruleset import LowRiskExemption

EXEMPT = Reason(
    "SCA_EXEMPT_LOW_RISK",
    "Low-risk payment within the limits since the last strong authentication; no step-up",
)


class ExemptionCounter(Protocol):
    """The narrow part of the auth store the engine needs."""

    def reserve_exemption(
        self,
        tenant_id: str,
        user_id: str,
        *,
        amount_minor: int,
        currency: str,
        max_count: int,
        max_total_minor: int,
    ) -> bool: ...

    def release_exemption(self, tenant_id: str, user_id: str, *, amount_minor: int) -> None: ...


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


@dataclasses.dataclass(slots=True)
class Reservation:
    """One assessment's hold on the exemption counters, across its decide attempts."""

    amount_minor: int | None = None
