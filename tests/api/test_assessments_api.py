from __future__ import annotations

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
    again = client.post(
        "/v1/assessments",
        json=payment(event_id="dup-1", amount={"value": "9999.00", "currency": "SGD"}),
        headers=headers,
    )
    assert again.status_code == 200
    assert again.json()["assessment_id"] == first.json()["assessment_id"]
    assert again.json()["replayed"] is True
    nxt = client.post("/v1/assessments", json=payment(), headers=headers)
    stored = services.assessments.get(services.tenants.tenants()[0].id, nxt.json()["assessment_id"])
    assert stored.features["account_payments_1h"] == 2


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


def test_card_numbers_in_free_text_are_stored_masked(client, tenant, payment, services) -> None:
    body = payment(
        payee={"id": "p-1", "name": "pay 4111 1111 1111 1111", "account": "5500000000000004"},
        attributes={"memo": "card 340000000000009"},
    )
    created = client.post("/v1/assessments", json=body, headers=tenant()).json()
    stored = services.assessments.get(services.tenants.tenants()[0].id, created["assessment_id"])
    text = str(stored.event)
    for pan in ("4111111111111111", "4111 1111 1111 1111", "5500000000000004", "340000000000009"):
        assert pan not in text
    assert stored.event["payee"]["account"] == "550000******0004"
