from __future__ import annotations

import pytest
import sqlalchemy as sa

from payguard.adapters.sql import tables
from payguard.audit.interfaces import AuditAction, AuditOutcome
from payguard.tenancy.interfaces import Role


def test_assess_returns_the_wire_shape(client, tenant, payment) -> None:
    response = client.post("/v1/assessments", json=payment(), headers=tenant())
    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) >= {
        "assessment_id",
        "decision",
        "score",
        "reasons",
        "warnings",
        "step_up",
        "rule_hits",
        "model",
    }
    assert body["decision"] == "allow"
    assert body["model"] is None
    assert 0 <= body["score"] <= 1000
    fetched = client.get(f"/v1/assessments/{body['assessment_id']}", headers=tenant())
    assert fetched.status_code == 200
    assert fetched.json()["assessment_id"] == body["assessment_id"]


def test_same_event_id_returns_the_first_decision_and_counts_once(
    client, tenant, payment, services
) -> None:
    headers = tenant()
    first = client.post("/v1/assessments", json=payment(event_id="dup-1"), headers=headers)
    # The same event, written differently: another offset for the same instant, another
    # spelling of the same amount, keys in another order.
    same = payment(
        event_id="dup-1",
        occurred_at="2026-03-02T09:20:00Z",
        amount={"currency": "SGD", "value": "25.0"},
    )
    again = client.post("/v1/assessments", json=dict(reversed(same.items())), headers=headers)
    assert again.status_code == 200, again.text
    assert again.json()["assessment_id"] == first.json()["assessment_id"]
    assert again.json()["replayed"] is True
    nxt = client.post("/v1/assessments", json=payment(), headers=headers)
    stored = services.assessments.get(services.tenants.tenants()[0].id, nxt.json()["assessment_id"])
    assert stored.features["account_payments_1h"] == 2


@pytest.mark.parametrize(
    "change",
    [
        {"amount": {"value": "9999.00", "currency": "SGD"}},
        {"amount": {"value": "25.00", "currency": "MYR"}},
        {"occurred_at": "2026-03-02T17:20:01+08:00"},
        {"payee": {"id": "payee-2", "name": "Tan Ah Kow"}},
        {"account_id": "acct-2"},
        {"event_type": "withdrawal"},
        {"attributes": {"app_version": "5.2.2"}},
        {"ip": None},
    ],
    ids=lambda change: next(iter(change)),
)
def test_same_event_id_with_another_event_is_a_409(
    client, tenant, payment, services, change
) -> None:
    headers = tenant()
    first = client.post("/v1/assessments", json=payment(event_id="dup-2"), headers=headers)
    assert first.status_code == 201
    other = payment(event_id="dup-2", **change)
    again = client.post("/v1/assessments", json=other, headers=headers)
    assert again.status_code == 409, again.text
    error = again.json()["error"]
    assert error["code"] == "idempotency_mismatch"
    assert "event_id" in error["message"]
    # Nothing of the refused event was written: the first decision stands, counted once.
    tenant_id = services.tenants.tenants()[0].id
    store = services.assessments.store
    assert store.get_by_event(tenant_id, "dup-2").assessment_id == first.json()["assessment_id"]
    nxt = client.post("/v1/assessments", json=payment(), headers=headers).json()
    assert (
        services.assessments.get(tenant_id, nxt["assessment_id"]).features["account_payments_1h"]
        == 2
    )
    # The first event itself still replays.
    replay = client.post("/v1/assessments", json=payment(event_id="dup-2"), headers=headers)
    assert replay.status_code == 200 and replay.json()["replayed"] is True


