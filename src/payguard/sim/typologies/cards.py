"""Card fraud: stolen card numbers checked, then laundered through a merchant.

`card_testing`: one device on one (usually hosting) IP pushes a burst of tiny payments to
low-friction online merchants, each with a different stolen card from a few BIN ranges, either
through one existing (compromised) account or through several accounts it has just opened.

`fake_merchant` (transaction laundering): a merchant onboarded days ago, with a plausible name
but a category code that does not match it, takes card payments from a small ring of
accounts (compromised customers' and freshly opened ones) operated from one or two devices:
round-ish amounts, mostly at night, mostly online, over days. The cards are stolen, so the
chargebacks come weeks later.
"""

from __future__ import annotations

from typing import Any

from payguard.sim import wire
from payguard.sim.legit import geo, round_to, session_base
from payguard.sim.population import (
    CATEGORIES,
    CITIES,
    DISTRICTS_PER_CITY,
    City,
    Merchant,
    card_bin,
    random_hex,
)
from payguard.sim.tactics import Campaign, at_local_hours, attacker_device, attacker_network
from payguard.sim.wire import DAY_MS, SECOND_MS

CARD_TESTS = (10, 40)
CARD_TEST_ACCOUNTS = (2, 5)
#: Share of card-testing campaigns run through one existing (compromised) account.
CARD_TEST_SINGLE_ACCOUNT = 0.5
#: Merchant categories card testers favour: digital goods, subscriptions, donations, marketplaces.
_CARD_TEST_MCCS = ("5818", "4899", "8398", "5999")

FAKE_MERCHANT_ACCOUNTS = (3, 8)
FAKE_MERCHANT_PAYMENTS = (12, 40)
FAKE_MERCHANT_SPAN_MS = (DAY_MS, 10 * DAY_MS)
#: Share of a fake merchant's payments made at night, and of fake merchants that only sell
#: online (the others show a QR code at a shop front).
FAKE_MERCHANT_NIGHT = 0.6
FAKE_MERCHANT_ONLINE = 0.75
#: Categories launderers register under: low scrutiny, wide ticket sizes.
_LAUNDERING_MCCS = ("5999", "5818", "8398", "4814", "5411", "5812")
FAKE_MERCHANT_USD = (50.0, 800.0)
_NIGHT_HOURS = (0, 1, 2, 3, 4, 5)

_CARD_TEST_ACCOUNTS_MEAN = (CARD_TEST_ACCOUNTS[0] + CARD_TEST_ACCOUNTS[1]) / 2
CARD_TESTING_MEAN_EVENTS = (CARD_TESTS[0] + CARD_TESTS[1]) / 2 + (
    CARD_TEST_SINGLE_ACCOUNT + (1 - CARD_TEST_SINGLE_ACCOUNT) * 2 * _CARD_TEST_ACCOUNTS_MEAN
)
FAKE_MERCHANT_MEAN_EVENTS = (FAKE_MERCHANT_PAYMENTS[0] + FAKE_MERCHANT_PAYMENTS[1]) / 2 * 2 + (
    FAKE_MERCHANT_ACCOUNTS[0] + FAKE_MERCHANT_ACCOUNTS[1]
) / 2


