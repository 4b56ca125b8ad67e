"""Labelled fraud typologies, built to leave the traces the real attacks leave.

`account_takeover`: someone with stolen credentials logs in from a device and country the
victim has never used (often after a few failures), changes a credential to lock the owner
out, adds a money mule as payee and drains the account to it within minutes. Mules are reused
across campaigns, as they are in practice.

`card_testing`: one device on one (usually hosting) IP pushes a burst of tiny payments to
low-friction online merchants, each with a different stolen card from a few BIN ranges, either
through one account or through several accounts it has just opened.

Campaigns arrive as a Poisson process, so the attack stream works for endless runs too.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from heapq import heappop, heappush
from random import Random
from typing import Any

from payguard.sim import wire
from payguard.sim.legit import event_request, geo, round_to
from payguard.sim.population import (
    CITIES,
    City,
    Customer,
    Device,
    Merchant,
    Payee,
    Population,
    card_bin,
    new_device,
    random_hex,
)
from payguard.sim.wire import SECOND_MS

ACCOUNT_TAKEOVER = "account_takeover"
CARD_TESTING = "card_testing"
TYPOLOGIES = (ACCOUNT_TAKEOVER, CARD_TESTING)

#: Share of campaigns that are account takeovers; the rest are card testing.
ATO_SHARE = 0.6
ATO_FAILED_LOGINS = (0, 4)
ATO_PAYMENTS = (1, 3)
ATO_WITHDRAWAL_CHANCE = 0.35
CARD_TESTS = (10, 40)
CARD_TEST_ACCOUNTS = (2, 5)
#: Share of card-testing campaigns run through one existing (compromised) account.
CARD_TEST_SINGLE_ACCOUNT = 0.5
#: Merchant categories card testers favour: digital goods, subscriptions, donations, marketplaces.
_CARD_TEST_MCCS = ("5818", "4899", "8398", "5999")


def _mean(bounds: tuple[int, int]) -> float:
    return (bounds[0] + bounds[1]) / 2


ATO_MEAN_EVENTS = _mean(ATO_FAILED_LOGINS) + 3 + _mean(ATO_PAYMENTS) + ATO_WITHDRAWAL_CHANCE
CARD_TEST_MEAN_EVENTS = _mean(CARD_TESTS) + (
    CARD_TEST_SINGLE_ACCOUNT + (1 - CARD_TEST_SINGLE_ACCOUNT) * 2 * _mean(CARD_TEST_ACCOUNTS)
)
MEAN_EVENTS_PER_CAMPAIGN = ATO_SHARE * ATO_MEAN_EVENTS + (1 - ATO_SHARE) * CARD_TEST_MEAN_EVENTS


def _event(
    t: int,
    event_type: str,
    account_id: str,
    city: City,
    device: Device,
    ip: str,
    where: dict[str, Any] | None,
    attributes: dict[str, Any],
    *,
    amount: dict[str, str] | None = None,
    payee: Payee | None = None,
    merchant: Merchant | None = None,
) -> tuple[int, dict[str, Any]]:
    request = event_request(
        t,
        event_type,
        account_id,
        city,
        device,
        ip,
        where,
        attributes,
        amount=amount,
        payee=payee,
        merchant=merchant,
    )
    return t, request


def _attacker_device(rng: Random, *, web_share: float) -> tuple[Device, dict[str, Any]]:
    """A device new to every victim, with the posture attackers' setups tend to have."""
    if rng.random() < web_share:
        device = new_device(rng, kind="browser")
        return device, {"os": device.os}
    device = new_device(rng, kind="phone", os="android" if rng.random() < 0.8 else "ios")
    posture: dict[str, Any] = {"os": device.os}
    if rng.random() < 0.35:
        posture["emulator"] = True
    if rng.random() < 0.2:
        posture["rooted"] = True
    return device, posture