def test_a_decision_stored_without_a_digest_replays_as_before(
    client, tenant, payment, services
) -> None:
    headers = tenant()
    first = client.post("/v1/assessments", json=payment(event_id="old-1"), headers=headers)
    engine = services.engine  # the rows written before migration 0007 have no digest
    with engine.begin() as conn:
        conn.execute(
            sa.update(tables.assessments)
            .where(tables.assessments.c.event_id == "old-1")
            .values(request_digest=None)
        )
    changed = payment(event_id="old-1", amount={"value": "9999.00", "currency": "SGD"})
    again = client.post("/v1/assessments", json=changed, headers=headers)
    assert again.status_code == 200
    assert again.json()["assessment_id"] == first.json()["assessment_id"]


# --- money and time on the way in ------------------------------------------------------


@pytest.mark.parametrize("event_type", ["payment", "withdrawal", "deposit"])
@pytest.mark.parametrize("value", ["0", "0.00", "000", "0.0000"])
def test_a_zero_amount_is_refused_where_money_moves(
    client, tenant, payment, event_type, value
) -> None:
    body = payment(event_type=event_type, amount={"value": value, "currency": "SGD"})
    response = client.post("/v1/assessments", json=body, headers=tenant())
    assert response.status_code == 422, response.text
    assert response.json()["error"]["field"] == "amount.value"
    assert "zero" in response.json()["error"]["message"]


def test_events_without_money_may_still_carry_a_zero_amount(client, tenant, payment) -> None:
    body = payment(event_type="login", amount={"value": "0", "currency": "SGD"})
    assert client.post("/v1/assessments", json=body, headers=tenant()).status_code == 201


@pytest.mark.parametrize(
    "value",
    [
        "\u0661\u0662\u0663",  # Arabic-Indic digits: Decimal reads them as 123
        "\uff11\uff12.\uff15\uff10",  # fullwidth digits
        "\u0967\u0968",  # Devanagari
        "1\u0662.50",  # one foreign digit among ASCII ones
        "\U0001d7d9\U0001d7da",  # mathematical double-struck digits
    ],
)
def test_amounts_in_other_scripts_digits_are_refused(client, tenant, payment, value) -> None:
    body = payment(amount={"value": value, "currency": "SGD"})
    response = client.post("/v1/assessments", json=body, headers=tenant())
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["field"] == "amount.value"
    assert "ASCII digits" in error["message"]


@pytest.mark.parametrize(
    "value", ["1e3", "12.", ".5", "+12", "-1", " 12", "12 ", "12\n", "1_000", "NaN", "0x10"]
)
def test_amounts_that_are_not_plain_decimals_are_refused(client, tenant, payment, value) -> None:
    body = payment(amount={"value": value, "currency": "SGD"})
    response = client.post("/v1/assessments", json=body, headers=tenant())
    assert response.status_code == 422, response.text
    assert response.json()["error"]["field"] == "amount.value"


@pytest.mark.parametrize(
    "occurred_at",
    [
        1772443200,  # epoch seconds as a number
        1772443200.5,
        "1772443200",  # ... and as text
        "2026-03-02",  # a date alone
        "2026-03-02T09:20:00",  # no offset
        "2026-03-02 09:20:00Z",  # a space for the T
        "20260302T092000Z",  # ISO 8601 basic format
        "2026-03-02T09:20Z",  # no seconds
        "2026-03-02T09:20:00+0800",  # offset without colon
        "Mon, 02 Mar 2026 09:20:00 GMT",
        "2026-03-02T09:20:00+08:00\n",
        True,
        None,
        {"at": "2026-03-02T09:20:00Z"},
    ],
)
def test_occurred_at_is_rfc3339_with_an_offset_only(client, tenant, payment, occurred_at) -> None:
    body = payment(occurred_at=occurred_at)
    response = client.post("/v1/assessments", json=body, headers=tenant())
    assert response.status_code == 422, response.text
    assert response.json()["error"]["field"] == "occurred_at"


@pytest.mark.parametrize(
    "occurred_at",
    ["2026-03-02T09:20:00Z", "2026-03-02t09:20:00z", "2026-03-02T17:20:00.123+08:00"],
)
def test_rfc3339_times_are_accepted(client, tenant, payment, occurred_at) -> None:
    body = payment(occurred_at=occurred_at)
    assert client.post("/v1/assessments", json=body, headers=tenant()).status_code == 201


