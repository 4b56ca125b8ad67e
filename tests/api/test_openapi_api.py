"""The OpenAPI document says how to authenticate and what every failure looks like."""

from __future__ import annotations

import re
from typing import Any

import jsonschema_rs
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


def test_every_request_body_and_path_parameter_has_an_example(client: TestClient) -> None:
    document = _document(client)
    bodies = 0
    for path, method, operation in _operations(document):
        body = operation.get("requestBody")
        if body is not None:
            bodies += 1
            media = body["content"]["application/json"]
            assert media.get("examples") or "example" in media, (method, path)
        for parameter in operation.get("parameters", ()):
            if parameter["in"] == "path":
                assert "example" in parameter, (method, path, parameter["name"])
    assert bodies >= 25


def _examples(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any], str, Any]]:
    """(path, method, operation, example name, example value), in the document's order: the
    user that later examples sign in as is created first."""
    found = []
    for path, method, operation in _operations(document):
        media = operation.get("requestBody", {}).get("content", {}).get("application/json")
        if media is None:
            continue
        for name, example in media.get("examples", {}).items():
            found.append((path, method, operation, name, example["value"]))
        if "example" in media:
            found.append((path, method, operation, "example", media["example"]))
    return found


def test_every_body_example_validates_against_its_schema(client: TestClient) -> None:
    document = _document(client)
    examples = _examples(document)
    assert examples
    for path, method, operation, name, value in examples:
        schema = operation["requestBody"]["content"]["application/json"]["schema"]
        validator = jsonschema_rs.Draft202012Validator(
            {**schema, "components": document["components"]}
        )
        problems = [error.message for error in validator.iter_errors(value)]
        assert not problems, (method, path, name, problems)


def _filled(path: str, operation: dict[str, Any]) -> str:
    for parameter in operation.get("parameters", ()):
        if parameter["in"] == "path":
            path = path.replace("{" + parameter["name"] + "}", str(parameter["example"]))
    return path


def test_the_api_accepts_every_body_example(client: TestClient, tenant: Any) -> None:
    """Each example, sent as it is documented, passes validation: the answer is a success or
    a 404/409/401 about objects and proofs the example cannot know, never a 400 or 422."""
    headers = tenant()
    document = _document(client)
    answers = {}
    for path, method, operation, name, value in _examples(document):
        answer = client.request(
            method.upper(), _filled(path, operation), json=value, headers=headers
        )
        answers[(method, path, name)] = answer.status_code
        assert answer.status_code not in (400, 413, 422, 500), (
            method,
            path,
            name,
            answer.text[:300],
        )
        if answer.status_code >= 400:
            assert answer.json()["error"]["code"] != "validation_failed", answer.text[:300]
    # The examples that need no object beyond the ones earlier examples made succeed outright.
    assert answers[("post", "/v1/assessments", "payment")] == 201
    assert answers[("post", "/v1/auth/users", "default")] == 201
    assert answers[("post", "/v1/auth/sessions", "default")] == 201
    assert answers[("put", "/v1/rules", "default")] == 200
    assert answers[("put", "/v1/lists/{name}/items", "default")] == 200


def test_a_caller_without_a_key_learns_only_that_it_needs_one(
    client: TestClient, tenant: Any
) -> None:
    """FastAPI reads the body before the key: malformed JSON must not answer before auth."""
    content = b"{not json"
    json_type = {"content-type": "application/json"}
    for path in ("/v1/rules/backtest", "/v1/auth/users", "/v1/devices/community"):
        answer = client.post(path, content=content, headers=json_type)
        assert answer.status_code == 401, (path, answer.text)
        assert answer.json()["error"]["code"] == "unauthenticated"
        assert answer.headers["www-authenticate"] == "Bearer"
    answer = client.post("/v1/rules/backtest", content=content, headers={**json_type, **tenant()})
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "malformed_json"


def test_every_parameter_example_validates_and_is_accepted(client: TestClient, tenant: Any) -> None:
    """Parameter examples fit their schemas, and every GET sent with them passes validation."""
    document = _document(client)
    headers = tenant()
    checked = 0
    for path, method, operation in _operations(document):
        query: dict[str, Any] = {}
        for parameter in operation.get("parameters", ()):
            if "example" not in parameter:
                continue
            checked += 1
            validator = jsonschema_rs.Draft202012Validator(
                {**parameter["schema"], "components": document["components"]}
            )
            problems = [error.message for error in validator.iter_errors(parameter["example"])]
            assert not problems, (method, path, parameter["name"], problems)
            if parameter["in"] == "query":
                query[parameter["name"]] = parameter["example"]
        if method != "get":
            continue
        answer = client.get(_filled(path, operation), params=query, headers=headers)
        assert answer.status_code not in (400, 422, 500), (path, query, answer.text[:300])
    assert checked >= 15
