"""`/v1/assessments`: decide an event, read a decision, label its outcome."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from payguard.api.deps import Assessments, Assessor, ClockDep, Labeller, Reader, actor_of
from payguard.api.responses import FastJSON
from payguard.wire.schemas import (
    AssessmentPublic,
    AssessmentRequest,
    OutcomeIn,
    assessment_public,
)

router = APIRouter(prefix="/v1/assessments", tags=["assessments"])

AssessmentId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]


@router.post(
    "",
    response_model=AssessmentPublic,
    summary="Decide an event",
    responses={200: {"description": "A repeat of an event_id: the first decision"}},
    status_code=201,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/AssessmentRequest"}}
            },
        }
    },
)
async def create_assessment(
    request: Request, principal: Assessor, assessments: Assessments, clock: ClockDep
) -> FastJSON:
    # The body is parsed and validated in one pass by pydantic-core straight from the bytes,
    # which costs a fraction of FastAPI's json.loads-then-validate on this hot path.
    try:
        body = AssessmentRequest.model_validate_json(await request.body())
    except ValidationError as exc:
        raise RequestValidationError(
            [{**error, "loc": ("body", *error["loc"])} for error in exc.errors(include_url=False)]
        ) from None
    event = body.to_event(now=clock.now())
    decision, replayed = await assessments.assess_async(principal.tenant_id, event)
    return FastJSON(assessment_public(decision, replayed=replayed), 200 if replayed else 201)


@router.get("/{assessment_id}", response_model=AssessmentPublic, summary="Read a decision")
async def get_assessment(
    assessment_id: AssessmentId, principal: Reader, assessments: Assessments
) -> FastJSON:
    decision = assessments.get(principal.tenant_id, assessment_id)
    return FastJSON(assessment_public(decision, replayed=False))


@router.post(
    "/{assessment_id}/outcome",
    response_model=AssessmentPublic,
    summary="Record what really happened (fraud, chargeback, legit)",
)
async def record_outcome(
    assessment_id: AssessmentId,
    body: OutcomeIn,
    principal: Labeller,
    assessments: Assessments,
    request: Request,
) -> FastJSON:
    decision = assessments.record_outcome(
        tenant_id=principal.tenant_id,
        assessment_id=assessment_id,
        outcome=body.outcome,
        actor=actor_of(principal, request),
        note=body.note,
    )
    return FastJSON(assessment_public(decision, replayed=False))
