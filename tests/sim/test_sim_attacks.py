"""Every fraud typology leaves the traces the real attack leaves, in the right order and tempo."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from decimal import Decimal
from statistics import median
from typing import Any

import pytest

from payguard.sim import SimulatedEvent, simulate
from payguard.sim.attacks import TYPOLOGIES, TYPOLOGY_TABLE
from payguard.sim.population import CATEGORIES, CITIES, Population, build_population
from payguard.sim.typologies.cards import CARD_TESTS, FAKE_MERCHANT_PAYMENTS

USD_RATE = {city.currency: city.usd_rate for city in CITIES}
SMALL_UNIT = {city.currency: city.small_unit for city in CITIES}
#: Typologies whose labels come per card payment (chargebacks).
PER_PAYMENT = {typology.name: typology.delay.per_payment for typology in TYPOLOGY_TABLE}
Campaigns = dict[str, list[list[SimulatedEvent]]]


def _at(request: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(request["occurred_at"])


def _value(request: dict[str, Any]) -> Decimal:
    return Decimal(request["amount"]["value"])


def _usual_devices(fraud_run: list[SimulatedEvent], population: Population) -> dict[str, set[str]]:
    devices = {c.account_id: {d.id for d in c.devices} for c in population.customers}
    for event in fraud_run:
        if event.label is None and "device" in event.request:
            devices.setdefault(event.request["account_id"], set()).add(
                event.request["device"]["id"]
            )
    return devices


def _usual_payments(fraud_run: list[SimulatedEvent]) -> dict[str, list[Decimal]]:
    usual: dict[str, list[Decimal]] = defaultdict(list)
    for event in fraud_run:
        if event.label is None and event.request["event_type"] == "payment":
            usual[event.request["account_id"]].append(_value(event.request))
    return usual


def test_every_typology_runs_in_a_short_run(campaigns: Campaigns) -> None:
    assert set(campaigns) == set(TYPOLOGIES)
    assert all(len(runs) >= 2 for runs in campaigns.values()), {
        typology: len(runs) for typology, runs in campaigns.items()
    }


def test_every_typology_appears_even_in_a_small_run() -> None:
    """The deck deals every typology within its first few dozen campaigns."""
    start = datetime.fromisoformat("2026-05-04T00:00:00+00:00")
    events = simulate(seed=5, customers=120, days=6, start=start, fraud_rate=0.2)
    assert {e.typology for e in events if e.typology} == set(TYPOLOGIES)


def test_logins_say_success_as_the_engine_reads_it(fraud_run: list[SimulatedEvent]) -> None:
    for event in fraud_run:
        if event.request["event_type"] == "login":
            attributes = event.request["attributes"]
            assert "result" not in attributes
            assert isinstance(attributes["success"], bool)


def test_account_takeover_locks_the_owner_out_and_pays_out_fast(
    campaigns: Campaigns, fraud_run: list[SimulatedEvent], population: Population
) -> None:
    usual = _usual_devices(fraud_run, population)
    home = {c.account_id: c.city.country for c in population.customers}
    for campaign in campaigns["account_takeover"]:
        by_account: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for event in campaign:
            by_account[event.request["account_id"]].append(event.request)
        taken = [
            a
            for a, requests in by_account.items()
            if any(r["event_type"] == "credential_change" for r in requests)
        ]
        assert taken
        for account in taken:
            requests = by_account[account]
            kinds = [r["event_type"] for r in requests]
            change = kinds.index("credential_change")
            added = kinds.index("payee_add")
            mule = requests[added]["payee"]["id"]
            paid = next(
                i
                for i, r in enumerate(requests)
                if r["event_type"] == "payment" and r["payee"]["id"] == mule
            )
            assert change < added < paid
            login = max(
                i
                for i, r in enumerate(requests[:change])
                if r["event_type"] == "login" and r["attributes"]["success"]
            )
            takeover = requests[login:]
            device = takeover[0]["device"]["id"]
            assert device not in usual[account], "the attacker's device is new to the victim"
            assert {r["device"]["id"] for r in takeover} == {device}
            assert _at(requests[-1]) - _at(takeover[0]) <= timedelta(minutes=30)
            for request in takeover:
                if "geo" in request:
                    assert request["geo"]["country"] != home[account]


def test_credential_stuffing_fails_across_many_accounts_from_one_ip(
    campaigns: Campaigns,
) -> None:
    stuffing = 0
    for campaign in campaigns["account_takeover"]:
        failed: dict[str, set[str]] = defaultdict(set)
        for event in campaign:
            request = event.request
            if request["event_type"] == "login" and not request["attributes"]["success"]:
                failed[request["ip"]].add(request["account_id"])
        if any(len(accounts) >= 5 for accounts in failed.values()):
            stuffing += 1
    assert stuffing >= 1


def test_takeover_payouts_are_far_above_the_victims_usual_spend(
    campaigns: Campaigns, fraud_run: list[SimulatedEvent]
) -> None:
    usual = _usual_payments(fraud_run)
    checked = 0
    for typology in ("account_takeover", "sim_swap"):
        for campaign in campaigns[typology]:
            for event in campaign:
                request = event.request
                if (
                    request["event_type"] in {"payment", "withdrawal"}
                    and usual[request["account_id"]]
                ):
                    assert _value(request) > 3 * median(usual[request["account_id"]])
                    checked += 1
    assert checked


def test_sim_swap_logs_in_by_otp_on_a_new_phone_hours_after_the_swap(
    campaigns: Campaigns, fraud_run: list[SimulatedEvent], population: Population
) -> None:
    usual = _usual_devices(fraud_run, population)
    customers = {c.account_id: c for c in population.customers}
    reported = 0
    for campaign in campaigns["sim_swap"]:
        requests = [e.request for e in campaign]
        account = requests[0]["account_id"]
        assert {r["account_id"] for r in requests} == {account}
        logins = [r for r in requests if r["event_type"] == "login" and r["attributes"]["success"]]
        assert len(logins) == 1 and logins[0]["attributes"]["method"] == "otp"
        assert logins[0]["device"]["id"] not in usual[account]
        kinds = [r["event_type"] for r in requests]
        assert kinds.index("login") < kinds.index("credential_change") < kinds.index("payee_add")
        assert "password" in {
            r["attributes"]["credential"]
            for r in requests
            if r["event_type"] == "credential_change"
        }
        assert kinds[-1] in {"payment", "withdrawal"}
        for request in requests:
            assert request["geo"]["country"] == customers[account].city.country
            hours = request["attributes"].get("sim_swap_hours")
            if request["event_type"] in {"login", "credential_change"}:
                assert (hours is not None) == customers[account].sim_check
            if hours is not None:
                assert 0 <= hours <= 6
                reported += 1
    assert reported


def test_legit_logins_report_old_sims_and_a_few_recent_changes(
    fraud_run: list[SimulatedEvent],
) -> None:
    hours = [
        e.request["attributes"]["sim_swap_hours"]
        for e in fraud_run
        if e.label is None and "sim_swap_hours" in e.request["attributes"]
    ]
    assert len(hours) > 1000
    assert median(hours) > 24 * 30


def test_app_scam_is_the_real_customer_paying_a_first_time_payee_far_too_much(
    campaigns: Campaigns, fraud_run: list[SimulatedEvent], population: Population
) -> None:
    customers = {c.account_id: c for c in population.customers}
    usual = _usual_payments(fraud_run)
    remote = late = unusual = compared = 0
    for campaign in campaigns["app_scam"]:
        requests = [e.request for e in campaign]
        account = requests[0]["account_id"]
        customer = customers[account]
        assert {r["account_id"] for r in requests} == {account}
        assert {r["device"]["id"] for r in requests} == {customer.devices[0].id}
        assert requests[0]["event_type"] == "login"
        assert requests[0]["ip"] in customer.home_ips
        assert requests[0]["geo"]["country"] == customer.city.country
        added = [r["payee"]["id"] for r in requests if r["event_type"] == "payee_add"]
        assert added and not set(added) & {p.id for p in customer.payees}
        payments = [r for r in requests if r["event_type"] == "payment"]
        assert payments and {r["payee"]["id"] for r in payments} <= set(added)
        for payment in payments:
            assert payment["channel"] == "app"
            if len(usual[account]) >= 3:
                compared += 1
                unusual += _value(payment) > 3 * median(usual[account])
        remote += bool(requests[0]["attributes"].get("remote_access"))
        late += _at(requests[0]).hour in {21, 22, 23, 0, 1}
    assert unusual >= 0.9 * compared > 0
    runs = len(campaigns["app_scam"])
    assert 0.3 * runs < remote < runs
    assert late >= 0.2 * runs


def test_money_mule_gathers_from_many_senders_and_passes_it_on_within_hours(
    campaigns: Campaigns,
) -> None:
    for campaign in campaigns["money_mule"]:
        requests = [e.request for e in campaign]
        deposits = [r for r in requests if r["event_type"] == "deposit"]
        mule = deposits[0]["account_id"]
        assert {r["account_id"] for r in deposits} == {mule}
        senders = {r["payee"]["id"] for r in deposits}
        assert len(senders) >= 5
        assert all(r["attributes"]["source"] == "transfer_in" for r in deposits)
        paid_in = [r for r in requests if r["event_type"] == "payment" and r["account_id"] != mule]
        assert {r["account_id"] for r in paid_in} == senders
        assert all(r["payee"]["id"] == mule for r in paid_in)
        for sender in senders:
            kinds = [r["event_type"] for r in requests if r["account_id"] == sender]
            assert kinds == ["login", "payee_add", "payment"]

        payouts = [
            r
            for r in requests
            if r["account_id"] == mule and r["event_type"] in {"withdrawal", "payment"}
        ]
        assert payouts
        for payout in payouts:
            landed = [_at(d) for d in deposits if _at(d) <= _at(payout)]
            assert landed and _at(payout) - max(landed) <= timedelta(hours=6, minutes=5)
        total_in = sum(_value(r) for r in deposits)
        total_out = sum(_value(r) for r in payouts)
        if payouts[-1] is requests[-1]:
            assert Decimal("0.8") * total_in <= total_out <= total_in


def test_card_testing_is_a_burst_of_tiny_payments_from_one_device_and_ip(
    campaigns: Campaigns,
) -> None:
    accounts_per_campaign = set()
    for campaign in campaigns["card_testing"]:
        requests = [e.request for e in campaign]
        assert len({r["ip"] for r in requests}) == 1
        assert len({r["device"]["id"] for r in requests}) == 1
        payments = [r for r in requests if r["event_type"] == "payment"]
        assert CARD_TESTS[0] <= len(payments) <= CARD_TESTS[1]
        assert _at(payments[-1]) - _at(payments[0]) <= timedelta(minutes=4)
        for payment in payments:
            value = _value(payment)
            assert value / Decimal(USD_RATE[payment["amount"]["currency"]]) < 3, payment
            assert payment["channel"] in {"app", "web"}
            assert "merchant" in payment and "payee" not in payment
            assert payment["attributes"]["funding"] == "card"
        cards = {(p["attributes"]["card_bin"], p["attributes"]["card_last4"]) for p in payments}
        assert len(cards) >= 0.8 * len(payments), "each test uses another stolen card"
        accounts_per_campaign.add(len({r["account_id"] for r in requests}))
        opened = [r["account_id"] for r in requests if r["event_type"] == "account_open"]
        assert len(opened) in {0, len({r["account_id"] for r in requests})}
    assert 1 in accounts_per_campaign
    assert max(accounts_per_campaign) > 1


def test_promo_abuse_is_one_device_opening_many_accounts_with_one_code(
    campaigns: Campaigns, population: Population
) -> None:
    for campaign in campaigns["promo_abuse"]:
        requests = [e.request for e in campaign]
        opened = [r for r in requests if r["event_type"] == "account_open"]
        assert len(opened) >= 6
        assert not {r["account_id"] for r in opened} & set(population.accounts)
        devices = {r["device"]["id"] for r in requests if "device" in r}
        assert len(devices) == 1
        assert len({r["ip"] for r in requests if "ip" in r}) <= 3
        codes = {r["attributes"]["promo_code"] for r in requests if "promo_code" in r["attributes"]}
        assert len(codes) == 1
        assert all("promo_code" in r["attributes"] for r in opened)
        payments = [r for r in requests if r["event_type"] == "payment"]
        assert len(payments) == len(opened)
        for payment in payments:
            assert "promo_code" in payment["attributes"]
            assert _value(payment) / Decimal(USD_RATE[payment["amount"]["currency"]]) <= 16
        collected = [r for r in requests if r["event_type"] == "deposit"]
        assert len({r["account_id"] for r in collected}) <= 1
    postures = [campaign[0].request["attributes"] for campaign in campaigns["promo_abuse"]]
    assert any(p.get("emulator") or p.get("rooted") for p in postures)


def test_fake_merchant_is_new_mismatched_and_paid_round_sums_at_night(
    campaigns: Campaigns, population: Population
) -> None:
    known = {m.id for shops in population.merchants_by_city.values() for m in shops}
    known |= {m.id for m in population.online_merchants}
    suffixes = {c.mcc: set(c.suffixes) for c in CATEGORIES}
    sizes = []
    for campaign in campaigns["fake_merchant"]:
        payments = [e.request for e in campaign if e.request["event_type"] == "payment"]
        sizes.append(len(payments))
        merchants = {
            (p["merchant"]["id"], p["merchant"]["mcc"], p["merchant"]["name"]) for p in payments
        }
        assert len(merchants) == 1
        merchant_id, mcc, name = merchants.pop()
        assert merchant_id not in known
        assert not any(name.endswith(suffix) for suffix in suffixes[mcc]), "name and MCC disagree"
        assert 3 >= len({p["device"]["id"] for p in payments}) >= 1
        assert len({p["account_id"] for p in payments}) <= 8
        night = sum(_at(p).hour < 6 for p in payments)
        assert night >= 0.3 * len(payments)
        for payment in payments:
            unit = SMALL_UNIT[payment["amount"]["currency"]] * 10
            assert _value(payment) % unit == 0
            assert payment["attributes"]["funding"] == "card"
    # A campaign that the end of the run cuts may have taken fewer payments.
    assert max(sizes) >= FAKE_MERCHANT_PAYMENTS[0]


def test_qr_swap_is_many_payers_paying_one_new_payee_at_one_shop(
    campaigns: Campaigns, fraud_run: list[SimulatedEvent], population: Population
) -> None:
    customers = {c.account_id: c for c in population.customers}
    seen_before: dict[str, datetime] = {}
    for event in fraud_run:
        if event.label is None and "payee" in event.request:
            seen_before.setdefault(event.request["payee"]["id"], _at(event.request))
    for campaign in campaigns["qr_swap"]:
        payments = [e.request for e in campaign if e.request["event_type"] == "payment"]
        assert len({p["payee"]["id"] for p in payments}) == 1
        assert payments[0]["payee"]["id"] not in seen_before
        payers = {p["account_id"] for p in payments}
        assert len(payers) == len(payments) >= 3
        for payment in payments:
            assert payment["channel"] == "qr" and "merchant" not in payment
            assert payment["device"]["id"] == customers[payment["account_id"]].devices[0].id
        lats = [p["geo"]["lat"] for p in payments]
        lons = [p["geo"]["lon"] for p in payments]
        assert max(lats) - min(lats) < 0.002 and max(lons) - min(lons) < 0.002
        assert _at(payments[-1]) - _at(payments[0]) <= timedelta(hours=6)


#: Bounds on label_at - occurred_at per typology: (at least, at most).
DELAYS = {
    "account_takeover": (timedelta(hours=1), timedelta(days=4, hours=8)),
    "sim_swap": (timedelta(hours=1), timedelta(days=3, hours=8)),
    "app_scam": (timedelta(days=1), timedelta(days=14, hours=2)),
    "money_mule": (timedelta(days=7), timedelta(days=64)),
    "card_testing": (timedelta(days=14), timedelta(days=70, minutes=10)),
    "promo_abuse": (timedelta(days=2), timedelta(days=31)),
    "fake_merchant": (timedelta(days=14), timedelta(days=81)),
    "qr_swap": (timedelta(hours=2), timedelta(days=3, hours=7)),
    "compromised_terminal": (timedelta(days=2), timedelta(days=30, minutes=2)),
}


@pytest.mark.parametrize("typology", TYPOLOGIES)
def test_labels_arrive_late_within_the_typologys_bounds(
    typology: str, campaigns: Campaigns
) -> None:
    low, high = DELAYS[typology]
    for campaign in campaigns[typology]:
        last = max(_at(e.request) for e in campaign)
        for event in campaign:
            assert event.label == "fraud"
            if event.label_at is None:
                continue
            label_at = datetime.fromtimestamp(event.label_at / 1000, tz=_at(event.request).tzinfo)
            occurred = _at(event.request)
            assert label_at >= occurred
            assert label_at - occurred <= high
            if PER_PAYMENT[typology]:
                if event.request["event_type"] == "payment":
                    assert label_at - occurred >= low
            else:
                assert label_at - last >= low


def test_some_fraud_is_never_reported_and_legit_is_never_labelled(
    fraud_run: list[SimulatedEvent],
) -> None:
    fraud = [e for e in fraud_run if e.label == "fraud"]
    never = [e for e in fraud if e.label_at is None]
    assert 0.03 * len(fraud) < len(never) < 0.4 * len(fraud)
    assert all(e.label_at is None and e.campaign is None for e in fraud_run if e.label is None)


def test_legit_traffic_also_has_new_devices_failed_logins_travel_and_remote_access() -> None:
    """Fraud signals must not be trivially separable: legit users show each of them too."""
    seed, customers = 21, 800
    start = datetime.fromisoformat("2026-03-02T00:00:00+00:00")
    population = build_population(seed=seed, customers=customers)
    known = {c.account_id: {d.id for d in c.devices} for c in population.customers}
    country = {c.account_id: c.city.country for c in population.customers}
    failed = new_device = abroad = remote = rooted = recent_sim = promo = 0
    for event in simulate(seed=seed, customers=customers, days=10, start=start, fraud_rate=0):
        request = event.request
        account = request["account_id"]
        attributes = request["attributes"]
        failed += attributes.get("success") is False
        new_device += "device" in request and request["device"]["id"] not in known[account]
        abroad += "geo" in request and request["geo"]["country"] != country[account]
        remote += attributes.get("remote_access") is True
        rooted += attributes.get("rooted") is True
        recent_sim += attributes.get("sim_swap_hours", 10_000) < 72
        promo += "promo_code" in attributes
    assert failed and new_device and abroad and remote and rooted and recent_sim and promo
