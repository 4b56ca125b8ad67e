"""Card data in assessments (issue 14): the card number is tokenized at the edge; the engine
sees a `card` entity keyed by the token; nothing stores, logs or returns the number."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import structlog
from fastapi.testclient import TestClient
from structlog.testing import capture_logs
from tests.api.test_pan_fields_api import assert_nowhere, grouped, stored_bytes

from payguard.audit.interfaces import Actor
from payguard.core.events import event_from_document
from payguard.logconfig import configure
from payguard.services import Services
from payguard.vault.cards import PAN_PURPOSE

Headers = dict[str, str]
PAN = "4111111111111111"
OTHER = "5555555555554444"

RULES = """
rules:
  - id: card_reported
    when: card_fraud_reports > 0
    action: review
    reason: CARD_REPORTED
    message: The card was reported in a fraud.
  - id: card_shared
    when: card_distinct_accounts_1h >= 3
    action: block
    reason: CARD_SHARED
    message: One card paying for many accounts.
"""


def _card(pan: str = PAN, **extra: Any) -> dict[str, Any]:
    return {"pan": pan, "expiry": "12/29", "bin_country": "SG", **extra}


def _stored_card(services: Services, headers: Headers, assessment_id: str) -> Any:
    """The card of a stored decision's event, as the store gives it back."""
    tenant_id = services.tenants.authenticate(
        headers["Authorization"].removeprefix("Bearer "), source_ip=None
    ).tenant_id
    decision = services.assessments.get(tenant_id, assessment_id)
    return event_from_document(dict(decision.event)).card


@pytest.fixture
def headers(client: TestClient, tenant: Callable[..., Headers]) -> Headers:
    made = tenant()
    assert client.put("/v1/rules", json={"source": RULES}, headers=made).status_code == 200
    return made


def _assess(client: TestClient, headers: Headers, body: dict[str, Any]) -> dict[str, Any]:
    response = client.post("/v1/assessments", json=body, headers=headers)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


@pytest.mark.parametrize("spelling", [PAN, grouped(PAN, " "), grouped(PAN, "-")])
def test_a_card_is_tokenized_whatever_its_separators(
    client: TestClient,
    services: Services,
    headers: Headers,
    payment: Callable[..., dict[str, Any]],
    spelling: str,
) -> None:
    plain = _assess(client, headers, payment(card=_card()))
    spelled = _assess(client, headers, payment(card=_card(spelling)))
    first = _stored_card(services, headers, plain["assessment_id"])
    second = _stored_card(services, headers, spelled["assessment_id"])
    assert first.token == second.token != PAN
    assert first.masked == "411111******1111"
    assert first.bin == "411111" and first.bin_country == "SG" and first.expiry == "2029-12"


def test_decisions_show_the_token_and_masked_form_only(
    client: TestClient,
    services: Services,
    headers: Headers,
    payment: Callable[..., dict[str, Any]],
) -> None:
    created = _assess(client, headers, payment(card=_card(grouped(PAN, " "))))
    stored = _stored_card(services, headers, created["assessment_id"])
    shown = {"token": stored.token, "masked": "411111******1111"}
    assert created["card"] == shown
    read = client.get(f"/v1/assessments/{created['assessment_id']}", headers=headers).json()
    assert read["card"] == shown
    found = client.get("/v1/assessments", headers=headers).json()["items"]
    assert [item["card"] for item in found] == [shown]
    without = _assess(client, headers, payment())
    assert without["card"] is None


def test_a_repeat_is_the_same_event_when_the_card_is(
    client: TestClient, headers: Headers, payment: Callable[..., dict[str, Any]]
) -> None:
    """The idempotency digest covers the card's token: the same card in another spelling
    is a repeat; another card under the same event_id is refused."""
    body = payment(event_id="evt-card", card=_card(grouped(PAN, "-")))
    first = client.post("/v1/assessments", json=body, headers=headers)
    assert first.status_code == 201, first.text
    again = client.post("/v1/assessments", json={**body, "card": _card(PAN)}, headers=headers)
    assert again.status_code == 200 and again.json()["replayed"] is True
    other = client.post("/v1/assessments", json={**body, "card": _card(OTHER)}, headers=headers)
    assert other.status_code == 409, other.text
    assert_nowhere(OTHER, other.text)


def test_tenants_get_different_tokens(
    client: TestClient,
    services: Services,
    tenant: Callable[..., Headers],
    payment: Callable[..., dict[str, Any]],
) -> None:
    acme, globex = tenant("acme"), tenant("globex")
    one = _assess(client, acme, payment(card=_card()))
    other = _assess(client, globex, payment(card=_card()))
    assert (
        _stored_card(services, acme, one["assessment_id"]).token
        != _stored_card(services, globex, other["assessment_id"]).token
    )


@pytest.mark.parametrize(
    ("pan", "field"),
    [
        ("4111111111111112", "card.pan"),  # Luhn
        ("4111 1111 1111", "card.pan"),  # too short
        ("41111111111111111111", "card.pan"),  # too long
        ("4111x111111111111", "card.pan"),  # not digits
        ("", "card.pan"),
    ],
)
def test_an_invalid_card_number_is_refused_without_repeating_it(
    client: TestClient,
    headers: Headers,
    payment: Callable[..., dict[str, Any]],
    pan: str,
    field: str,
) -> None:
    response = client.post("/v1/assessments", json=payment(card=_card(pan)), headers=headers)
    assert response.status_code == 422, response.text
    assert f'"field":"{field}"' in response.text.replace(" ", ""), response.text
    digits = "".join(c for c in pan if c.isdigit())
    if digits:
        assert digits not in response.text.replace(" ", "")
        assert pan not in response.text


