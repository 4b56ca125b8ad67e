"""Scams where the real customer pays, on their own phone: nothing about the device or the
login is wrong, only where the money goes.

`app_scam` (authorised push payment): a caller posing as the bank, the police or an investment
adviser talks the customer into paying. Often late in the evening and often with a
remote-access app running ("let me help you"), the customer logs in as usual at home, may
first top the wallet up from their bank, adds a payee they never paid before (typed in by
hand) and sends one or a few payments far above anything they usually send. The payees are
the scammers' mule accounts, shared between campaigns.

`qr_swap`: a fraudster sticks their own QR code over a shop's. For a few hours every customer
who scans it at the till pays the fraudster (a person, as a `payee` over the `qr` channel)
instead of the shop, from their usual phone, at the shop's location, for their usual sort of
amount.
"""

from __future__ import annotations

from payguard.sim import wire
from payguard.sim.legit import round_to
from payguard.sim.population import (
    CITIES,
    City,
    Customer,
    Merchant,
    Payee,
    account_number,
    person_name,
    random_hex,
)
from payguard.sim.tactics import Campaign, at_local_hours, at_the_shop, own_login, own_session
from payguard.sim.wire import HOUR_MS, MINUTE_MS, SECOND_MS

APP_SCAM_PAYMENTS = (1, 3)
#: Share of scams run late in the evening or at night, with a remote-access app running, and
#: with the money topped up from the bank first.
APP_SCAM_NIGHT = 0.45
APP_SCAM_REMOTE_ACCESS = 0.6
APP_SCAM_TOP_UP = 0.4
APP_SCAM_SECOND_PAYEE = 0.2
#: What the scammer asks for, in US dollars at spending level 1 (a usual transfer is ~40).
APP_SCAM_USD = (300.0, 3000.0)
_LATE_HOURS = (21, 22, 23, 0, 1)

QR_SWAP_PAYERS = (5, 25)
QR_SWAP_HOURS = (1, 6)
_SHOP_HOURS = tuple(range(8, 19))

APP_SCAM_MEAN_EVENTS = 2 + APP_SCAM_TOP_UP + 2 + APP_SCAM_SECOND_PAYEE * 2
QR_SWAP_MEAN_EVENTS = 2 * (QR_SWAP_PAYERS[0] + QR_SWAP_PAYERS[1]) / 2


def app_scam(campaign: Campaign, t: int) -> None:
    """One scam call ending in payments to a first-time payee, starting at or after `t`."""
    rng = campaign.rng
    victim = campaign.victim()
    home = victim.city
    account = victim.account_id
    if rng.random() < APP_SCAM_NIGHT:
        t = at_local_hours(rng, t, home, _LATE_HOURS)
    device, ip, where, base = own_session(campaign, victim)
    if rng.random() < APP_SCAM_REMOTE_ACCESS:
        base["remote_access"] = True
    own_login(campaign, t, victim, device, ip, where, base)

    def ask() -> float:
        value = victim.spending_level * rng.uniform(*APP_SCAM_USD) * home.usd_rate
        return round_to(value, home.small_unit * 50) if rng.random() < 0.6 else value

    asks = [ask() for _ in range(rng.randint(*APP_SCAM_PAYMENTS))]
    if rng.random() < APP_SCAM_TOP_UP:
        t = campaign.wait(t, 30 * SECOND_MS, 5 * MINUTE_MS)
        topped = round_to(sum(asks), home.small_unit * 100)
        attributes = {**base, "source": "top_up", "funding": "bank"}
        campaign.emit(
            t,
            "deposit",
            account,
            home,
            device,
            ip,
            where,
            attributes,
            amount=wire.amount(topped, home.currency),
        )
    payees = [rng.choice(campaign.population.mules)]
    if rng.random() < APP_SCAM_SECOND_PAYEE:
        payees.append(rng.choice(campaign.population.mules))
    for n, payee in enumerate(payees):
        t = campaign.wait(t, 40 * SECOND_MS, 6 * MINUTE_MS)
        source = "manual" if rng.random() < 0.75 else rng.choice(("qr_scan", "contacts"))
        attributes = {**base, "payee_source": source}
        campaign.emit(t, "payee_add", account, home, device, ip, where, attributes, payee=payee)
        for value in asks if n == 0 else [ask()]:
            t = campaign.wait(t, 30 * SECOND_MS, 15 * MINUTE_MS)
            campaign.emit(
                t,
                "payment",
                account,
                home,
                device,
                ip,
                where,
                {**base, "funding": "balance"},
                amount=wire.amount(value, home.currency),
                payee=payee,
            )


def _qr_shop(campaign: Campaign) -> tuple[City, Merchant] | None:
    """A shop in a city where people pay by QR, picked through a customer who shops there."""
    rng = campaign.rng
    by_city = campaign.targets.by_city
    cities = [c for c in CITIES if c.name in by_city]
    if not cities:
        return None
    weights = [c.qr_share**2 * len(by_city[c.name]) for c in cities]
    city = rng.choices(cities, weights=weights)[0]
    regular = rng.choice(by_city[city.name])
    return city, rng.choice(regular.merchants)


def qr_swap(campaign: Campaign, t: int) -> None:
    """A swapped QR code at one shop collects payments for a few hours from `t` on (shifted
    into opening hours)."""
    rng = campaign.rng
    picked = _qr_shop(campaign)
    if picked is None:
        return
    city, shop = picked
    fraudster = Payee(
        id=f"pye-{random_hex(rng, 48)}", name=person_name(rng, city), account=account_number(rng)
    )
    start = at_local_hours(rng, t, city, _SHOP_HOURS)
    window = rng.randint(QR_SWAP_HOURS[0] * HOUR_MS, QR_SWAP_HOURS[1] * HOUR_MS)
    # Regulars of the shop and people from its district first, then anyone in town.
    locals_ = campaign.targets.by_city[city.name]
    near = [c for c in locals_ if c.district == shop.district or shop in c.merchants]
    rest = [c for c in locals_ if not (c.district == shop.district or shop in c.merchants)]
    wanted = rng.randint(*QR_SWAP_PAYERS)
    payers = rng.sample(near, k=min(len(near), wanted))
    if len(payers) < wanted and rest:
        payers += rng.sample(rest, k=min(len(rest), wanted - len(payers)))
    times = sorted(start + rng.randrange(window) for _ in payers)
    for at, payer in zip(times, payers, strict=True):
        _pay_fraudster(campaign, at, payer, city, shop, fraudster)


def _pay_fraudster(
    campaign: Campaign, t: int, payer: Customer, city: City, shop: Merchant, fraudster: Payee
) -> None:
    device, ip, where, base, value = at_the_shop(campaign, t, payer, city, shop, spread_deg=0.0008)
    t = campaign.wait(t, 5 * SECOND_MS, 60 * SECOND_MS)
    campaign.emit(
        t,
        "payment",
        payer.account_id,
        payer.city,
        device,
        ip,
        where,
        {**base, "funding": "balance"},
        amount=wire.amount(value, city.currency),
        payee=fraudster,
        channel="qr",
    )
