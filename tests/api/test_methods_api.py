"""A method a path does not support answers 405 naming the ones it does; OPTIONS says the same
with no key and no data (and grants no CORS: there is none configured)."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

#: (a concrete path, the methods its routes answer besides OPTIONS)
PATHS = [
    ("/v1/rules", {"GET", "PUT"}),
    ("/v1/assessments/0031fca7ef0d3dafae9f8978370ab5fc", {"GET"}),
    ("/v1/assessments/abc/outcome", {"POST"}),
    ("/v1/lists/blocked_payees/items", {"GET", "PUT", "DELETE"}),
    ("/v1/devices/apps", {"GET", "PUT"}),
    ("/v1/devices/dev-1/health", {"GET"}),
    ("/v1/models/3", {"GET"}),
    ("/v1/auth/users/user-1/password", {"PUT"}),
    ("/v1/auth/users/user-1/credentials/c1", {"DELETE"}),
    ("/v1/auth/sessions/s1", {"DELETE"}),
    ("/v1/auth/challenges/c1", {"GET"}),
    ("/healthz", {"GET"}),
    ("/openapi.json", {"GET", "HEAD"}),
    ("/docs", {"GET"}),
    ("/docs/assets/swagger-ui.css", {"GET", "HEAD"}),
]
EVERY = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"}


def _allow(answer: Any) -> set[str]:
    return {method.strip() for method in answer.headers["allow"].split(",")}


@pytest.mark.parametrize(("path", "methods"), PATHS)
def test_options_lists_the_methods_without_a_key(
    client: TestClient, path: str, methods: set[str]
) -> None:
    answer = client.options(path)
    assert answer.status_code == 204
    assert _allow(answer) == methods | {"OPTIONS"}
    assert answer.content == b""
    assert not any(name.startswith("access-control-") for name in answer.headers)


@pytest.mark.parametrize(("path", "methods"), PATHS)
def test_an_unsupported_method_answers_405_with_allow(
    client: TestClient, tenant: Any, path: str, methods: set[str]
) -> None:
    headers = tenant()
    for method in sorted(EVERY - methods):
        answer = client.request(method, path, headers=headers)
        assert answer.status_code == 405, (method, path, answer.text)
        assert _allow(answer) == methods | {"OPTIONS"}, (method, path)
        if method != "HEAD":
            assert answer.json()["error"]["code"] == "method_not_allowed"


def test_a_cors_preflight_is_granted_nothing(client: TestClient) -> None:
    answer = client.options(
        "/v1/assessments",
        headers={
            "Origin": "https://evil.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization",
        },
    )
    assert answer.status_code == 204
    assert _allow(answer) == {"POST", "OPTIONS"} | ({"GET"} if _searchable(client) else set())
    assert not any(name.startswith("access-control-") for name in answer.headers)


def _searchable(client: TestClient) -> bool:
    """Whether GET /v1/assessments (the search) exists in this build."""
    return "get" in client.get("/openapi.json").json()["paths"]["/v1/assessments"]


def test_an_unknown_path_is_still_404(client: TestClient) -> None:
    assert client.options("/v1/nothing-here").status_code == 404
    assert client.delete("/v1/nothing-here").status_code == 404
