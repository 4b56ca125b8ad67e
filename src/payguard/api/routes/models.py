"""`/v1/models`: the tenant's model versions, which one acts, which one shadows, and drift."""

from __future__ import annotations

import math
from datetime import date
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Path, Query, Request

from payguard.api.deps import Admin, Analyst, Models, actor_of
from payguard.ml.interfaces import ModelSummary
from payguard.ml.registry import MAX_DRIFT_DAYS
from payguard.wire.schemas import (
    MAX_MODEL_VERSION,
    DriftDayPublic,
    DriftPublic,
    ModelDetailPublic,
    ModelListPublic,
    ModelPublic,
    ServingPublic,
    ShadowIn,
)

if TYPE_CHECKING:
    from payguard.ml.registry import ModelService

router = APIRouter(prefix="/v1/models", tags=["models"])

Version = Annotated[int, Path(ge=1, le=MAX_MODEL_VERSION, description="The model version")]


def _public(summary: ModelSummary) -> ModelPublic:
    return ModelPublic(
        version=summary.version,
        status=summary.status.value,
        created_at=summary.created_at,
        created_by=summary.created_by,
        trained_at=summary.trained_at,
        data_hash=summary.data_hash,
        columns=summary.columns,
        metrics=summary.metrics,
    )


def _serving(models: ModelService, tenant_id: str) -> ServingPublic:
    champion, shadow = models.serving(tenant_id)
    return ServingPublic(
        champion=None if champion is None else champion.version,
        shadow=None if shadow is None else shadow.version,
    )


@router.get("", response_model=ModelListPublic, summary="Model versions, newest first")
async def list_models(principal: Analyst, models: Models) -> ModelListPublic:
    summaries = models.list(principal.tenant_id)
    champion = next((s.version for s in summaries if s.status == "champion"), None)
    shadow = next((s.version for s in summaries if s.status == "shadow"), None)
    return ModelListPublic(champion=champion, shadow=shadow, models=[_public(s) for s in summaries])


@router.put("/shadow", response_model=ServingPublic, summary="Run a version in shadow mode")
async def put_shadow(
    body: ShadowIn, principal: Admin, models: Models, request: Request
) -> ServingPublic:
    models.shadow(principal.tenant_id, body.version, actor=actor_of(principal, request))
    return _serving(models, principal.tenant_id)


@router.get("/drift", response_model=DriftPublic, summary="Daily drift of the champion")
def get_drift(
    principal: Analyst,
    models: Models,
    days: Annotated[
        int, Query(ge=1, le=MAX_DRIFT_DAYS, description="Days back, today included")
    ] = 7,
) -> DriftPublic:
    # A plain `def`: reading days of decisions runs in the thread pool, off the event loop.
    report = models.drift(principal.tenant_id, days)
    return DriftPublic(
        version=report.version,
        days=report.days,
        since=report.since,
        by_day=[_day(row) for row in report.by_day],
    )


@router.get("/{version}", response_model=ModelDetailPublic, summary="One model version")
async def get_model(version: Version, principal: Analyst, models: Models) -> ModelDetailPublic:
    record = models.get(principal.tenant_id, version)
    artifact = record.artifact
    return ModelDetailPublic(
        **_public(record.summary).model_dump(),
        column_names=list(artifact.columns),
        params=artifact.params,
    )


@router.post(
    "/{version}/promote",
    response_model=ServingPublic,
    summary="Make a version the champion (acts on every event at once)",
)
async def promote_model(
    version: Version, principal: Admin, models: Models, request: Request
) -> ServingPublic:
    models.promote(principal.tenant_id, version, actor=actor_of(principal, request))
    return _serving(models, principal.tenant_id)


def _psi(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _day(row: dict[str, Any]) -> DriftDayPublic:
    day = row["day"]
    return DriftDayPublic(
        day=day.isoformat() if isinstance(day, date) else str(day),
        events=int(row["events"]),
        score_psi=_psi(row.get("score_psi")),
        features={name: _psi(value) for name, value in (row.get("features") or {}).items()},
    )
