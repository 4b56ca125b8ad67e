"""End to end: a risky payment is challenged, the user steps up, the payment is allowed; a
proof made for another amount or payee is refused; low-risk exemptions within their limits."""

from __future__ import annotations

import base64
from datetime import timedelta
from typing import Any

import pyotp
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from tests.auth.test_service import reseal_under_another_key

from payguard.auth.client import device_factor as client_device_factor
from payguard.auth.client import shown_payment, step_up_answer
from payguard.auth.softauthn import SoftAuthenticator
from payguard.risk.engine import dense

RULES = """
rules:
  - id: big_payment
    when: amount >= 100.0
    action: challenge
    step_up: AAL2
    reason: BIG_PAYMENT
    message: A large payment needs a second factor.
  - id: huge_payment
    when: amount >= 5000.0
    action: challenge
    step_up: AAL3
    reason: HUGE_PAYMENT
    message: A very large payment needs a passkey on the bound device.
"""

EXEMPTING = (
    RULES
    + """
low_risk_exemption:
  currency: SGD
  max_amount: "150"
  max_count: 2
  max_total: "250"
  max_score: 500
"""
)

ORIGIN = "http://localhost:8000"


@pytest.fixture
def headers(client, tenant) -> dict[str, str]:
    headers = tenant()
    assert client.put("/v1/rules", json={"source": RULES}, headers=headers).status_code == 200
    return headers


def enrol(client, headers, user: str = "acct-1") -> dict[str, Any]:
    """A user with a password, a confirmed TOTP app and a bound Ed25519 device."""
    made = client.post(
        "/v1/auth/users",
        json={"user_id": user, "password": "correct horse battery staple"},
        headers=headers,
    )
    assert made.status_code == 201, made.text
    totp = client.post(f"/v1/auth/users/{user}/totp", json={"label": "phone"}, headers=headers)
    assert totp.status_code == 201, totp.text
    secret = totp.json()["secret"]
    credential_id = totp.json()["credential"]["credential_id"]
    return {"user": user, "secret": secret, "totp_id": credential_id}


def confirm_totp(client, headers, enrolled, services) -> None:
    code = pyotp.TOTP(enrolled["secret"]).at(services.clock.now())
    confirmed = client.post(
        f"/v1/auth/users/{enrolled['user']}/totp/{enrolled['totp_id']}/confirm",
        json={"code": code},
        headers=headers,
    )
    assert confirmed.status_code == 200, confirmed.text


def bind(client, headers, user: str, device_id: str = "dev-1") -> Ed25519PrivateKey:
    key = Ed25519PrivateKey.generate()
    raw = key.public_key().public_bytes_raw()
    bound = client.post(
        f"/v1/auth/users/{user}/devices",
        json={
            "device_id": device_id,
            "algorithm": "ed25519",
            "public_key": base64.b64encode(raw).decode(),
        },
        headers=headers,
    )
    assert bound.status_code == 201, bound.text
    return key


def device_factor(key, services, challenge: dict[str, Any], device_id: str = "dev-1") -> dict:
    """What the app sends: its key's signature over the step-up request, whose body is the
    payment digest the app computes from what it shows the user."""
    return client_device_factor(
        challenge,
        device_id=device_id,
        sign=key.sign,
        timestamp=int(services.clock.now().timestamp()),
    )


def challenged(client, headers, payment, **overrides) -> dict[str, Any]:
    response = client.post("/v1/assessments", json=payment(**overrides), headers=headers)
    assert response.status_code == 201, response.text
    assert response.json()["decision"] == "challenge", response.json()
    opened = client.post(
        "/v1/auth/challenges",
        json={"assessment_id": response.json()["assessment_id"]},
        headers=headers,
    )
    assert opened.status_code == 201, opened.text
    return opened.json()


