"""`PAYGUARD_AUTH_CONCEAL_UNKNOWN_USERS`: a password check naming an unknown user answers
exactly as a wrong password for a known one, so neither the partner nor its end user can tell
who exists (by the answer, or by when the lockout starts)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from payguard.api.app import create_app
from payguard.audit.interfaces import Actor
from payguard.core.clock import FrozenClock
from payguard.services import Services, build_services
from payguard.settings import Settings

PASSWORD = "correct horse battery staple"


def _client(tmp_path, clock: FrozenClock, *, conceal: bool) -> Iterator[tuple[TestClient, dict]]:
    settings = Settings(
        database_url=f"sqlite:///{tmp_path}/conceal.db",
        argon2_time_cost=1,
        argon2_memory_kib=8192,
        lockout_threshold=3,
        auth_conceal_unknown_users=conceal,
    )
    services: Services = build_services(settings, clock=clock)
    _, key = services.tenants.create_tenant("acme", actor=Actor.system("test"))
    headers = {"Authorization": f"Bearer {key}"}
    with TestClient(create_app(services), raise_server_exceptions=False) as client:
        assert (
            client.post("/v1/auth/users", json={"user_id": "known"}, headers=headers).status_code
            == 201
        )
        assert client.put(
            "/v1/auth/users/known/password", json={"password": PASSWORD}, headers=headers
        ).status_code in (200, 204)
        yield client, headers
    services.close()


@pytest.fixture
def concealing(tmp_path, clock: FrozenClock) -> Iterator[tuple[TestClient, dict]]:
    yield from _client(tmp_path, clock, conceal=True)


@pytest.fixture
def revealing(tmp_path, clock: FrozenClock) -> Iterator[tuple[TestClient, dict]]:
    yield from _client(tmp_path, clock, conceal=False)


def _guess(client: TestClient, headers: dict, user: str) -> tuple[int, dict]:
    response = client.post(
        f"/v1/auth/users/{user}/password/verify",
        json={"password": "not the password"},
        headers=headers,
    )
    return response.status_code, response.json()


def test_an_unknown_user_answers_as_a_wrong_password(concealing) -> None:
    client, headers = concealing
    known = [_guess(client, headers, "known") for _ in range(4)]
    unknown = [_guess(client, headers, "nobody") for _ in range(4)]
    # The same answers in the same order: 401 factor_rejected until the lockout, then 429.
    assert [status for status, _ in known] == [401, 401, 401, 429]
    assert [status for status, _ in unknown] == [401, 401, 401, 429]
    assert [body["error"]["code"] for _, body in unknown] == [
        body["error"]["code"] for _, body in known
    ]
    assert unknown[0][1] == known[0][1]
    audit = client.get("/v1/audit", headers=headers, params={"limit": 200}).text
    assert "user:nobody" in audit  # the guesses are audited as failures


def test_by_default_an_unknown_user_is_404(revealing) -> None:
    client, headers = revealing
    status, body = _guess(client, headers, "nobody")
    assert status == 404 and body["error"]["code"] == "not_found"
