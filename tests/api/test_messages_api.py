"""Error messages a person can read: no regular expression reaches a 4xx answer.

Every pattern the API checks has words in `api/errors.PATTERNS`; a pattern added to a schema
without them fails `test_every_pattern_the_api_checks_is_described`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from payguard.api.errors import PATTERNS, UNDESCRIBED, readable
from payguard.devices.policy import HealthPolicySpec
from payguard.risk.rules.ruleset import RuleSetSpec

#: What gives a regular expression away in a message.
REGEX = re.compile(r"\^|\$'|\\[dSsw]|\[[A-Za-z0-9_]+-|\{\d+,\d+\}|pattern")


def _patterns(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "pattern" and isinstance(value, str):
                yield value
            else:
                yield from _patterns(value)
    elif isinstance(node, list):
        for item in node:
            yield from _patterns(item)


def test_every_pattern_the_api_checks_is_described(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    found = set(_patterns(document))
    # Rule sets and the device health policy arrive as YAML and are checked by these models.
    found |= set(_patterns(RuleSetSpec.model_json_schema()))
    found |= set(_patterns(HealthPolicySpec.model_json_schema()))
    assert len(found) >= 10
    missing = sorted(found - set(PATTERNS))
    assert not missing, f"describe these patterns in api/errors.PATTERNS: {missing}"
    for description in PATTERNS.values():
        assert not REGEX.search(description), description


def test_a_pattern_not_in_the_table_is_still_not_shown() -> None:
    message = readable("String should match pattern '^[q]{9}$'", "thing")
    assert message == f"thing {UNDESCRIBED}"
    assert readable("Value error, not an IPv4 or IPv6 address", "ip") == (
        "not an IPv4 or IPv6 address"
    )
    assert readable("Value error, must not be blank", "fingerprint") == (
        "fingerprint must not be blank"
    )


def _no_regex(answer: Any) -> dict[str, Any]:
    assert answer.status_code == 422, answer.text
    error: dict[str, Any] = answer.json()["error"]
    assert not REGEX.search(error["message"]), error["message"]
    for each in error.get("errors", ()):
        assert not REGEX.search(each["message"]), each["message"]
        assert not each["message"].startswith("Value error"), each["message"]
    return error


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"amount": {"value": "-12.50", "currency": "SGD"}}, "amount.value", '"12.50"'),
        ({"amount": {"value": "1.23456", "currency": "SGD"}}, "amount.value", '"12.50"'),
        ({"amount": {"value": "12.50", "currency": "sgd"}}, "amount.currency", "ISO 4217"),
        ({"geo": {"country": "sg"}}, "geo.country", "ISO 3166"),
        ({"merchant": {"id": "m-1", "mcc": "54"}}, "merchant.mcc", "four digits"),
        ({"event_id": "evt 1"}, "event_id", ". _ : @ + -"),
        ({"account_id": "-acct"}, "account_id", "start with a letter or digit"),
        ({"payee": {"id": "payee/1"}}, "payee.id", "letters, digits"),
        ({"ip": "999.1.1.1"}, "ip", "IPv4 or IPv6"),
    ],
)
def test_a_bad_assessment_field_is_named_in_words(
    client: TestClient, tenant: Any, payment: Any, change: dict[str, Any], field: str, words: str
) -> None:
    answer = client.post("/v1/assessments", json=payment(**change), headers=tenant())
    error = _no_regex(answer)
    assert error["field"] == field
    assert words in error["message"]
    if field != "ip":
        assert error["message"].startswith(f"{field} ")


@pytest.mark.parametrize(
    ("method", "path", "body", "field", "words"),
    [
        ("get", "/v1/assessments/not%20an%20id", None, "assessment_id", "letters, digits, _"),
        ("get", "/v1/lists/Bad-Name/items", None, "name", "lower-case letters"),
        ("get", "/v1/devices/-dev/health", None, "device_id", "start with a letter or digit"),
        ("get", "/v1/auth/users/user%201/sessions", None, "user_id", ". _ : @ + -"),
        ("post", "/v1/auth/challenges", {"assessment_id": "a/b"}, "assessment_id", "1 to 64"),
        (
            "post",
            "/v1/devices/dev-1/reports",
            {"nonce": "short", "reported_at": "2026-03-02T09:00:00Z", "posture": {}},
            "nonce",
            "16 to 128",
        ),
        (
            "post",
            "/v1/devices/dev-1/reports",
            {
                "nonce": "n0nce-2c9f8e1ab7d34f60",
                "reported_at": "2026-03-02T09:00:00Z",
                "posture": {"platform": "android", "app_package": "com example"},
            },
            "posture.app_package",
            ". _ and -",
        ),
        (
            "put",
            "/v1/devices/apps",
            {"apps": [{"package": "com.example", "signing_digests": ["zz"]}]},
            "apps[0].signing_digests[0]",
            "SHA-256 digest",
        ),
        (
            "post",
            "/v1/devices/community/remove",
            {"kind": "device_fingerprint", "hashed": ["ABC"]},
            "hashed[0]",
            "64 lower-case hex",
        ),
        (
            "post",
            "/v1/auth/devices/verify",
            {
                "device_id": "dev-1",
                "method": "GET /x",
                "path": "/x",
                "timestamp": 1,
                "nonce": "n0nce-2c9f8e1ab7d34f60",
                "signature": "c2ln",
            },
            "method",
            "1 to 16 letters",
        ),
        (
            "post",
            "/v1/auth/devices/verify",
            {
                "device_id": "dev-1",
                "method": "GET",
                "path": "x y",
                "timestamp": 1,
                "nonce": "n0nce-2c9f8e1ab7d34f60",
                "signature": "c2ln",
            },
            "path",
            "start with /",
        ),
    ],
)
def test_a_bad_field_anywhere_is_named_in_words(
    client: TestClient,
    tenant: Any,
    method: str,
    path: str,
    body: dict[str, Any] | None,
    field: str,
    words: str,
) -> None:
    answer = client.request(method.upper(), path, json=body, headers=tenant())
    error = _no_regex(answer)
    assert error["field"] == field, error
    assert error["message"].startswith(f"{field} "), error
    assert words in error["message"], error


@pytest.mark.parametrize(
    ("rule", "field"),
    [
        ({"id": "Bad-Id", "reason": "OK"}, "rules[0].id"),
        ({"id": "ok", "reason": "not-upper"}, "rules[0].reason"),
    ],
)
def test_a_rule_set_field_is_named_in_words(
    client: TestClient, tenant: Any, rule: dict[str, str], field: str
) -> None:
    """Rule sets are YAML checked by the rules service; its pattern errors are translated too."""
    spec = {"when": "true", "action": "allow", "message": "m", **rule}
    source = orjson.dumps({"rules": [spec]}).decode()  # JSON is YAML
    answer = client.put("/v1/rules", json={"source": source}, headers=tenant())
    error = _no_regex(answer)
    assert error["field"] == field
    assert error["message"].startswith(f"{field} must be 1 to 64")