def card_testing(campaign: Campaign, t: int) -> None:
    """One burst of tiny card payments starting at `t`; the burst lasts a few minutes at most."""
    rng = campaign.rng
    population = campaign.population
    device = attacker_device(rng, web_share=0.7)
    origin = rng.choice(CITIES)
    ip, where, base = attacker_network(rng, population, origin, device, hosting=0.8)

    victims = campaign.targets.victims
    if victims and rng.random() < CARD_TEST_SINGLE_ACCOUNT:
        victim = rng.choice(victims)
        city = victim.city
        accounts = [victim.account_id]
        attributes = {**base, "success": True, "method": "password"}
        campaign.emit(t, "login", victim.account_id, city, device, ip, where, attributes)
    else:
        city = rng.choice(CITIES)
        accounts = [f"acc-{random_hex(rng, 48)}" for _ in range(rng.randint(*CARD_TEST_ACCOUNTS))]
        for account in accounts:
            attributes = {**base, "kyc_level": "basic"}
            campaign.emit(t, "account_open", account, city, device, ip, where, attributes)
            t = campaign.wait(t, 5 * SECOND_MS, 40 * SECOND_MS)
            attributes = {**base, "success": True, "method": "password"}
            campaign.emit(t, "login", account, city, device, ip, where, attributes)
            t = campaign.wait(t, 5 * SECOND_MS, 40 * SECOND_MS)

    favoured = [m for m in population.online_merchants if m.category.mcc in _CARD_TEST_MCCS]
    pool = favoured or list(population.online_merchants)
    shops = rng.sample(pool, k=rng.randint(1, min(3, len(pool))))
    bins = [card_bin(rng) for _ in range(rng.randint(1, 3))]
    for i in range(rng.randint(*CARD_TESTS)):
        t = campaign.wait(t, SECOND_MS // 2, 9 * SECOND_MS // 2)
        card = {
            "funding": "card",
            "card_bin": rng.choice(bins),
            "card_last4": f"{rng.randrange(10**4):04d}",
        }
        campaign.emit(
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


def _fake_merchant(campaign: Campaign, city: City, online: bool) -> Merchant:
    """A new merchant whose name says one trade and whose category code another."""
    rng = campaign.rng
    mcc = rng.choice(_LAUNDERING_MCCS)
    registered = next(c for c in CATEGORIES if c.mcc == mcc)
    looks_like = rng.choice([c for c in CATEGORIES if c.mcc != registered.mcc])
    prefix = rng.choice(("Prime", "Global", "Star", "Asia", "Euro", "Smart", "Royal"))
    district = rng.randrange(DISTRICTS_PER_CITY)
    lat = lon = 0.0
    if not online:
        lat = city.lat + rng.gauss(0, 0.05)
        lon = city.lon + rng.gauss(0, 0.05)
    return Merchant(
        id=f"mer-{random_hex(rng, 48)}",
        name=f"{prefix} {rng.choice(looks_like.suffixes)}",
        category=registered,
        city=None if online else city,
        district=district,
        lat=lat,
        lon=lon,
    )


def fake_merchant(campaign: Campaign, t: int) -> None:
    """A laundering merchant's first days of trade, from `t` on."""
    rng = campaign.rng
    population = campaign.population
    city = campaign.city()
    online = rng.random() < FAKE_MERCHANT_ONLINE
    merchant = _fake_merchant(campaign, city, online)

    devices = [attacker_device(rng, web_share=0.5 if online else 0.0, emulator=0.2)]
    if rng.random() < 0.4:
        devices.append(attacker_device(rng, web_share=0.5 if online else 0.0, emulator=0.2))
    networks = [
        attacker_network(rng, population, city, device, hosting=0.6 if online else 0.1)
        for device in devices
    ]
    if not online:
        # Paid at the shop front: at the merchant's own location.
        front = geo(merchant.lat, merchant.lon, city.country)
        networks = [(ip, front, base) for ip, _, base in networks]

    # The ring: compromised customers of that currency, and accounts opened for it.
    local = campaign.targets.by_currency.get(city.currency, ())
    ring: list[tuple[str, City, list[dict[str, Any]]]] = []
    for _ in range(rng.randint(*FAKE_MERCHANT_ACCOUNTS)):
        if local and rng.random() < 0.5:
            customer = rng.choice(local)
            account, home = customer.account_id, customer.city
        else:
            account, home = f"acc-{random_hex(rng, 48)}", city
            slot = rng.randrange(len(devices))
            ip, where, base = networks[slot]
            attributes = {**base, "kyc_level": "basic"}
            campaign.emit(t, "account_open", account, home, devices[slot], ip, where, attributes)
            t = campaign.wait(t, 30 * SECOND_MS, 10 * 60 * SECOND_MS)
        bins = card_bin(rng)
        cards = [
            {"funding": "card", "card_bin": bins, "card_last4": f"{rng.randrange(10**4):04d}"}
            for _ in range(rng.randint(1, 2))
        ]
        ring.append((account, home, cards))

    span = rng.randrange(*FAKE_MERCHANT_SPAN_MS)
    times = []
    for _ in range(rng.randint(*FAKE_MERCHANT_PAYMENTS)):
        at = t + 10 * 60 * SECOND_MS + rng.randrange(span)
        if rng.random() < FAKE_MERCHANT_NIGHT:
            at = at_local_hours(rng, at, city, _NIGHT_HOURS)
        times.append(at)
    for at in sorted(times):
        account, home, cards = rng.choice(ring)
        slot = rng.randrange(len(devices))
        device = devices[slot]
        ip, where, _ = networks[slot]
        base = session_base(rng, device)
        attributes = {**base, "success": True, "method": "password"}
        campaign.emit(at, "login", account, home, device, ip, where, attributes)
        at = campaign.wait(at, 20 * SECOND_MS, 2 * 60 * SECOND_MS)
        value = rng.uniform(*FAKE_MERCHANT_USD) * city.usd_rate
        value = round_to(value, city.small_unit * rng.choice((10, 50, 100)))
        campaign.emit(
            at,
            "payment",
            account,
            home,
            device,
            ip,
            where,
            {**base, **rng.choice(cards)},
            amount=wire.amount(value, city.currency),
            merchant=merchant,
            channel=None if online else "qr",
        )
