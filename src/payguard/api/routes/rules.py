"""`/v1/rules`: read, replace (hot reload) and backtest the tenant's rule set."""

from __future__ import annotations

from fastapi import APIRouter, Request

from payguard.api.deps import Admin, Analyst, Rules, actor_of
from payguard.core.errors import ValidationFailed
from payguard.risk.rules.ruleset import RuleSet
from payguard.wire.schemas import BacktestIn, BacktestPublic, RuleSetIn, RuleSetPublic

router = APIRouter(prefix="/v1/rules", tags=["rules"])


def _public(rule_set: RuleSet) -> RuleSetPublic:
    return RuleSetPublic(
        version=rule_set.version,
        source=rule_set.source,
        rules=[rule.spec.id for rule in rule_set.rules],
        thresholds=rule_set.thresholds.model_dump(),
    )


@router.get("", response_model=RuleSetPublic, summary="The active rule set")
async def get_rules(principal: Analyst, rules: Rules) -> RuleSetPublic:
    return _public(rules.active(principal.tenant_id))


@router.put("", response_model=RuleSetPublic, summary="Replace the rule set (takes effect at once)")
async def put_rules(
    body: RuleSetIn, principal: Admin, rules: Rules, request: Request
) -> RuleSetPublic:
    rule_set = rules.update(
        tenant_id=principal.tenant_id,
        source=body.source,
        actor=actor_of(principal, request),
    )
    return _public(rule_set)


@router.post("/backtest", response_model=BacktestPublic, summary="Replay stored events")
def backtest(
    body: BacktestIn, principal: Analyst, rules: Rules, request: Request
) -> BacktestPublic:
    if body.since and body.until and body.since >= body.until:
        raise ValidationFailed("since must be before until", field="since")
    report = rules.backtest(
        tenant_id=principal.tenant_id,
        source=body.source,
        since=body.since,
        until=body.until,
        limit=body.limit,
        actor=actor_of(principal, request),
    )
    return BacktestPublic(
        events=report.events,
        changed=report.changed,
        current=dict(report.current),
        candidate=dict(report.candidate),
        transitions=[
            {"from": old, "to": new, "count": n}
            for (old, new), n in sorted(report.transitions.items())
        ],
        rule_hits=dict(report.rule_hits),
        labelled={
            "fraud": report.labelled_fraud,
            "legit": report.labelled_legit,
            "fraud_stopped_current": report.fraud_stopped_current,
            "fraud_stopped_candidate": report.fraud_stopped_candidate,
            "legit_stopped_current": report.legit_stopped_current,
            "legit_stopped_candidate": report.legit_stopped_candidate,
        },
        examples=report.examples,
    )
