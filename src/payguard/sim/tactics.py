"""Building blocks the fraud typologies share: the campaign being built, who can be targeted,
attackers' devices and networks, and sessions on a real customer's own phone.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from random import Random
from typing import Any

from payguard.sim.legit import credit_request, event_request, geo, session_base
from payguard.sim.population import (
    CITIES,
    City,
    Customer,
    Device,
    Merchant,
    Payee,
    Population,
    account_number,
    new_device,
    person_name,
    random_hex,
)
from payguard.sim.wire import DAY_MS, HOUR_MS, MINUTE_MS


@dataclass(frozen=True, slots=True)
class Targets:
    """Customers whose accounts exist for the whole run, the pool attacks draw victims,
    recruited mules and scam payers from."""

    victims: tuple[Customer, ...]
    by_city: dict[str, tuple[Customer, ...]]
    by_currency: dict[str, tuple[Customer, ...]]

    @classmethod
    def of(cls, population: Population) -> Targets:
        victims = tuple(c for c in population.customers if c.opens_at is None)
        by_city: dict[str, list[Customer]] = {}
        by_currency: dict[str, list[Customer]] = {}
        for customer in victims:
            by_city.setdefault(customer.city.name, []).append(customer)
            by_currency.setdefault(customer.city.currency, []).append(customer)
        return cls(
            victims=victims,
            by_city={k: tuple(v) for k, v in by_city.items()},
            by_currency={k: tuple(v) for k, v in by_currency.items()},
        )


@dataclass(slots=True)
class Campaign:
    """One campaign's events as its typology builds them, each stamped with its time (in any
    order: several actors act at once)."""

    rng: Random
    population: Population
    targets: Targets
    events: list[tuple[int, dict[str, Any]]] = field(default_factory=list)

    def victim(self) -> Customer:
        return self.rng.choice(self.targets.victims)

    def emit(
        self,
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
        channel: str | None = None,
    ) -> None:
        """An event on `account_id`, stamped in `city`'s local time (the account's home)."""
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
            channel=channel,
        )
        self.events.append((t, request))

    def credit(
        self,
        t: int,
        account_id: str,
        city: City,
        amount: dict[str, str],
        source: str,
        *,
        payee: Payee | None = None,
    ) -> None:
        """Money booked into `account_id` by the back office (no device), from `payee`."""
        self.events.append((t, credit_request(t, account_id, city, amount, source, payee=payee)))

    def wait(self, t: int, low_ms: int, high_ms: int) -> int:
        """`t` plus a uniform pause in [low_ms, high_ms)."""
        return t + self.rng.randrange(low_ms, high_ms)

    def new_account(self, city: City) -> Payee:
        """A wallet account opened for the campaign, as a payee (its id is the account id)."""
        rng = self.rng
        return Payee(
            id=f"acc-{random_hex(rng, 48)}",
            name=person_name(rng, city),
            account=account_number(rng),
        )

    def city(self) -> City:
        """A city weighted like the population."""
        return self.rng.choices(CITIES, weights=[c.weight for c in CITIES])[0]


def attacker_device(
    rng: Random, *, web_share: float, emulator: float = 0.35, rooted: float = 0.2
) -> Device:
    """A device new to every victim, with the posture attackers' setups tend to have."""
    if rng.random() < web_share:
        return new_device(rng, kind="browser")
    return new_device(
        rng,
        kind="phone",
        os="android" if rng.random() < 0.8 else "ios",
        rooted=rng.random() < rooted,
        emulator=rng.random() < emulator,
    )


def attacker_network(
    rng: Random, population: Population, origin: City, device: Device, *, hosting: float
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
    return ip, where, session_base(rng, device)


def sim_age_hours(rng: Random) -> float:
    """Hours since an ordinary customer's SIM last changed, as a carrier check reports it."""
    return round(rng.uniform(1_500, 35_000), 1)


def own_session(
    campaign: Campaign, customer: Customer, *, where: dict[str, Any] | None = None
) -> tuple[Device, str, dict[str, Any], dict[str, Any]]:
    """A session on the customer's own usual phone: at home on the home network, or out at
    `where` on the city's mobile network. Returns the device, IP, location and base
    attributes."""
    rng = campaign.rng
    device = customer.devices[0]
    if where is None:
        where = geo(
            customer.home_lat + (rng.random() - 0.5) * 0.004,
            customer.home_lon + (rng.random() - 0.5) * 0.004,
            customer.city.country,
        )
        ip = rng.choice(customer.home_ips)
    else:
        ip = rng.choice(campaign.population.ips_by_city[customer.city.name])
    return device, ip, where, session_base(rng, device)


def own_login(
    campaign: Campaign,
    t: int,
    customer: Customer,
    device: Device,
    ip: str,
    where: dict[str, Any],
    base: dict[str, Any],
) -> None:
    """The customer unlocks their own app, as on any other day."""
    rng = campaign.rng
    attributes = {**base, "success": True, "method": "biometric" if rng.random() < 0.75 else "pin"}
    if customer.sim_check:
        attributes["sim_swap_hours"] = sim_age_hours(rng)
    campaign.emit(t, "login", customer.account_id, customer.city, device, ip, where, attributes)


def at_the_shop(
    campaign: Campaign,
    t: int,
    payer: Customer,
    city: City,
    shop: Merchant,
    *,
    spread_deg: float,
) -> tuple[Device, str, dict[str, Any], dict[str, Any], float]:
    """A customer standing at `shop` unlocks their own phone there, as on any other day.
    Returns the session (device, IP, location, base attributes) and what they would usually
    pay at such a shop, in the city's currency."""
    rng = campaign.rng
    where = geo(
        shop.lat + (rng.random() - 0.5) * spread_deg,
        shop.lon + (rng.random() - 0.5) * spread_deg,
        city.country,
    )
    device, ip, where, base = own_session(campaign, payer, where=where)
    own_login(campaign, t, payer, device, ip, where, base)
    category = shop.category
    value = (
        category.median_usd
        * payer.spending_level
        * math.exp(rng.gauss(0, category.spread))
        * city.usd_rate
    )
    return device, ip, where, base, value


def at_local_hours(rng: Random, t: int, city: City, hours: tuple[int, ...]) -> int:
    """The first moment at or after `t` that falls in one of `hours` (local to `city`), at a
    random minute of that hour."""
    offset = city.utc_offset_minutes * MINUTE_MS
    local = t + offset
    midnight = local - local % DAY_MS
    candidate = midnight + rng.choice(hours) * HOUR_MS + rng.randrange(HOUR_MS)
    if candidate < local:
        candidate += DAY_MS
    return candidate - offset
