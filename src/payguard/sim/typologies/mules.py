"""`money_mule`: a wallet account that launders scam proceeds.

The mule is either an existing customer recruited for a cut (on their own phone, or on a
handler's) or an account opened for the purpose on a fresh phone. Over hours to a few days,
many unrelated customers (victims of fake sales, romance and investment scams) each add the
mule as a new payee and pay it; each transfer lands on the mule's account as a `deposit`
(`source: "transfer_in"`, `payee`: the sender). Within minutes to hours of money landing, the
mule passes nearly all of it on (keeping a cut): a withdrawal to a cash-out bank account, or
a payment to a next-layer payee added just before.

Every event of the campaign is labelled `money_mule`: the mule's own (deposits in, logins,
payouts) and the senders' logins, payee additions and payments to it.
"""

from __future__ import annotations

from typing import Any

from payguard.sim import wire
from payguard.sim.legit import convert, geo, round_to, session_base
from payguard.sim.population import (
    City,
    Customer,
    Device,
    Payee,
    account_number,
    new_device,
    person_name,
    random_hex,
)
from payguard.sim.tactics import Campaign, own_login, own_session
from payguard.sim.wire import DAY_MS, HOUR_MS, MINUTE_MS, SECOND_MS

MULE_SENDERS = (6, 20)
#: Share of mules that are recruited customers, and of those who use their own phone.
RECRUITED_SHARE = 0.5
OWN_PHONE_SHARE = 0.7
#: Over how long the senders pay, and how soon the money moves on.
INFLOW_SPAN_MS = (6 * HOUR_MS, 3 * DAY_MS)
PASS_THROUGH_MS = (5 * MINUTE_MS, 6 * HOUR_MS)
#: Chance that the mule moves the money on after a transfer lands (always after the last).
PASS_THROUGH_CHANCE = 0.5
#: What a victim sends, in US dollars at spending level 1 (log-normal median and spread).
SENT_MEDIAN_USD, SENT_SPREAD = 300.0, 0.6
#: What the mule passes on of what came in: the rest is their cut.
PASSED_ON = (0.88, 0.98)

_SENDERS_MEAN = (MULE_SENDERS[0] + MULE_SENDERS[1]) / 2
MONEY_MULE_MEAN_EVENTS = (
    (1 - RECRUITED_SHARE) * 2
    + _SENDERS_MEAN * 4
    + (_SENDERS_MEAN * PASS_THROUGH_CHANCE + 1) * (1 + 1.4)
)


def money_mule(campaign: Campaign, t: int) -> None:
    """One mule account's run, from its opening (or recruitment) at `t`."""
    rng = campaign.rng
    recruited = rng.random() < RECRUITED_SHARE
    opened: Payee | None = None
    if recruited:
        customer = campaign.victim()
        city, mule = customer.city, customer.as_payee
        if rng.random() < OWN_PHONE_SHARE:
            device, ip, where, _ = own_session(campaign, customer)
        else:
            device, ip, where = _handler(campaign, city)
    else:
        city = campaign.city()
        opened = mule = campaign.new_account(city)
        device, ip, where = _handler(campaign, city)

    def mule_session(at: int, method: str = "biometric") -> dict[str, Any]:
        """The mule unlocks the app; returns the session's base attributes."""
        base = session_base(rng, device)
        attributes = {**base, "success": True, "method": method}
        campaign.emit(at, "login", mule.id, city, device, ip, where, attributes)
        return base

    if opened is not None:
        attributes = {**session_base(rng, device), "kyc_level": "basic"}
        campaign.emit(t, "account_open", mule.id, city, device, ip, where, attributes)
        t = campaign.wait(t, 30 * SECOND_MS, 5 * MINUTE_MS)
        mule_session(t, "otp")

    pool = [
        c for c in campaign.targets.by_currency.get(city.currency, ()) if c.account_id != mule.id
    ]
    if not pool:
        pool = [c for c in campaign.targets.victims if c.account_id != mule.id]
    senders = rng.sample(pool, k=min(len(pool), rng.randint(*MULE_SENDERS)))
    span = rng.randrange(*INFLOW_SPAN_MS)
    times = sorted(t + 10 * MINUTE_MS + rng.randrange(span) for _ in senders)
    cash_out = account_number(rng)
    held = 0.0
    for n, (at, sender) in enumerate(zip(times, senders, strict=True)):
        landed = _victim_pays(campaign, at, sender, mule, city)
        held += landed[1]
        if n == len(senders) - 1 or rng.random() < PASS_THROUGH_CHANCE:
            at = campaign.wait(landed[0], *PASS_THROUGH_MS)
            base = mule_session(at)
            at = campaign.wait(at, 10 * SECOND_MS, 2 * MINUTE_MS)
            value = round_to(held * rng.uniform(*PASSED_ON), city.small_unit * 10)
            amount = wire.amount(value, city.currency)
            held = 0.0
            if rng.random() < 0.6:
                attributes = {**base, "destination_account": cash_out}
                campaign.emit(
                    at, "withdrawal", mule.id, city, device, ip, where, attributes, amount=amount
                )
                continue
            onward = Payee(
                id=f"pye-{random_hex(rng, 48)}",
                name=person_name(rng, city),
                account=account_number(rng),
            )
            attributes = {**base, "payee_source": "manual"}
            campaign.emit(
                at, "payee_add", mule.id, city, device, ip, where, attributes, payee=onward
            )
            at = campaign.wait(at, 15 * SECOND_MS, 2 * MINUTE_MS)
            campaign.emit(
                at,
                "payment",
                mule.id,
                city,
                device,
                ip,
                where,
                {**base, "funding": "balance"},
                amount=amount,
                payee=onward,
            )


def _handler(campaign: Campaign, city: City) -> tuple[Device, str, dict[str, Any]]:
    """A phone the mule herder hands out, on the city's mobile network."""
    rng = campaign.rng
    device = new_device(rng, kind="phone", os="android")
    ip = rng.choice(campaign.population.ips_by_city[city.name])
    where = geo(city.lat + rng.gauss(0, 0.04), city.lon + rng.gauss(0, 0.04), city.country)
    return device, ip, where


def _victim_pays(
    campaign: Campaign, t: int, sender: Customer, mule: Payee, city: City
) -> tuple[int, float]:
    """A scammed customer pays the mule as a new payee; returns when and how much (in the
    mule's currency) lands on the mule's account."""
    rng = campaign.rng
    home = sender.city
    device, ip, where, base = own_session(campaign, sender)
    own_login(campaign, t, sender, device, ip, where, base)
    t = campaign.wait(t, 20 * SECOND_MS, 2 * MINUTE_MS)
    source = "manual" if rng.random() < 0.8 else "contacts"
    account = sender.account_id
    attributes = {**base, "payee_source": source}
    campaign.emit(t, "payee_add", account, home, device, ip, where, attributes, payee=mule)
    t = campaign.wait(t, 15 * SECOND_MS, 2 * MINUTE_MS)
    value = rng.lognormvariate(0, SENT_SPREAD) * SENT_MEDIAN_USD * sender.spending_level
    value = value * home.usd_rate
    if rng.random() < 0.5:
        value = round_to(value, home.small_unit * 10)
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
        payee=mule,
    )
    t = campaign.wait(t, SECOND_MS, 8 * SECOND_MS)
    landed = convert(value, home, city)
    amount = wire.amount(landed, city.currency)
    campaign.credit(t, mule.id, city, amount, "transfer_in", payee=sender.as_payee)
    return t, float(amount["value"])
