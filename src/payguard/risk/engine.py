"""The pure decision step: features → rules + model → decision. No I/O here."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from payguard.core.decisions import (
    SEVERITY,
    STEP_UP_METHODS,
    Action,
    AssuranceLevel,
    Decision,
    ModelScore,
    Reason,
    RuleHit,
    StepUp,
)
from payguard.core.events import Event
from payguard.risk.features.extractor import FEATURES
from payguard.risk.interfaces import Explainer, Scorer
from payguard.risk.rules.ruleset import RuleSet, RuleSpec, assurance


@dataclass(frozen=True, slots=True)
class Verdict:
    """What the rules and the model concluded, before it is stamped into a `Decision`."""

    action: Action
    score: int
    reasons: tuple[Reason, ...]
    warnings: tuple[str, ...]
    step_up: StepUp | None
    rule_hits: tuple[RuleHit, ...]
    model: ModelScore | None
    shadow: ModelScore | None = None


#: Most reasons the model adds to a decision it drives.
MODEL_REASONS = 3


def judge(
    features: Mapping[str, Any],
    rule_set: RuleSet,
    scorer: Scorer | None,
    *,
    step_up_floor: int = 0,
    shadow: Scorer | None = None,
    explainer: Explainer | None = None,
) -> Verdict:
    """Evaluate the rules and the model on `features` and combine them.

    Score = sum of the hit rules' scores, raised to the model's score (times 1000) when a model
    is present, clamped to 0-1000. Action = the most severe of the hit rules' actions and the
    action the score's threshold band implies. When the model's score alone reaches the
    challenge band, `explainer` adds up to `MODEL_REASONS` reasons naming the features that
    raised it (after the rules' reasons). The `shadow` model is scored and reported, and
    changes nothing.
    """
    hits: list[RuleSpec] = rule_set.evaluate(features)
    model = None if scorer is None else scorer.score(features)
    score = sum(rule.score for rule in hits)
    thresholds = rule_set.thresholds
    model_reasons: tuple[Reason, ...] = ()
    if model is not None:
        model_points = round(model.score * 1000)
        score = max(score, model_points)
        if explainer is not None and model_points >= thresholds.challenge:
            model_reasons = explainer.explain(features, MODEL_REASONS)
    score = max(0, min(1000, score))

    if score >= thresholds.block:
        action = Action.BLOCK
    elif score >= thresholds.review:
        action = Action.REVIEW
    elif score >= thresholds.challenge:
        action = Action.CHALLENGE
    else:
        action = Action.ALLOW
    for rule in hits:
        if SEVERITY[rule.action] > SEVERITY[action]:
            action = rule.action

    ordered = sorted(hits, key=lambda r: (-SEVERITY[r.action], -r.score))
    reasons = tuple(Reason(rule.reason, rule.message) for rule in ordered) + model_reasons
    warnings: list[str] = []
    for rule in ordered:
        if rule.warning and rule.warning not in warnings:
            warnings.append(rule.warning)

    step_up = None
    if action == Action.CHALLENGE:
        level = max(
            [assurance(rule.step_up) for rule in hits if rule.action == Action.CHALLENGE]
            or [AssuranceLevel.AAL2]
        )
        level = AssuranceLevel(max(level, step_up_floor))
        step_up = StepUp(level=level, methods=STEP_UP_METHODS[level])

    return Verdict(
        action=action,
        score=score,
        reasons=reasons,
        warnings=tuple(warnings),
        step_up=step_up,
        rule_hits=tuple(RuleHit(r.id, r.action, r.score, r.reason) for r in hits),
        model=model,
        shadow=None if shadow is None else shadow.score(features),
    )


def stamp(
    verdict: Verdict,
    *,
    assessment_id: str,
    tenant_id: str,
    event: Event,
    event_document: dict[str, Any],
    features: dict[str, Any],
    rule_set_version: int,
    decided_at: datetime,
) -> Decision:
    """Turn a verdict into the stored decision record."""
    return Decision(
        assessment_id=assessment_id,
        tenant_id=tenant_id,
        event_id=event.event_id,
        event_type=event.event_type.value,
        account_id=event.account_id,
        decision=verdict.action,
        score=verdict.score,
        reasons=verdict.reasons,
        warnings=verdict.warnings,
        step_up=verdict.step_up,
        rule_hits=verdict.rule_hits,
        model=verdict.model,
        shadow=verdict.shadow,
        rule_set_version=rule_set_version,
        occurred_at=event.occurred_at,
        decided_at=decided_at,
        features=sparse(features),
        event=event_document,
    )


def sparse(features: Mapping[str, Any]) -> dict[str, Any]:
    """Only the features that differ from their neutral value: what a decision stores."""
    neutral = FEATURES
    return {name: value for name, value in features.items() if value != neutral[name]}


def dense(stored: Mapping[str, Any]) -> dict[str, Any]:
    """A stored (sparse) feature vector with every other feature at its neutral value."""
    return {**FEATURES, **stored}
