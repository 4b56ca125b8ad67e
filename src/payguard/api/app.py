"""The FastAPI application: routers, error mapping, middleware and OpenAPI adjustments.

Its services come from the composition root, `payguard.services`."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from contextlib import asynccontextmanager
from importlib.resources import files
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from payguard import __version__
from payguard.api import errors
from payguard.api.examples import add_examples
from payguard.api.responses import FastJSON
from payguard.api.routes import (
    assessments,
    audit,
    auth,
    devices,
    health,
    lists,
    models,
    privacy,
    privacy_recognizers,
    rules,
    sharing,
    tokens,
    vault_policy,
)
from payguard.services import Services, build_services
from payguard.settings import Settings
from payguard.wire.schemas import AssessmentRequest

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


#: Paths that carry bulk data (texts and documents to scan, recognizer documents of up to
#: 64 KiB once JSON-escaped, records to export): their bodies may be up to
#: `Settings.max_bulk_body_bytes`, every other body `max_body_bytes`.
BULK_PATHS = (
    "/v1/privacy/scan",
    "/v1/privacy/redact",
    "/v1/privacy/recognizers",
    "/v1/sharing/exports",
)


class BodyLimit:
    """Refuse request bodies over the limit with 413 before any parsing happens: `limit`
    bytes, or `bulk_limit` on `BULK_PATHS`."""

    def __init__(self, app: ASGIApp, limit: int, bulk_limit: int | None = None) -> None:
        self.app = app
        self.default_limit = limit
        self.bulk_limit = max(limit, bulk_limit or limit)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.bulk_limit if scope.get("path") in BULK_PATHS else self.default_limit
        await self._limited(scope, receive, send, limit)

    async def _limited(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = limit + 1
                if declared > limit:
                    await self._refuse(send, limit)
                    return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                await self._refuse(send, limit)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        delivered = False

        async def replay() -> MutableMapping[str, Any]:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, send: Send, limit: int) -> None:
        payload = orjson.dumps(
            errors.error_body("payload_too_large", f"request body over {limit} bytes")
        )
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(payload)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": payload})


def _document_raw_bodies(app: FastAPI) -> None:
    """Put the schemas of bodies that handlers parse themselves into the OpenAPI components
    (FastAPI only lists the models it validates)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        document = build()
        schemas = document.setdefault("components", {}).setdefault("schemas", {})
        body = AssessmentRequest.model_json_schema(ref_template="#/components/schemas/{model}")
        for name, definition in body.pop("$defs", {}).items():
            schemas.setdefault(name, definition)
        schemas["AssessmentRequest"] = body
        _document_security_and_errors(document)
        add_examples(document)
        app.openapi_schema = document
        return document

    app.openapi = openapi  # type: ignore[method-assign]


#: The error body every failure answers with (`api/errors.py`).
ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string", "examples": ["validation_failed"]},
                "message": {"type": "string"},
                "field": {"type": ["string", "null"], "description": "The field at fault"},
                "errors": {
                    "type": "array",
                    "items": {"type": "object"},
                    "description": "Every field at fault (422 only, at most 20)",
                },
                "retry_after": {"type": "integer", "description": "Seconds (429 only)"},
                "request_id": {
                    "type": "string",
                    "description": "503 only: names the server's log line with the cause",
                },
            },
        }
    },
}

#: The failures every `/v1` operation can answer with, beside its own success.
_ERRORS = {
    "400": "The body is not valid JSON",
    "401": "No API key, or one that is unknown, revoked or expired",
    "403": "The key's role may not do this",
    "413": "The request body is over the size limit",
    "422": "A field is missing or invalid; `error.field` names it",
    "429": "Locked after too many failures; see `Retry-After`",
    "503": "A backend is unavailable; retry later",
}


def _document_security_and_errors(document: dict[str, Any]) -> None:
    """Declare the bearer API key and the error responses of every `/v1` operation, with the
    one error body they share (FastAPI documents neither)."""
    components = document.setdefault("components", {})
    components.setdefault("schemas", {})["Error"] = ERROR_SCHEMA
    components["securitySchemes"] = {
        "apiKey": {
            "type": "http",
            "scheme": "bearer",
            "description": "A partner API key: `Authorization: Bearer pgk_<id>_<secret>` "
            "(`payguard tenants create` or `payguard tenants key`)",
        }
    }
    error = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    for path, operations in document.get("paths", {}).items():
        if not path.startswith("/v1/"):
            continue
        for method, operation in operations.items():
            if method not in ("get", "put", "post", "delete", "patch"):
                continue
            operation["security"] = [{"apiKey": []}]
            responses = operation.setdefault("responses", {})
            wanted = dict(_ERRORS)
            if "{" in path:
                wanted["404"] = "No such object for this tenant"
            if method != "get":
                wanted["409"] = "A conflicting change or a replay"
            for status, description in wanted.items():
                # FastAPI's own 422 names a body payguard never sends: replace it.
                if status not in responses or status == "422":
                    responses[status] = {"description": description, "content": error}
    document.get("components", {}).get("schemas", {}).pop("HTTPValidationError", None)
    document.get("components", {}).get("schemas", {}).pop("ValidationError", None)


#: Where the documentation pages load Swagger UI and ReDoc from: payguard serves the files
#: itself (from the fastapi-offline package), so the pages work with no route to a CDN.
DOCS_ASSETS = "/docs/assets"


def _serve_docs(app: FastAPI) -> None:
    """`/docs` (Swagger UI) and `/redoc` (ReDoc), every asset from this origin."""
    app.mount(
        DOCS_ASSETS,
        StaticFiles(directory=str(files("fastapi_offline") / "static")),
        name="docs-assets",
    )

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="payguard - Swagger UI",
            swagger_js_url=f"{DOCS_ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{DOCS_ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{DOCS_ASSETS}/favicon.png",
            oauth2_redirect_url=None,
        )

    @app.get("/redoc", include_in_schema=False)
    async def redoc() -> HTMLResponse:
        return get_redoc_html(
            openapi_url="/openapi.json",
            title="payguard - ReDoc",
            redoc_js_url=f"{DOCS_ASSETS}/redoc.standalone.js",
            redoc_favicon_url=f"{DOCS_ASSETS}/favicon.png",
            with_google_fonts=False,
        )


def create_app(services: Services | None = None, *, settings: Settings | None = None) -> FastAPI:
    """The FastAPI application; builds its services from settings unless given them."""
    owned = services is None

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        if owned:
            app.state.services.close()

    built = services if services is not None else build_services(settings)
    app = FastAPI(
        title="payguard",
        version=__version__,
        description="Real-time fraud decisions for mobile-payment operators and their partners.",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.state.services = built
    errors.install(app)
    for module in (health, assessments, rules, lists, models, audit, auth, devices, tokens):
        app.include_router(module.router)
    app.include_router(vault_policy.router)
    app.include_router(sharing.router)
    app.include_router(privacy.router)
    app.include_router(privacy_recognizers.router)

    _document_raw_bodies(app)
    _serve_docs(app)

    if app.state.services.settings.enable_echo:

        @app.post("/bench/echo", include_in_schema=False)
        async def echo(request: Request) -> FastJSON:
            return FastJSON(orjson.loads(await request.body()))

    app.add_middleware(
        BodyLimit,
        limit=built.settings.max_body_bytes,
        bulk_limit=built.settings.max_bulk_body_bytes,
    )
    return app