def test_card_testing_burst_is_blocked(client, tenant, payment) -> None:
    headers = tenant()
    decisions = []
    for i in range(8):
        body = payment(
            occurred_at=f"2026-03-02T17:20:{i:02d}+08:00",
            amount={"value": "0.50", "currency": "SGD"},
            payee=None,
            merchant={"id": "m-online-1", "mcc": "5967"},
        )
        decisions.append(client.post("/v1/assessments", json=body, headers=headers).json())
    assert decisions[0]["decision"] == "allow"
    assert decisions[-1]["decision"] == "block"
    assert "CARD_TESTING_BURST" in [r["code"] for r in decisions[-1]["reasons"]]


def test_new_device_high_amount_is_challenged_with_step_up(client, tenant, payment) -> None:
    headers = tenant()
    client.post("/v1/assessments", json=payment(), headers=headers)
    risky = client.post(
        "/v1/assessments",
        json=payment(
            occurred_at="2026-03-02T17:25:00+08:00",
            device={"id": "dev-new"},
            amount={"value": "2500.00", "currency": "SGD"},
        ),
        headers=headers,
    ).json()
    assert risky["decision"] == "challenge"
    assert risky["step_up"]["level"] == "AAL2"
    assert risky["step_up"]["methods"]


def test_outcome_is_recorded_and_flags_the_payee(client, tenant, payment) -> None:
    headers = tenant()
    first = client.post("/v1/assessments", json=payment(payee={"id": "mule-9"}), headers=headers)
    assessment_id = first.json()["assessment_id"]
    labelled = client.post(
        f"/v1/assessments/{assessment_id}/outcome", json={"outcome": "fraud"}, headers=headers
    )
    assert labelled.status_code == 200
    assert labelled.json()["outcome"] == "fraud"
    later = client.post(
        "/v1/assessments",
        json=payment(account_id="acct-2", payee={"id": "mule-9"}, device={"id": "dev-9"}),
        headers=headers,
    ).json()
    assert "PAYEE_REPORTED" in [r["code"] for r in later["reasons"]]
    assert later["warnings"]


def test_an_outcome_is_audited_as_the_calling_key(client, tenant, payment, services) -> None:
    headers = tenant()
    token = headers["Authorization"].removeprefix("Bearer ")
    principal = services.tenants.authenticate(token, source_ip=None)
    created = client.post("/v1/assessments", json=payment(), headers=headers).json()
    assessment_id = created["assessment_id"]
    for outcome in ("fraud", "legit"):
        labelled = client.post(
            f"/v1/assessments/{assessment_id}/outcome",
            json={"outcome": outcome, "note": f"partner says {outcome}"},
            headers=headers,
        )
        assert labelled.status_code == 200, labelled.text

    records = services.audit.list(tenant_id=principal.tenant_id, action=AuditAction.OUTCOME_RECORD)
    by_outcome = {r.details["outcome"]: r for r in records}
    assert len(records) == 2 and set(by_outcome) == {"fraud", "legit"}
    for outcome, previous in (("fraud", None), ("legit", "fraud")):
        record = by_outcome[outcome]
        assert record.actor == f"apikey:{principal.key_id}"
        assert record.target == f"assessment:{assessment_id}"
        assert record.outcome is AuditOutcome.SUCCESS
        assert record.tenant_id == principal.tenant_id
        assert record.source_ip == "testclient"  # the TestClient's address
        assert record.details == {
            "outcome": outcome,
            "previous": previous,
            "note": f"partner says {outcome}",
        }


