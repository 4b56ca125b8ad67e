"""`/v1/auth/sessions` end to end: sign-in levels, introspection, idle and absolute timeouts,
refresh rotation, revocation, lockout per account and per address, tenant isolation, roles."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pyotp
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient

from payguard.api.app import create_app
from payguard.audit.interfaces import Actor
from payguard.core.clock import FrozenClock
from payguard.services import build_services
from payguard.settings import Settings
from payguard.tenancy.interfaces import Role

PASSWORD = "correct horse battery staple"
USER = "acct-1"
RULES = """
rules:
  - id: big_payment
    when: amount >= 100.0
    action: challenge
    step_up: AAL2
    reason: BIG_PAYMENT
    message: A large payment needs a second factor.
"""


# -- helpers -------------------------------------------------------------------------------


@pytest.fixture
def headers(tenant) -> dict[str, str]:
    return tenant()


def make_user(client, headers, user: str = USER, password: str | None = PASSWORD) -> None:
    body: dict[str, Any] = {"user_id": user}
    if password is not None:
        body["password"] = password
    made = client.post("/v1/auth/users", json=body, headers=headers)
    assert made.status_code == 201, made.text


def step_of(clock) -> int:
    return int(clock.now().timestamp()) // 30


def with_totp(client, headers, clock, user: str = USER) -> pyotp.TOTP:
    enrolled = client.post(f"/v1/auth/users/{user}/totp", json={}, headers=headers).json()
    otp = pyotp.TOTP(enrolled["secret"])
    confirmed = client.post(
        f"/v1/auth/users/{user}/totp/{enrolled['credential']['credential_id']}/confirm",
        json={"code": otp.generate_otp(step_of(clock))},
        headers=headers,
    )
    assert confirmed.status_code == 200, confirmed.text
    return otp


def wrong_codes(otp: pyotp.TOTP, clock, count: int) -> list[str]:
    """Codes that are valid for no step within a minute of now."""
    valid = {otp.generate_otp(step_of(clock) + d) for d in range(-2, 3)}
    return [c for c in (f"{n:06d}" for n in range(1, 100)) if c not in valid][:count]


def sign_in(client, headers, *factors: dict[str, Any], user: str = USER, **extra: Any):
    return client.post(
        "/v1/auth/sessions",
        json={"user_id": user, "factors": list(factors), **extra},
        headers=headers,
    )


def password(value: str = PASSWORD) -> dict[str, str]:
    return {"type": "password", "password": value}


def session(client, headers, *factors: dict[str, Any], user: str = USER) -> dict[str, Any]:
    opened = sign_in(client, headers, *(factors or (password(),)), user=user)
    assert opened.status_code == 201, opened.text
    return opened.json()


def aal2_session(client, headers, clock, otp: pyotp.TOTP) -> dict[str, Any]:
    """Password and TOTP; moves the clock on a step so each call has a fresh code."""
    clock.advance(timedelta(seconds=30))
    return session(
        client, headers, password(), {"type": "totp", "code": otp.generate_otp(step_of(clock))}
    )


def introspect(client, headers, token: str) -> dict[str, Any]:
    answer = client.post(
        "/v1/auth/sessions/introspect", json={"access_token": token}, headers=headers
    )
    assert answer.status_code == 200, answer.text
    return answer.json()


def refresh(client, headers, token: str):
    return client.post("/v1/auth/sessions/refresh", json={"refresh_token": token}, headers=headers)


def verify_password(client, headers, value: str, user: str = USER, **extra: Any):
    return client.post(
        f"/v1/auth/users/{user}/password/verify",
        json={"password": value, **extra},
        headers=headers,
    )


def rejected(response) -> None:
    assert response.status_code == 401, response.text
    assert response.json()["error"]["code"] == "factor_rejected"
    assert "www-authenticate" not in response.headers


# -- sign-in and levels --------------------------------------------------------------------


def test_password_alone_opens_an_aal1_session(client, headers, services) -> None:
    make_user(client, headers)
    opened = session(client, headers)
    assert opened["level"] == 1 and opened["user_id"] == USER
    assert opened["access_token"].startswith("pgs_") and opened["refresh_token"].startswith("pgr_")
    assert opened["access_token"] != opened["refresh_token"]
    assert opened["created_at"] == "2026-03-02T09:30:00Z"
    assert opened["absolute_expires_at"] == "2026-04-01T09:30:00Z"  # AAL1: 30 days
    assert opened["revoked_at"] is None
    answer = introspect(client, headers, opened["access_token"])
    assert answer["active"] is True and answer["reason"] is None
    assert answer["session"]["session_id"] == opened["session_id"]
    assert "access_token" not in answer["session"]


def test_password_and_totp_open_an_aal2_session(client, headers, services) -> None:
    make_user(client, headers)
    otp = with_totp(client, headers, services.clock)
    opened = aal2_session(client, headers, services.clock, otp)
    assert opened["level"] == 2
    assert opened["idle_expires_at"] == "2026-03-02T10:00:30Z"  # 30 min idle
    assert opened["absolute_expires_at"] == "2026-03-02T21:30:30Z"  # 12 h absolute
    # The two factors are also what /verify says they earn.
    services.clock.advance(timedelta(seconds=30))
    verified = client.post(
        f"/v1/auth/users/{USER}/verify",
        json={
            "factors": [
                password(),
                {"type": "totp", "code": otp.generate_otp(step_of(services.clock))},
            ]
        },
        headers=headers,
    )
    assert verified.status_code == 200, verified.text
    assert verified.json() == {"verified": True, "level": 2, "factors": ["password", "totp"]}


def test_a_wrong_factor_opens_no_session(client, headers, services) -> None:
    make_user(client, headers)
    otp = with_totp(client, headers, services.clock)
    services.clock.advance(timedelta(seconds=30))
    good = otp.generate_otp(step_of(services.clock))
    rejected(sign_in(client, headers, password("wrong password!"), {"type": "totp", "code": good}))
    wrong = wrong_codes(otp, services.clock, 1)[0]
    rejected(sign_in(client, headers, password(), {"type": "totp", "code": wrong}))
    listed = client.get(f"/v1/auth/users/{USER}/sessions", headers=headers)
    assert listed.status_code == 200 and listed.json()["sessions"] == []
    # The good code was not used up by the request whose password failed first.
    assert sign_in(client, headers, password(), {"type": "totp", "code": good}).status_code == 201


def test_a_passkey_factor_on_verify_is_refused(client, headers) -> None:
    make_user(client, headers, password=None)
    refused = client.post(
        f"/v1/auth/users/{USER}/verify",
        json={"factors": [{"type": "passkey", "credential": {"id": "abc"}}]},
        headers=headers,
    )
    assert refused.status_code == 422 and refused.json()["error"]["field"] == "factors"


# -- timeouts ------------------------------------------------------------------------------


def test_an_aal2_session_ends_after_30_idle_minutes(client, headers, services) -> None:
    clock = services.clock
    make_user(client, headers)
    otp = with_totp(client, headers, clock)
    aal2 = aal2_session(client, headers, clock, otp)
    aal1 = session(client, headers)
    clock.advance(timedelta(minutes=29, seconds=59))
    assert introspect(client, headers, aal2["access_token"])["active"] is True
    # That use restarted the idle timer.
    clock.advance(timedelta(minutes=29, seconds=59))
    assert introspect(client, headers, aal2["access_token"])["active"] is True
    clock.advance(timedelta(minutes=31))
    answer = introspect(client, headers, aal2["access_token"])
    assert answer["active"] is False and answer["reason"] == "idle"
    # Idle for longer than 30 minutes does not end an AAL1 session.
    assert introspect(client, headers, aal1["access_token"])["active"] is True
    # An idle session cannot be refreshed back to life.
    rejected(refresh(client, headers, aal2["refresh_token"]))


def test_an_aal2_session_ends_at_12_hours_however_often_it_is_used(
    client, headers, services
) -> None:
    clock = services.clock
    make_user(client, headers)
    otp = with_totp(client, headers, clock)
    opened = aal2_session(client, headers, clock, otp)
    for _ in range(35):  # 11 h 40 min, touched every 20 min
        clock.advance(timedelta(minutes=20))
        answer = introspect(client, headers, opened["access_token"])
        assert answer["active"] is True, answer
    # The idle deadline never reaches past the absolute one.
    assert answer["session"]["idle_expires_at"] == opened["absolute_expires_at"]
    clock.advance(timedelta(minutes=20))  # 12 h
    answer = introspect(client, headers, opened["access_token"])
    assert answer["active"] is False and answer["reason"] == "expired"
    rejected(refresh(client, headers, opened["refresh_token"]))


def test_refresh_does_not_extend_the_absolute_timeout(client, headers, services) -> None:
    clock = services.clock
    make_user(client, headers)
    otp = with_totp(client, headers, clock)
    opened = aal2_session(client, headers, clock, otp)
    tokens = opened
    for _ in range(35):
        clock.advance(timedelta(minutes=20))
        renewed = refresh(client, headers, tokens["refresh_token"])
        assert renewed.status_code == 200, renewed.text
        tokens = renewed.json()
        assert tokens["absolute_expires_at"] == opened["absolute_expires_at"]
    clock.advance(timedelta(minutes=20))
    rejected(refresh(client, headers, tokens["refresh_token"]))
    assert introspect(client, headers, tokens["access_token"])["reason"] == "expired"


def test_an_aal1_session_ends_after_30_days(client, headers, services) -> None:
    make_user(client, headers)
    opened = session(client, headers)
    services.clock.advance(timedelta(days=29, hours=23))
    assert introspect(client, headers, opened["access_token"])["active"] is True
    services.clock.advance(timedelta(hours=1))
    assert introspect(client, headers, opened["access_token"])["reason"] == "expired"


# -- refresh -------------------------------------------------------------------------------


def test_refresh_rotates_both_tokens(client, headers, services) -> None:
    make_user(client, headers)
    opened = session(client, headers)
    services.clock.advance(timedelta(minutes=5))
    renewed = refresh(client, headers, opened["refresh_token"])
    assert renewed.status_code == 200, renewed.text
    new = renewed.json()
    assert new["session_id"] == opened["session_id"] and new["level"] == 1
    assert new["access_token"] != opened["access_token"]
    assert new["refresh_token"] != opened["refresh_token"]
    assert new["last_seen_at"] == "2026-03-02T09:35:00Z"
    old = introspect(client, headers, opened["access_token"])
    assert old == {"active": False, "reason": "unknown", "session": None}
    assert introspect(client, headers, new["access_token"])["active"] is True
    actions = [r["action"] for r in client.get("/v1/audit", headers=headers).json()]
    assert "session:refresh" in actions


def test_reusing_a_refresh_token_is_refused(client, headers) -> None:
    make_user(client, headers)
    opened = session(client, headers)
    assert refresh(client, headers, opened["refresh_token"]).status_code == 200
    rejected(refresh(client, headers, opened["refresh_token"]))
    rejected(refresh(client, headers, "pgr_not-a-token"))
    rejected(refresh(client, headers, opened["access_token"]))  # an access token is not one


def test_reusing_an_old_refresh_token_revokes_the_session(client, headers) -> None:
    make_user(client, headers)
    opened = session(client, headers)
    rotated = refresh(client, headers, opened["refresh_token"]).json()
    reused = refresh(client, headers, opened["refresh_token"])  # the thief, or a confused client
    rejected(reused)
    assert "already used" in reused.json()["error"]["message"]
    answer = introspect(client, headers, rotated["access_token"])
    assert answer["active"] is False and answer["reason"] == "revoked"
    assert answer["session"]["revoked_reason"] == "refresh token reused"
    # Neither holder gets new tokens now.
    rejected(refresh(client, headers, rotated["refresh_token"]))
    rejected(refresh(client, headers, opened["refresh_token"]))
    revocations = client.get("/v1/audit?action=session:revoke", headers=headers).json()
    assert [r["details"]["reason"] for r in revocations] == ["refresh token reused"]


# -- revocation ----------------------------------------------------------------------------


def test_delete_a_session(client, headers) -> None:
    make_user(client, headers)
    first, second = session(client, headers), session(client, headers)
    deleted = client.delete(f"/v1/auth/sessions/{first['session_id']}", headers=headers)
    assert deleted.status_code == 204 and deleted.content == b""
    answer = introspect(client, headers, first["access_token"])
    assert answer["active"] is False and answer["reason"] == "revoked"
    assert answer["session"]["revoked_at"] == "2026-03-02T09:30:00Z"
    assert introspect(client, headers, second["access_token"])["active"] is True
    rejected(refresh(client, headers, first["refresh_token"]))
    again = client.delete(f"/v1/auth/sessions/{first['session_id']}", headers=headers)
    assert again.status_code == 404
    unknown = client.delete("/v1/auth/sessions/doesnotexist", headers=headers)
    assert unknown.status_code == 404


def test_revoke_all_sessions_counts_the_live_ones(client, headers) -> None:
    make_user(client, headers)
    make_user(client, headers, "acct-2")
    opened = [session(client, headers) for _ in range(3)]
    other = session(client, headers, user="acct-2")
    assert client.delete(f"/v1/auth/sessions/{opened[0]['session_id']}", headers=headers)
    revoked = client.post(f"/v1/auth/users/{USER}/sessions/revoke", headers=headers)
    assert revoked.status_code == 200 and revoked.json() == {"revoked": 2}
    again = client.post(f"/v1/auth/users/{USER}/sessions/revoke", headers=headers)
    assert again.json() == {"revoked": 0}
    for each in opened:
        assert introspect(client, headers, each["access_token"])["reason"] == "revoked"
    assert introspect(client, headers, other["access_token"])["active"] is True
    listed = client.get(f"/v1/auth/users/{USER}/sessions", headers=headers).json()["sessions"]
    assert len(listed) == 3 and all(s["revoked_at"] for s in listed)
    assert not any("token" in key for s in listed for key in s)


# -- lockout -------------------------------------------------------------------------------


def test_five_failures_lock_the_account_for_15_minutes(client, headers, services) -> None:
    clock = services.clock
    make_user(client, headers)
    for _ in range(5):
        rejected(verify_password(client, headers, "not the password"))
    locked = verify_password(client, headers, PASSWORD)
    assert locked.status_code == 429, locked.text
    assert locked.headers["Retry-After"] == "900"
    assert locked.json()["error"] == {
        "code": "locked",
        "message": "this account is locked after repeated failures; retry in 900 s",
        "retry_after": 900,
    }
    # Every way in is locked, not only the password check.
    assert sign_in(client, headers, password()).status_code == 429
    clock.advance(timedelta(minutes=14, seconds=59))
    still = verify_password(client, headers, PASSWORD)
    assert still.status_code == 429 and still.headers["Retry-After"] == "1"
    clock.advance(timedelta(seconds=2))
    assert verify_password(client, headers, PASSWORD).status_code == 200
    actions = [r["action"] for r in client.get("/v1/audit", headers=headers).json()]
    assert actions.count("auth:locked") == 1


def test_a_success_resets_the_consecutive_failures(client, headers) -> None:
    make_user(client, headers)
    for _ in range(4):
        rejected(verify_password(client, headers, "not the password"))
    assert verify_password(client, headers, PASSWORD).status_code == 200
    for _ in range(4):
        rejected(verify_password(client, headers, "not the password"))
    assert verify_password(client, headers, PASSWORD).status_code == 200


def test_a_known_password_does_not_reset_second_factor_guessing(client, headers, services) -> None:
    make_user(client, headers)
    otp = with_totp(client, headers, services.clock)
    guesses = iter(wrong_codes(otp, services.clock, 6))
    for _ in range(2):
        for guess in (next(guesses), next(guesses)):
            response = client.post(
                f"/v1/auth/users/{USER}/totp/verify", json={"code": guess}, headers=headers
            )
            assert response.status_code == 401
        assert verify_password(client, headers, PASSWORD).status_code == 200
    client.post(f"/v1/auth/users/{USER}/totp/verify", json={"code": next(guesses)}, headers=headers)
    # Five wrong codes in all: the account is locked, whatever the password checks did.
    locked = client.post(
        f"/v1/auth/users/{USER}/totp/verify", json={"code": next(guesses)}, headers=headers
    )
    assert locked.status_code == 429


def test_a_lock_is_per_account(client, headers) -> None:
    make_user(client, headers)
    make_user(client, headers, "acct-2")
    for _ in range(5):
        rejected(verify_password(client, headers, "not the password"))
    assert verify_password(client, headers, PASSWORD).status_code == 429
    assert verify_password(client, headers, PASSWORD, user="acct-2").status_code == 200


@pytest.fixture
def strict_ip(tmp_path, clock: FrozenClock) -> Iterator[tuple[TestClient, dict[str, str]]]:
    """Its own services: an address is locked after 3 failures, argon2 at its cheapest."""
    settings = Settings(
        database_url=f"sqlite:///{tmp_path}/ip.db",
        cache_ttl_seconds=0,
        ip_lockout_threshold=3,
        argon2_time_cost=1,
        argon2_memory_kib=8192,
    )
    built = build_services(settings, clock=clock)
    _, key = built.tenants.create_tenant("acme", actor=Actor.system("test"))
    try:
        with TestClient(create_app(built), raise_server_exceptions=False) as test_client:
            yield test_client, {"Authorization": f"Bearer {key}"}
    finally:
        built.close()


def test_failures_from_one_address_lock_the_address(strict_ip, clock) -> None:
    client, headers = strict_ip
    for user in ("u-1", "u-2", "u-3", "u-4"):
        make_user(client, headers, user)
    attacker = "203.0.113.9"
    for user in ("u-1", "u-2", "u-3"):  # one failure per account, three from the address
        rejected(verify_password(client, headers, "not the password", user, ip=attacker))
    locked = verify_password(client, headers, PASSWORD, "u-4", ip=attacker)
    assert locked.status_code == 429
    assert "address" in locked.json()["error"]["message"]
    assert int(locked.headers["Retry-After"]) == 900
    assert sign_in(client, headers, password(), user="u-4", ip=attacker).status_code == 429
    # The same accounts from another address, or with no address given, are not locked.
    assert verify_password(client, headers, PASSWORD, "u-1", ip="198.51.100.7").status_code == 200
    assert verify_password(client, headers, PASSWORD, "u-2").status_code == 200
    audit = client.get("/v1/audit?action=auth:locked", headers=headers).json()
    assert [r["target"] for r in audit] == [f"ip:{attacker}"]
    clock.advance(timedelta(minutes=15, seconds=1))
    assert verify_password(client, headers, PASSWORD, "u-4", ip=attacker).status_code == 200


def test_one_address_written_differently_is_one_address(strict_ip) -> None:
    client, headers = strict_ip
    for user in ("u-1", "u-2", "u-3", "u-4"):
        make_user(client, headers, user)
    for user, spelling in [
        ("u-1", "2001:db8::1"),
        ("u-2", "2001:DB8::1"),
        ("u-3", "2001:0db8:0000:0000:0000:0000:0000:0001"),
    ]:
        rejected(verify_password(client, headers, "not the password", user, ip=spelling))
    assert verify_password(client, headers, PASSWORD, "u-4", ip="2001:db8::1").status_code == 429


# -- tenant isolation ----------------------------------------------------------------------


def test_tenants_cannot_reach_each_others_users_sessions_or_challenges(
    client, tenant, services, payment
) -> None:
    alpha, beta = tenant("alpha"), tenant("beta")
    make_user(client, alpha)
    otp = with_totp(client, alpha, services.clock)
    opened = session(client, alpha)
    credential_id = client.get(f"/v1/auth/users/{USER}", headers=alpha).json()["credentials"][0][
        "credential_id"
    ]
    login = client.post(f"/v1/auth/users/{USER}/passkeys/login-options", headers=alpha).json()
    assert client.put("/v1/rules", json={"source": RULES}, headers=alpha).status_code == 200
    assessed = client.post(
        "/v1/assessments",
        json=payment(account_id=USER, amount={"value": "250.00", "currency": "SGD"}),
        headers=alpha,
    )
    assert assessed.json()["decision"] == "challenge", assessed.text
    challenge = client.post(
        "/v1/auth/challenges",
        json={"assessment_id": assessed.json()["assessment_id"]},
        headers=alpha,
    ).json()

    not_found = [
        ("GET", f"/v1/auth/users/{USER}", None),
        ("POST", f"/v1/auth/users/{USER}/password/verify", {"password": PASSWORD}),
        ("PUT", f"/v1/auth/users/{USER}/password", {"password": "taken over at last"}),
        ("POST", f"/v1/auth/users/{USER}/totp/verify", {"code": "123456"}),
        ("GET", f"/v1/auth/users/{USER}/sessions", None),
        ("POST", f"/v1/auth/users/{USER}/sessions/revoke", None),
        ("DELETE", f"/v1/auth/sessions/{opened['session_id']}", None),
        ("DELETE", f"/v1/auth/users/{USER}/credentials/{credential_id}", None),
        ("GET", f"/v1/auth/challenges/{challenge['challenge_id']}", None),
        (
            "POST",
            f"/v1/auth/challenges/{challenge['challenge_id']}/verify",
            {"factors": [password()]},
        ),
        ("POST", "/v1/auth/challenges", {"assessment_id": assessed.json()["assessment_id"]}),
        (
            "POST",
            "/v1/auth/sessions",
            {
                "user_id": USER,
                "challenge_id": login["challenge_id"],
                "factors": [{"type": "passkey", "credential": {"id": "AAAA"}}],
            },
        ),
    ]
    for method, path, body in not_found:
        response = client.request(method, path, json=body, headers=beta)
        assert response.status_code == 404, (method, path, response.text)
    answer = introspect(client, beta, opened["access_token"])
    assert answer == {"active": False, "reason": "unknown", "session": None}
    rejected(refresh(client, beta, opened["refresh_token"]))

    # Beta's own user of the same id is somebody else.
    make_user(client, beta, password="beta's own passphrase")
    rejected(verify_password(client, beta, PASSWORD))
    assert client.get(f"/v1/auth/users/{USER}", headers=beta).json()["credentials"] == []
    services.clock.advance(timedelta(seconds=30))
    code = otp.generate_otp(step_of(services.clock))
    rejected(client.post(f"/v1/auth/users/{USER}/totp/verify", json={"code": code}, headers=beta))
    # ...and beta's failures did not lock alpha's user, nor touch its session or challenge.
    assert introspect(client, alpha, opened["access_token"])["active"] is True
    assert verify_password(client, alpha, PASSWORD).status_code == 200
    pending = client.get(f"/v1/auth/challenges/{challenge['challenge_id']}", headers=alpha).json()
    assert pending["status"] == "pending" and pending["attempts_left"] == 3
    beta_audit = client.get("/v1/audit?limit=200", headers=beta).json()
    assert all(opened["session_id"] not in str(r) for r in beta_audit)


def test_the_same_device_id_may_be_bound_in_two_tenants(client, tenant) -> None:
    alpha, beta = tenant("alpha"), tenant("beta")
    for headers in (alpha, beta):
        make_user(client, headers, password=None)
        key = base64.b64encode(Ed25519PrivateKey.generate().public_key().public_bytes_raw())
        bound = client.post(
            f"/v1/auth/users/{USER}/devices",
            json={"device_id": "dev-1", "algorithm": "ed25519", "public_key": key.decode()},
            headers=headers,
        )
        assert bound.status_code == 201, bound.text


# -- roles ---------------------------------------------------------------------------------


def test_an_analyst_key_may_not_manage_users_or_sessions(client, tenant) -> None:
    admin = tenant("acme")
    analyst = tenant("acme", role=Role.ANALYST)
    make_user(client, admin)
    calls = [
        ("POST", "/v1/auth/users", {"user_id": "acct-9"}),
        ("GET", f"/v1/auth/users/{USER}", None),
        ("POST", f"/v1/auth/users/{USER}/password/verify", {"password": PASSWORD}),
        ("POST", "/v1/auth/sessions", {"user_id": USER, "factors": [password()]}),
        ("POST", "/v1/auth/sessions/introspect", {"access_token": "pgs_x"}),
        ("POST", f"/v1/auth/users/{USER}/sessions/revoke", None),
    ]
    for method, path, body in calls:
        refused = client.request(method, path, json=body, headers=analyst)
        assert refused.status_code == 403, (method, path, refused.text)
        assert refused.json()["error"]["code"] == "forbidden"
    assert client.get("/v1/auth/users/acct-9", headers=admin).status_code == 404
    denied = client.get("/v1/audit?action=access:denied", headers=admin).json()
    assert len(denied) == len(calls)


def test_a_service_key_manages_users_and_sessions(client, tenant) -> None:
    tenant("acme")
    service = tenant("acme", role=Role.SERVICE)
    make_user(client, service)
    opened = session(client, service)
    assert introspect(client, service, opened["access_token"])["active"] is True
    # The audit trail is for admins, though.
    assert client.get("/v1/audit", headers=service).status_code == 403


def test_requests_without_a_key_are_401(client) -> None:
    response = client.post("/v1/auth/users", json={"user_id": USER})
    assert response.status_code == 401 and response.headers["www-authenticate"] == "Bearer"
