"""IP lists over the API: items validated and stored canonical, CIDR networks of both
families matched, IPv4-mapped IPv6 addresses matched as their IPv4 form, and event
addresses canonicalised before features (velocity per IP counts one address once)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

Headers = dict[str, str]
Payment = Callable[..., dict[str, Any]]


def put(client: TestClient, headers: Headers, items: list[str], name: str = "blocked_ips"):
    return client.put(
        f"/v1/lists/{name}/items", json={"kind": "ip", "items": items}, headers=headers
    )


def decide(client: TestClient, headers: Headers, payment: Payment, ip: str) -> dict[str, Any]:
    response = client.post("/v1/assessments", json=payment(ip=ip), headers=headers)
    assert response.status_code in (200, 201), response.text
    return response.json()


def blocked_by_ip(decision: dict[str, Any]) -> bool:
    return "LIST_BLOCKED_IP" in {reason["code"] for reason in decision["reasons"]}


def values(client: TestClient, headers: Headers, name: str = "blocked_ips") -> list[str]:
    page = client.get(f"/v1/lists/{name}/items", headers=headers)
    assert page.status_code == 200, page.text
    return [item["value"] for item in page.json()["items"]]


@pytest.mark.parametrize(
    ("item", "stored", "matching", "not_matching"),
    [
        ("2001:DB8::1", "2001:db8::1", ["2001:db8::1", "2001:0DB8:0:0::0001"], ["2001:db8::2"]),
        (
            "192.0.2.1",
            "192.0.2.1",
            ["192.0.2.1", "::ffff:192.0.2.1", "::FFFF:c000:201"],
            ["192.0.2.2", "::192.0.2.1"],
        ),
        (
            "::ffff:198.51.100.9",
            "198.51.100.9",
            ["198.51.100.9", "::ffff:198.51.100.9"],
            ["198.51.100.10"],
        ),
        (
            "203.0.113.0/24",
            "203.0.113.0/24",
            ["203.0.113.0", "203.0.113.77", "::ffff:203.0.113.255"],
            ["203.0.114.1", "203.0.112.255"],
        ),
        ("10.0.0.0/8", "10.0.0.0/8", ["10.255.1.2", "::ffff:10.0.0.1"], ["11.0.0.0"]),
        ("::ffff:100.64.0.0/106", "100.64.0.0/10", ["100.127.255.255"], ["100.128.0.0"]),
        (
            "2001:DB8:ABCD::/48",
            "2001:db8:abcd::/48",
            ["2001:db8:abcd:12::5", "2001:db8:abcd:ffff:ffff:ffff:ffff:ffff"],
            ["2001:db8:abce::1", "2001:db8::1"],
        ),
        ("0.0.0.0/0", "0.0.0.0/0", ["8.8.8.8", "::ffff:1.1.1.1"], ["2001:db8::1"]),
        ("192.0.2.1/32", "192.0.2.1", ["192.0.2.1"], ["192.0.2.0"]),
        ("2001:db8::1/128", "2001:db8::1", ["2001:db8::1"], ["2001:db8::"]),
    ],
)
def test_ip_items_are_stored_canonical_and_match_every_spelling(
    client: TestClient,
    tenant: Callable[..., Headers],
    payment: Payment,
    item: str,
    stored: str,
    matching: list[str],
    not_matching: list[str],
) -> None:
    headers = tenant()
    response = put(client, headers, [item])
    assert response.status_code == 200, response.text
    assert values(client, headers) == [stored]
    for ip in matching:
        decision = decide(client, headers, payment, ip)
        assert decision["decision"] == "block" and blocked_by_ip(decision), ip
    for ip in not_matching:
        assert not blocked_by_ip(decide(client, headers, payment, ip)), ip


def test_one_address_in_several_lists_and_networks_reports_every_list(
    client: TestClient, tenant: Callable[..., Headers], payment: Payment
) -> None:
    headers = tenant()
    rules = """
rules:
  - id: watched
    when: '"watched_ips" in ip_lists && "blocked_ips" in ip_lists && "vpn_exits" in ip_lists'
    action: review
    score: 600
    reason: WATCHED
    message: On every list.
