"""What payguard answers: a decision with score, reasons, warnings and step-up."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import IntEnum, StrEnum
from typing import Any


class Action(StrEnum):
    """The outcome a partner acts on; ordered by severity via `SEVERITY`."""

    ALLOW = "allow"
    CHALLENGE = "challenge"
    REVIEW = "review"
    BLOCK = "block"


SEVERITY: dict[Action, int] = {
    Action.ALLOW: 0,
    Action.CHALLENGE: 1,
    Action.REVIEW: 2,
    Action.BLOCK: 3,
}


class AssuranceLevel(IntEnum):
    """NIST SP 800-63B authenticator assurance levels a step-up can demand."""

    AAL1 = 1
    AAL2 = 2
    AAL3 = 3


#: The factor combinations that meet each level (see `payguard.auth.factors`): `+` joins
#: factors presented together; `passkey_uv` is a passkey with user verification.
STEP_UP_METHODS: dict[AssuranceLevel, tuple[str, ...]] = {
    AssuranceLevel.AAL1: ("password", "device", "totp", "recovery_code", "passkey"),
    AssuranceLevel.AAL2: (
        "passkey_uv",
        "password+totp",
        "password+device",
        "password+passkey",
        "password+recovery_code",
    ),
    AssuranceLevel.AAL3: ("passkey_uv+device",),
}


class Outcome(StrEnum):
    """A label a partner reports after the fact."""

    FRAUD = "fraud"
    CHARGEBACK = "chargeback"
    LEGIT = "legit"


FRAUD_OUTCOMES = frozenset({Outcome.FRAUD, Outcome.CHARGEBACK})


@dataclass(frozen=True, slots=True)
class Reason:
    code: str
    message: str


@dataclass(frozen=True, slots=True)
class StepUp:
    level: AssuranceLevel
    methods: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class RuleHit:
    rule_id: str
    action: Action
    score: int
    reason_code: str


@dataclass(frozen=True, slots=True)
class ModelScore:
    version: str
    score: float


@dataclass(frozen=True, slots=True)
class Decision:
    """The engine's verdict on one event, with everything that produced it."""

    assessment_id: str
    tenant_id: str
    event_id: str
    event_type: str
    account_id: str
    decision: Action
    score: int
    reasons: tuple[Reason, ...]
    warnings: tuple[str, ...]
    step_up: StepUp | None
    rule_hits: tuple[RuleHit, ...]
    model: ModelScore | None
    rule_set_version: int
    occurred_at: datetime
    decided_at: datetime
    features: dict[str, Any] = field(default_factory=dict)
    event: dict[str, Any] = field(default_factory=dict)
    outcome: Outcome | None = None
    #: The shadow model's score (a challenger scored on live traffic): stored, never acted on.
    shadow: ModelScore | None = None
    #: For a `challenge`: `allow` once its step-up passed, `block` once it failed; None while
    #: it is pending (and for every other decision).
    final: Action | None = None
    final_at: datetime | None = None


def _score_document(score: ModelScore | None) -> dict[str, Any] | None:
    return None if score is None else {"version": score.version, "score": score.score}


def _score_from_document(doc: dict[str, Any] | None) -> ModelScore | None:
    return None if doc is None else ModelScore(doc["version"], float(doc["score"]))


def decision_to_document(decision: Decision) -> dict[str, Any]:
    """The JSON-able form stores and the bus carry (datetimes as RFC 3339 strings)."""
    return {
        "assessment_id": decision.assessment_id,
        "tenant_id": decision.tenant_id,
        "event_id": decision.event_id,
        "event_type": decision.event_type,
        "account_id": decision.account_id,
        "decision": decision.decision.value,
        "score": decision.score,
        "reasons": [{"code": r.code, "message": r.message} for r in decision.reasons],
        "warnings": list(decision.warnings),
        "step_up": (
            None
            if decision.step_up is None
            else {"level": int(decision.step_up.level), "methods": list(decision.step_up.methods)}
        ),
        "rule_hits": [
            {
                "rule_id": h.rule_id,
                "action": h.action.value,
                "score": h.score,
                "reason_code": h.reason_code,
            }
            for h in decision.rule_hits
        ],
        "model": _score_document(decision.model),
        "shadow": _score_document(decision.shadow),
        "rule_set_version": decision.rule_set_version,
        "occurred_at": decision.occurred_at.isoformat(),
        "decided_at": decision.decided_at.isoformat(),
        "features": decision.features,
        "event": decision.event,
        "outcome": None if decision.outcome is None else decision.outcome.value,
        "final": None if decision.final is None else decision.final.value,
        "final_at": None if decision.final_at is None else decision.final_at.isoformat(),
    }


def decision_from_document(doc: dict[str, Any]) -> Decision:
    """Inverse of `decision_to_document`."""
    step_up = doc.get("step_up")
    outcome = doc.get("outcome")
    final = doc.get("final")
    final_at = doc.get("final_at")
    return Decision(
        assessment_id=doc["assessment_id"],
        tenant_id=doc["tenant_id"],
        event_id=doc["event_id"],
        event_type=doc["event_type"],
        account_id=doc["account_id"],
        decision=Action(doc["decision"]),
        score=int(doc["score"]),
        reasons=tuple(Reason(r["code"], r["message"]) for r in doc["reasons"]),
        warnings=tuple(doc["warnings"]),
        step_up=(
            None
            if step_up is None
            else StepUp(AssuranceLevel(step_up["level"]), tuple(step_up["methods"]))
        ),
        rule_hits=tuple(
            RuleHit(h["rule_id"], Action(h["action"]), int(h["score"]), h["reason_code"])
            for h in doc["rule_hits"]
        ),
        model=_score_from_document(doc.get("model")),
        rule_set_version=int(doc["rule_set_version"]),
        occurred_at=datetime.fromisoformat(doc["occurred_at"]),
        decided_at=datetime.fromisoformat(doc["decided_at"]),
        features=dict(doc.get("features") or {}),
        event=dict(doc.get("event") or {}),
        outcome=None if outcome is None else Outcome(outcome),
        shadow=_score_from_document(doc.get("shadow")),
        final=None if final is None else Action(final),
        final_at=None if final_at is None else datetime.fromisoformat(final_at),
    )
