"""Every simulated request has payguard's assessment wire shape."""

from __future__ import annotations

import ipaddress
import json
import re
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from payguard.core.money import CURRENCIES, minor_units
from payguard.sim import SimulatedEvent, simulate
from payguard.sim.attacks import TYPOLOGIES
from payguard.wire.schemas import AssessmentRequest

EVENT_TYPES = {
    "login",
    "payment",
    "payee_add",
    "credential_change",
    "account_open",
    "withdrawal",
    "deposit",
}
CHANNELS = {"app", "web", "qr", "nfc"}
REQUIRED = {
    "event_id": str,
    "event_type": str,
    "occurred_at": str,
    "account_id": str,
    "attributes": dict,
}
#: What a customer's own action carries; back-office credits (deposits) have none of it.
SESSION = {"device": dict, "ip": str, "channel": str}
OPTIONAL = {"amount", "payee", "merchant", "geo"}
DEPOSIT_SOURCES = {"salary", "top_up", "transfer_in", "refund"}
DOC_NETWORKS = [
    ipaddress.ip_network(n) for n in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24")
]
RFC3339_MS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}[+-]\d{2}:\d{2}$")
DECIMAL = re.compile(r"^\d+(\.\d+)?$")


def _no_nulls(value: Any, path: str) -> None:
    assert value is not None, f"{path} is null; keys that do not apply must be left out"
    if isinstance(value, dict):
        for key, inner in value.items():
            assert isinstance(key, str)
            _no_nulls(inner, f"{path}.{key}")


def _strings(obj: dict[str, Any], keys: set[str]) -> None:
    assert set(obj) == keys
    assert all(isinstance(obj[k], str) and obj[k] for k in keys)


def assert_wire_shape(event: SimulatedEvent) -> None:
    req = event.request
    _no_nulls(req, "request")
    assert set(REQUIRED) <= set(req) <= set(REQUIRED) | set(SESSION) | OPTIONAL, sorted(req)
    for key, kind in REQUIRED.items():
        assert isinstance(req[key], kind), key
    assert req["event_type"] in EVENT_TYPES
    if req["event_type"] == "deposit":
        assert req["attributes"]["source"] in DEPOSIT_SOURCES
    if req["event_type"] != "deposit" or req["attributes"]["source"] == "top_up":
        assert set(SESSION) <= set(req), sorted(req)
        for key, kind in SESSION.items():
            assert isinstance(req[key], kind), key
        assert req["channel"] in CHANNELS
    else:
        assert not set(SESSION) & set(req) and "geo" not in req

    assert RFC3339_MS.match(req["occurred_at"]), req["occurred_at"]
    occurred = datetime.fromisoformat(req["occurred_at"])
    assert occurred.utcoffset() is not None

    money = req["event_type"] in {"payment", "withdrawal", "deposit"}
    assert ("amount" in req) == money
    if money:
        amount = req["amount"]
        _strings(amount, {"value", "currency"})
        assert amount["currency"] in CURRENCIES
        assert DECIMAL.match(amount["value"]), amount
        value = Decimal(amount["value"])
        assert value > 0
        assert value.as_tuple().exponent == -minor_units(amount["currency"]), amount

    if req["event_type"] == "payment":
        assert ("payee" in req) != ("merchant" in req), "a payment goes to a payee or a merchant"
    elif req["event_type"] == "payee_add":
        assert "payee" in req and "merchant" not in req
    elif req["event_type"] == "deposit":
        source = req["attributes"]["source"]
        assert ("payee" in req) == (source in {"salary", "transfer_in"}), "who sent it"
        assert ("merchant" in req) == (source == "refund"), "who refunded it"
    else:
        assert "payee" not in req and "merchant" not in req
    if "payee" in req:
        _strings(req["payee"], {"id", "name", "account"})
    if "merchant" in req:
        _strings(req["merchant"], {"id", "mcc", "name"})
        assert re.fullmatch(r"\d{4}", req["merchant"]["mcc"])
    if req.get("channel") == "nfc":
        assert "merchant" in req
    if req.get("channel") == "qr":
        # A shop's QR code, or a fraudster's stuck over it (qr_swap): a person as payee.
        assert "merchant" in req or event.typology == "qr_swap"
        assert "geo" in req

    if "device" in req:
        _strings(req["device"], {"id", "fingerprint"})
        address = ipaddress.ip_address(req["ip"])
        assert any(address in net for net in DOC_NETWORKS), req["ip"]
    if "geo" in req:
        point = req["geo"]
        assert set(point) == {"lat", "lon", "country"}
        assert isinstance(point["lat"], float) and -90 <= point["lat"] <= 90
        assert isinstance(point["lon"], float) and -180 <= point["lon"] <= 180
        assert re.fullmatch(r"[A-Z]{2}", point["country"])

    assert json.loads(json.dumps(req)) == req
    if event.label is None:
        assert event.typology is None and event.label_at is None and event.campaign is None
    else:
        assert event.label == "fraud"
        assert event.typology in TYPOLOGIES
        assert event.campaign is not None
        assert event.label_at is None or event.label_at >= occurred.timestamp() * 1000


def test_every_event_of_a_run_has_the_wire_shape(fraud_run: list[SimulatedEvent]) -> None:
    types = set()
    for event in fraud_run:
        assert_wire_shape(event)
        types.add(event.request["event_type"])
    assert types == EVENT_TYPES


def test_every_request_is_accepted_by_the_api_schema(fraud_run: list[SimulatedEvent]) -> None:
    later = datetime(2100, 1, 1, tzinfo=UTC)
    for event in fraud_run:
        request = AssessmentRequest.model_validate(event.request)
        domain = request.to_event(now=later)
        assert domain.event_type.value == event.request["event_type"]
        assert (
            request.model_dump(mode="json", exclude_none=True)["attributes"]
            == (event.request["attributes"])
        )


def test_requests_share_no_mutable_parts(fraud_run: list[SimulatedEvent]) -> None:
    """A consumer that edits one request (say, masks its device) must not change another."""
    seen: set[int] = set()
    for event in fraud_run:
        parts = [event.request, *(v for v in event.request.values() if isinstance(v, dict))]
        for part in parts:
            assert id(part) not in seen
            seen.add(id(part))


def test_times_carry_the_local_offset_of_the_customer(fraud_run: list[SimulatedEvent]) -> None:
    offsets = {datetime.fromisoformat(e.request["occurred_at"]).utcoffset() for e in fraud_run}
    assert timedelta(hours=8) in offsets
    assert timedelta(hours=5, minutes=30) in offsets
    assert timedelta(0) in offsets


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(min_value=-(2**40), max_value=2**40),
    customers=st.integers(min_value=1, max_value=30),
    days=st.floats(min_value=0, max_value=3),
    fraud_rate=st.floats(min_value=0, max_value=0.5),
    start=st.datetimes(
        min_value=datetime(2000, 1, 1),
        max_value=datetime(2090, 1, 1),
        timezones=st.sampled_from(
            [UTC, timezone(timedelta(hours=8)), timezone(timedelta(hours=-5, minutes=-30))]
        ),
    ),
)
def test_any_run_yields_valid_ordered_events(
    seed: int, customers: int, days: float, fraud_rate: float, start: datetime
) -> None:
    end = start + timedelta(days=days)
    previous = start
    for event in simulate(
        seed=seed, customers=customers, days=days, start=start, fraud_rate=fraud_rate
    ):
        assert_wire_shape(event)
        occurred = datetime.fromisoformat(event.request["occurred_at"])
        assert previous <= occurred < end + timedelta(milliseconds=1)
        previous = occurred
