"""Malformed, missing, oversized and hostile input: always a 4xx naming the field, never a 500."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"event_id": ""}, "event_id"),
        ({"event_id": "x" * 200}, "event_id"),
        ({"event_id": "../../etc/passwd"}, "event_id"),
        ({"event_type": "refund"}, "event_type"),
        ({"occurred_at": "yesterday"}, "occurred_at"),
        ({"occurred_at": "2026-03-02T09:00:00"}, "occurred_at"),
        ({"occurred_at": "2030-01-01T00:00:00+00:00"}, "occurred_at"),
        ({"account_id": None}, "account_id"),
        ({"amount": {"value": 12.5, "currency": "SGD"}}, "amount.value"),
        ({"amount": {"value": "-1.00", "currency": "SGD"}}, "amount.value"),
        ({"amount": {"value": "1.001", "currency": "SGD"}}, "amount.value"),
        ({"amount": {"value": "10", "currency": "XXX"}}, "amount.currency"),
        ({"amount": {"value": "1e9", "currency": "SGD"}}, "amount.value"),
        ({"amount": {"value": "1.5", "currency": "JPY"}}, "amount.value"),
        ({"amount": None}, "amount"),
        ({"event_type": "deposit", "amount": None}, "amount"),
        ({"ip": "999.1.1.1"}, "ip"),
        ({"geo": {"lat": 91, "lon": 0}}, "geo.lat"),
        ({"geo": {"lat": 1.0}}, "geo.lat"),
        ({"geo": {"country": "sg"}}, "geo.country"),
        ({"channel": "carrier-pigeon"}, "channel"),
        ({"merchant": {"id": "m1", "mcc": "12345"}}, "merchant.mcc"),
        ({"attributes": {f"k{i}": i for i in range(40)}}, "attributes"),
        ({"attributes": {"nested": {"a": 1}}}, "attributes.nested"),
        ({"attributes": {"list": [1]}}, "attributes.list"),
        ({"attributes": {"long": "x" * 513}}, "attributes.long"),
        ({"unexpected": 1}, "unexpected"),
        ({"payee": {"id": "p1", "name": "nul\u0000byte"}}, "payee.name"),
        ({"attributes": {"big": 2**70}}, "attributes.big"),
    ],
)
def test_invalid_fields_are_422_with_the_path(client, tenant, payment, change, field) -> None:
    body = payment()
    body.update(change)
    headers = {**tenant(), "Content-Type": "application/json"}
    # json.dumps escapes lone surrogates as \udXXX, as a hostile client would send them.
    response = client.post("/v1/assessments", content=json.dumps(body), headers=headers)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "validation_failed"
    assert error["field"] == field, error


@pytest.mark.parametrize(
    "change",
    [{"attributes": {"note": "\ud800"}}, {"device": {"id": "d1", "fingerprint": "\udfff"}}],
)
def test_lone_surrogates_are_refused_as_malformed(client, tenant, payment, change) -> None:
    body = payment()
    body.update(change)
    headers = {**tenant(), "Content-Type": "application/json"}
    response = client.post("/v1/assessments", content=json.dumps(body), headers=headers)
    assert response.status_code == 400
    assert response.json()["error"]["field"] == "body"


@pytest.mark.parametrize("missing", ["event_id", "event_type", "occurred_at", "account_id"])
def test_missing_required_fields(client, tenant, payment, missing) -> None:
    body = payment()
    del body[missing]
    response = client.post("/v1/assessments", json=body, headers=tenant())
    assert response.status_code == 422
    assert response.json()["error"]["field"] == missing


@pytest.mark.parametrize(
    "raw", [b"", b"{", b"not json", b"[]", b"null", b'"string"', b"\xff\xfe", b'{"a": NaN}']
)
def test_malformed_bodies_are_4xx(client, tenant, raw) -> None:
    headers = {**tenant(), "Content-Type": "application/json"}
    response = client.post("/v1/assessments", content=raw, headers=headers)
    assert response.status_code in (400, 422), response.text
    assert "error" in response.json()


def test_oversized_body_is_413_and_nothing_is_stored(client, tenant, payment, services) -> None:
    body = payment(attributes={"blob": "x" * 500})
    body["payee"] = {"id": "p", "name": "y" * 100_000}
    response = client.post(
        "/v1/assessments",
        content=json.dumps(body),
        headers={**tenant(), "Content-Type": "application/json"},
    )
    assert response.status_code == 413
    tenant_id = services.tenants.tenants()[0].id
    assert services.assessments.store.get_by_event(tenant_id, body["event_id"]) is None


def test_rejected_event_writes_nothing(client, tenant, payment, services) -> None:
    body = payment(event_id="never-stored", ip="not-an-ip")
    assert client.post("/v1/assessments", json=body, headers=tenant()).status_code == 422
    tenant_id = services.tenants.tenants()[0].id
    assert services.assessments.store.get_by_event(tenant_id, "never-stored") is None


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)
FIELDS = [
    "event_id",
    "event_type",
    "occurred_at",
    "account_id",
    "amount",
    "payee",
    "merchant",
    "device",
    "ip",
    "geo",
    "channel",
    "attributes",
]


@settings(
    max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None
)
@given(data=st.data())
def test_random_and_hostile_bodies_never_500(client, tenant, payment, data) -> None:
    headers = tenant()
    body: Any = payment()
    for name in data.draw(st.lists(st.sampled_from(FIELDS), max_size=4, unique=True)):
        body[name] = data.draw(json_values)
    if data.draw(st.booleans()):
        body = data.draw(json_values)
    response = client.post("/v1/assessments", json=body, headers=headers)
    assert response.status_code in (200, 201, 400, 413, 422), response.text
    if response.status_code >= 400:
        assert response.json()["error"]["code"]


@settings(
    max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None
)
@given(path=st.text(max_size=80), method=st.sampled_from(["GET", "POST", "PUT", "DELETE"]))
def test_random_paths_never_500(client, tenant, path, method) -> None:
    response = client.request(method, "/v1/" + quote(path, safe="/"), headers=tenant())
    assert response.status_code < 500
