"""Rule set versions per tenant: hot reload, audit, and backtests against stored decisions."""

from __future__ import annotations

import dataclasses
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from importlib import resources

from payguard.audit.interfaces import Actor, AuditAction, AuditWriter
from payguard.core.bus import RULES_CHANGED, EventBus
from payguard.core.clock import Clock
from payguard.core.decisions import FRAUD_OUTCOMES, SEVERITY, Action, Outcome
from payguard.core.errors import PayguardError, ValidationFailed
from payguard.risk.cache import PolledCache
from payguard.risk.engine import dense, judge
from payguard.risk.interfaces import AssessmentStore, ModelSource, RuleSetRepository
from payguard.risk.models.null import NullScorer
from payguard.risk.rules.ruleset import RuleSet, compile_rule_set

MAX_BACKTEST_EVENTS = 100_000


def default_source() -> str:
    """The YAML of the rule set shipped with payguard (version 0 for every tenant)."""
    return resources.files("payguard.risk.rules").joinpath("default.yaml").read_text("utf-8")


@dataclass(slots=True)
class BacktestReport:
    """How a candidate rule set would have decided the stored events."""

    events: int = 0
    changed: int = 0
    current: Counter[str] = field(default_factory=Counter)
    candidate: Counter[str] = field(default_factory=Counter)
    transitions: Counter[tuple[str, str]] = field(default_factory=Counter)
    rule_hits: Counter[str] = field(default_factory=Counter)
    labelled_fraud: int = 0
    labelled_legit: int = 0
    fraud_stopped_current: int = 0
    fraud_stopped_candidate: int = 0
    legit_stopped_current: int = 0
    legit_stopped_candidate: int = 0
    examples: list[dict[str, str]] = field(default_factory=list)


class RuleService:
    """Serves each tenant's active compiled rule set; compiles each version once."""

    def __init__(
        self,
        repository: RuleSetRepository,
        *,
        audit: AuditWriter,
        bus: EventBus,
        clock: Clock,
        ttl: float,
        history: AssessmentStore,
        models: ModelSource,
    ) -> None:
        self._repository = repository
        self._history = history
        self._models = models
        self._audit = audit
        self._bus = bus
        self._clock = clock
        self.default = compile_rule_set(default_source(), version=0)
        self._cache: PolledCache[RuleSet] = PolledCache(
            ttl=ttl, version=repository.active_version, load=self._load
        )

    def active(self, tenant_id: str) -> RuleSet:
        return self._cache.get(tenant_id)

    def _load(self, tenant_id: str, version: int) -> RuleSet:
        stored = self._repository.get(tenant_id, version) if version else None
        if stored is None:  # version 0: the tenant never stored a rule set
            return self.default
        return compile_rule_set(stored.source, version=stored.version)

    def invalidate(self, tenant_id: str) -> None:
        self._cache.invalidate(tenant_id)

    def update(self, *, tenant_id: str, source: str, actor: Actor) -> RuleSet:
        """Validate and compile `source`, store it as the next version and make it active."""
        try:
            candidate = compile_rule_set(source, version=0)
        except PayguardError as exc:
            self._audit.failure(
                AuditAction.RULES_UPDATE,
                actor,
                "rules",
                tenant_id=tenant_id,
                details={"error": exc.message, "field": getattr(exc, "field", None)},
            )
            raise
        stored = self._repository.add(tenant_id, source, self._clock.now(), actor.name)
        rule_set = dataclasses.replace(candidate, version=stored.version)
        self._cache.put(tenant_id, stored.version, rule_set)
        self._audit.success(
            AuditAction.RULES_UPDATE,
            actor,
            f"rules:v{stored.version}",
            tenant_id=tenant_id,
            details={"version": stored.version, "rules": len(rule_set.rules)},
        )
        self._bus.publish(RULES_CHANGED, {"tenant_id": tenant_id, "version": stored.version})
        return rule_set

    def backtest(
        self,
        *,
        tenant_id: str,
        source: str,
        since: datetime | None,
        until: datetime | None,
        limit: int,
        actor: Actor,
    ) -> BacktestReport:
        """Re-decide stored events with the features they had, under `source` (and the
        tenant's acting model)."""
        if not 1 <= limit <= MAX_BACKTEST_EVENTS:
            raise ValidationFailed(f"limit must be 1-{MAX_BACKTEST_EVENTS}", field="limit")
        candidate = compile_rule_set(source, version=-1)
        report = BacktestReport()
        scorer = self._models.for_tenant(tenant_id).champion or NullScorer()
        for decision in self._history.iter_decisions(
            tenant_id, since=since, until=until, limit=limit
        ):
            verdict = judge(dense(decision.features), candidate, scorer)
            old, new = decision.decision, verdict.action
            report.events += 1
            report.current[old.value] += 1
            report.candidate[new.value] += 1
            report.transitions[(old.value, new.value)] += 1
            report.rule_hits.update(hit.rule_id for hit in verdict.rule_hits)
            if old != new:
                report.changed += 1
                if len(report.examples) < 20:
                    report.examples.append(
                        {"assessment_id": decision.assessment_id, "from": old, "to": new}
                    )
            if decision.outcome is not None:
                fraud = decision.outcome in FRAUD_OUTCOMES
                stopped_old = _stops(old)
                stopped_new = _stops(new)
                if fraud:
                    report.labelled_fraud += 1
                    report.fraud_stopped_current += stopped_old
                    report.fraud_stopped_candidate += stopped_new
                elif decision.outcome == Outcome.LEGIT:
                    report.labelled_legit += 1
                    report.legit_stopped_current += stopped_old
                    report.legit_stopped_candidate += stopped_new
        self._audit.success(
            AuditAction.RULES_BACKTEST,
            actor,
            "rules:candidate",
            tenant_id=tenant_id,
            details={"events": report.events, "changed": report.changed},
        )
        return report


def _stops(action: Action) -> int:
    """1 when the action keeps the money from moving without more proof."""
    return int(SEVERITY[action] >= SEVERITY[Action.CHALLENGE])
