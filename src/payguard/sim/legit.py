"""Legitimate customer traffic: a daily rhythm of sessions that each start with a login.

Each customer draws from their own `random.Random`, derived from the seed and their position,
so what a customer does never depends on how the merge interleaves them with everyone else.
Days are planned one at a time and sessions built one at a time, only as the merge asks.

Money comes in as well as going out: salaries (for customers paid into the wallet), top-ups
from a bank account or card before spending, transfers from other customers (booked on the
receiver's account by the sender's stream, a few seconds after the sender's payment) and
refunds of online purchases. Salaries and top-ups are sized to the customer's spending, so
what comes in and what goes out match over a month.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Callable, Iterator, Sequence
from heapq import heapify, heappop, heappush
from itertools import accumulate
from random import Random
from typing import Any, ClassVar, TypeVar

from payguard.sim import wire
from payguard.sim.population import (
    BIWEEKLY_SHARE,
    CATEGORIES,
    CITIES,
    PUBLIC_PROMO_CODES,
    SALARIED_SHARE,
    SALARIED_TOP_UP_SHARE,
    SESSIONS_MEDIAN,
    SESSIONS_SPREAD,
    TOP_UP_SHARE,
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
    referral_code,
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

#: Shares of legitimate sessions by what they do after the login (relative weights, divided
#: by their sum when drawn): pay in a shop, pay an online merchant, send money to a usual payee,
#: only look, add a payee and send them money, withdraw to the bank account, change a credential.
SHOP_SHARE = 0.52
ONLINE_SHARE = 0.13
P2P_SHARE = 0.12
BROWSE_SHARE = 0.15
NEW_PAYEE_SHARE = 0.04
WITHDRAWAL_SHARE = 0.03
CREDENTIAL_SHARE = 0.005
#: Chance that a shop session goes on to pay in a second shop a few minutes later.
SECOND_SHOP_CHANCE = 0.25
#: Chance that a shop visit in the home city is not at one of the customer's usual merchants.
OTHER_SHOP_CHANCE = 0.15
#: Chance that a session other than a shop visit is on the customer's browser, if they have one.
BROWSER_CHANCE = 0.35
#: Chance that a phone session other than a shop visit, at home, is on the home network.
HOME_NETWORK_CHANCE = 0.6
#: Chance that an online purchase is from one of the customer's usual online merchants.
USUAL_ONLINE_MERCHANT_CHANCE = 0.85
#: Chance that an online or in-shop payment is paid by card (if the customer has one) rather
#: than from the balance.
ONLINE_CARD_SHARE = 0.6
SHOP_CARD_SHARE = 0.3
#: Chance that a new payee is another customer (their wallet) rather than an outside account.
PAYEE_IS_CUSTOMER_CHANCE = 0.5
#: Where new payees come from, and which credentials people change (drawn uniformly).
_PAYEE_SOURCES = ("contacts", "contacts", "manual", "qr_scan")
_CREDENTIALS = ("password", "password", "pin", "email", "phone")

#: Session kinds: (name, share, mean events after the login). `CustomerActivity` has one
#: method per kind for what the session does.
_SESSIONS: tuple[tuple[str, float, float], ...] = (
    ("shop", SHOP_SHARE, 1 + SECOND_SHOP_CHANCE),
    ("online", ONLINE_SHARE, 1.0),
    ("p2p", P2P_SHARE, 1.0),
    ("browse", BROWSE_SHARE, 0.0),
    ("new_payee", NEW_PAYEE_SHARE, 2.0),
    ("withdrawal", WITHDRAWAL_SHARE, 1.0),
    ("credential", CREDENTIAL_SHARE, 1.0),
)
_SESSION_KINDS = tuple(kind for kind, _, _ in _SESSIONS)
_SESSION_CUM = tuple(accumulate(weight for _, weight, _ in _SESSIONS))
_SESSION_WEIGHT = _SESSION_CUM[-1]
#: Sessions in which money goes out (a top-up may come first).
_SPENDING = frozenset({"shop", "online", "p2p", "new_payee", "withdrawal"})
_SPENDING_SHARE = sum(w for kind, w, _ in _SESSIONS if kind in _SPENDING) / _SESSION_WEIGHT
#: Legitimate users mistype too, so a failed login alone is not a fraud signal.
FAILED_LOGIN_SHARE = 0.03

#: Typical P2P transfer and cash withdrawal in US dollars at spending level 1 (log-normal
#: medians and spreads).
P2P_MEDIAN_USD, P2P_SPREAD = 40.0, 0.9
WITHDRAWAL_MEDIAN_USD, WITHDRAWAL_SPREAD = 150.0, 0.6
#: Chance that a spending session of a customer who tops up starts with a top-up.
TOP_UP_CHANCE = 0.15
#: Chance that an online purchase is refunded, and how long the refund takes.
REFUND_CHANCE = 0.04
REFUND_DELAY_MS = (DAY_MS, 14 * DAY_MS)
#: Salaries cover spending with this much to spare.
INCOME_TO_SPENDING = 1.2
#: Share of legitimate sessions with a remote-access or screen-sharing app running (help from
#: family, IT support), so the signal alone does not mean a scam.
REMOTE_ACCESS_SHARE = 0.002
#: Share of newcomers who open their account with a promotion or referral code.
NEWCOMER_PROMO_SHARE = 0.4

#: Daily chances of a trip abroad and of a phone upgrade: legitimate sources of the new-geo
#: and new-device signals that account takeovers also show.
TRIP_CHANCE = 0.004
NEW_PHONE_CHANCE = 0.0015
#: Chance that a new phone comes with a new SIM, and a daily chance of a replacement SIM:
#: legitimate sources of a recent SIM change.
SIM_WITH_NEW_PHONE = 0.3
SIM_REPLACEMENT_CHANCE = 0.0003


def _lognormal_mean(median: float, spread: float) -> float:
    return median * math.exp(spread * spread / 2)


def _ticket_usd(online: bool) -> float:
    pool = [c for c in CATEGORIES if c.online is online]
    total = sum(c.weight for c in pool)
    return sum(c.weight * _lognormal_mean(c.median_usd, c.spread) for c in pool) / total


_P2P_MEAN_USD = _lognormal_mean(P2P_MEDIAN_USD, P2P_SPREAD)
#: Mean money out per session in US dollars at spending level 1.
SESSION_SPEND_USD = (
    sum(
        weight
        * {
            "shop": (1 + SECOND_SHOP_CHANCE) * _ticket_usd(False),
            "online": _ticket_usd(True),
            "p2p": _P2P_MEAN_USD,
            "new_payee": _P2P_MEAN_USD,
            "withdrawal": _lognormal_mean(WITHDRAWAL_MEDIAN_USD, WITHDRAWAL_SPREAD),
        }.get(kind, 0.0)
        for kind, weight, _ in _SESSIONS
    )
    / _SESSION_WEIGHT
)
#: A top-up covers this many spending sessions on average, so top-ups match spending.
_TOP_UP_SESSIONS = 1 / TOP_UP_CHANCE

#: Share of transfers that go to another customer's wallet (booked as a deposit there); 0.8 is
#: the share of usual payees who are customers (see `population`).
_WALLET_TRANSFERS = (P2P_SHARE * 0.8 + NEW_PAYEE_SHARE * PAYEE_IS_CUSTOMER_CHANCE) / _SESSION_WEIGHT
MEAN_EVENTS_PER_SESSION = (
    1.0
    + FAILED_LOGIN_SHARE
    + sum(w * n for _, w, n in _SESSIONS) / _SESSION_WEIGHT
    + _WALLET_TRANSFERS
    + REFUND_CHANCE * ONLINE_SHARE / _SESSION_WEIGHT
)
_SESSIONS_PER_DAY_FACTOR = (5 + 2 * WEEKEND_ACTIVITY) / 7


def sessions_per_day(customer: Customer) -> float:
    """Average sessions a day for `customer` over a week."""
    return customer.sessions_per_day * _SESSIONS_PER_DAY_FACTOR


def monthly_income_usd(customer: Customer) -> float:
    """What `customer` earns a month in US dollars: their spending with some to spare."""
    spend = sessions_per_day(customer) * 30.44 * SESSION_SPEND_USD * customer.spending_level
    return spend * INCOME_TO_SPENDING


def expected_events_per_day(customer: Customer) -> float:
    """Average legitimate events a day for `customer`, used to size the attack traffic."""
    per_session = MEAN_EVENTS_PER_SESSION
    if customer.tops_up:
        per_session += TOP_UP_CHANCE * _SPENDING_SHARE
    salaries = {"monthly": 1 / 30.44, "biweekly": 1 / 14}.get(customer.pay_cycle or "", 0.0)
    return sessions_per_day(customer) * per_session + salaries


def mean_events_per_customer_day() -> float:
    """Average legitimate events a day per customer across a population (an estimate for
    progress bars; `expected_events_per_day` is exact for one customer)."""
    sessions = _lognormal_mean(SESSIONS_MEDIAN, SESSIONS_SPREAD) * _SESSIONS_PER_DAY_FACTOR
    tops_up = SALARIED_SHARE * SALARIED_TOP_UP_SHARE + (1 - SALARIED_SHARE) * TOP_UP_SHARE
    per_session = MEAN_EVENTS_PER_SESSION + tops_up * TOP_UP_CHANCE * _SPENDING_SHARE
    salaries = SALARIED_SHARE * (BIWEEKLY_SHARE / 14 + (1 - BIWEEKLY_SHARE) / 30.44)
    return sessions * per_session + salaries


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


def convert(value: float, source: City, target: City) -> float:
    """`value` in `source`'s currency, in `target`'s currency."""
    if source.currency == target.currency:
        return value
    return value / source.usd_rate * target.usd_rate


#: In an endless run, newcomers open their accounts over this span: `NEWCOMER_SHARE` of
#: the population joins a month, as in a finite run of about that length.
OPEN_ENDED_JOINING_MS = 30 * DAY_MS


def opening_ms(customer: Customer, start_ms: int, end_ms: int | None) -> int | None:
    """When a newcomer's account opens in a run from `start_ms` to `end_ms` (an endless
    run: over its first `OPEN_ENDED_JOINING_MS`); None when it was open before the run."""
    if customer.opens_at is None:
        return None
    span = OPEN_ENDED_JOINING_MS if end_ms is None else end_ms - start_ms
    return start_ms + int(customer.opens_at * span)


def event_request(
    t: int,
    event_type: str,
    account_id: str,
    place: City,
    device: Device,
    ip: str,
    where: dict[str, Any] | None,
    attributes: dict[str, Any],
    amount: dict[str, str] | None = None,
    payee: Payee | None = None,
    merchant: Merchant | None = None,
    channel: str | None = None,
) -> dict[str, Any]:
    """The wire-format request for one simulated event, stamped in `place`'s local time.

    The simulator's hottest function: it builds the dict `wire.request` would, in one step.
    """
    req: dict[str, Any] = {
        "event_id": "",
        "event_type": event_type,
        "occurred_at": wire.timestamp(t, place.utc_offset_minutes),
        "account_id": account_id,
    }
    if amount is not None:
        req["amount"] = amount
    if payee is not None:
        req["payee"] = payee.wire()
    if merchant is not None:
        req["merchant"] = merchant.wire()
    req["device"] = {"id": device.id, "fingerprint": device.fingerprint}
    req["ip"] = ip
    if where is not None:
        req["geo"] = where.copy()
    if channel is None:
        channel = "web" if device.kind == "browser" else "app"
    req["channel"] = channel
    req["attributes"] = attributes
    return req


def credit_request(
    t: int,
    account_id: str,
    place: City,
    amount: dict[str, str],
    source: str,
    *,
    payee: Payee | None = None,
    merchant: Merchant | None = None,
) -> dict[str, Any]:
    """A deposit the partner's back office books (salary, incoming transfer, refund): no
    device, IP or channel; `payee` is whoever sent the money."""
    return wire.request(
        event_type="deposit",
        occurred_at=wire.timestamp(t, place.utc_offset_minutes),
        account_id=account_id,
        amount=amount.copy(),
        payee=None if payee is None else payee.wire(),
        merchant=None if merchant is None else merchant.wire(),
        device=None,
        ip=None,
        geo=None,
        channel=None,
        attributes={"source": source},
    )


def geo(lat: float, lon: float, country: str) -> dict[str, Any]:
    """A wire geo point, rounded to about 10 m."""
    return {"lat": round(lat, 4), "lon": round(lon, 4), "country": country}


def session_base(rng: Random, device: Device) -> dict[str, Any]:
    """The attributes every event of a new session carries: its id and the device posture."""
    if device.rooted or device.emulator:
        return {"session_id": f"ses-{random_hex(rng, 48)}", **device.posture()}
    return {"session_id": f"ses-{random_hex(rng, 48)}", "os": device.os}


#: A pending credit: (due, order, source, counterparty, merchant, amount).
_Credit = tuple[int, int, str, Payee | None, Merchant | None, dict[str, str]]
#: What one kind of session does after its login: (activity, t, device, ip, where, attributes
#: of the session, the shop a shop session is at).
_SessionAction = Callable[
    ["CustomerActivity", int, Device, str, dict[str, Any] | None, dict[str, Any], Merchant | None],
    None,
]


class CustomerActivity:
    """One customer's legitimate events in time order, as `(t_ms, stream, request, None)`."""

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
        self._opens_at = opening_ms(customer, start_ms, end_ms)
        self._t = start_ms - DAY_MS
        self._out: list[tuple[int, dict[str, Any]]] = []
        self._credits: list[_Credit] = []
        self._credit_order = 0
        self._promo: str | None = None
        #: When the SIM last changed (reported on logins when the carrier tells the partner).
        self._sim_since = start_ms - _between(self._rng, 60 * DAY_MS, 1500 * DAY_MS)
        self._sim_changed = False
        self._income = monthly_income_usd(customer) * customer.city.usd_rate

    def __iter__(self) -> Iterator[tuple[int, int, dict[str, Any], None]]:
        # Only one session is built ahead of the merge: buffering whole days for thousands of
        # customers keeps enough objects alive to make the garbage collector the bottleneck.
        rng = self._rng
        out = self._out
        end = self._end
        stream = self._stream
        credits = self._credits
        home = self._c.city
        day = (self._start + home.utc_offset_minutes * MINUTE_MS) // DAY_MS
        while True:
            place = self._next_day()
            midnight = day * DAY_MS - place.utc_offset_minutes * MINUTE_MS
            if end is not None and midnight >= end:
                return
            if self._sim_changed:
                self._sim_since = midnight + _between(rng, 6 * HOUR_MS, 10 * HOUR_MS)
                self._sim_changed = False
            starts = self._plan_day(day, midnight, place)
            next_midnight = midnight + DAY_MS
            i = 0
            while True:
                for t, req in out:
                    if end is not None and t >= end:
                        return
                    yield t, stream, req, None
                out.clear()
                due = starts[i] if i < len(starts) else next_midnight
                if credits and credits[0][0] < due:
                    self._book(heappop(credits))
                    continue
                if i == len(starts):
                    break
                planned = starts[i]
                i += 1
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
            self._sim_changed = rng.random() < SIM_WITH_NEW_PHONE
        elif rng.random() < SIM_REPLACEMENT_CHANCE:
            self._sim_changed = True
        return self._trip or self._c.city

    def _plan_day(self, day: int, midnight: int, place: City) -> list[int]:
        """Session start times for one local day; emits the account opening if it falls due
        and books the salary if it is payday."""
        rng = self._rng
        weekend = (day + 3) % 7 >= 5  # day 0 (1970-01-01) was a Thursday
        mean = self._c.sessions_per_day * (WEEKEND_ACTIVITY if weekend else 1.0)
        count = poisson(rng, mean)
        hours = rng.choices(_HOURS, cum_weights=_WEEKEND_CUM if weekend else _WEEKDAY_CUM, k=count)
        starts = sorted(midnight + h * HOUR_MS + _between(rng, 0, HOUR_MS) for h in hours)
        if self._c.pay_cycle is not None:
            self._payday(day)
        opens_at = self._opens_at
        if opens_at is not None:
            if opens_at >= midnight + DAY_MS:
                self._credits.clear()
                return []
            starts = [t for t in starts if t > opens_at]
            self._credits[:] = [c for c in self._credits if c[0] > opens_at]
            heapify(self._credits)
            self._opening(opens_at, place)
            self._opens_at = None
        return starts

    def _payday(self, day: int) -> None:
        """Book the salary if `day` (local to the customer's home, wherever they are) is
        payday."""
        c = self._c
        if c.pay_cycle == "monthly":
            if wire.day_of_month(day) != c.pay_day:
                return
            value = self._income
        elif day % 14 == c.pay_day:
            value = self._income * 12 / 26
        else:
            return
        rng = self._rng
        # Banks book salaries in an early-morning batch; a little overtime or tax varies it.
        midnight = day * DAY_MS - c.city.utc_offset_minutes * MINUTE_MS
        t = midnight + _between(rng, HOUR_MS, 6 * HOUR_MS)
        if t >= self._start:
            value *= 0.97 + 0.06 * rng.random()
            amount = wire.amount(value, c.city.currency)
            self._schedule(t, "salary", c.employer, None, amount)

    def _schedule(
        self,
        t: int,
        source: str,
        payee: Payee | None,
        merchant: Merchant | None,
        amount: dict[str, str],
    ) -> None:
        heappush(self._credits, (t, self._credit_order, source, payee, merchant, amount))
        self._credit_order += 1

    def _book(self, credit: _Credit) -> None:
        """Emit a due back-office credit, never before what this customer already did."""
        due, _, source, payee, merchant, amount = credit
        t = max(due, self._t + SECOND_MS)
        c = self._c
        request = credit_request(
            t, c.account_id, c.city, amount, source, payee=payee, merchant=merchant
        )
        self._out.append((t, request))
        self._t = t

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
        c = self._c
        request = event_request(
            t,
            event_type,
            c.account_id,
            self._trip or c.city,
            device,
            ip,
            where,
            attributes,
            amount,
            payee,
            merchant,
            channel,
        )
        self._out.append((t, request))
        self._t = t

    def _opening(self, t: int, place: City) -> None:
        rng = self._rng
        c = self._c
        where = geo(c.home_lat, c.home_lon, place.country)
        ip = c.home_ips[0]
        base = session_base(rng, self._phone)
        opening = {**base, "kyc_level": "basic"}
        if rng.random() < NEWCOMER_PROMO_SHARE:
            if rng.random() < 0.6:
                self._promo = _pick(rng, PUBLIC_PROMO_CODES)
            else:
                self._promo = referral_code(_pick(rng, self._pop.customers).account_id)
            opening["promo_code"] = self._promo
        self._emit(t, "account_open", self._phone, ip, where, opening)
        t += _between(rng, 30 * SECOND_MS, 5 * MINUTE_MS)
        self._emit(t, "login", self._phone, ip, where, self._login(t, base, "password", True))

    def _login(self, t: int, base: dict[str, Any], method: str, success: bool) -> dict[str, Any]:
        attributes = {**base, "success": success, "method": method}
        if self._c.sim_check:
            attributes["sim_swap_hours"] = round(max(0, t - self._sim_since) / HOUR_MS, 1)
        return attributes

    def _session(self, t: int) -> None:
        rng = self._rng
        c = self._c
        trip = self._trip
        city = trip or c.city
        kind = _SESSION_KINDS[bisect_right(_SESSION_CUM, rng.random() * _SESSION_WEIGHT)]

        device = self._phone
        if kind != "shop" and self._browser is not None and rng.random() < BROWSER_CHANCE:
            device = self._browser
        shop: Merchant | None = None
        where: dict[str, Any] | None = None
        if kind == "shop":
            if trip is not None or rng.random() < OTHER_SHOP_CHANCE:
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
        elif device.kind == "browser" or (kind != "shop" and rng.random() < HOME_NETWORK_CHANCE):
            ip = _pick(rng, c.home_ips)
        else:
            ip = _pick(rng, self._pop.ips_by_city[c.city.name])

        base = session_base(rng, device)
        if rng.random() < REMOTE_ACCESS_SHARE:
            base["remote_access"] = True
        if device.kind == "browser":
            method = "password"
        else:
            roll = rng.random()
            method = "biometric" if roll < 0.7 else "pin" if roll < 0.9 else "password"
        if self._fresh_device and device is self._phone:
            method = "otp"
            self._fresh_device = False
        if rng.random() < FAILED_LOGIN_SHARE:
            self._emit(t, "login", device, ip, where, self._login(t, base, method, False))
            t += _between(rng, 4 * SECOND_MS, 40 * SECOND_MS)
        self._emit(t, "login", device, ip, where, self._login(t, base, method, True))
        t += _between(rng, 3 * SECOND_MS, 90 * SECOND_MS)

        if c.tops_up and kind in _SPENDING and rng.random() < TOP_UP_CHANCE:
            self._top_up(t, device, ip, where, base)
            t = self._t + _between(rng, 10 * SECOND_MS, 60 * SECOND_MS)

        self._SESSION_ACTIONS[kind](self, t, device, ip, where, base, shop)

    # What each kind of session does after the login (and a top-up, if any): one method per
    # kind, all with the same parameters; `shop` is the merchant a shop session is at, picked
    # before the login (None for every other kind).

    def _shop_session(
        self,
        t: int,
        device: Device,
        ip: str,
        where: dict[str, Any] | None,
        base: dict[str, Any],
        shop: Merchant | None,
    ) -> None:
        """Pay in a shop, and sometimes in a second one a few minutes later."""
        assert shop is not None
        rng = self._rng
        self._pay_shop(t, shop, device, ip, where, base)
        if rng.random() < SECOND_SHOP_CHANCE:
            c = self._c
            trip = self._trip
            city = trip or c.city
            t = self._t + _between(rng, 2 * MINUTE_MS, 20 * MINUTE_MS)
            shop = _pick(
                rng, c.merchants if trip is None else self._pop.merchants_by_city[city.name]
            )
            self._pay_shop(t, shop, device, ip, geo(shop.lat, shop.lon, city.country), base)

    def _online_session(
        self,
        t: int,
        device: Device,
        ip: str,
        where: dict[str, Any] | None,
        base: dict[str, Any],
        shop: Merchant | None,
    ) -> None:
        """Buy from an online merchant, now and then refunded days later."""
        rng = self._rng
        c = self._c
        if rng.random() < USUAL_ONLINE_MERCHANT_CHANCE:
            merchant = _pick(rng, c.online_merchants)
        else:
            merchant = _pick(rng, self._pop.online_merchants)
        category = merchant.category
        value = category.median_usd * c.spending_level * rng.lognormvariate(0, category.spread)
        amount = wire.amount(value * c.city.usd_rate, c.city.currency)
        self._emit(
            t,
            "payment",
            device,
            ip,
            where,
            self._promoted({**base, **self._funding(ONLINE_CARD_SHARE)}),
            amount=amount,
            merchant=merchant,
        )
        if rng.random() < REFUND_CHANCE:
            delay = _between(rng, *REFUND_DELAY_MS)
            self._schedule(t + delay, "refund", None, merchant, amount)

    def _p2p_session(
        self,
        t: int,
        device: Device,
        ip: str,
        where: dict[str, Any] | None,
        base: dict[str, Any],
        shop: Merchant | None,
    ) -> None:
        """Send money to one of the customer's usual payees."""
        self._send(t, _pick(self._rng, self._payees), device, ip, where, base)

    def _browse_session(
        self,
        t: int,
        device: Device,
        ip: str,
        where: dict[str, Any] | None,
        base: dict[str, Any],
        shop: Merchant | None,
    ) -> None:
        """Look at the balance and history: nothing after the login."""

    def _new_payee_session(
        self,
        t: int,
        device: Device,
        ip: str,
        where: dict[str, Any] | None,
        base: dict[str, Any],
        shop: Merchant | None,
    ) -> None:
        """Add a payee, then send them money."""
        rng = self._rng
        payee = self._new_payee()
        source = _pick(rng, _PAYEE_SOURCES)
        self._emit(t, "payee_add", device, ip, where, {**base, "payee_source": source}, payee=payee)
        self._payees.append(payee)
        self._send(t + _between(rng, 15 * SECOND_MS, 3 * MINUTE_MS), payee, device, ip, where, base)

    def _withdrawal_session(
        self,
        t: int,
        device: Device,
        ip: str,
        where: dict[str, Any] | None,
        base: dict[str, Any],
        shop: Merchant | None,
    ) -> None:
        """Withdraw a round sum to the customer's bank account."""
        c = self._c
        home = c.city
        value = (
            self._rng.lognormvariate(math.log(WITHDRAWAL_MEDIAN_USD), WITHDRAWAL_SPREAD)
            * c.spending_level
            * home.usd_rate
        )
        self._emit(
            t,
            "withdrawal",
            device,
            ip,
            where,
            {**base, "destination_account": c.bank_account},
            amount=wire.amount(round_to(value, home.small_unit * 10), home.currency),
        )

    def _credential_session(
        self,
        t: int,
        device: Device,
        ip: str,
        where: dict[str, Any] | None,
        base: dict[str, Any],
        shop: Merchant | None,
    ) -> None:
        """Change a password, PIN, email address or phone number."""
        credential = _pick(self._rng, _CREDENTIALS)
        attributes = {**base, "credential": credential}
        if self._c.sim_check:
            attributes["sim_swap_hours"] = round(max(0, t - self._sim_since) / HOUR_MS, 1)
        self._emit(t, "credential_change", device, ip, where, attributes)

    #: The method for each session kind in `_SESSIONS`.
    _SESSION_ACTIONS: ClassVar[dict[str, _SessionAction]] = {
        "shop": _shop_session,
        "online": _online_session,
        "p2p": _p2p_session,
        "browse": _browse_session,
        "new_payee": _new_payee_session,
        "withdrawal": _withdrawal_session,
        "credential": _credential_session,
    }

    def _top_up(
        self, t: int, device: Device, ip: str, where: dict[str, Any] | None, base: dict[str, Any]
    ) -> None:
        """Money in from the customer's bank account or card, enough for a few sessions."""
        rng = self._rng
        c = self._c
        home = c.city
        value = SESSION_SPEND_USD * _TOP_UP_SESSIONS * c.spending_level * (0.5 + rng.random())
        value = round_to(value * home.usd_rate, home.small_unit * 10)
        funding: dict[str, Any] = {"funding": "bank"}
        if c.cards and rng.random() < 0.5:
            funding = _pick(rng, c.cards).attributes()
        self._emit(
            t,
            "deposit",
            device,
            ip,
            where,
            {**base, "source": "top_up", **funding},
            amount=wire.amount(value, home.currency),
        )

    def _promoted(self, attributes: dict[str, Any]) -> dict[str, Any]:
        """A newcomer's first payment qualifies for the promotion they signed up with."""
        if self._promo is not None:
            attributes["promo_code"] = self._promo
            self._promo = None
        return attributes

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
            self._promoted({**base, **self._funding(SHOP_CARD_SHARE)}),
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
        c = self._c
        home = c.city
        value = (
            rng.lognormvariate(math.log(P2P_MEDIAN_USD), P2P_SPREAD)
            * c.spending_level
            * home.usd_rate
        )
        if rng.random() < 0.4:
            value = round_to(value, home.small_unit * 10)
        self._emit(
            t,
            "payment",
            device,
            ip,
            where,
            self._promoted({**base, "funding": "balance"}),
            amount=wire.amount(value, home.currency),
            payee=payee,
        )
        receiver = self._pop.accounts.get(payee.id)
        if receiver is None or receiver is c:
            return
        arrives = t + _between(rng, SECOND_MS, 8 * SECOND_MS)
        opens = opening_ms(receiver, self._start, self._end)
        if opens is not None and arrives <= opens:
            return
        # The wallet books the transfer on the receiver's account as it lands.
        credited = wire.amount(convert(value, home, receiver.city), receiver.city.currency)
        request = credit_request(
            arrives, receiver.account_id, receiver.city, credited, "transfer_in", payee=c.as_payee
        )
        self._out.append((arrives, request))
        self._t = arrives

    def _new_payee(self) -> Payee:
        rng = self._rng
        customers = self._pop.customers
        if len(customers) > 1 and rng.random() < PAYEE_IS_CUSTOMER_CHANCE:
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
