"""Attack typologies leave the traces real ones leave, in the right order and tempo."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from payguard.sim import SimulatedEvent, simulate
from payguard.sim.attacks import CARD_TESTS
from payguard.sim.population import CITIES, Population, build_population

USD_RATE = {city.currency: city.usd_rate for city in CITIES}


def _campaigns(events: list[SimulatedEvent], typology: str) -> list[list[dict[str, Any]]]:
    """Attack events grouped by attacker device: each campaign uses a fresh one."""
    by_device: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for event in events:
        if event.typology == typology:
            by_device[event.request["device"]["id"]].append(event.request)
    return list(by_device.values())


def _at(request: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(request["occurred_at"])


def test_account_takeover_follows_the_playbook_within_thirty_minutes(
    fraud_run: list[SimulatedEvent], population: Population
) -> None:
    legit_devices: dict[str, set[str]] = defaultdict(set)
    for event in fraud_run:
        if event.label is None:
            legit_devices[event.request["account_id"]].add(event.request["device"]["id"])
    home = {c.account_id: c.city for c in population.customers}

    campaigns = _campaigns(fraud_run, "account_takeover")
    assert len(campaigns) >= 5
    for campaign in campaigns:
        account = campaign[0]["account_id"]
        assert {r["account_id"] for r in campaign} == {account}
        device = campaign[0]["device"]["id"]
        assert device not in legit_devices[account], "the attacker's device is new to the victim"
        assert campaign[0]["event_type"] == "login"
        assert len({r["ip"] for r in campaign}) == 1
        for request in campaign:
            if "geo" in request:
                assert request["geo"]["country"] != home[account].country

        kinds = [r["event_type"] for r in campaign]
        credential = kinds.index("credential_change")
        added = kinds.index("payee_add")
        mule = campaign[added]["payee"]["id"]
        paid = next(
            i
            for i, r in enumerate(campaign)
            if r["event_type"] == "payment" and r["payee"]["id"] == mule
        )
        assert credential < added < paid
        assert kinds[:credential].count("login") >= 1
        assert _at(campaign[paid]) - _at(campaign[0]) <= timedelta(minutes=30)
        assert _at(campaign[-1]) - _at(campaign[0]) <= timedelta(minutes=30)


def test_account_takeover_drains_far_above_the_victims_usual_spend(
    fraud_run: list[SimulatedEvent],
) -> None:
    usual: dict[str, list[Decimal]] = defaultdict(list)
    for event in fraud_run:
        if event.label is None and event.request["event_type"] == "payment":
            usual[event.request["account_id"]].append(Decimal(event.request["amount"]["value"]))
    for campaign in _campaigns(fraud_run, "account_takeover"):
        account = campaign[0]["account_id"]
        drained = [Decimal(r["amount"]["value"]) for r in campaign if "amount" in r]
        if usual[account]:
            typical = sorted(usual[account])[len(usual[account]) // 2]
            assert min(drained) > 3 * typical


def test_card_testing_is_a_burst_of_tiny_payments_from_one_device_and_ip(
    fraud_run: list[SimulatedEvent],
) -> None:
    campaigns = _campaigns(fraud_run, "card_testing")
    assert len(campaigns) >= 5
    accounts_per_campaign = set()
    for campaign in campaigns:
        assert len({r["ip"] for r in campaign}) == 1
        payments = [r for r in campaign if r["event_type"] == "payment"]
        assert CARD_TESTS[0] <= len(payments) <= CARD_TESTS[1]
        assert _at(payments[-1]) - _at(payments[0]) <= timedelta(minutes=4)
        for payment in payments:
            value = Decimal(payment["amount"]["value"])
            assert value / Decimal(USD_RATE[payment["amount"]["currency"]]) < 3, payment
            assert payment["channel"] in {"app", "web"}
            assert "merchant" in payment and "payee" not in payment
            assert payment["attributes"]["funding"] == "card"
        cards = {(p["attributes"]["card_bin"], p["attributes"]["card_last4"]) for p in payments}
        assert len(cards) >= 0.8 * len(payments), "each test uses another stolen card"
        accounts_per_campaign.add(len({r["account_id"] for r in campaign}))
        opened = [r["account_id"] for r in campaign if r["event_type"] == "account_open"]
        assert len(opened) in {0, len({r["account_id"] for r in campaign})}
    assert 1 in accounts_per_campaign
    assert max(accounts_per_campaign) > 1


def test_legit_traffic_also_has_new_devices_failed_logins_and_travel() -> None:
    """Fraud signals must not be trivially separable: legit users show each of them too."""
    seed, customers = 21, 1_500
    start = datetime.fromisoformat("2026-03-02T00:00:00+00:00")
    population = build_population(seed=seed, customers=customers)
    known = {c.account_id: {d.id for d in c.devices} for c in population.customers}
    country = {c.account_id: c.city.country for c in population.customers}
    failed = new_device = abroad = 0
    for event in simulate(seed=seed, customers=customers, days=14, start=start, fraud_rate=0):
        request = event.request
        account = request["account_id"]
        failed += request["attributes"].get("result") == "failure"
        new_device += request["device"]["id"] not in known[account]
        abroad += "geo" in request and request["geo"]["country"] != country[account]
    assert failed > 0 and new_device > 0 and abroad > 0
