from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path

import yaml

RULES = """
rules:
  - id: big_payment
    when: amount >= 500.0
    action: review
    score: 600
    reason: BIG_PAYMENT
    message: A payment of 500 or more.
"""


def test_put_rules_takes_effect_without_restart(client, tenant, payment) -> None:
    headers = tenant()
    body = payment(amount={"value": "750.00", "currency": "SGD"})
    assert client.post("/v1/assessments", json=body, headers=headers).json()["decision"] == "allow"
    put = client.put("/v1/rules", json={"source": RULES}, headers=headers)
    assert put.status_code == 200, put.text
    assert put.json()["version"] == 1 and put.json()["rules"] == ["big_payment"]
    after = client.post(
        "/v1/assessments",
        json=payment(amount={"value": "750.00", "currency": "SGD"}),
        headers=headers,
    ).json()
    assert after["decision"] == "review"
    assert after["rule_set_version"] == 1
    assert client.get("/v1/rules", headers=headers).json()["version"] == 1


def test_bad_rule_set_is_422_with_the_rule_field_and_audited(client, tenant) -> None:
    headers = tenant()
    bad = RULES.replace("amount >= 500.0", "amount >=")
    response = client.put("/v1/rules", json={"source": bad}, headers=headers)
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "rules[0].when"
    audit = client.get("/v1/audit", params={"action": "rules:update"}, headers=headers).json()
    assert audit[0]["outcome"] == "failure"
    assert client.get("/v1/rules", headers=headers).json()["version"] == 0


def test_rules_are_per_tenant(client, tenant, payment) -> None:
    a = tenant("alpha")
    b = tenant("bravo")
    client.put("/v1/rules", json={"source": RULES}, headers=a)
    body = payment(amount={"value": "750.00", "currency": "SGD"})
    assert client.post("/v1/assessments", json=body, headers=b).json()["decision"] == "allow"
    assert client.get("/v1/rules", headers=b).json()["version"] == 0


def test_backtest_reports_changed_decisions(client, tenant, payment) -> None:
    headers = tenant()
    ids = []
    for value in ("10.00", "600.00", "800.00"):
        created = client.post(
            "/v1/assessments",
            json=payment(amount={"value": value, "currency": "SGD"}),
            headers=headers,
        )
        ids.append(created.json()["assessment_id"])
    client.post(f"/v1/assessments/{ids[2]}/outcome", json={"outcome": "fraud"}, headers=headers)
    client.post(f"/v1/assessments/{ids[1]}/outcome", json={"outcome": "legit"}, headers=headers)
    report = client.post("/v1/rules/backtest", json={"source": RULES}, headers=headers)
    assert report.status_code == 200, report.text
    body = report.json()
    assert body["events"] == 3
    assert body["changed"] == 2
    assert body["candidate"]["review"] == 2
    assert body["rule_hits"] == {"big_payment": 2}
    assert body["labelled"]["fraud_stopped_candidate"] == 1
    assert body["labelled"]["legit_stopped_candidate"] == 1
    assert {e["assessment_id"] for e in body["examples"]} == {ids[1], ids[2]}
    # A backtest changes nothing.
    assert client.get("/v1/rules", headers=headers).json()["version"] == 0


def test_lists_block_and_unblock(client, tenant, payment) -> None:
    headers = tenant()
    put = client.put(
        "/v1/lists/blocked_payees/items",
        json={"kind": "payee", "items": ["mule-1"]},
        headers=headers,
    )
    assert put.status_code == 200 and put.json()["changed"] == 1
    blocked = client.post(
        "/v1/assessments", json=payment(payee={"id": "mule-1"}), headers=headers
    ).json()
    assert blocked["decision"] == "block"
    assert blocked["warnings"]
    page = client.get("/v1/lists/blocked_payees/items", headers=headers).json()
    assert [i["value"] for i in page["items"]] == ["mule-1"] and page["kind"] == "payee"
    removed = client.request(
        "DELETE", "/v1/lists/blocked_payees/items", json={"items": ["mule-1"]}, headers=headers
    )
    assert removed.json()["changed"] == 1
    again = client.post(
        "/v1/assessments", json=payment(payee={"id": "mule-1"}), headers=headers
    ).json()
    assert again["decision"] != "block"
    actions = [r["action"] for r in client.get("/v1/audit", headers=headers).json()]
    assert "list:add" in actions and "list:remove" in actions