"""
    assert client.put("/v1/rules", json={"source": rules}, headers=headers).status_code == 200
    assert put(client, headers, ["198.51.100.0/24"]).status_code == 200
    assert put(client, headers, ["198.51.0.0/16"], "watched_ips").status_code == 200
    assert put(client, headers, ["::ffff:198.51.100.7"], "vpn_exits").status_code == 200
    assert decide(client, headers, payment, "198.51.100.7")["decision"] == "review"
    assert decide(client, headers, payment, "198.51.100.8")["decision"] == "allow"


@pytest.mark.parametrize(
    ("bad", "words"),
    [
        ("not-an-ip", "not an IPv4 or IPv6 address"),
        ("1.2.3.4/99", "prefix length must be 0-32"),
        ("2001:db8::/129", "prefix length must be 0-128"),
        ("1.2.3.4/", "prefix length"),
        ("1.2.3.4/-1", "prefix length"),
        ("1.2.3.4/+8", "prefix length"),
        ("1.2.3.4/\u0668", "prefix length"),
        ("1.2.3.4/0008", "prefix length"),
        ("1.2.3.4/8/8", "prefix length"),
        ("10.1.2.3/8", "host bits are set; the network is 10.0.0.0/8"),
        ("2001:db8::1/32", "host bits are set; the network is 2001:db8::/32"),
        ("fe80::1%eth0", "zone ids"),
        ("fe80::1%eth0/64", "zone ids"),
        ("01.2.3.4", "not an IPv4 or IPv6 address"),
        ("1.2.3", "not an IPv4 or IPv6 address"),
        ("256.1.1.1", "not an IPv4 or IPv6 address"),
        ("\uff11.2.3.4", "not an IPv4 or IPv6 address"),
        ("1.2.3.4 ", "not an IPv4 or IPv6 address"),
        ("::ffff:1.2.3.4/64", "host bits are set"),
        ("example.com", "not an IPv4 or IPv6 address"),
        ("1" * 256, "not an IPv4 or IPv6 address"),
    ],
)
def test_bad_ip_items_are_refused_naming_the_item_and_nothing_is_written(
    client: TestClient, tenant: Callable[..., Headers], bad: str, words: str
) -> None:
    headers = tenant()
    response = put(client, headers, ["192.0.2.1", bad])
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["field"] == "items[1]"
    assert words in error["message"]
    assert values(client, headers) == []
    assert client.get("/v1/lists/blocked_ips/items", headers=headers).json()["kind"] is None


def test_removal_canonicalises_too(client: TestClient, tenant: Callable[..., Headers]) -> None:
    headers = tenant()
    assert put(client, headers, ["2001:db8::1", "203.0.113.0/24", "192.0.2.1"]).status_code == 200
    removed = client.request(
        "DELETE",
        "/v1/lists/blocked_ips/items",
        json={"items": ["2001:DB8:0::1", "::ffff:203.0.113.0/120", "::ffff:192.0.2.1"]},
        headers=headers,
    )
    assert removed.status_code == 200 and removed.json()["changed"] == 3
    assert values(client, headers) == []


def test_a_repeated_spelling_is_one_item(
    client: TestClient, tenant: Callable[..., Headers]
) -> None:
    headers = tenant()
    response = put(client, headers, ["192.0.2.1", "::ffff:192.0.2.1", "192.0.2.1/32"])
    assert response.status_code == 200 and response.json()["changed"] == 1
    assert values(client, headers) == ["192.0.2.1"]


def test_a_full_call_of_networks_of_every_prefix_length_matches(
    client: TestClient, tenant: Callable[..., Headers], payment: Payment
) -> None:
    # 1000 items (the most one call takes) over every IPv4 and IPv6 prefix length: each
    # lookup probes one table per prefix length present, whatever the number of items.
    headers = tenant()
    items = [f"10.{i // 256}.{i % 256}.0/24" for i in range(800)]
    items += [f"172.16.0.0/{length}" for length in range(12, 33)]
    items += [f"2001:db8:{i:x}::/48" for i in range(150)]
    items += [f"2001:db8:ffff::/{length}" for length in range(48, 77)]
    assert len(items) == 1000
    response = put(client, headers, items)
    assert response.status_code == 200, response.text
    assert response.json()["changed"] == 1000
    for ip in (
        "10.3.31.200",
        "::ffff:10.0.0.1",
        "172.16.0.0",
        "2001:db8:95::7",
        "2001:db8:ffff::1",
    ):
        assert blocked_by_ip(decide(client, headers, payment, ip)), ip
    for ip in ("10.3.32.1", "172.32.0.0", "2001:db8:96::1", "2001:db9::1"):
        assert not blocked_by_ip(decide(client, headers, payment, ip)), ip
    too_many = put(client, headers, [f"192.0.2.{i % 256}" for i in range(1001)])
    assert too_many.status_code == 422 and too_many.json()["error"]["field"] == "items"


def test_hyphenated_list_names_are_refused_in_words(
    client: TestClient, tenant: Callable[..., Headers]
) -> None:
    headers = tenant()
    for method in ("PUT", "DELETE", "GET"):
        body = {"kind": "ip", "items": ["192.0.2.1"]} if method == "PUT" else {"items": ["x"]}
        response = client.request(
            method,
            "/v1/lists/blocked-ips/items",
            json=None if method == "GET" else body,
            headers=headers,
        )
        assert response.status_code == 422, response.text
        error = response.json()["error"]
        assert error["field"] == "name"
        assert "lower-case letters, digits" in error["message"] and "^" not in error["message"]


def test_event_addresses_are_canonical_so_velocity_counts_one_address_once(
    client: TestClient, tenant: Callable[..., Headers], payment: Payment
) -> None:
    headers = tenant()
    rules = """
rules:
  - id: busy_ip
    when: ip_events_1h >= 3
    action: review
    score: 600
    reason: BUSY_IP
    message: Three events from one address within the hour.
"""
    assert client.put("/v1/rules", json={"source": rules}, headers=headers).status_code == 200
    first = decide(client, headers, payment, "203.0.113.77")
    second = decide(client, headers, payment, "::ffff:203.0.113.77")
    third = decide(client, headers, payment, "::FFFF:cb00:714d")
    assert [d["decision"] for d in (first, second, third)] == ["allow", "allow", "review"]
    fetched = client.get(f"/v1/assessments/{second['assessment_id']}", headers=headers)
    assert fetched.status_code == 200


@pytest.mark.parametrize("bad", ["fe80::1%eth0", "not-an-ip", "1.2.3.4/24"])
def test_assessment_ip_must_be_one_address(
    client: TestClient, tenant: Callable[..., Headers], payment: Payment, bad: str
) -> None:
    response = client.post("/v1/assessments", json=payment(ip=bad), headers=tenant())
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "ip"
