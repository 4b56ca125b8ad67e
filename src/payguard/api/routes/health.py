"""Liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from payguard.api.deps import Readiness

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="The process is up")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="Every configured backend answers")
def readyz(readiness: Readiness) -> JSONResponse:
    """200 when every configured backend answers: `checks` names each (`database`; `redis`
    and `redis_state` with a Redis state store; `nats` with the NATS bus). 503 when any
    fails, including a Redis that answers but lost the velocity state (`redis_state`, until
    `payguard state rebuild`)."""
    report = readiness()
    body = {
        "status": "ready" if report.ready else "unavailable",
        "checks": report.checks,
        **report.details,
    }
    return JSONResponse(body, 200 if report.ready else 503)
