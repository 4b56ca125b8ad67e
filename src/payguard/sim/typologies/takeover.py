"""Someone else gets into the account and empties it.

`account_takeover`: half the campaigns start with credential stuffing, a bot on one hosting IP
trying leaked passwords against many accounts (mostly failing, some succeeding); the others
take over one account whose password was phished (a few failures at most). Either way the
attacker then logs in from a phone and country the victim never used, changes a credential
to lock the owner out, adds a money mule as payee and drains the account to it within
minutes. Mules are reused across campaigns, as they are in practice.

`sim_swap`: the attacker has the victim's number moved to their own SIM, receives the
one-time code and logs in with it ("otp") from a phone new to the account, in the victim's
own country, within hours of the swap (the carrier's SIM-swap check reports hours since the
change, `sim_swap_hours`, when the partner has it); changes the password (and often the
email), adds a payee and pays out.
"""

from __future__ import annotations

from typing import Any

from payguard.sim import wire
from payguard.sim.legit import geo, round_to, session_base
from payguard.sim.population import CITIES, City, Customer, Device
from payguard.sim.tactics import Campaign, attacker_device, attacker_network, sim_age_hours
from payguard.sim.wire import HOUR_MS, MINUTE_MS, SECOND_MS

ATO_FAILED_LOGINS = (0, 4)
ATO_PAYMENTS = (1, 3)
ATO_WITHDRAWAL_CHANCE = 0.35
#: Share of takeover campaigns that start with credential stuffing, accounts a stuffing bot
#: tries, and the chance each attempt finds a reused password.
STUFFING_SHARE = 0.5
STUFFED_ACCOUNTS = (8, 30)
STUFFING_HIT = 0.15
#: Pause between the stuffing run and the takeover of an account it broke into.
STUFFING_TO_TAKEOVER_MS = (10 * MINUTE_MS, 6 * HOUR_MS)

SIM_SWAP_TO_LOGIN_MS = (5 * MINUTE_MS, 4 * HOUR_MS)
SIM_SWAP_PAYMENTS = (1, 3)

#: Login, credential change, payee addition, payments, maybe a withdrawal.
_TAKEOVER_EVENTS = 3 + (ATO_PAYMENTS[0] + ATO_PAYMENTS[1]) / 2 + ATO_WITHDRAWAL_CHANCE
_STUFFED_MEAN = (STUFFED_ACCOUNTS[0] + STUFFED_ACCOUNTS[1]) / 2
_STUFFING_EVENTS = _STUFFED_MEAN * 1.5 + max(1.0, _STUFFED_MEAN * STUFFING_HIT) * _TAKEOVER_EVENTS
_PHISHED_EVENTS = (ATO_FAILED_LOGINS[0] + ATO_FAILED_LOGINS[1]) / 2 + _TAKEOVER_EVENTS
ACCOUNT_TAKEOVER_MEAN_EVENTS = (
    STUFFING_SHARE * _STUFFING_EVENTS + (1 - STUFFING_SHARE) * _PHISHED_EVENTS
)
SIM_SWAP_MEAN_EVENTS = 0.4 + 1 + 1.5 + 1 + 2 + 0.3


def _drain(campaign: Campaign, victim: Customer) -> dict[str, str]:
    """A payout far above what the victim usually moves."""
    rng = campaign.rng
    home = victim.city
    value = victim.spending_level * rng.uniform(400, 2500) * home.usd_rate
    if rng.random() < 0.5:
        value = round_to(value, home.small_unit * 100)
    return wire.amount(value, home.currency)


def _cash_out(
    campaign: Campaign,
    t: int,
    victim: Customer,
    device: Device,
    ip: str,
    where: dict[str, Any] | None,
    base: dict[str, Any],
    *,
    payments: tuple[int, int],
    withdrawal: float,
) -> int:
    """Add a mule as payee and pay out to it fast; returns the time of the last event."""
    rng = campaign.rng
    account, home = victim.account_id, victim.city
    mule = rng.choice(campaign.population.mules)
    t = campaign.wait(t, 20 * SECOND_MS, 200 * SECOND_MS)
    attributes = {**base, "payee_source": "manual"}
    campaign.emit(t, "payee_add", account, home, device, ip, where, attributes, payee=mule)
    for _ in range(rng.randint(*payments)):
        t = campaign.wait(t, 15 * SECOND_MS, 120 * SECOND_MS)
        campaign.emit(
            t,
            "payment",
            account,
            home,
            device,
            ip,
            where,
            {**base, "funding": "balance"},
            amount=_drain(campaign, victim),
            payee=mule,
        )
    if rng.random() < withdrawal:
        t = campaign.wait(t, 15 * SECOND_MS, 120 * SECOND_MS)
        attributes = {**base, "destination_account": mule.account}
        campaign.emit(
            t,
            "withdrawal",
            account,
            home,
            device,
            ip,
            where,
            attributes,
            amount=_drain(campaign, victim),
        )
    return t


