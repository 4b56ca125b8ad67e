"""The OpenAPI document says how to authenticate and what every failure looks like."""

from __future__ import annotations

import re
from typing import Any

import orjson
from fastapi.testclient import TestClient

from payguard.api.app import ERROR_SCHEMA

METHODS = ("get", "put", "post", "delete", "patch")


def _document(client: TestClient) -> dict[str, Any]:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    document: dict[str, Any] = response.json()
    return document


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, operation)
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
        if method in METHODS
    ]


def test_the_bearer_api_key_is_declared_on_every_v1_operation(client: TestClient) -> None:
    document = _document(client)
    scheme = document["components"]["securitySchemes"]["apiKey"]
    assert scheme["type"] == "http" and scheme["scheme"] == "bearer"
    operations = _operations(document)
    assert sum(1 for path, _, _ in operations if path.startswith("/v1/")) > 20
    for path, method, operation in operations:
        if path.startswith("/v1/"):
            assert operation.get("security") == [{"apiKey": []}], (method, path)
        else:  # health checks need no key
            assert "security" not in operation, (method, path)


def test_every_v1_operation_documents_its_failures_with_the_error_body(
    client: TestClient,
) -> None:
    document = _document(client)
    for path, method, operation in _operations(document):
        if not path.startswith("/v1/"):
            continue
        responses = operation["responses"]
        expected = {"400", "401", "403", "413", "422", "429", "503"}
        if "{" in path:
            expected.add("404")
        if method != "get":
            expected.add("409")
        assert expected <= set(responses), (method, path, expected - set(responses))
        for status in expected:
            schema = responses[status]["content"]["application/json"]["schema"]
            assert schema == {"$ref": "#/components/schemas/Error"}, (method, path, status)


def test_the_documented_error_body_is_the_one_sent(client: TestClient) -> None:
    document = _document(client)
    assert document["components"]["schemas"]["Error"] == ERROR_SCHEMA
    assert "HTTPValidationError" not in document["components"]["schemas"]
    answer = client.post("/v1/assessments", content=b"{}")
    assert answer.status_code == 401
    body = answer.json()
    assert set(body) == {"error"} and {"code", "message"} <= set(body["error"])
    assert set(body["error"]) <= set(ERROR_SCHEMA["properties"]["error"]["properties"])


def test_every_reference_resolves(client: TestClient) -> None:
    document = _document(client)
    text = orjson.dumps(document).decode()
    refs = set(re.findall(r"#/components/schemas/([A-Za-z0-9_]+)", text))
    assert refs <= set(document["components"]["schemas"])


def test_a_503_names_no_backend_detail_only_a_request_id(
    client: TestClient, services: Any, tenant: Any, payment: Any, monkeypatch: Any
) -> None:
    """The cause (host, port, driver error) goes to the log; the caller gets a generic
    message and the request id that finds the log line."""
    from payguard.core.errors import BackendUnavailable

    async def down(*args: Any, **kwargs: Any) -> Any:
        raise BackendUnavailable("redis://10.1.2.3:6379 refused: ConnectionError(111)")

    monkeypatch.setattr(services.assessments, "assess_async", down)
    headers = tenant()
    answer = client.post("/v1/assessments", json=payment(), headers=headers)
    assert answer.status_code == 503
    error = answer.json()["error"]
    assert error["code"] == "backend_unavailable"
    assert "10.1.2.3" not in answer.text and "6379" not in answer.text
    assert "redis" not in answer.text.lower()
    assert len(error["request_id"]) == 32
    assert answer.headers["retry-after"] == "1"