def test_unknown_assessment_is_404(client, tenant) -> None:
    response = client.get("/v1/assessments/doesnotexist", headers=tenant())
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_tenant_cannot_read_or_label_another_tenants_assessment(client, tenant, payment) -> None:
    a = tenant("alpha")
    b = tenant("bravo")
    created = client.post("/v1/assessments", json=payment(event_id="shared-id"), headers=a).json()
    assessment_id = created["assessment_id"]
    assert client.get(f"/v1/assessments/{assessment_id}", headers=b).status_code == 404
    outcome = client.post(
        f"/v1/assessments/{assessment_id}/outcome", json={"outcome": "fraud"}, headers=b
    )
    assert outcome.status_code == 404
    # The same event_id is an independent event for tenant B, with its own state.
    other = client.post("/v1/assessments", json=payment(event_id="shared-id"), headers=b)
    assert other.status_code == 201
    assert other.json()["assessment_id"] != assessment_id
    assert client.get(f"/v1/assessments/{assessment_id}", headers=a).json()["outcome"] is None


def test_tenant_state_does_not_leak(client, tenant, payment, services) -> None:
    a = tenant("alpha")
    b = tenant("bravo")
    for _i in range(3):
        client.post("/v1/assessments", json=payment(), headers=a)
    seen_by_b = client.post("/v1/assessments", json=payment(), headers=b).json()
    tenant_b = services.tenants.get_tenant_by_name("bravo")
    assert tenant_b is not None
    stored = services.assessments.get(tenant_b.id, seen_by_b["assessment_id"])
    assert stored.features["account_payments_1h"] == 1
    assert stored.features["new_account"] is True


def test_roles_are_enforced_and_denials_audited(client, tenant, payment) -> None:
    admin = tenant("acme", Role.ADMIN)
    analyst = tenant("acme", Role.ANALYST)
    service = tenant("acme", Role.SERVICE)
    assert client.post("/v1/assessments", json=payment(), headers=analyst).status_code == 403
    assert client.post("/v1/assessments", json=payment(), headers=service).status_code == 201
    assert client.put("/v1/rules", json={"source": "rules: []"}, headers=service).status_code == 403
    audit = client.get("/v1/audit", params={"action": "access:denied"}, headers=admin).json()
    assert len(audit) == 2
    assert client.get("/v1/audit", headers=analyst).status_code == 403


def test_card_numbers_in_free_text_are_stored_tokenized(client, tenant, payment, services) -> None:
    body = payment(
        payee={"id": "p-1", "name": "pay 4111 1111 1111 1111", "account": "5500000000000004"},
        attributes={"memo": "card 340000000000009"},
    )
    created = client.post("/v1/assessments", json=body, headers=tenant()).json()
    stored = services.assessments.get(services.tenants.tenants()[0].id, created["assessment_id"])
    text = str(stored.event)
    for pan in ("4111111111111111", "4111 1111 1111 1111", "5500000000000004", "340000000000009"):
        assert pan not in text
    # The tenant's deterministic card token beside the mask: the token the same card gets as
    # `card.pan`, so the text joins the card entity.
    tenant_id = services.tenants.tenants()[0].id
    amex = services.cards.tokenize(tenant_id, "340000000000009").token
    mastercard = services.cards.tokenize(tenant_id, "5500000000000004").token
    assert stored.event["payee"]["account"] == f"[card 550000******0004 token {mastercard}]"
    assert stored.event["attributes"]["memo"] == f"card [card 340000*****0009 token {amex}]"


def test_a_card_number_in_full_width_digits_is_tokenized_by_its_value(
    client, tenant, payment, services
) -> None:
    # The detector reads other scripts' digits; the token is the ASCII number's.
    full_width = "4111 1111 1111 1111".translate({ord(d): 0xFF10 + int(d) for d in "0123456789"})
    body = payment(payee={"id": "p-1", "name": f"pay {full_width}"})
    created = client.post("/v1/assessments", json=body, headers=tenant())
    assert created.status_code == 201, created.text
    tenant_id = services.tenants.tenants()[0].id
    stored = services.assessments.get(tenant_id, created.json()["assessment_id"])
    token = services.cards.tokenize(tenant_id, "4111111111111111").token
    assert stored.event["payee"]["name"] == f"pay [card 411111******1111 token {token}]"
