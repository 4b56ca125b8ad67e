"""Card data stolen at a merchant's terminal.

`compromised_terminal`: a shop's card terminal is tampered with (a shimmer in the reader, a
swapped terminal, malware on the till) for two to four weeks. Every card payment made through
it in that window is compromised: the shop's regulars and neighbours pay there as usual, from
their own phones, at the shop, by `nfc` with one of their own cards, for their usual sort of
amount. Nothing about those payments looks wrong; the signal is the merchant: as the
cardholders find their cards misused and dispute the charges, the issuers' common-point-of-
purchase analysis traces the cards back to this terminal, and the partner learns, payment by
payment, that the terminal's payments were compromised. Like the compromised-terminal scenario
of the "Reproducible Machine Learning for Credit Card Fraud Detection" handbook (every
transaction at the terminal in the following 28 days is fraud), the payments at the terminal
carry the label, so the merchant's known-fraud count and rate rise while the compromise is
still under way.
"""

from __future__ import annotations

from payguard.sim import wire
from payguard.sim.population import CITIES, City, Customer, Merchant
from payguard.sim.tactics import Campaign, at_local_hours, at_the_shop
from payguard.sim.wire import DAY_MS, SECOND_MS

#: How long the terminal stays compromised, in days, and the compromised card payments it
#: takes a day (on top of the shop's own traffic, 15-40 payments a day).
TERMINAL_DAYS = (14, 28)
TERMINAL_PAYMENTS_PER_DAY = (1.0, 3.0)
#: Relative chance that a compromised payment is a regular's (the shop is one of their usual
#: merchants) rather than a neighbour's (they live in the shop's district).
TERMINAL_REGULAR_WEIGHT = 3.0
#: Transit gates are not where card data gets skimmed.
_TRANSIT_MCC = "4111"
_SHOP_HOURS = tuple(range(8, 21))
_REGULAR_DRAWS = 20

COMPROMISED_TERMINAL_MEAN_EVENTS = (
    2
    * (TERMINAL_DAYS[0] + TERMINAL_DAYS[1])
    / 2
    * (TERMINAL_PAYMENTS_PER_DAY[0] + TERMINAL_PAYMENTS_PER_DAY[1])
    / 2
)


def _terminal_shop(campaign: Campaign) -> tuple[City, Merchant] | None:
    """A shop where people tap cards (weighted away from QR-first cities), picked through a
    customer who shops there with a card."""
    rng = campaign.rng
    by_city = campaign.targets.by_city
    cities = [c for c in CITIES if c.name in by_city]
    if not cities:
        return None
    weights = [(1 - c.qr_share) * len(by_city[c.name]) for c in cities]
    city = rng.choices(cities, weights=weights)[0]
    # Three in four customers have a card: a few draws find one (no scan of the city).
    for _ in range(_REGULAR_DRAWS):
        regular = rng.choice(by_city[city.name])
        if regular.cards:
            shops = [m for m in regular.merchants if m.category.mcc != _TRANSIT_MCC]
            return city, rng.choice(shops or list(regular.merchants))
    return None


def _card_holders(
    campaign: Campaign, city: City, shop: Merchant
) -> tuple[list[Customer], list[float]]:
    """Who pays at the shop with a card: its regulars and its neighbours, regulars more often
    (at least the customer the shop was picked through)."""
    holders: list[Customer] = []
    weights: list[float] = []
    for customer in campaign.targets.by_city[city.name]:
        if not customer.cards:
            continue
        if shop in customer.merchants:
            holders.append(customer)
            weights.append(TERMINAL_REGULAR_WEIGHT)
        elif customer.district == shop.district:
            holders.append(customer)
            weights.append(1.0)
    return holders, weights


def compromised_terminal(campaign: Campaign, t: int) -> None:
    """The card payments through one shop's compromised terminal, for two to four weeks from
    `t` on (each in the shop's opening hours)."""
    rng = campaign.rng
    picked = _terminal_shop(campaign)
    if picked is None:
        return
    city, shop = picked
    holders, weights = _card_holders(campaign, city, shop)
    if not holders:
        return
    days = rng.randint(*TERMINAL_DAYS)
    per_day = rng.uniform(*TERMINAL_PAYMENTS_PER_DAY)
    # The first card is read the day the terminal is tampered with, the rest over the
    # window; opening hours move a payment by less than a day, so all fall in [t, t + days).
    times = [at_local_hours(rng, t, city, _SHOP_HOURS)]
    for _ in range(max(0, round(days * per_day) - 1)):
        times.append(at_local_hours(rng, t + rng.randrange((days - 1) * DAY_MS), city, _SHOP_HOURS))
    for at in sorted(times):
        payer = rng.choices(holders, weights=weights)[0]
        _pay_at_terminal(campaign, at, payer, city, shop)


def _pay_at_terminal(
    campaign: Campaign, t: int, payer: Customer, city: City, shop: Merchant
) -> None:
    """One card payment at the shop, as the customer makes any other: login, then tap."""
    rng = campaign.rng
    device, ip, where, base, value = at_the_shop(campaign, t, payer, city, shop, spread_deg=0.001)
    t = campaign.wait(t, 3 * SECOND_MS, 90 * SECOND_MS)
    campaign.emit(
        t,
        "payment",
        payer.account_id,
        payer.city,
        device,
        ip,
        where,
        {**base, **rng.choice(payer.cards).attributes()},
        amount=wire.amount(value, city.currency),
        merchant=shop,
        channel="nfc",
    )
