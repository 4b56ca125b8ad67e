"""Payment tokens in assessments (issue 14): a card sent as a `/v1/tokens` token of kind pan
is resolved at the edge through its metadata; one used outside its domain, revoked or expired
is reported to the engine as `token_domain_violation`, which the default rules block."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from payguard.core.clock import FrozenClock
from payguard.core.events import event_from_document
from payguard.services import Services

Headers = dict[str, str]
PAN = "4111111111111111"

RULES = """
rules:
  - id: card_shared
    when: card_distinct_accounts_1h >= 3
    action: block
    reason: CARD_SHARED
    message: One card paying for many accounts.
"""


def _token(client: TestClient, headers: Headers, **body: Any) -> str:
    made = client.post("/v1/tokens", json={"kind": "pan", "value": PAN, **body}, headers=headers)
    assert made.status_code == 201, made.text
    token: str = made.json()["tokens"][0]["token"]
    return token


def _stored(services: Services, headers: Headers, assessment_id: str) -> Any:
    tenant_id = services.tenants.authenticate(
        headers["Authorization"].removeprefix("Bearer "), source_ip=None
    ).tenant_id
    return services.assessments.get(tenant_id, assessment_id)


def _assess(client: TestClient, headers: Headers, body: dict[str, Any]) -> dict[str, Any]:
    response = client.post("/v1/assessments", json=body, headers=headers)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


def _violation(services: Services, headers: Headers, made: dict[str, Any]) -> Any:
    features = _stored(services, headers, made["assessment_id"]).features
    return features.get("token_domain_violation", False)  # stored only when set


def test_a_token_is_used_in_its_domain_and_refused_outside_it(
    client: TestClient,
    services: Services,
    tenant: Callable[..., Headers],
    payment: Callable[..., dict[str, Any]],
) -> None:
    admin = tenant("acme")  # the default rule set
    token = _token(client, admin, scope="merchant:m-1")
    home = _assess(client, admin, payment(merchant={"id": "m-1"}, card={"token": token}))
    assert _violation(services, admin, home) is False
    assert home["decision"] == "allow"
    assert home["card"] == {"token": token, "masked": "*" * 12 + "1111"}
    stored = event_from_document(dict(_stored(services, admin, home["assessment_id"]).event))
    assert stored.card is not None and stored.card.token == token
    assert stored.card.domain_violation is False

    for elsewhere in ({"merchant": {"id": "m-2"}}, {}):
        away = _assess(client, admin, payment(card={"token": token}, **elsewhere))
        assert _violation(services, admin, away) is True
        assert away["decision"] == "block"
        assert "token_domain_violation" in [h["rule_id"] for h in away["rule_hits"]]
        assert "TOKEN_DOMAIN_VIOLATION" in str(away["reasons"])


@pytest.mark.parametrize(
    ("scope", "event"),
    [
        ("device:dev-1", {}),
        ("channel:app", {}),
        ("device:dev-9", None),
        ("channel:web", None),
    ],
)
def test_device_and_channel_domains(
    client: TestClient,
    services: Services,
    tenant: Callable[..., Headers],
    payment: Callable[..., dict[str, Any]],
    scope: str,
    event: dict[str, Any] | None,
) -> None:
    admin = tenant("acme")
    token = _token(client, admin, scope=scope)
    made = _assess(client, admin, payment(card={"token": token}))  # dev-1, app
    assert _violation(services, admin, made) is (event is None)


def test_a_revoked_or_expired_token_is_a_violation(
    client: TestClient,
    services: Services,
    clock: FrozenClock,
    tenant: Callable[..., Headers],
    payment: Callable[..., dict[str, Any]],
) -> None:
    admin = tenant("acme")
    revoked = _token(client, admin, style="vault_random")
    assert client.delete(f"/v1/tokens/{revoked}", headers=admin).status_code == 200
    made = _assess(client, admin, payment(card={"token": revoked}))
    assert _violation(services, admin, made) is True and made["decision"] == "block"
    assert made["card"]["masked"] == "****"  # a vault token keeps none of the card

    expiring = _token(client, admin, ttl_seconds=60)
    fresh = _assess(client, admin, payment(card={"token": expiring}))
    assert _violation(services, admin, fresh) is False
    clock.advance(timedelta(seconds=61))
    stale = _assess(client, admin, payment(card={"token": expiring}))
    assert _violation(services, admin, stale) is True and stale["decision"] == "block"


def test_no_card_and_a_card_number_are_no_violation(
    client: TestClient,
    services: Services,
    tenant: Callable[..., Headers],
    payment: Callable[..., dict[str, Any]],
) -> None:
    admin = tenant("acme")
    assert _violation(services, admin, _assess(client, admin, payment())) is False
    carded = _assess(client, admin, payment(card={"pan": PAN}))
    assert _violation(services, admin, carded) is False


def _field(response: Any) -> str:
    assert response.status_code == 422, response.text
    fields = [d.get("field") for d in response.json()["error"].get("details") or []]
    return str(response.json()["error"].get("field") or fields)


@pytest.mark.parametrize(
    ("card", "field"),
    [
        ({"pan": PAN, "token": "4111000000001111"}, "card"),
        ({"expiry": "12/29"}, "card"),
        ({"token": ""}, "card.token"),
        ({"token": "x" * 129}, "card.token"),
        ({"token": "4000000000001111"}, "card.token"),
    ],
)
def test_bad_card_tokens_are_422s_naming_the_field(
    client: TestClient,
    tenant: Callable[..., Headers],
    payment: Callable[..., dict[str, Any]],
    card: dict[str, Any],
    field: str,
) -> None:
    admin = tenant("acme")
    answer = client.post("/v1/assessments", json=payment(card=card), headers=admin)
    assert field in _field(answer)
    if field == "card":
        assert "card.token" not in _field(answer) and "card.pan" not in _field(answer)
    assert PAN not in answer.text


def test_a_token_of_another_kind_or_tenant_is_unknown(
    client: TestClient, tenant: Callable[..., Headers], payment: Callable[..., dict[str, Any]]
) -> None:
    acme, globex = tenant("acme"), tenant("globex")
    theirs = _token(client, acme)
    answer = client.post("/v1/assessments", json=payment(card={"token": theirs}), headers=globex)
    assert "card.token" in _field(answer)
    email = client.post(
        "/v1/tokens", json={"kind": "email", "value": "a@example.com"}, headers=acme
    ).json()["tokens"][0]["token"]
    answer = client.post("/v1/assessments", json=payment(card={"token": email}), headers=acme)
    assert "card.token" in _field(answer)


def test_a_tokens_velocity_joins_its_card_numbers(
    client: TestClient,
    services: Services,
    tenant: Callable[..., Headers],
    payment: Callable[..., dict[str, Any]],
) -> None:
    admin = tenant("acme")
    assert client.put("/v1/rules", json={"source": RULES}, headers=admin).status_code == 200
    token = _token(client, admin)
    first = _assess(client, admin, payment(account_id="acct-1", card={"pan": PAN}))
    second = _assess(client, admin, payment(account_id="acct-2", card={"pan": PAN}))
    third = _assess(client, admin, payment(account_id="acct-3", card={"token": token}))
    assert first["card"]["token"] == second["card"]["token"] == token
    assert [h["rule_id"] for h in second["rule_hits"]] == []
    assert [h["rule_id"] for h in third["rule_hits"]] == ["card_shared"]
    assert _stored(services, admin, third["assessment_id"]).features["card_events_1h"] == 3
