"""`/v1/privacy`: find personal data in text or a JSON document (`scan`), and redact it by
policy (`redact`: mask, hash, tokenize, redact, generalize, keep).

A body may hold a mebibyte of text, a second or so of scanning: the work runs on the thread
pool, so the event loop keeps serving other requests meanwhile."""

from __future__ import annotations

from functools import partial

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from payguard.api.deps import Assessor, Privacy, Reader, actor_of
from payguard.shield.interfaces import DocumentFinding, Entity, Finding
from payguard.shield.redact import RedactionPolicy
from payguard.wire.privacy import FindingPublic, RedactIn, RedactOut, ScanIn, ScanOut

router = APIRouter(prefix="/v1/privacy", tags=["privacy"])


def finding_out(finding: Finding, path: str | None = None, in_key: bool = False) -> FindingPublic:
    return FindingPublic(
        entity=finding.entity.value,
        start=finding.start,
        end=finding.end,
        score=finding.score,
        recognizer=finding.recognizer,
        path=path,
        key=True if in_key else None,
    )


def document_finding_out(found: DocumentFinding) -> FindingPublic:
    return finding_out(found.finding, found.path, found.in_key)


@router.post(
    "/scan",
    response_model=ScanOut,
    response_model_exclude_none=True,
    summary="Find personal data in text or a JSON document: entity spans, never the values",
)
async def scan(body: ScanIn, principal: Reader, privacy: Privacy, request: Request) -> ScanOut:
    thresholds = body.thresholds.model_dump(exclude_none=True) if body.thresholds else None
    result = await run_in_threadpool(
        partial(
            privacy.scan,
            principal.tenant_id,
            text=body.text,
            document=body.document,
            entities=None if body.entities is None else [Entity(e) for e in body.entities],
            thresholds=thresholds,
            actor=actor_of(principal, request),
        )
    )
    return ScanOut(
        findings=[finding_out(f) for f in result.findings]
        + [document_finding_out(f) for f in result.document_findings]
    )


@router.post(
    "/redact",
    response_model=RedactOut,
    summary="Redact text or a JSON document by policy (mask, hash, tokenize, redact, "
    "generalize, keep per entity)",
)
async def redact(
    body: RedactIn, principal: Assessor, privacy: Privacy, request: Request
) -> RedactOut:
    policy = RedactionPolicy.from_dict(body.policy.document()) if body.policy else None
    result = await run_in_threadpool(
        partial(
            privacy.redact,
            principal.tenant_id,
            text=body.text,
            document=body.document,
            policy=policy,
            actor=actor_of(principal, request),
        )
    )
    return RedactOut(
        text=result.text,
        document=result.document,
        findings=result.found,
        counts=result.tally.by_entity(),
        vault_refused=dict(sorted(result.tally.refused.items())),
    )
