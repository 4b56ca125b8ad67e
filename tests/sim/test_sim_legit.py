"""Legitimate traffic follows a daily rhythm and the order real sessions have."""

from __future__ import annotations

from collections import Counter
from datetime import datetime

from payguard.sim import SimulatedEvent
from payguard.sim.population import Population


def _local(event: SimulatedEvent) -> datetime:
    return datetime.fromisoformat(event.request["occurred_at"])


def test_activity_peaks_at_lunch_and_evening_and_is_quiet_at_night(
    fraud_run: list[SimulatedEvent],
) -> None:
    hours = Counter(_local(e).hour for e in fraud_run if e.label is None)
    night = hours[2] + hours[3] + hours[4]
    assert hours[12] > night
    assert hours[18] + hours[19] + hours[20] > 3 * night
    assert hours[12] > hours[15] and hours[19] > hours[15]


def test_weekend_mornings_start_later(fraud_run: list[SimulatedEvent]) -> None:
    weekday, weekend = Counter[bool](), Counter[bool]()
    for event in fraud_run:
        if event.label is None:
            local = _local(event)
            bucket = weekend if local.weekday() >= 5 else weekday
            bucket[7 <= local.hour < 10] += 1
    assert weekend[True] / weekend.total() < 0.7 * weekday[True] / weekday.total()


def test_every_payment_follows_a_login_in_its_session(fraud_run: list[SimulatedEvent]) -> None:
    logged_in: set[tuple[str, str]] = set()
    for event in fraud_run:
        if event.label is not None:
            continue
        request = event.request
        session = (request["account_id"], request["attributes"]["session_id"])
        if request["event_type"] == "login" and request["attributes"]["result"] == "success":
            logged_in.add(session)
        elif request["event_type"] in {"payment", "withdrawal", "payee_add", "credential_change"}:
            assert session in logged_in, request


def test_payments_to_new_payees_follow_a_payee_add(
    fraud_run: list[SimulatedEvent], population: Population
) -> None:
    known = {c.account_id: {p.id for p in c.payees} for c in population.customers}
    for event in fraud_run:
        request = event.request
        if event.label is not None:
            continue
        if request["event_type"] == "payee_add":
            known[request["account_id"]].add(request["payee"]["id"])
        elif "payee" in request:
            assert request["payee"]["id"] in known[request["account_id"]]


def test_merchant_payments_use_their_channel(fraud_run: list[SimulatedEvent]) -> None:
    channels = Counter(
        e.request["channel"] for e in fraud_run if e.label is None and "merchant" in e.request
    )
    assert set(channels) == {"qr", "nfc", "app", "web"}
    assert channels["qr"] + channels["nfc"] > channels["app"] + channels["web"]


def test_newcomers_open_their_account_first(fraud_run: list[SimulatedEvent]) -> None:
    first: dict[str, str] = {}
    for event in fraud_run:
        if event.label is None:
            first.setdefault(event.request["account_id"], event.request["event_type"])
    opened = [a for a, kind in first.items() if kind == "account_open"]
    assert opened
    assert all(
        e.request["event_type"] != "account_open"
        for e in fraud_run
        if e.label is None and e.request["account_id"] not in opened
    )
