"""Legitimate customer traffic: a daily rhythm of sessions that each start with a login.

Each customer draws from their own `random.Random`, derived from the seed and their position,
so what a customer does never depends on how the merge interleaves them with everyone else.
Days are planned one at a time and sessions built one at a time, only as the merge asks.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Iterator, Sequence
from itertools import accumulate
from random import Random
from typing import Any, TypeVar

from payguard.sim import wire
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
from payguard.sim.wire import DAY_MS, HOUR_MS, MINUTE_MS, SECOND_MS

T = TypeVar("T")

#: Relative session starts per local hour: quiet nights, lunch and evening peaks.
_WEEKDAY_HOURS = (
    1.0, 0.5, 0.25, 0.15, 0.15, 0.4, 1.5, 4.0, 6.0, 5.0, 4.5, 5.5,
    9.0, 8.0, 5.0, 4.5, 4.5, 6.0, 8.5, 9.0, 8.5, 6.5, 4.0, 2.0,
)  # fmt: skip
#: Weekends start later, stay busier through the afternoon and run later into the night.
_WEEKEND_HOURS = (
    1.8, 1.0, 0.5, 0.3, 0.2, 0.3, 0.6, 1.5, 3.0, 4.5, 5.5, 6.5,
    8.5, 8.5, 7.0, 6.5, 6.5, 7.0, 8.5, 9.0, 8.5, 7.0, 5.0, 3.0,
)  # fmt: skip
_HOURS = tuple(range(24))
_WEEKDAY_CUM = tuple(accumulate(_WEEKDAY_HOURS))
_WEEKEND_CUM = tuple(accumulate(_WEEKEND_HOURS))
#: Sessions on a Saturday or Sunday relative to a weekday.
WEEKEND_ACTIVITY = 1.15

#: Session kinds: (name, weight, mean events after the login).
_SESSIONS: tuple[tuple[str, float, float], ...] = (
    ("shop", 0.52, 1.25),
    ("online", 0.13, 1.0),
    ("p2p", 0.12, 1.0),
    ("browse", 0.15, 0.0),
    ("new_payee", 0.04, 2.0),
    ("withdrawal", 0.03, 1.0),
    ("credential", 0.005, 1.0),
)
_SESSION_KINDS = tuple(kind for kind, _, _ in _SESSIONS)
_SESSION_CUM = tuple(accumulate(weight for _, weight, _ in _SESSIONS))
#: Legitimate users mistype too, so a failed login alone is not a fraud signal.
FAILED_LOGIN_SHARE = 0.03
MEAN_EVENTS_PER_SESSION = (
    1.0 + FAILED_LOGIN_SHARE + sum(w * n for _, w, n in _SESSIONS) / sum(w for _, w, _ in _SESSIONS)
)

#: Daily chances of a trip abroad and of a phone upgrade: legitimate sources of the new-geo
#: and new-device signals that account takeovers also show.
TRIP_CHANCE = 0.004
NEW_PHONE_CHANCE = 0.0015


def expected_events_per_day(customer: Customer) -> float:
    """Average legitimate events a day for `customer`, used to size the attack traffic."""
    return customer.sessions_per_day * (5 + 2 * WEEKEND_ACTIVITY) / 7 * MEAN_EVENTS_PER_SESSION


def _pick(rng: Random, options: Sequence[T]) -> T:
    """`rng.choice` without its rejection sampling: a negligible bias, several times faster."""
    return options[int(rng.random() * len(options))]


def _between(rng: Random, low: int, high: int) -> int:
    """A uniform integer in [low, high); the fast counterpart of `rng.randrange`."""
    return low + int(rng.random() * (high - low))


def poisson(rng: Random, mean: float) -> int:
    """A Poisson draw (Knuth's method: fine for the small means used here)."""
    limit = math.exp(-mean)
    count = 0
    product = rng.random()
    while product > limit:
        count += 1
        product *= rng.random()
    return count


def round_to(value: float, unit: float) -> float:
    """`value` rounded to a multiple of `unit`, at least one unit: people send round sums."""
    return max(unit, round(value / unit) * unit)


def event_request(
    t: int,
    event_type: str,
    account_id: str,
    place: City,
    device: Device,
    ip: str,
    where: dict[str, Any] | None,
    attributes: dict[str, Any],
    *,
    amount: dict[str, str] | None = None,
    payee: Payee | None = None,
    merchant: Merchant | None = None,
    channel: str | None = None,
) -> dict[str, Any]:
    """The wire-format request for one simulated event, stamped in `place`'s local time."""
    if channel is None:
        channel = "web" if device.kind == "browser" else "app"
    return wire.request(
        event_type=event_type,
        occurred_at=wire.timestamp(t, place.utc_offset_minutes),
        account_id=account_id,
        amount=amount,
        payee=None if payee is None else payee.wire(),
        merchant=None if merchant is None else merchant.wire(),
        device=device.wire(),
        ip=ip,
        geo=None if where is None else where.copy(),
        channel=channel,
        attributes=attributes,
    )


def geo(lat: float, lon: float, country: str) -> dict[str, Any]:
    """A wire geo point, rounded to about 10 m."""
    return {"lat": round(lat, 4), "lon": round(lon, 4), "country": country}


class CustomerActivity:
    """One customer's legitimate events in time order, as `(t_ms, stream, request)`."""

    def __init__(
        self,
        customer: Customer,
        population: Population,
        *,
        seed: int,
        start_ms: int,
        end_ms: int | None,
        stream: int,
    ) -> None:
        self._c = customer
        self._pop = population
        self._rng = Random(f"payguard-sim:{seed}:customer:{customer.position}")
        self._start = start_ms
        self._end = end_ms
        self._stream = stream
        self._phone = customer.devices[0]
        self._browser = customer.devices[1] if len(customer.devices) > 1 else None
        self._fresh_device = False
        self._payees = list(customer.payees)
        self._trip: City | None = None
        self._trip_days = 0
        self._opens_at: int | None = None
        if customer.opens_at is not None:
            span = DAY_MS if end_ms is None else end_ms - start_ms
            self._opens_at = start_ms + int(customer.opens_at * span)
        self._t = start_ms - DAY_MS
        self._out: list[tuple[int, dict[str, Any]]] = []

    def __iter__(self) -> Iterator[tuple[int, int, dict[str, Any]]]:
        # Only one session is built ahead of the merge: buffering whole days for thousands of
        # customers keeps enough objects alive to make the garbage collector the bottleneck.
        rng = self._rng
        out = self._out
        end = self._end
        home = self._c.city
        day = (self._start + home.utc_offset_minutes * MINUTE_MS) // DAY_MS
        while True:
            place = self._next_day()
            midnight = day * DAY_MS - place.utc_offset_minutes * MINUTE_MS
            if end is not None and midnight >= end:
                return
            starts = iter(self._plan_day(day, midnight, place))
            while True:
                for t, req in out:
                    if end is not None and t >= end:
                        return
                    yield t, self._stream, req
                out.clear()
                planned = next(starts, None)
                if planned is None:
                    break
                if planned < self._start:
                    # Sessions cut by the start of the run are left out whole.
                    continue
                # Sessions never overlap, which keeps the stream in time order by construction.
                earliest = self._t + 20 * SECOND_MS
                self._session(
                    planned if planned > earliest else earliest + _between(rng, 0, MINUTE_MS)
                )
            day += 1

    def _next_day(self) -> City:
        rng = self._rng
        if self._trip is not None:
            self._trip_days -= 1
            if self._trip_days <= 0:
                self._trip = None
        elif rng.random() < TRIP_CHANCE:
            self._trip = _pick(rng, [c for c in CITIES if c is not self._c.city])
            self._trip_days = rng.randint(2, 6)
        if rng.random() < NEW_PHONE_CHANCE:
            self._phone = new_device(self._rng, kind="phone")
            self._fresh_device = True
        return self._trip or self._c.city

    def _plan_day(self, day: int, midnight: int, place: City) -> list[int]:
        """Session start times for one local day; emits the account opening if it falls due."""
        rng = self._rng
        weekend = (day + 3) % 7 >= 5  # day 0 (1970-01-01) was a Thursday
        mean = self._c.sessions_per_day * (WEEKEND_ACTIVITY if weekend else 1.0)
        count = poisson(rng, mean)
        hours = rng.choices(_HOURS, cum_weights=_WEEKEND_CUM if weekend else _WEEKDAY_CUM, k=count)
        starts = sorted(midnight + h * HOUR_MS + _between(rng, 0, HOUR_MS) for h in hours)
        opens_at = self._opens_at
        if opens_at is not None:
            if opens_at >= midnight + DAY_MS:
                return []
            starts = [t for t in starts if t > opens_at]
            self._opening(opens_at, place)
            self._opens_at = None
        return starts

    def _emit(
        self,
        t: int,
        event_type: str,
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
        request = event_request(
            t,
            event_type,
            self._c.account_id,
            self._trip or self._c.city,
            device,
            ip,
            where,
            attributes,
            amount=amount,
            payee=payee,
            merchant=merchant,
            channel=channel,
        )
        self._out.append((t, request))
        self._t = t

    def _opening(self, t: int, place: City) -> None:
        rng = self._rng
        c = self._c
        where = geo(c.home_lat, c.home_lon, place.country)
        ip = c.home_ips[0]
        session = f"ses-{random_hex(rng, 48)}"
        base = {"session_id": session, "os": self._phone.os}
        self._emit(t, "account_open", self._phone, ip, where, {**base, "kyc_level": "basic"})
        t += _between(rng, 30 * SECOND_MS, 5 * MINUTE_MS)
        self._emit(
            t, "login", self._phone, ip, where, {**base, "result": "success", "method": "password"}
        )

    def _session(self, t: int) -> None:
        rng = self._rng
        c = self._c
        trip = self._trip
        city = trip or c.city
        kind = _SESSION_KINDS[bisect_right(_SESSION_CUM, rng.random() * _SESSION_CUM[-1])]

        device = self._phone
        if kind != "shop" and self._browser is not None and rng.random() < 0.35:
            device = self._browser
        shop: Merchant | None = None
        where: dict[str, Any] | None = None
        if kind == "shop":
            if trip is not None or rng.random() < 0.15:
                shop = _pick(rng, self._pop.merchants_by_city[city.name])
            else:
                shop = _pick(rng, c.merchants)
            where = geo(
                shop.lat + (rng.random() - 0.5) * 0.001,
                shop.lon + (rng.random() - 0.5) * 0.001,
                city.country,
            )
        elif device.kind == "phone":
            if trip is not None:
                lat, lon = city.lat + rng.gauss(0, 0.03), city.lon + rng.gauss(0, 0.03)
            elif rng.random() < 0.7:
                lat = c.home_lat + (rng.random() - 0.5) * 0.004
                lon = c.home_lon + (rng.random() - 0.5) * 0.004
            else:
                lat, lon = c.city.lat + rng.gauss(0, 0.04), c.city.lon + rng.gauss(0, 0.04)
            where = geo(lat, lon, city.country)

        if trip is not None:
            if rng.random() < 0.05:
                ip = _pick(rng, self._pop.hosting_ips)
            else:
                ip = _pick(rng, self._pop.ips_by_city[trip.name])
        elif device.kind == "browser" or (kind != "shop" and rng.random() < 0.6):
            ip = _pick(rng, c.home_ips)
        else:
            ip = _pick(rng, self._pop.ips_by_city[c.city.name])

        base = {"session_id": f"ses-{random_hex(rng, 48)}", "os": device.os}
        if device.kind == "browser":
            method = "password"
        else:
            roll = rng.random()
            method = "biometric" if roll < 0.7 else "pin" if roll < 0.9 else "password"
        if self._fresh_device and device is self._phone:
            method = "otp"
            self._fresh_device = False
        if rng.random() < FAILED_LOGIN_SHARE:
            self._emit(
                t, "login", device, ip, where, {**base, "result": "failure", "method": method}
            )
            t += _between(rng, 4 * SECOND_MS, 40 * SECOND_MS)
        self._emit(t, "login", device, ip, where, {**base, "result": "success", "method": method})
        t += _between(rng, 3 * SECOND_MS, 90 * SECOND_MS)

        if kind == "shop":
            assert shop is not None
            self._pay_shop(t, shop, device, ip, where, base)
            if rng.random() < 0.25:
                t = self._t + _between(rng, 2 * MINUTE_MS, 20 * MINUTE_MS)
                shop = _pick(
                    rng, c.merchants if trip is None else self._pop.merchants_by_city[city.name]
                )
                self._pay_shop(t, shop, device, ip, geo(shop.lat, shop.lon, city.country), base)
        elif kind == "online":
            if rng.random() < 0.85:
                merchant = _pick(rng, c.online_merchants)
            else:
                merchant = _pick(rng, self._pop.online_merchants)
            category = merchant.category
            value = category.median_usd * c.spending_level * rng.lognormvariate(0, category.spread)
            self._emit(
                t,
                "payment",
                device,
                ip,
                where,
                {**base, **self._funding(0.6)},
                amount=wire.amount(value * c.city.usd_rate, c.city.currency),
                merchant=merchant,
            )
        elif kind == "p2p":
            self._send(t, _pick(rng, self._payees), device, ip, where, base)
        elif kind == "new_payee":
            payee = self._new_payee()
            source = _pick(rng, ("contacts", "contacts", "manual", "qr_scan"))
            self._emit(
                t, "payee_add", device, ip, where, {**base, "payee_source": source}, payee=payee
            )
            self._payees.append(payee)
            self._send(
                t + _between(rng, 15 * SECOND_MS, 3 * MINUTE_MS), payee, device, ip, where, base
            )
        elif kind == "withdrawal":
            home = c.city
            value = rng.lognormvariate(math.log(150), 0.6) * c.spending_level * home.usd_rate
            self._emit(
                t,
                "withdrawal",
                device,
                ip,
                where,
                {**base, "destination_account": c.bank_account},
                amount=wire.amount(round_to(value, home.small_unit * 10), home.currency),
            )
        elif kind == "credential":
            credential = _pick(rng, ("password", "password", "pin", "email", "phone"))
            self._emit(
                t, "credential_change", device, ip, where, {**base, "credential": credential}
            )

    def _pay_shop(
        self,
        t: int,
        shop: Merchant,
        device: Device,
        ip: str,
        where: dict[str, Any] | None,
        base: dict[str, Any],
    ) -> None:
        rng = self._rng
        city = shop.city
        assert city is not None
        category = shop.category
        value = (
            category.median_usd * self._c.spending_level * rng.lognormvariate(0, category.spread)
        )
        transit = category.mcc == "4111"
        channel = "nfc" if transit or rng.random() >= city.qr_share else "qr"
        self._emit(
            t,
            "payment",
            device,
            ip,
            where,
            {**base, **self._funding(0.3)},
            amount=wire.amount(value * city.usd_rate, city.currency),
            merchant=shop,
            channel=channel,
        )

    def _send(
        self,
        t: int,
        payee: Payee,
        device: Device,
        ip: str,
        where: dict[str, Any] | None,
        base: dict[str, Any],
    ) -> None:
        rng = self._rng
        home = self._c.city
        value = rng.lognormvariate(math.log(40), 0.9) * self._c.spending_level * home.usd_rate
        if rng.random() < 0.4:
            value = round_to(value, home.small_unit * 10)
        self._emit(
            t,
            "payment",
            device,
            ip,
            where,
            {**base, "funding": "balance"},
            amount=wire.amount(value, home.currency),
            payee=payee,
        )

    def _new_payee(self) -> Payee:
        rng = self._rng
        customers = self._pop.customers
        if len(customers) > 1 and rng.random() < 0.5:
            other = _pick(rng, customers)
            if other is not self._c:
                return other.as_payee
        return Payee(
            id=f"pye-{random_hex(rng, 48)}",
            name=person_name(rng, self._c.city),
            account=account_number(rng),
        )

    def _funding(self, card_share: float) -> dict[str, Any]:
        cards = self._c.cards
        if cards and self._rng.random() < card_share:
            return _pick(self._rng, cards).attributes()
        return {"funding": "balance"}