def test_list_kind_is_fixed_and_names_validated(client, tenant) -> None:
    headers = tenant()
    client.put(
        "/v1/lists/blocked_ips/items", json={"kind": "ip", "items": ["192.0.2.1"]}, headers=headers
    )
    wrong = client.put(
        "/v1/lists/blocked_ips/items", json={"kind": "device", "items": ["d"]}, headers=headers
    )
    assert wrong.status_code == 422 and wrong.json()["error"]["field"] == "kind"
    bad_name = client.put(
        "/v1/lists/Bad-Name/items", json={"kind": "ip", "items": ["x"]}, headers=headers
    )
    assert bad_name.status_code == 422
    too_many = client.put(
        "/v1/lists/blocked_ips/items",
        json={"kind": "ip", "items": [str(i) for i in range(1001)]},
        headers=headers,
    )
    assert too_many.status_code == 422 and too_many.json()["error"]["field"] == "items"
    empty = client.put(
        "/v1/lists/blocked_ips/items", json={"kind": "ip", "items": []}, headers=headers
    )
    assert empty.status_code == 422


def test_lists_are_per_tenant(client, tenant, payment) -> None:
    a = tenant("alpha")
    b = tenant("bravo")
    client.put(
        "/v1/lists/blocked_accounts/items", json={"kind": "account", "items": ["acct-1"]}, headers=a
    )
    assert client.post("/v1/assessments", json=payment(), headers=a).json()["decision"] == "block"
    assert client.post("/v1/assessments", json=payment(), headers=b).json()["decision"] == "allow"
    assert client.get("/v1/lists/blocked_accounts/items", headers=b).json()["items"] == []


def test_an_expired_item_stops_matching_without_another_change(
    client, tenant, payment, clock
) -> None:
    # The cached snapshot used to be reloaded only when a list changed: an expired item
    # kept blocking until then.
    headers = tenant()
    expires = (clock.now() + timedelta(minutes=1)).isoformat()
    put = client.put(
        "/v1/lists/blocked_accounts/items",
        json={"kind": "account", "items": ["acct-1"], "expires_at": expires},
        headers=headers,
    )
    assert put.status_code == 200, put.text
    assert client.post("/v1/assessments", json=payment(), headers=headers).json()["decision"] == (
        "block"
    )
    clock.advance(timedelta(minutes=1, seconds=1))
    after = client.post("/v1/assessments", json=payment(), headers=headers).json()
    assert after["decision"] != "block"


DOCS = Path(__file__).resolve().parents[2] / "docs" / "lists.md"


def test_the_documented_custom_list_rule_works(client, tenant, payment) -> None:
    """docs/lists.md, "A rule for a list of your own", word for word."""
    text = DOCS.read_text()
    section = text[text.index("## A rule for a list of your own") :]
    rule = re.search(r"```yaml\n(.*?)```", section, re.DOTALL)
    items = re.search(r"```json\n(.*?)```", section, re.DOTALL)
    assert rule is not None and items is not None
    headers = tenant()
    active = client.get("/v1/rules", headers=headers).json()
    assert active["version"] == 0
    # "add your rule under rules:": the shipped set ends with its rules list.
    source = active["source"].rstrip("\n") + "\n" + rule.group(1)
    assert yaml.safe_load(source)["rules"][-1]["id"] == "vpn_exit_node"
    put = client.put("/v1/rules", json={"source": source}, headers=headers)
    assert put.status_code == 200, put.text
    filled = client.put(
        "/v1/lists/vpn_exits/items", json=json.loads(items.group(1)), headers=headers
    )
    assert filled.status_code == 200, filled.text
    for ip, challenged in (
        ("192.0.2.9", True),
        ("::ffff:192.0.2.15", True),
        ("192.0.2.16", False),
        ("2001:db8:feed:1::1", True),
        ("2001:db8:fee0::1", False),
    ):
        decided = client.post("/v1/assessments", json=payment(ip=ip), headers=headers).json()
        hit = "IP_VPN_EXIT" in {reason["code"] for reason in decided["reasons"]}
        assert hit is challenged, ip
        if challenged:
            assert decided["decision"] == "challenge"
    page = client.get("/v1/lists/vpn_exits/items", headers=headers).json()
    assert page["kind"] == "ip" and page["items"][0]["note"] == "exit nodes, feed of 2026-12-04"
