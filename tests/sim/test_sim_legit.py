"""Legitimate traffic follows a daily rhythm, the order real sessions have, and money comes in
as well as going out."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import datetime, timedelta
from decimal import Decimal
from itertools import pairwise

from payguard.sim import SimulatedEvent, legit, simulate
from payguard.sim.legit import monthly_income_usd
from payguard.sim.population import CITIES, Population, build_population

from .conftest import START

USD_RATE = {city.currency: city.usd_rate for city in CITIES}


def _local(event: SimulatedEvent) -> datetime:
    return datetime.fromisoformat(event.request["occurred_at"])


def _legit(events: list[SimulatedEvent]) -> list[SimulatedEvent]:
    return [e for e in events if e.label is None]


def test_activity_peaks_at_lunch_and_evening_and_is_quiet_at_night(
    fraud_run: list[SimulatedEvent],
) -> None:
    hours = Counter(_local(e).hour for e in _legit(fraud_run) if "device" in e.request)
    night = hours[2] + hours[3] + hours[4]
    assert hours[12] > night
    assert hours[18] + hours[19] + hours[20] > 3 * night
    assert hours[12] > hours[15] and hours[19] > hours[15]


def test_weekend_mornings_start_later(fraud_run: list[SimulatedEvent]) -> None:
    weekday, weekend = Counter[bool](), Counter[bool]()
    for event in _legit(fraud_run):
        local = _local(event)
        bucket = weekend if local.weekday() >= 5 else weekday
        bucket[7 <= local.hour < 10] += 1
    assert weekend[True] / weekend.total() < 0.7 * weekday[True] / weekday.total()


def test_every_customer_action_follows_a_login_in_its_session(
    fraud_run: list[SimulatedEvent],
) -> None:
    logged_in: set[tuple[str, str]] = set()
    for event in _legit(fraud_run):
        request = event.request
        if "device" not in request:
            continue  # a back-office credit
        session = (request["account_id"], request["attributes"]["session_id"])
        if request["event_type"] == "login" and request["attributes"]["success"] is True:
            logged_in.add(session)
        elif request["event_type"] != "login" and request["event_type"] != "account_open":
            assert session in logged_in, request


def test_payments_to_new_payees_follow_a_payee_add(
    fraud_run: list[SimulatedEvent], population: Population
) -> None:
    known = {c.account_id: {p.id for p in c.payees} for c in population.customers}
    for event in _legit(fraud_run):
        request = event.request
        if request["event_type"] == "payee_add":
            known[request["account_id"]].add(request["payee"]["id"])
        elif request["event_type"] == "payment" and "payee" in request:
            assert request["payee"]["id"] in known[request["account_id"]]


def test_merchant_payments_use_their_channel(fraud_run: list[SimulatedEvent]) -> None:
    payments = [
        e.request
        for e in _legit(fraud_run)
        if e.request["event_type"] == "payment" and "merchant" in e.request
    ]
    channels = Counter(r["channel"] for r in payments)
    assert set(channels) == {"qr", "nfc", "app", "web"}
    assert channels["qr"] + channels["nfc"] > channels["app"] + channels["web"]
    for request in payments:
        if request["channel"] in {"qr", "nfc"}:
            assert "geo" in request, "paid at the till"


def test_qr_is_used_more_where_cities_prefer_it(fraud_run: list[SimulatedEvent]) -> None:
    by_country: dict[str, Counter[str]] = defaultdict(Counter)
    for event in _legit(fraud_run):
        request = event.request
        if request.get("channel") in {"qr", "nfc"}:
            by_country[request["geo"]["country"]][request["channel"]] += 1
    cn, gb = by_country["CN"], by_country["GB"]
    assert cn["qr"] / cn.total() > 0.7 > 0.3 > gb["qr"] / gb.total()


def test_newcomers_open_their_account_first(fraud_run: list[SimulatedEvent]) -> None:
    first: dict[str, str] = {}
    for event in _legit(fraud_run):
        first.setdefault(event.request["account_id"], event.request["event_type"])
    opened = [a for a, kind in first.items() if kind == "account_open"]
    assert opened
    assert all(
        e.request["event_type"] != "account_open"
        for e in _legit(fraud_run)
        if e.request["account_id"] not in opened
    )


def test_deposits_come_from_salaries_top_ups_transfers_and_refunds(
    fraud_run: list[SimulatedEvent], population: Population
) -> None:
    sources = Counter(
        e.request["attributes"]["source"]
        for e in _legit(fraud_run)
        if e.request["event_type"] == "deposit"
    )
    assert set(sources) == {"salary", "top_up", "transfer_in", "refund"}
    employers = {c.employer.id for c in population.customers if c.employer is not None}
    for event in _legit(fraud_run):
        request = event.request
        if request["event_type"] != "deposit":
            continue
        source = request["attributes"]["source"]
        assert "amount" in request
        if source == "top_up":
            assert "device" in request and request["attributes"]["funding"] in {"bank", "card"}
        else:
            assert not {"device", "ip", "channel", "geo"} & set(request), "a back-office credit"
        if source == "salary":
            assert request["payee"]["id"] in employers
        elif source == "transfer_in":
            assert request["payee"]["id"] in population.accounts
        elif source == "refund":
            assert "merchant" in request


def test_an_incoming_transfer_mirrors_the_senders_payment(
    fraud_run: list[SimulatedEvent],
) -> None:
    sent: dict[tuple[str, str], list[datetime]] = defaultdict(list)
    for event in _legit(fraud_run):
        request = event.request
        if request["event_type"] == "payment" and "payee" in request:
            sent[(request["account_id"], request["payee"]["id"])].append(_local(event))
    transfers = [
        e.request
        for e in _legit(fraud_run)
        if e.request["event_type"] == "deposit"
        and e.request["attributes"]["source"] == "transfer_in"
    ]
    assert len(transfers) > 100
    for request in transfers:
        times = sent[(request["payee"]["id"], request["account_id"])]
        landed = datetime.fromisoformat(request["occurred_at"])
        assert any(timedelta(0) < landed - t <= timedelta(seconds=8) for t in times), request


def test_salaries_are_paid_on_the_customers_cycle_and_sized_to_their_spending() -> None:
    seed, customers = 4, 150
    start = datetime.fromisoformat("2026-01-01T00:00:00+00:00")
    population = build_population(seed=seed, customers=customers)
    salaries: dict[str, list[datetime]] = defaultdict(list)
    money_in = money_out = Decimal(0)
    # Two whole months: January and February.
    for event in simulate(seed=seed, customers=customers, days=59, start=start, fraud_rate=0):
        request = event.request
        if "amount" not in request:
            continue
        usd = Decimal(request["amount"]["value"]) / Decimal(
            str(USD_RATE[request["amount"]["currency"]])
        )
        if request["event_type"] == "deposit":
            money_in += usd
            if request["attributes"]["source"] == "salary":
                salaries[request["account_id"]].append(_local(event))
        elif request["event_type"] in {"payment", "withdrawal"}:
            money_out += usd
    # What comes in matches what goes out, give or take savings.
    assert Decimal("0.9") < money_in / money_out < Decimal("1.6")
    for customer in population.customers:
        paid = salaries.get(customer.account_id, [])
        if customer.pay_cycle is None:
            assert not paid
        elif customer.pay_cycle == "monthly" and customer.opens_at is None:
            assert [p.day for p in paid] == [customer.pay_day, customer.pay_day]
        elif customer.pay_cycle == "biweekly" and customer.opens_at is None:
            assert len(paid) in {4, 5}
            assert all(b - a > timedelta(days=13) for a, b in pairwise(paid))
    assert monthly_income_usd(population.customers[0]) > 0


def test_top_ups_come_before_spending_in_a_session(fraud_run: list[SimulatedEvent]) -> None:
    following: dict[tuple[str, str], list[str]] = defaultdict(list)
    for event in _legit(fraud_run):
        request = event.request
        if "device" in request:
            session = (request["account_id"], request["attributes"]["session_id"])
            following[session].append(request["event_type"])
    topped = [kinds for kinds in following.values() if "deposit" in kinds]
    assert topped
    for kinds in topped:
        after = kinds[kinds.index("deposit") + 1 :]
        assert after and after[0] in {"payment", "withdrawal", "payee_add"}


def test_newcomers_sometimes_sign_up_with_a_promotion(fraud_run: list[SimulatedEvent]) -> None:
    opened = [e.request for e in _legit(fraud_run) if e.request["event_type"] == "account_open"]
    with_code = [r for r in opened if "promo_code" in r["attributes"]]
    assert 0 < len(with_code) < len(opened)
    first_payment: dict[str, dict[str, object]] = {}
    for event in _legit(fraud_run):
        request = event.request
        if request["event_type"] == "payment":
            first_payment.setdefault(request["account_id"], request["attributes"])
    for request in with_code:
        paid = first_payment.get(request["account_id"])
        if paid is not None:
            assert paid.get("promo_code") == request["attributes"]["promo_code"]


def test_runs_start_at_the_requested_instant(fraud_run: list[SimulatedEvent]) -> None:
    assert min(_local(e) for e in fraud_run) >= START


def test_every_session_kind_has_its_method() -> None:
    kinds = [kind for kind, _, _ in legit._SESSIONS]
    assert list(legit.CustomerActivity._SESSION_ACTIONS) == kinds
    assert len(set(kinds)) == len(kinds)
    assert all(share > 0 for _, share, _ in legit._SESSIONS)