@pytest.mark.parametrize(
    ("card", "field"),
    [
        ({"pan": PAN, "expiry": "13/29"}, "card.expiry"),
        ({"pan": PAN, "expiry": "2029-00"}, "card.expiry"),
        ({"pan": PAN, "expiry": "12-2029"}, "card.expiry"),
        ({"pan": PAN, "bin_country": "sg"}, "card.bin_country"),
        ({"pan": PAN, "cvv": "123"}, "card.cvv"),
        ({"expiry": "12/29"}, "card"),  # a card is a pan or a token (exactly one)
    ],
)
def test_other_card_fields_are_checked(
    client: TestClient,
    headers: Headers,
    payment: Callable[..., dict[str, Any]],
    card: dict[str, Any],
    field: str,
) -> None:
    response = client.post("/v1/assessments", json=payment(card=card), headers=headers)
    assert response.status_code == 422, response.text
    assert f'"field":"{field}"' in response.text.replace(" ", ""), response.text
    assert_nowhere(PAN, response.text)


def test_an_error_elsewhere_does_not_echo_the_card(
    client: TestClient, headers: Headers, payment: Callable[..., dict[str, Any]]
) -> None:
    body = payment(card=_card(), amount={"value": "x", "currency": "SGD"})
    response = client.post("/v1/assessments", json=body, headers=headers)
    assert response.status_code == 422
    assert_nowhere(PAN, response.text)


def test_card_velocity_counts_across_accounts_and_fraud_labels(
    client: TestClient, headers: Headers, payment: Callable[..., dict[str, Any]]
) -> None:
    hits = [
        [
            h["rule_id"]
            for h in _assess(client, headers, payment(account_id=a, card=_card()))["rule_hits"]
        ]
        for a in ("acct-1", "acct-2", "acct-3")
    ]
    assert hits[:2] == [[], []]
    assert hits[2] == ["card_shared"]  # the third account on one card within the hour
    reported = _assess(client, headers, payment(account_id="acct-7", card=_card(OTHER)))
    labelled = client.post(
        f"/v1/assessments/{reported['assessment_id']}/outcome",
        json={"outcome": "fraud"},
        headers=headers,
    )
    assert labelled.status_code == 200
    later = _assess(client, headers, payment(account_id="acct-8", card=_card(OTHER)))
    assert [h["rule_id"] for h in later["rule_hits"]] == ["card_reported"]
    clean = _assess(client, headers, payment(account_id="acct-9"))
    assert clean["rule_hits"] == []


@pytest.fixture
def _restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    config = structlog.get_config()
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    structlog.configure(**config)


@pytest.mark.usefixtures("_restore_logging")
@pytest.mark.parametrize("separator", ["", " ", "-"])
def test_a_card_appears_nowhere_in_clear(
    client: TestClient,
    services: Services,
    headers: Headers,
    payment: Callable[..., dict[str, Any]],
    capfd: pytest.CaptureFixture[str],
    separator: str,
) -> None:
    """Every spelling of the number, searched in the SQLite files' bytes, in what the
    loggers were given (before the log scrubber, which would hide it anyway) and in what
    they wrote (JSON lines), and in every response."""
    pan = OTHER
    configure("DEBUG")
    with capture_logs() as raw:
        created = client.post(
            "/v1/assessments",
            json=payment(card=_card(grouped(pan, separator))),
            headers=headers,
        )
        assert created.status_code == 201, created.text
        repeat = client.post(
            "/v1/assessments",
            json=payment(event_id="evt-x", card=_card(pan)),
            headers=headers,
        )
        refused = client.post(
            "/v1/assessments",
            json=payment(card=_card(pan), amount={"value": "-1", "currency": "SGD"}),
            headers=headers,
        )
        assessment_id = created.json()["assessment_id"]
        labelled = client.post(
            f"/v1/assessments/{assessment_id}/outcome",
            json={"outcome": "fraud"},
            headers=headers,
        )
        read = client.get(f"/v1/assessments/{assessment_id}", headers=headers)
        found = client.get("/v1/assessments", headers=headers)
    assert labelled.status_code == 200 and read.status_code == 200
    assert found.status_code == 200 and refused.status_code == 422
    written = capfd.readouterr()
    assert "/v1/assessments" in written.err  # the log lines of the requests were captured
    database = stored_bytes(services)
    assert b"411111" in database or b"555555" in database  # the masked form is stored
    assert_nowhere(
        pan,
        database,
        repr(raw),
        written.out,
        written.err,
        created.text,
        repeat.text,
        refused.text,
        read.text,
        found.text,
    )


def test_rotation_gives_the_card_a_new_token(
    client: TestClient,
    services: Services,
    headers: Headers,
    payment: Callable[..., dict[str, Any]],
) -> None:
    """After `keys rotate` of `fpe:pan` the same card gets a new token: the card entity's
    history restarts (docs/vault.md)."""
    before = _assess(client, headers, payment(card=_card()))
    tenant_id = services.tenants.authenticate(
        headers["Authorization"].removeprefix("Bearer "), source_ip=None
    ).tenant_id
    services.keys.rotate(actor=Actor.system("test"), tenant_id=tenant_id, purpose=PAN_PURPOSE)
    after = _assess(client, headers, payment(card=_card()))
    old = _stored_card(services, headers, before["assessment_id"])
    new = _stored_card(services, headers, after["assessment_id"])
    assert old.token != new.token
    assert old.masked == new.masked
