"""The one place domain errors become HTTP responses.

Every error body is `{"error": {"code", "message", "field"?, "errors"?}}`. Nothing from the
request is echoed back (hostile input stays out of responses and logs), and no message shows a
regular expression: `PATTERNS` says each pattern the API checks in words.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.routing import Match, Mount

from payguard.api.deps import get_principal
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


_AMOUNT = (
    'must be a non-negative decimal string such as "12.50": at most 15 digits, then at most 4 '
    "decimal places, no sign or exponent"
)
#: Every pattern a request field or rule set is checked against, said in words: what follows
#: the field's name in a message. A test walks the OpenAPI document so none is missed.
PATTERNS: dict[str, str] = {
    r"^[A-Za-z0-9][A-Za-z0-9._:@+\-]*$": "must start with a letter or digit and contain only "
    "letters, digits and . _ : @ + -",
    r"^[A-Za-z0-9_-]+$": "may contain only letters, digits, _ and -",
    r"^[A-Za-z0-9_-]{1,64}$": "must be 1 to 64 letters, digits, _ or -",
    r"^[A-Za-z0-9_-]{16,128}$": "must be 16 to 128 letters, digits, _ or -",
    r"^\d{1,15}(\.\d{1,4})?$": _AMOUNT,
    r"^[0-9]{1,15}(\.[0-9]{1,4})?$": _AMOUNT,
    r"^[A-Z]{3}$": "must be a three-letter ISO 4217 currency code in capitals, such as SGD",
    r"^[A-Z]{2}$": "must be a two-letter ISO 3166 country code in capitals, such as SG",
    r"^\d{4}$": "must be exactly four digits, such as 5411",
    r"^[A-Za-z]{1,16}$": "must be 1 to 16 letters, such as POST",
    r"^/\S*$": "must start with / and contain no whitespace",
    r"^[A-Za-z0-9_.\-]+$": "may contain only letters, digits, . _ and -",
    r"^[A-Za-z0-9_.:-]+$": "may contain only letters, digits and . _ : -",
    r"^(?:[0-9A-Fa-f]{2}:){31}[0-9A-Fa-f]{2}$|^[0-9A-Fa-f]{64}$": "must be a SHA-256 digest: "
    "64 hex digits, or 32 hex pairs separated by colons",
    r"^[0-9a-f]{64}$": "must be a SHA-256 hash: 64 lower-case hex digits",
    r"^\+?[A-Za-z0-9_]{1,127}$": "must be a token: letters, digits and _, or + and digits",
    r"^(merchant|device|channel):[A-Za-z0-9][A-Za-z0-9._:@+\-]{0,127}$": "must be "
    "merchant:<id>, device:<id> or channel:<id>, the id of letters, digits and . _ : @ + -",
    r"^[a-z][a-z_]{0,31}$": "must be 1 to 32 lower-case letters and _, such as dispute",
    r"^[a-z][a-z0-9_]{0,63}$": "must be 1 to 64 lower-case letters, digits or _, starting "
    "with a letter",
    r"^[A-Z][A-Z0-9_]{0,63}$": "must be 1 to 64 capital letters, digits or _, starting with "
    "a letter",
}
#: Said of a pattern missing from `PATTERNS` (the test keeps this from happening).
UNDESCRIBED = "is not in the expected format"
#: How pydantic words a pattern mismatch, and how some services quote a pattern.
_PATTERN_TEXT = re.compile(
    r"String should match pattern '(?P<pattern>.*)'|must match (?P<bare>\^\S*\$)"
)


def describe_pattern(pattern: str) -> str:
    """What a value checked against `pattern` must look like, in words."""
    return PATTERNS.get(pattern, UNDESCRIBED)


def readable(message: str, field: str | None) -> str:
    """A validation message as a person reads it: a pattern becomes words naming the field,
    pydantic's "Value error, " prefix goes, and a bare "must ..." gets its field in front."""
    match = _PATTERN_TEXT.search(message)
    if match is not None:
        pattern = match.group("pattern") or match.group("bare")
        return f"{field or 'the value'} {describe_pattern(pattern)}"
    message = message.removeprefix("Value error, ")
    if field and message.startswith(("must ", "may ")):
        return f"{field} {message}"
    return message


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
    message = exc.message
    if isinstance(exc, ValidationFailed):
        extra["field"] = exc.field
        message = readable(message, exc.field)
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
    return JSONResponse(error_body(exc.code, message, **extra), status, headers=headers)


def _field_error(error: Any) -> dict[str, str]:
    field = _path(tuple(error.get("loc", ())))
    if error.get("type") == "string_pattern_mismatch":
        pattern = str((error.get("ctx") or {}).get("pattern", ""))
        message = f"{field} {describe_pattern(pattern)}"
    else:
        message = readable(str(error.get("msg", "")), field)
    return {"field": field, "message": message, "type": str(error.get("type", ""))}


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [_field_error(e) for e in exc.errors()]
    if any(e["type"] == "json_invalid" for e in errors):
        if request.url.path.startswith("/v1/"):
            # FastAPI parses the body before it resolves the key: ask for the key first, so
            # that a caller without one learns nothing but that it needs one.
            try:
                get_principal(request)
            except PayguardError as refused:
                return await _payguard_error(request, refused)
        return JSONResponse(
            error_body("malformed_json", "the request body is not valid JSON", field="body"), 400
        )
    first = errors[0] if errors else {"field": "body", "message": "invalid request"}
    return JSONResponse(
        error_body("validation_failed", first["message"], field=first["field"], errors=errors[:20]),
        422,
    )


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


def allowed_methods(request: Request) -> list[str]:
    """Every method some route answers on this request's path (Starlette's own 405 names only
    the first route that matched the path, not the others beside it), plus OPTIONS."""
    methods = {"OPTIONS"}
    # Ask from the top: a mounted app (the docs assets) has moved its own prefix into
    # `root_path`, and `app_root_path` keeps the one the server started with.
    root_path = request.scope.get("app_root_path", request.scope.get("root_path", ""))
    for method in _METHODS:
        scope = {**request.scope, "method": method, "root_path": root_path}
        route = next(
            (r for r in request.app.router.routes if r.matches(scope)[0] == Match.FULL), None
        )
        if isinstance(route, Mount):  # a mount takes every method; static files read only
            methods.update(("GET", "HEAD"))
        elif route is not None:
            methods.add(method)
    return sorted(methods)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    headers = getattr(exc, "headers", None)
    if exc.status_code == 405:
        allow = {"Allow": ", ".join(allowed_methods(request))}
        if request.method == "OPTIONS":
            # What the path supports, and nothing else: no data, no CORS grant (deny by
            # default), so no key is needed to ask.
            return Response(status_code=204, headers=allow)
        return JSONResponse(
            error_body("method_not_allowed", "this path does not support that method; see Allow"),
            405,
            headers=allow,
        )
    code = {404: "not_found", 413: "payload_too_large"}.get(exc.status_code, "http_error")
    return JSONResponse(error_body(code, str(exc.detail)), exc.status_code, headers=headers)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.error("unhandled_error", path=request.url.path, error_type=type(exc).__name__)
    return JSONResponse(error_body("internal_error", "internal error"), 500)


def install(app: FastAPI) -> None:
    app.add_exception_handler(PayguardError, _payguard_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
