"""`/docs` (Swagger UI) and `/redoc` (ReDoc) load every asset from payguard itself, so they
work on a network with no route to a CDN."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

ASSET = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']""")


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_the_page_references_only_this_origin(client: TestClient, page: str) -> None:
    answer = client.get(page)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/html")
    html = answer.text
    assert "cdn" not in html.lower()
    assert "http://" not in html and "https://" not in html
    assert "//" not in "".join(ASSET.findall(html))  # no protocol-relative URL either
    assert "/openapi.json" in html


@pytest.mark.parametrize(
    ("page", "kinds"),
    [
        ("/docs", {"text/javascript", "text/css", "image/png"}),
        ("/redoc", {"text/javascript", "image/png"}),
    ],
)
def test_every_asset_the_page_loads_is_served(
    client: TestClient, page: str, kinds: set[str]
) -> None:
    urls = ASSET.findall(client.get(page).text)
    assert urls
    served = set()
    for url in urls:
        assert url.startswith("/"), url
        answer = client.get(url)
        assert answer.status_code == 200, url
        kind = answer.headers["content-type"].split(";")[0]
        served.add(kind)
        assert len(answer.content) > 1000, url
    assert served == kinds


def test_the_scripts_are_the_real_bundles(client: TestClient) -> None:
    swagger = client.get("/docs/assets/swagger-ui-bundle.js").text
    redoc = client.get("/docs/assets/redoc.standalone.js").text
    assert "SwaggerUIBundle" in swagger
    assert "Redoc" in redoc


def test_an_asset_path_cannot_leave_the_asset_folder(client: TestClient) -> None:
    for path in ("/docs/assets/../__init__.py", "/docs/assets/%2e%2e/core.py"):
        answer = client.get(path)
        assert answer.status_code == 404, path
    assert client.get("/docs/assets/nothing.js").json()["error"]["code"] == "not_found"
