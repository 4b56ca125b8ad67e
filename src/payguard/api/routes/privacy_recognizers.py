"""`/v1/privacy/recognizers`: the recognizers the tenant's scans and redactions run, and the
tenant's own set (a YAML document, `shield.custom`) read by any role and replaced by an
admin."""

from __future__ import annotations

from functools import partial

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from payguard.api.deps import Admin, Reader, ShieldRecognizers, actor_of
from payguard.shield.stored import ActiveRecognizers, builtin_recognizers
from payguard.wire.privacy_recognizers import (
    BuiltinRecognizerPublic,
    CustomRecognizerPublic,
    RecognizerSetPublic,
    RecognizersIn,
    RecognizersPublic,
)

router = APIRouter(prefix="/v1/privacy/recognizers", tags=["privacy"])


def recognizers_out(active: ActiveRecognizers) -> RecognizersPublic:
    return RecognizersPublic(
        builtin=[
            BuiltinRecognizerPublic(name=name, entities=[e.value for e in entities])
            for name, entities in builtin_recognizers()
        ],
        custom=RecognizerSetPublic(
            version=active.version,
            created_at=active.created_at,
            created_by=active.created_by,
            yaml=active.source if active.version else None,
            recognizers=[
                CustomRecognizerPublic(name=r.name, entity=r.entity.value)
                for r in active.recognizers
            ],
        ),
    )


@router.get(
    "",
    response_model=RecognizersPublic,
    summary="The recognizers scans run: the built-in ones and the tenant's own (YAML)",
)
async def get_recognizers(principal: Reader, recognizers: ShieldRecognizers) -> RecognizersPublic:
    return recognizers_out(recognizers.active(principal.tenant_id))


@router.put(
    "",
    response_model=RecognizersPublic,
    summary="Replace the tenant's own recognizers (a new version, in force at once)",
)
async def put_recognizers(
    body: RecognizersIn, principal: Admin, recognizers: ShieldRecognizers, request: Request
) -> RecognizersPublic:
    # Screening a regex runs it over long probes: off the event loop.
    active = await run_in_threadpool(
        partial(recognizers.set, principal.tenant_id, body.yaml, actor=actor_of(principal, request))
    )
    return recognizers_out(active)