def test_risky_payment_steps_up_with_password_and_totp_and_is_allowed(
    client, headers, payment, services
) -> None:
    enrolled = enrol(client, headers)
    confirm_totp(client, headers, enrolled, services)
    challenge = challenged(client, headers, payment, amount={"value": "250.00", "currency": "SGD"})
    assert challenge["level_required"] == "AAL2" and challenge["status"] == "pending"
    assert challenge["binding"] == {"amount": "250.00", "currency": "SGD", "payee": "payee-1"}

    services.clock.advance(__import__("datetime").timedelta(seconds=30))
    code = pyotp.TOTP(enrolled["secret"]).at(services.clock.now())
    verified = client.post(
        f"/v1/auth/challenges/{challenge['challenge_id']}/verify",
        json={
            "factors": [
                {"type": "password", "password": "correct horse battery staple"},
                {"type": "totp", "code": code},
            ],
            "amount": {"value": "250.00", "currency": "SGD"},
            "payee": "payee-1",
        },
        headers=headers,
    )
    assert verified.status_code == 200, verified.text
    body = verified.json()
    assert body["status"] == "passed" and body["verified"] is True
    assert body["level"] == 2 and body["final"] == "allow"
    assessment = client.get(f"/v1/assessments/{challenge['assessment_id']}", headers=headers)
    assert assessment.json()["decision"] == "challenge"
    assert assessment.json()["final"] == "allow"

    # The same code cannot authorise the next payment.
    other = challenged(client, headers, payment, amount={"value": "300.00", "currency": "SGD"})
    again = client.post(
        f"/v1/auth/challenges/{other['challenge_id']}/verify",
        json={
            "factors": [
                {"type": "password", "password": "correct horse battery staple"},
                {"type": "totp", "code": code},
            ],
            **shown_payment(other),
        },
        headers=headers,
    )
    assert again.status_code == 200 and again.json()["verified"] is False
    assert again.json()["status"] == "pending" and again.json()["attempts_left"] == 2


def test_a_device_proof_for_one_payment_does_not_authorise_another(
    client, headers, payment, services
) -> None:
    enrolled = enrol(client, headers)
    key = bind(client, headers, enrolled["user"])
    first = challenged(client, headers, payment, amount={"value": "120.00", "currency": "SGD"})
    second = challenged(client, headers, payment, amount={"value": "990.00", "currency": "SGD"})
    # The app signed the 120.00 payment; malware swapped in the 990.00 one (and names it).
    proof = device_factor(key, services, first)
    swapped = client.post(
        f"/v1/auth/challenges/{second['challenge_id']}/verify",
        json={
            "factors": [
                {"type": "password", "password": "correct horse battery staple"},
                proof,
            ],
            **shown_payment(second),
        },
        headers=headers,
    )
    assert swapped.status_code == 200 and swapped.json()["verified"] is False
    assert "signature" in swapped.json()["reason"]
    # Saying the amount shown was 120.00 against the 990.00 challenge is refused too.
    claimed = client.post(
        f"/v1/auth/challenges/{second['challenge_id']}/verify",
        json={
            "factors": [{"type": "password", "password": "correct horse battery staple"}],
            "amount": {"value": "120.00", "currency": "SGD"},
            "payee": "payee-1",
        },
        headers=headers,
    )
    assert claimed.json()["verified"] is False and "amount" in claimed.json()["reason"]
    # The third wrong answer fails the challenge and blocks the payment.
    last = client.post(
        f"/v1/auth/challenges/{second['challenge_id']}/verify",
        json={
            "factors": [{"type": "password", "password": "wrong password!"}],
            **shown_payment(second),
        },
        headers=headers,
    )
    assert last.json()["status"] == "failed" and last.json()["final"] == "block"
    blocked = client.get(f"/v1/assessments/{second['assessment_id']}", headers=headers)
    assert blocked.json()["final"] == "block"
    # The untouched proof still authorises the payment it was made for.
    right = client.post(
        f"/v1/auth/challenges/{first['challenge_id']}/verify",
        json={
            "factors": [
                {"type": "password", "password": "correct horse battery staple"},
                device_factor(key, services, first),
            ],
            **shown_payment(first),
        },
        headers=headers,
    )
    assert right.json()["status"] == "passed" and right.json()["final"] == "allow"