def _attacker_network(
    rng: Random,
    population: Population,
    origin: City,
    device: Device,
    posture: dict[str, Any],
    *,
    hosting: float,
) -> tuple[str, dict[str, Any] | None, dict[str, Any]]:
    """Where an attack session comes from: a hosting IP (share `hosting`) or one in
    `origin`, a location near `origin` for phones, and the session's base attributes."""
    if rng.random() < hosting:
        ip = rng.choice(population.hosting_ips)
    else:
        ip = rng.choice(population.ips_by_city[origin.name])
    where = None
    if device.kind == "phone":
        where = geo(
            origin.lat + rng.gauss(0, 0.05), origin.lon + rng.gauss(0, 0.05), origin.country
        )
    return ip, where, {"session_id": f"ses-{random_hex(rng, 48)}", **posture}


def account_takeover(
    rng: Random, population: Population, victims: Sequence[Customer], t: int
) -> list[tuple[int, dict[str, Any]]]:
    """One takeover of a random victim starting at `t`; over within about 20 minutes."""
    victim = rng.choice(victims)
    home = victim.city
    origin = rng.choice([c for c in CITIES if c.country != home.country])
    device, posture = _attacker_device(rng, web_share=0.2)
    ip, where, base = _attacker_network(rng, population, origin, device, posture, hosting=0.5)
    account = victim.account_id
    mule = rng.choice(population.mules)
    events = []

    for _ in range(rng.randint(*ATO_FAILED_LOGINS)):
        attributes = {**base, "result": "failure", "method": "password"}
        events.append(_event(t, "login", account, home, device, ip, where, attributes))
        t += rng.randrange(5 * SECOND_MS, 40 * SECOND_MS)
    method = "otp" if rng.random() < 0.5 else "password"
    attributes = {**base, "result": "success", "method": method}
    events.append(_event(t, "login", account, home, device, ip, where, attributes))
    t += rng.randrange(20 * SECOND_MS, 150 * SECOND_MS)
    credential = rng.choice(("phone", "email", "password"))
    attributes = {**base, "credential": credential}
    events.append(_event(t, "credential_change", account, home, device, ip, where, attributes))
    t += rng.randrange(20 * SECOND_MS, 200 * SECOND_MS)
    attributes = {**base, "payee_source": "manual"}
    events.append(_event(t, "payee_add", account, home, device, ip, where, attributes, payee=mule))

    def drain() -> dict[str, str]:
        value = victim.spending_level * rng.uniform(400, 2500) * home.usd_rate
        if rng.random() < 0.5:
            value = round_to(value, home.small_unit * 100)
        return wire.amount(value, home.currency)

    for _ in range(rng.randint(*ATO_PAYMENTS)):
        t += rng.randrange(15 * SECOND_MS, 120 * SECOND_MS)
        attributes = {**base, "funding": "balance"}
        events.append(
            _event(
                t,
                "payment",
                account,
                home,
                device,
                ip,
                where,
                attributes,
                amount=drain(),
                payee=mule,
            )
        )
    if rng.random() < ATO_WITHDRAWAL_CHANCE:
        t += rng.randrange(15 * SECOND_MS, 120 * SECOND_MS)
        attributes = {**base, "destination_account": mule.account}
        events.append(
            _event(t, "withdrawal", account, home, device, ip, where, attributes, amount=drain())
        )
    return events


