"""The model registry service: register, promote, shadow, and watch the champion drift.

Every change is audited, published on the bus (`models.changed`) and shown at once by this
worker's serving cache (`changed`); other workers notice within their poll TTL.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from payguard.audit.interfaces import Actor, AuditAction, AuditWriter
from payguard.core.bus import MODELS_CHANGED, EventBus
from payguard.core.clock import Clock
from payguard.core.errors import NotFound, PayguardError, ValidationFailed
from payguard.ml.interfaces import ModelRecord, ModelRegistry, ModelSummary
from payguard.risk.engine import dense
from payguard.risk.interfaces import AssessmentStore
from payguard.risk.models.artifact import ModelArtifact

#: Longest drift window, in days.
MAX_DRIFT_DAYS = 90
#: Most stored decisions one drift report reads.
MAX_DRIFT_EVENTS = 2_000_000


@dataclass(frozen=True, slots=True)
class DriftReport:
    """Population stability of the champion's score and top features, per day (UTC)."""

    version: int
    days: int
    since: datetime
    by_day: list[dict[str, Any]]


class ModelService:
    """Versions of each tenant's fraud model and which one serves."""

    def __init__(
        self,
        registry: ModelRegistry,
        *,
        store: AssessmentStore,
        audit: AuditWriter,
        bus: EventBus,
        clock: Clock,
        changed: Callable[[str], None] | None = None,
        validate: Callable[[ModelArtifact], None] | None = None,
    ) -> None:
        self._registry = registry
        self._store = store
        self._audit = audit
        self._bus = bus
        self._clock = clock
        self._changed = changed
        self._validate = validate if validate is not None else servable

    def register(self, tenant_id: str, artifact: ModelArtifact, actor: Actor) -> ModelRecord:
        """Check that `artifact` can be served and store it as the next version (a
        candidate: it serves nothing until promoted or made the shadow)."""
        try:
            self._validate(artifact)
        except PayguardError as exc:
            self._failed(AuditAction.MODEL_REGISTER, tenant_id, actor, "model", exc)
            raise
        record = self._registry.add(tenant_id, artifact, self._clock.now(), actor.name)
        self._audit.success(
            AuditAction.MODEL_REGISTER,
            actor,
            f"model:v{record.version}",
            tenant_id=tenant_id,
            details={
                "version": record.version,
                "data_hash": artifact.data_hash,
                "columns": len(artifact.columns),
            },
        )
        self._bus.publish(
            MODELS_CHANGED, {"tenant_id": tenant_id, "version": record.version, "change": "add"}
        )
        return record

    def get(self, tenant_id: str, version: int) -> ModelRecord:
        """The version with its artifact; `NotFound` if the tenant has no such version."""
        record = self._registry.get(tenant_id, version)
        if record is None:
            raise NotFound(f"no model version {version}")
        return record

    def latest(self, tenant_id: str) -> ModelRecord | None:
        """The newest version, whatever its status; None before the first."""
        return self._registry.latest(tenant_id)

    def list(self, tenant_id: str) -> list[ModelSummary]:
        """Every version, newest first, without blobs."""
        return self._registry.list(tenant_id)

    def describe(self, tenant_id: str, version: int) -> ModelSummary:
        summary = self._registry.describe(tenant_id, version)
        if summary is None:
            raise NotFound(f"no model version {version}")
        return summary

    def serving(self, tenant_id: str) -> tuple[ModelSummary | None, ModelSummary | None]:
        """(champion, shadow)."""
        return self._registry.serving(tenant_id)

    def promote(self, tenant_id: str, version: int, actor: Actor) -> ModelSummary:
        """Make `version` the champion (the previous one is retired)."""
        before, _ = self._registry.serving(tenant_id)
        try:
            summary = self._registry.promote(tenant_id, version)
        except PayguardError as exc:
            target = f"model:v{version}"
            self._failed(AuditAction.MODEL_PROMOTE, tenant_id, actor, target, exc)
            raise
        self._applied(
            AuditAction.MODEL_PROMOTE,
            tenant_id,
            actor,
            f"model:v{version}",
            {"version": version, "previous": None if before is None else before.version},
        )
        return summary

    def shadow(self, tenant_id: str, version: int | None, actor: Actor) -> ModelSummary | None:
        """Make `version` the shadow (None: stop shadowing)."""
        _, before = self._registry.serving(tenant_id)
        target = "model:shadow" if version is None else f"model:v{version}"
        try:
            summary = self._registry.set_shadow(tenant_id, version)
        except PayguardError as exc:
            self._failed(AuditAction.MODEL_SHADOW, tenant_id, actor, target, exc)
            raise
        self._applied(
            AuditAction.MODEL_SHADOW,
            tenant_id,
            actor,
            target,
            {"version": version, "previous": None if before is None else before.version},
        )
        return summary

    def drift(self, tenant_id: str, days: int) -> DriftReport:
        """Population stability index of the champion's score and top features against its
        training period, per UTC day over the last `days` days (today included), from the
        decisions it scored."""
        if not 1 <= days <= MAX_DRIFT_DAYS:
            raise ValidationFailed(f"days must be 1-{MAX_DRIFT_DAYS}", field="days")
        champion, _ = self._registry.serving(tenant_id)
        if champion is None:
            raise NotFound("no model is promoted; drift is measured for the champion")
        record = self.get(tenant_id, champion.version)
        from payguard.ml.drift import drift_by_day

        today = self._clock.now().astimezone(UTC).date()
        since = datetime.combine(today - timedelta(days=days - 1), time(0), tzinfo=UTC)
        rows = self._scored(tenant_id, str(champion.version), since)
        return DriftReport(
            version=champion.version,
            days=days,
            since=since,
            by_day=drift_by_day(record.artifact.reference, rows),
        )

    def _scored(
        self, tenant_id: str, version: str, since: datetime
    ) -> Iterator[tuple[date, float, dict[str, Any]]]:
        for decision in self._store.iter_decisions(tenant_id, since=since, limit=MAX_DRIFT_EVENTS):
            model = decision.model
            if model is not None and model.version == version:
                day = decision.occurred_at.astimezone(UTC).date()
                yield day, model.score, dense(decision.features)

    def _applied(
        self,
        action: AuditAction,
        tenant_id: str,
        actor: Actor,
        target: str,
        details: dict[str, Any],
    ) -> None:
        if self._changed is not None:
            self._changed(tenant_id)
        self._audit.success(action, actor, target, tenant_id=tenant_id, details=details)
        self._bus.publish(
            MODELS_CHANGED, {"tenant_id": tenant_id, "change": action.value, **details}
        )

    def _failed(
        self,
        action: AuditAction,
        tenant_id: str,
        actor: Actor,
        target: str,
        exc: PayguardError,
    ) -> None:
        self._audit.failure(
            action,
            actor,
            target,
            tenant_id=tenant_id,
            details={"error": exc.message, "field": getattr(exc, "field", None)},
        )


def servable(artifact: ModelArtifact) -> None:
    """Refuse an artifact the engine could not serve: its ONNX graph, its booster (for
    reason codes) and its columns must load and agree."""
    from payguard.risk.models.onnx import OnnxScorer

    if not artifact.columns:
        raise ValidationFailed("the model has no columns", field="columns")
    if len(set(artifact.columns)) != len(artifact.columns):
        raise ValidationFailed("the model's columns repeat a name", field="columns")
    try:
        scorer = OnnxScorer(artifact, 0, explain=True)
        scorer.score({})
    except Exception as exc:
        raise ValidationFailed(
            f"the model cannot be served: {type(exc).__name__}", field="onnx"
        ) from exc