def test_aal3_needs_a_verified_passkey_on_the_bound_device(
    client, headers, payment, services
) -> None:
    enrolled = enrol(client, headers)
    key = bind(client, headers, enrolled["user"])
    authenticator = SoftAuthenticator(algorithm="es256", user_verified=True)
    options = client.post(f"/v1/auth/users/{enrolled['user']}/passkeys/options", headers=headers)
    assert options.status_code == 200, options.text
    registered = client.post(
        f"/v1/auth/users/{enrolled['user']}/passkeys",
        json={
            "challenge_id": options.json()["challenge_id"],
            "credential": authenticator.create(options.json()["options"], ORIGIN),
            "label": "phone",
        },
        headers=headers,
    )
    assert registered.status_code == 201, registered.text

    challenge = challenged(client, headers, payment, amount={"value": "6000.00", "currency": "SGD"})
    assert challenge["level_required"] == "AAL3"
    assertion = authenticator.get(challenge["options"]["passkey"], ORIGIN)
    # A passkey alone earns AAL2: not enough.
    alone = client.post(
        f"/v1/auth/challenges/{challenge['challenge_id']}/verify",
        json={
            "factors": [{"type": "passkey", "credential": assertion}],
            **shown_payment(challenge),
        },
        headers=headers,
    )
    assert alone.json()["verified"] is False and "AAL2" in alone.json()["reason"]
    both = client.post(
        f"/v1/auth/challenges/{challenge['challenge_id']}/verify",
        json={
            "factors": [
                {
                    "type": "passkey",
                    "credential": authenticator.get(challenge["options"]["passkey"], ORIGIN),
                },
                device_factor(key, services, challenge),
            ],
            **shown_payment(challenge),
        },
        headers=headers,
    )
    assert both.status_code == 200, both.text
    assert both.json()["status"] == "passed" and both.json()["level"] == 3


def test_low_risk_exemption_lets_small_payments_through_within_limits(
    client, tenant, payment, services
) -> None:
    headers = tenant()
    assert client.put("/v1/rules", json={"source": EXEMPTING}, headers=headers).status_code == 200
    enrol(client, headers)
    decisions = []
    for _ in range(3):
        made = client.post(
            "/v1/assessments",
            json=payment(amount={"value": "110.00", "currency": "SGD"}),
            headers=headers,
        )
        decisions.append(made.json())
    assert [d["decision"] for d in decisions] == ["allow", "allow", "challenge"]
    assert "SCA_EXEMPT_LOW_RISK" in [r["code"] for r in decisions[0]["reasons"]]
    # Over the per-payment limit: never exempt.
    big = client.post(
        "/v1/assessments",
        json=payment(amount={"value": "151.00", "currency": "SGD"}),
        headers=headers,
    )
    assert big.json()["decision"] == "challenge"
    # A replayed event does not use up the allowance.
    repeat = client.post(
        "/v1/assessments",
        json=payment(event_id="evt-0", amount={"value": "110.00", "currency": "SGD"}),
        headers=headers,
    )
    assert repeat.status_code == 200, repeat.text
    assert repeat.json()["assessment_id"] == decisions[0]["assessment_id"]


def test_failures_lock_the_account_and_feed_the_engine(client, headers, payment, services) -> None:
    enrol(client, headers)
    for _ in range(5):
        wrong = client.post(
            "/v1/auth/users/acct-1/password/verify",
            json={"password": "not the password", "ip": "203.0.113.9"},
            headers=headers,
        )
        assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "factor_rejected"
    locked = client.post(
        "/v1/auth/users/acct-1/password/verify",
        json={"password": "correct horse battery staple"},
        headers=headers,
    )
    assert locked.status_code == 429 and int(locked.headers["Retry-After"]) > 0
    # The engine saw the five failures: the account's next payment carries them.
    later = payment(occurred_at="2026-03-02T17:31:00+08:00")
    decided = client.post("/v1/assessments", json=later, headers=headers).json()
    tenant_id = services.tenants.authenticate(headers["Authorization"][7:], source_ip=None)
    stored = services.assessments.get(tenant_id.tenant_id, decided["assessment_id"]).features
    features = dense(stored)  # stored sparse: neutral values are left out
    assert features["account_failed_logins_1h"] == 5
    assert features["ip_failed_logins_1h"] == 0  # the payment came from another address
    audit = client.get("/v1/audit?limit=50", headers=headers).json()
    actions = [r["action"] for r in audit]
    assert actions.count("auth:failure") == 5 and "auth:locked" in actions
    # The password never reaches the audit trail.
    assert "not the password" not in str(audit)


# -- dynamic linking is not optional -------------------------------------------------------