def _take_over(
    campaign: Campaign,
    t: int,
    victim: Customer,
    device: Device,
    ip: str,
    where: dict[str, Any] | None,
    base: dict[str, Any],
    *,
    failures: int,
) -> None:
    """Log in with the stolen password, lock the owner out, pay out to a mule."""
    rng = campaign.rng
    account, home = victim.account_id, victim.city
    swap: dict[str, Any] = {}
    if victim.sim_check:
        swap["sim_swap_hours"] = sim_age_hours(rng)
    for _ in range(failures):
        attributes = {**base, "success": False, "method": "password", **swap}
        campaign.emit(t, "login", account, home, device, ip, where, attributes)
        t = campaign.wait(t, 5 * SECOND_MS, 40 * SECOND_MS)
    method = "otp" if rng.random() < 0.5 else "password"
    attributes = {**base, "success": True, "method": method, **swap}
    campaign.emit(t, "login", account, home, device, ip, where, attributes)
    t = campaign.wait(t, 20 * SECOND_MS, 150 * SECOND_MS)
    credential = rng.choice(("phone", "email", "password"))
    attributes = {**base, "credential": credential, **swap}
    campaign.emit(t, "credential_change", account, home, device, ip, where, attributes)
    _cash_out(
        campaign,
        t,
        victim,
        device,
        ip,
        where,
        base,
        payments=ATO_PAYMENTS,
        withdrawal=ATO_WITHDRAWAL_CHANCE,
    )


def _foreign(campaign: Campaign, home: City) -> City:
    return campaign.rng.choice([c for c in CITIES if c.country != home.country])


def account_takeover(campaign: Campaign, t: int) -> None:
    """One takeover (or a stuffing run and the takeovers it leads to) starting at `t`."""
    rng = campaign.rng
    if rng.random() >= STUFFING_SHARE:
        victim = campaign.victim()
        origin = _foreign(campaign, victim.city)
        device = attacker_device(rng, web_share=0.2)
        ip, where, base = attacker_network(rng, campaign.population, origin, device, hosting=0.5)
        failures = rng.randint(*ATO_FAILED_LOGINS)
        _take_over(campaign, t, victim, device, ip, where, base, failures=failures)
        return

    # The stuffing bot: one browser on one hosting address, a few seconds per account.
    victims = campaign.targets.victims
    tried = rng.sample(victims, k=min(len(victims), rng.randint(*STUFFED_ACCOUNTS)))
    bot = attacker_device(rng, web_share=1.0)
    origin = _foreign(campaign, tried[0].city)
    bot_ip, _, bot_base = attacker_network(rng, campaign.population, origin, bot, hosting=1.0)
    broken: list[tuple[int, Customer]] = []
    for i, victim in enumerate(tried):
        hit = rng.random() < STUFFING_HIT or (not broken and i == len(tried) - 1)
        failures = rng.randint(0, 1) if hit else rng.randint(1, 2)
        for attempt in range(failures + hit):
            attributes = {**bot_base, "success": attempt == failures, "method": "password"}
            campaign.emit(t, "login", victim.account_id, victim.city, bot, bot_ip, None, attributes)
            t = campaign.wait(t, 2 * SECOND_MS, 15 * SECOND_MS)
        if hit:
            broken.append((t, victim))

    # The accounts it broke into are taken over later from the ring's phone, one at a time,
    # from a country none of those victims lives in.
    countries = {victim.city.country for _, victim in broken}
    abroad = [c for c in CITIES if c.country not in countries]
    if abroad:
        origin = rng.choice(abroad)
    phone = attacker_device(rng, web_share=0.0)
    ip, where, _ = attacker_network(rng, campaign.population, origin, phone, hosting=0.4)
    for _, victim in broken:
        t = campaign.wait(t, *STUFFING_TO_TAKEOVER_MS)
        base = session_base(rng, phone)
        _take_over(campaign, t, victim, phone, ip, where, base, failures=0)
        t = max(time for time, _ in campaign.events)


def sim_swap(campaign: Campaign, t: int) -> None:
    """The SIM is swapped at `t` (at the carrier, unseen); the takeover follows within hours."""
    rng = campaign.rng
    victim = campaign.victim()
    home = victim.city
    account = victim.account_id
    swapped = t
    # A real phone with the victim's number in it, used locally.
    device = attacker_device(rng, web_share=0.0, emulator=0.05, rooted=0.15)
    ip, _, base = attacker_network(rng, campaign.population, home, device, hosting=0.2)
    where = geo(home.lat + rng.gauss(0, 0.05), home.lon + rng.gauss(0, 0.05), home.country)

    def swap(at: int) -> dict[str, Any]:
        if not victim.sim_check:
            return {}
        return {"sim_swap_hours": round((at - swapped) / HOUR_MS, 1)}

    t = campaign.wait(t, *SIM_SWAP_TO_LOGIN_MS)
    if rng.random() < 0.4:
        attributes = {**base, "success": False, "method": "password", **swap(t)}
        campaign.emit(t, "login", account, home, device, ip, where, attributes)
        t = campaign.wait(t, 20 * SECOND_MS, 90 * SECOND_MS)
    attributes = {**base, "success": True, "method": "otp", **swap(t)}
    campaign.emit(t, "login", account, home, device, ip, where, attributes)
    credentials = ["password"]
    if rng.random() < 0.5:
        credentials.append(rng.choice(("email", "pin")))
    for credential in credentials:
        t = campaign.wait(t, 20 * SECOND_MS, 120 * SECOND_MS)
        attributes = {**base, "credential": credential, **swap(t)}
        campaign.emit(t, "credential_change", account, home, device, ip, where, attributes)
    _cash_out(
        campaign,
        t,
        victim,
        device,
        ip,
        where,
        base,
        payments=SIM_SWAP_PAYMENTS,
        withdrawal=0.3,
    )
