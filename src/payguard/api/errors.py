"""The one place domain errors become HTTP responses.

Every error body is `{"error": {"code", "message", "field"?, "errors"?}}`. Nothing from the
request is echoed back (hostile input stays out of responses and logs).
"""

from __future__ import annotations

import uuid
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from payguard.core.errors import (
    AuthenticationFailed,
    BackendUnavailable,
    Conflict,
    FactorRejected,
    Locked,
    NotFound,
    PayguardError,
    PayloadTooLarge,
    PermissionDenied,
    ValidationFailed,
    field_path,
)

log = structlog.get_logger(__name__)

STATUS: dict[type[PayguardError], int] = {
    ValidationFailed: 422,
    NotFound: 404,
    Conflict: 409,
    AuthenticationFailed: 401,
    PermissionDenied: 403,
    PayloadTooLarge: 413,
    Locked: 429,
    BackendUnavailable: 503,
}


def error_body(code: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, **extra}}


def _status_of(exc: PayguardError) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 400


def _path(loc: tuple[Any, ...]) -> str:
    parts = loc[1:] if loc and loc[0] in ("body", "query", "path", "header") else loc
    return field_path(parts) or (str(loc[0]) if loc else "body")


async def _payguard_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, PayguardError)
    status = _status_of(exc)
    extra: dict[str, Any] = {}
    if isinstance(exc, ValidationFailed):
        extra["field"] = exc.field
    headers = None
    if status == 401 and not isinstance(exc, FactorRejected):
        headers = {"WWW-Authenticate": "Bearer"}
    if isinstance(exc, Locked):
        extra["retry_after"] = exc.retry_after
        headers = {"Retry-After": str(exc.retry_after)}
    if isinstance(exc, BackendUnavailable):
        # The cause (a host, a port, a driver's words) is for the operator's log, not the
        # caller: the answer is generic and names the log line by its request id.
        request_id = uuid.uuid4().hex
        log.error(
            "backend_unavailable", path=request.url.path, request_id=request_id, cause=exc.message
        )
        body = error_body(exc.code, "a backend is unavailable; retry later", request_id=request_id)
        return JSONResponse(body, status, headers={"Retry-After": "1"})
    return JSONResponse(error_body(exc.code, exc.message, **extra), status, headers=headers)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {
            "field": _path(tuple(e.get("loc", ()))),
            "message": e.get("msg", ""),
            "type": e.get("type", ""),
        }
        for e in exc.errors()
    ]
    if any(e["type"] == "json_invalid" for e in errors):
        return JSONResponse(
            error_body("malformed_json", "the request body is not valid JSON", field="body"), 400
        )
    first = errors[0] if errors else {"field": "body", "message": "invalid request"}
    return JSONResponse(
        error_body("validation_failed", first["message"], field=first["field"], errors=errors[:20]),
        422,
    )


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}.get(
        exc.status_code, "http_error"
    )
    return JSONResponse(
        error_body(code, str(exc.detail)), exc.status_code, headers=getattr(exc, "headers", None)
    )


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.error("unhandled_error", path=request.url.path, error_type=type(exc).__name__)
    return JSONResponse(error_body("internal_error", "internal error"), 500)


def install(app: FastAPI) -> None:
    app.add_exception_handler(PayguardError, _payguard_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