@pytest.mark.parametrize(
    ("leave_out", "field"), [("amount", "amount"), ("payee", "payee"), ("both", "amount")]
)
def test_a_payment_step_up_answer_without_the_payment_shown_is_422_and_uses_no_attempt(
    client, headers, payment, services, leave_out, field
) -> None:
    enrolled = enrol(client, headers)
    confirm_totp(client, headers, enrolled, services)
    challenge = challenged(client, headers, payment, amount={"value": "250.00", "currency": "SGD"})
    services.clock.advance(timedelta(seconds=30))
    code = pyotp.TOTP(enrolled["secret"]).at(services.clock.now())
    factors = [
        {"type": "password", "password": "correct horse battery staple"},
        {"type": "totp", "code": code},
    ]
    shown = shown_payment(challenge)
    assert shown == {"amount": {"value": "250.00", "currency": "SGD"}, "payee": "payee-1"}
    partial = {} if leave_out == "both" else {k: v for k, v in shown.items() if k != leave_out}
    path = f"/v1/auth/challenges/{challenge['challenge_id']}/verify"
    refused = client.post(path, json={"factors": factors, **partial}, headers=headers)
    assert refused.status_code == 422, refused.text
    error = refused.json()["error"]
    assert error["code"] == "validation_failed" and error["field"] == field
    assert "required" in error["message"]
    status = client.get(f"/v1/auth/challenges/{challenge['challenge_id']}", headers=headers)
    assert status.json()["attempts_left"] == 3 and status.json()["status"] == "pending"
    assessment = client.get(f"/v1/assessments/{challenge['assessment_id']}", headers=headers)
    assert assessment.json()["final"] is None
    # Naming the payment, the same factors pass: the refused answer spent nothing.
    passed = client.post(path, json={"factors": factors, **shown}, headers=headers)
    assert passed.status_code == 200, passed.text
    assert passed.json()["verified"] is True and passed.json()["final"] == "allow"


def test_the_client_helper_builds_an_answer_that_names_the_payment(
    client, headers, payment, services
) -> None:
    enrolled = enrol(client, headers)
    key = bind(client, headers, enrolled["user"])
    challenge = challenged(client, headers, payment, amount={"value": "120.00", "currency": "SGD"})
    body = step_up_answer(
        challenge,
        [
            {"type": "password", "password": "correct horse battery staple"},
            device_factor(key, services, challenge),
        ],
    )
    assert body["amount"] == {"value": "120.00", "currency": "SGD"}
    assert body["payee"] == "payee-1"
    answered = client.post(
        f"/v1/auth/challenges/{challenge['challenge_id']}/verify", json=body, headers=headers
    )
    assert answered.status_code == 200, answered.text
    assert answered.json()["final"] == "allow"


def test_the_openapi_says_amount_and_payee_are_required_for_a_payment(client) -> None:
    """They stay optional in the schema (a challenge bound to no payment needs neither), so
    the description must say when they are required."""
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    verify = schemas["StepUpVerify"]
    assert "amount" not in verify.get("required", [])
    assert "required" in verify["description"].lower() and "payment" in verify["description"]
    for field in ("amount", "payee"):
        described = verify["properties"][field]["description"]
        assert described.startswith(f"The {field} shown to the user. Required when")


def test_a_server_fault_while_verifying_is_503_and_uses_no_attempt(
    client, headers, payment, services
) -> None:
    enrolled = enrol(client, headers)
    confirm_totp(client, headers, enrolled, services)
    challenge = challenged(client, headers, payment, amount={"value": "250.00", "currency": "SGD"})
    services.clock.advance(timedelta(seconds=30))
    # The TOTP secret sealed under a key this server lacks: it cannot be opened.
    tenant_id = services.tenants.get_tenant_by_name("acme").id
    reseal_under_another_key(services, tenant_id, enrolled["totp_id"])
    code = pyotp.TOTP(enrolled["secret"]).at(services.clock.now())
    factors = [
        {"type": "password", "password": "correct horse battery staple"},
        {"type": "totp", "code": code},
    ]
    path = f"/v1/auth/challenges/{challenge['challenge_id']}/verify"
    for _ in range(4):  # more than the attempts, were they used
        answer = client.post(path, json=step_up_answer(challenge, factors), headers=headers)
        assert answer.status_code == 503, answer.text
    status = client.get(f"/v1/auth/challenges/{challenge['challenge_id']}", headers=headers)
    assert status.json()["attempts_left"] == 3 and status.json()["status"] == "pending"
    user = client.get(f"/v1/auth/users/{enrolled['user']}", headers=headers)
    assert user.json()["locked_until"] is None
