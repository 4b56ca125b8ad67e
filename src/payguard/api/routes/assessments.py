"""`/v1/assessments`: decide an event, find and read decisions, label an outcome."""

from __future__ import annotations

from functools import partial
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from pydantic import Field, ValidationError

from payguard.api.deps import (
    Assessments,
    Assessor,
    CardTokens,
    ClockDep,
    Labeller,
    Reader,
    actor_of,
)
from payguard.api.responses import FastJSON
from payguard.core.decisions import Action
from payguard.core.errors import ValidationFailed
from payguard.risk.interfaces import MAX_SEARCH_LIMIT, DecisionQuery
from payguard.wire.schemas import (
    MAX_CURSOR,
    AssessmentPagePublic,
    AssessmentPublic,
    AssessmentRequest,
    Identifier,
    OutcomeIn,
    Rfc3339Time,
    assessment_cursor,
    assessment_position,
    assessment_public,
)

router = APIRouter(prefix="/v1/assessments", tags=["assessments"])

AssessmentId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
Score = Annotated[int, Field(ge=0, le=1000)]
ReasonCode = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]


@router.get(
    "",
    response_model=AssessmentPagePublic,
    summary="Find decisions, newest first",
    description=(
        "Every filter given must match. `from`/`to` bound the event's `occurred_at` (from "
        "inclusive, to exclusive). `decision` is repeatable or a comma list. Pages are "
        f"`limit` long (at most {MAX_SEARCH_LIMIT}); pass `next_cursor` as `cursor` for the "
        "next one."
    ),
)
async def search_assessments(
    principal: Reader,
    assessments: Assessments,
    since: Annotated[Rfc3339Time | None, Query(alias="from")] = None,
    until: Annotated[Rfc3339Time | None, Query(alias="to")] = None,
    decision: Annotated[list[str] | None, Query(max_length=8)] = None,
    account_id: Identifier | None = None,
    device_id: Identifier | None = None,
    payee: Annotated[Identifier | None, Query(description="The payee's id")] = None,
    reason: Annotated[ReasonCode | None, Query(description="A reason code")] = None,
    score_min: Score | None = None,
    score_max: Score | None = None,
    cursor: Annotated[str | None, Query(max_length=MAX_CURSOR)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_SEARCH_LIMIT)] = 50,
) -> FastJSON:
    if since is not None and until is not None and since > until:
        raise ValidationFailed("from must not be after to", field="from")
    if score_min is not None and score_max is not None and score_min > score_max:
        raise ValidationFailed("score_min must not exceed score_max", field="score_min")
    query = DecisionQuery(
        since=since,
        until=until,
        decisions=_actions(decision or []),
        account_id=account_id,
        device_id=device_id,
        payee_id=payee,
        reason=reason,
        score_min=score_min,
        score_max=score_max,
        limit=limit,
        after=None if cursor is None else assessment_position(cursor),
    )
    found, more = assessments.search(principal.tenant_id, query)
    return FastJSON(
        {
            "items": [assessment_public(d, replayed=False) for d in found],
            "next_cursor": assessment_cursor(found[-1]) if more and found else None,
        }
    )


def _actions(values: list[str]) -> tuple[Action, ...]:
    """`decision=block&decision=review` or `decision=block,review`, as actions."""
    actions: list[Action] = []
    for value in values:
        for name in value.split(","):
            try:
                actions.append(Action(name.strip()))
            except ValueError:
                raise ValidationFailed(
                    "decision must be allow, challenge, review or block", field="decision"
                ) from None
    return tuple(dict.fromkeys(actions))


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
    request: Request,
    principal: Assessor,
    assessments: Assessments,
    clock: ClockDep,
    cards: CardTokens,
) -> FastJSON:
    # The body is parsed and validated in one pass by pydantic-core straight from the bytes,
    # which costs a fraction of FastAPI's json.loads-then-validate on this hot path.
    try:
        body = AssessmentRequest.model_validate_json(await request.body())
    except ValidationError as exc:
        raise RequestValidationError(
            [{**error, "loc": ("body", *error["loc"])} for error in exc.errors(include_url=False)]
        ) from None
    # A card number is tokenized here, before the event exists: nothing downstream sees it.
    # A payment token is resolved here too, with its domain, expiry and revocation.
    event = body.to_event(
        now=clock.now(),
        cards=partial(cards.tokenize, principal.tenant_id),
        tokens=partial(cards.resolve, principal.tenant_id),
    )
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