def card_testing(
    rng: Random, population: Population, victims: Sequence[Customer], t: int
) -> list[tuple[int, dict[str, Any]]]:
    """One burst of tiny card payments starting at `t`; the burst lasts a few minutes at most."""
    device, posture = _attacker_device(rng, web_share=0.7)
    origin = rng.choice(CITIES)
    ip, where, base = _attacker_network(rng, population, origin, device, posture, hosting=0.8)
    events = []

    if victims and rng.random() < CARD_TEST_SINGLE_ACCOUNT:
        victim = rng.choice(victims)
        city = victim.city
        accounts = [victim.account_id]
        attributes = {**base, "result": "success", "method": "password"}
        events.append(_event(t, "login", victim.account_id, city, device, ip, where, attributes))
    else:
        city = rng.choice(CITIES)
        accounts = [f"acc-{random_hex(rng, 48)}" for _ in range(rng.randint(*CARD_TEST_ACCOUNTS))]
        for account in accounts:
            attributes = {**base, "kyc_level": "basic"}
            events.append(_event(t, "account_open", account, city, device, ip, where, attributes))
            t += rng.randrange(5 * SECOND_MS, 40 * SECOND_MS)
            attributes = {**base, "result": "success", "method": "password"}
            events.append(_event(t, "login", account, city, device, ip, where, attributes))
            t += rng.randrange(5 * SECOND_MS, 40 * SECOND_MS)

    favoured = [m for m in population.online_merchants if m.category.mcc in _CARD_TEST_MCCS]
    pool = favoured or list(population.online_merchants)
    shops = rng.sample(pool, k=rng.randint(1, min(3, len(pool))))
    bins = [card_bin(rng) for _ in range(rng.randint(1, 3))]
    for i in range(rng.randint(*CARD_TESTS)):
        t += rng.randrange(SECOND_MS // 2, 9 * SECOND_MS // 2)
        card = {
            "funding": "card",
            "card_bin": rng.choice(bins),
            "card_last4": f"{rng.randrange(10**4):04d}",
        }
        events.append(
            _event(
                t,
                "payment",
                accounts[i % len(accounts)],
                city,
                device,
                ip,
                where,
                {**base, **card},
                amount=wire.amount(rng.uniform(0.10, 2.00) * city.small_unit, city.currency),
                merchant=rng.choice(shops),
            )
        )
    return events


class AttackCampaigns:
    """Attack events in time order as `(t_ms, stream, request)`; `stream - stream_base`
    indexes `TYPOLOGIES`.

    Only campaigns that finish before `end_ms` are kept, so every labelled sequence is whole.
    """

    def __init__(
        self,
        population: Population,
        *,
        seed: int,
        start_ms: int,
        end_ms: int | None,
        events_per_ms: float,
        stream_base: int,
    ) -> None:
        self._pop = population
        self._seed = seed
        self._start = start_ms
        self._end = end_ms
        self._campaigns_per_ms = events_per_ms / MEAN_EVENTS_PER_CAMPAIGN
        self._base = stream_base
        self._victims = tuple(c for c in population.customers if c.opens_at is None)

    def __iter__(self) -> Iterator[tuple[int, int, dict[str, Any]]]:
        if self._campaigns_per_ms <= 0:
            return
        rng = Random(f"payguard-sim:{self._seed}:campaigns")
        pending: list[tuple[int, int, int, dict[str, Any]]] = []
        order = 0
        campaign = 0
        arrival: float | None = self._start + rng.expovariate(self._campaigns_per_ms)
        while True:
            # Campaign events never precede their arrival, so anything due before the next
            # arrival is final.
            if pending and (arrival is None or pending[0][0] <= arrival):
                t, _, stream, req = heappop(pending)
                yield t, stream, req
                continue
            if arrival is None:
                return
            if self._end is not None and arrival >= self._end:
                arrival = None
                continue
            typology = 0 if rng.random() < ATO_SHARE else 1
            if not self._victims:
                typology = 1
            expand = account_takeover if typology == 0 else card_testing
            campaign_rng = Random(f"payguard-sim:{self._seed}:campaign:{campaign}")
            events = expand(campaign_rng, self._pop, self._victims, math.ceil(arrival))
            campaign += 1
            if self._end is None or events[-1][0] < self._end:
                for t, req in events:
                    heappush(pending, (t, order, self._base + typology, req))
                    order += 1
            arrival += rng.expovariate(self._campaigns_per_ms)
