"""Every endpoint refuses malformed, missing, oversized and hostile input with a 4xx."""

from __future__ import annotations

import pytest

ENDPOINTS = [
    ("PUT", "/v1/rules"),
    ("POST", "/v1/rules/backtest"),
    ("PUT", "/v1/lists/blocked_ips/items"),
    ("DELETE", "/v1/lists/blocked_ips/items"),
    ("POST", "/v1/assessments/abc123/outcome"),
    ("POST", "/v1/assessments"),
    ("PUT", "/v1/models/shadow"),
    ("POST", "/v1/models/1/promote"),
]

BAD_BODIES = [
    b"",
    b"{",
    b"[1, 2]",
    b'"text"',
    b"null",
    b'{"source": 12}',
    b'{"items": "not-a-list", "kind": "ip"}',
    b'{"outcome": "maybe"}',
    b'{"kind": "ip", "items": ["\\u0000"]}',
    b'{"source": "rules: []", "limit": -1}',
    b'{"__proto__": {"admin": true}}',
]


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
@pytest.mark.parametrize("body", BAD_BODIES)
def test_bad_bodies_are_4xx_with_an_error_document(client, tenant, method, path, body) -> None:
    headers = {**tenant(), "Content-Type": "application/json"}
    response = client.request(method, path, content=body, headers=headers)
    assert 400 <= response.status_code < 500, (response.status_code, response.text)
    error = response.json()["error"]
    assert error["code"] and error["message"]


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
def test_oversized_bodies_are_413(client, tenant, method, path) -> None:
    headers = {**tenant(), "Content-Type": "application/json"}
    body = b'{"source": "' + b"x" * 70_000 + b'"}'
    response = client.request(method, path, content=body, headers=headers)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
def test_every_v1_endpoint_needs_a_key(client, method, path) -> None:
    response = client.request(method, path, json={})
    assert response.status_code == 401


@pytest.mark.parametrize(
    "path",
    [
        "/v1/assessments/" + "a" * 65,
        "/v1/assessments/..%2F..%2Fetc",
        "/v1/lists/" + "a" * 65 + "/items",
        "/v1/lists/DROP%20TABLE/items",
    ],
)
def test_hostile_path_parameters_are_4xx(client, tenant, path) -> None:
    response = client.get(path, headers=tenant())
    assert 400 <= response.status_code < 500


@pytest.mark.parametrize(
    "query",
    ["limit=0", "limit=100000", "limit=abc", "after=" + "x" * 300, "action=rules:explode"],
)
def test_bad_query_parameters_are_422(client, tenant, query) -> None:
    path = "/v1/audit" if query.startswith("action") else "/v1/lists/blocked_ips/items"
    response = client.get(f"{path}?{query}", headers=tenant())
    assert response.status_code == 422
    assert response.json()["error"]["field"]
