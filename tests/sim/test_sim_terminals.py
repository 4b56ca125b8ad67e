"""The compromised merchant terminal: card taps at one real shop for two to four weeks, labelled
per payment, so the shop's known-fraud count rises while the terminal is still compromised."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from random import Random
from typing import Any

import pytest

from payguard.sim import SimulatedEvent, simulate
from payguard.sim.attacks import COMPROMISED_TERMINAL, TYPOLOGIES, TYPOLOGY_TABLE
from payguard.sim.population import Population
from payguard.sim.tactics import Campaign, Targets
from payguard.sim.typologies.terminals import TERMINAL_DAYS, compromised_terminal
from payguard.sim.wire import DAY_MS

Campaigns = dict[str, list[list[SimulatedEvent]]]
START = datetime(2026, 3, 2, tzinfo=UTC)
T0 = int(START.timestamp() * 1000)


def _ms(request: dict[str, Any]) -> int:
    return int(datetime.fromisoformat(request["occurred_at"]).timestamp() * 1000)


def _payments(campaign: list[SimulatedEvent]) -> list[SimulatedEvent]:
    return [e for e in campaign if e.request["event_type"] == "payment"]


@pytest.fixture(scope="module")
def month() -> list[SimulatedEvent]:
    """A month, long enough for whole compromise windows and the labels that come during them."""
    return list(simulate(seed=3, customers=400, days=30, start=START, fraud_rate=0.03))


def _by_campaign(events: list[SimulatedEvent]) -> list[list[SimulatedEvent]]:
    grouped: dict[str, list[SimulatedEvent]] = defaultdict(list)
    for event in events:
        if event.typology == COMPROMISED_TERMINAL:
            assert event.campaign is not None
            grouped[event.campaign].append(event)
    return list(grouped.values())


def test_the_typology_is_registered_with_chargeback_like_labels() -> None:
    assert COMPROMISED_TERMINAL in TYPOLOGIES
    typology = next(t for t in TYPOLOGY_TABLE if t.name == COMPROMISED_TERMINAL)
    assert typology.cards >= 1 and typology.needs_customers
    assert typology.delay.per_payment
    assert typology.delay.low_ms == 2 * DAY_MS and typology.delay.high_ms == 30 * DAY_MS


def test_compromised_terminal_is_card_taps_by_regulars_at_one_real_shop(
    campaigns: Campaigns, population: Population
) -> None:
    customers = population.accounts
    shops = {m.id: m for ms in population.merchants_by_city.values() for m in ms}
    assert campaigns[COMPROMISED_TERMINAL]
    for campaign in campaigns[COMPROMISED_TERMINAL]:
        assert all(e.label == "fraud" and e.typology == COMPROMISED_TERMINAL for e in campaign)
        payments = [e.request for e in _payments(campaign)]
        assert payments
        assert len(campaign) == 2 * len(payments)  # each tap after the customer's login
        merchant_ids = {p["merchant"]["id"] for p in payments}
        assert len(merchant_ids) == 1
        shop = shops[merchant_ids.pop()]  # an existing shop, not one opened for the fraud
        assert shop.city is not None and shop.category.mcc != "4111"
        for payment in payments:
            payer = customers[payment["account_id"]]
            assert payer.city == shop.city
            assert payment["channel"] == "nfc"
            attributes = payment["attributes"]
            assert attributes["funding"] == "card"
            cards = {(c.bin, c.last4) for c in payer.cards}
            assert (attributes["card_bin"], attributes["card_last4"]) in cards
            assert payment["device"]["id"] == payer.devices[0].id
            assert abs(payment["geo"]["lat"] - shop.lat) < 0.001
            assert abs(payment["geo"]["lon"] - shop.lon) < 0.001
            assert shop in payer.merchants or payer.district == shop.district
        times = sorted(_ms(p) for p in payments)
        assert times[-1] - times[0] < TERMINAL_DAYS[1] * DAY_MS


def test_every_event_falls_in_the_compromise_window_at_one_merchant(
    population: Population,
) -> None:
    targets = Targets.of(population)
    for seed in range(40):
        campaign = Campaign(Random(f"terminal:{seed}"), population, targets)
        compromised_terminal(campaign, T0)
        times = [t for t, _ in campaign.events]
        assert all(T0 <= t < T0 + TERMINAL_DAYS[1] * DAY_MS for t in times)
        payments = [r for _, r in campaign.events if r["event_type"] == "payment"]
        assert len({p["merchant"]["id"] for p in payments}) == 1
        assert TERMINAL_DAYS[0] <= len(payments) <= 3 * TERMINAL_DAYS[1]
        # The first card is read on the day the terminal is compromised.
        assert min(times) < T0 + DAY_MS


def test_the_same_seed_builds_the_same_campaign(population: Population) -> None:
    def build() -> list[tuple[int, dict[str, Any]]]:
        campaign = Campaign(Random("terminal:same"), population, Targets.of(population))
        compromised_terminal(campaign, T0)
        return campaign.events

    assert build() == build()


def test_a_simulation_with_terminals_is_deterministic_for_a_seed() -> None:
    def run() -> bytes:
        events = simulate(seed=5, customers=120, days=6, start=START, fraud_rate=0.2)
        return json.dumps(
            [[e.request, e.label, e.typology, e.label_at, e.campaign] for e in events]
        ).encode()

    first = run()
    assert COMPROMISED_TERMINAL.encode() in first
    assert run() == first


def test_labels_come_per_payment_days_to_weeks_later(month: list[SimulatedEvent]) -> None:
    campaigns = _by_campaign(month)
    assert len(campaigns) >= 2
    reported = never = 0
    for campaign in campaigns:
        for payment in _payments(campaign):
            if payment.label_at is None:
                never += 1
                continue
            reported += 1
            delay = payment.label_at - _ms(payment.request)
            assert 2 * DAY_MS <= delay <= 30 * DAY_MS
        assert len({e.label_at for e in _payments(campaign)}) > 1
    assert 0.05 * (reported + never) < never < 0.4 * (reported + never)


def test_the_shops_known_fraud_rises_while_the_terminal_is_still_compromised(
    month: list[SimulatedEvent],
) -> None:
    """What the merchant's delay-aware fraud features learn from: most taps at a compromised
    terminal come after an earlier tap there was reported."""
    after_a_report = taps = 0
    for campaign in _by_campaign(month):
        payments = _payments(campaign)
        for i, payment in enumerate(payments):
            t = _ms(payment.request)
            taps += 1
            after_a_report += any(p.label_at is not None and p.label_at <= t for p in payments[:i])
    assert taps and after_a_report >= 0.4 * taps


def test_the_shop_keeps_trading_and_its_own_traffic_stays_legit(
    month: list[SimulatedEvent],
) -> None:
    shops = {_payments(campaign)[0].request["merchant"]["id"] for campaign in _by_campaign(month)}
    legit: dict[str, int] = defaultdict(int)
    for event in month:
        merchant = event.request.get("merchant", {}).get("id")
        if event.typology is None and merchant in shops:
            assert event.label is None and event.label_at is None
            legit[merchant] += 1
    assert shops and all(legit[shop] > 0 for shop in shops), legit


def test_a_month_spans_the_whole_window(month: list[SimulatedEvent]) -> None:
    spans = [
        _ms(_payments(c)[-1].request) - _ms(_payments(c)[0].request) for c in _by_campaign(month)
    ]
    assert max(spans) >= timedelta(days=TERMINAL_DAYS[0] - 2).total_seconds() * 1000
