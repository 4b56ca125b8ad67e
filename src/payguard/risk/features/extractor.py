"""Features of one event computed from the state of the entities it touches.

The same code runs online (the engine) and offline (training replays events through it), so
there is no train/serve skew. Counts and sums include the event being assessed; first-seen
flags and profiles describe history before it. What an entity's state holds, key by key, is
in `state`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from payguard.core.decisions import FRAUD_OUTCOMES, Outcome
from payguard.core.events import AMOUNT_EVENTS, MONEY_EVENTS, Event, EventType
from payguard.risk.features import windows as w
from payguard.risk.features.state import (
    AMOUNT_PROFILE,
    CURRENCY,
    DEPOSITS,
    FAILED_LOGINS,
    FIRST_SEEN,
    FRAUD_REPORTS,
    FRAUD_WINDOWS,
    LAST_CREDENTIAL_CHANGE,
    LAST_DEPOSIT,
    LAST_GEO,
    LAST_NEW_DEVICE,
    LAST_PAYEE_ADD,
    LAST_SEEN,
    MEMBERS,
    OPENED,
    TYPE_SERIES,
    VELOCITY,
)
from payguard.risk.interfaces import DeviceVerdict, EntityState, ListKind

#: Members remembered per entity and dimension (devices of an account, senders to a payee,
#: ...): between 256 and 288; beyond that the least recently seen are forgotten, so distinct
#: counts saturate.
MEMBER_CAP = 256
_EVICT_BATCH = 32

#: `card` is keyed by the card's deterministic token (`core.events.Card.token`), never its
#: number; a new token after a key rotation starts a new card history.
ENTITIES: tuple[str, ...] = ("account", "device", "ip", "payee", "merchant", "card")

#: (entity, dimension) pairs whose distinct members are counted per window.
DISTINCT: tuple[tuple[str, str], ...] = (
    ("account", "device"),
    ("account", "payee"),
    ("account", "ip"),
    ("account", "country"),
    ("device", "account"),
    ("ip", "account"),
    ("payee", "account"),
    ("merchant", "account"),
    ("merchant", "device"),
    ("account", "card"),
    ("card", "account"),
    ("card", "merchant"),
)

#: Per-account counters of specific event types, over the 1 h and 24 h windows.
ACCOUNT_TYPE_SERIES: dict[str, EventType] = {
    "logins": EventType.LOGIN,
    "credential_changes": EventType.CREDENTIAL_CHANGE,
    "payee_adds": EventType.PAYEE_ADD,
}
_TYPE_WINDOWS = (w.WINDOW_BY_NAME["1h"], w.WINDOW_BY_NAME["24h"])

#: A SIM change this recent (hours, as the partner's carrier check reports it) is a takeover
#: signal: whoever holds the new SIM receives the account's one-time codes.
SIM_SWAP_RECENT_HOURS = 72.0

#: Windows of the delay-aware fraud features and the account's mean amounts: feature suffix
#: → the velocity window they share buckets with (`1d` is the `24h` window), so a rate's
#: numerator and denominator cover exactly the same buckets.
FRAUD_SPANS: tuple[tuple[str, w.Window], ...] = (
    ("1d", w.WINDOW_BY_NAME["24h"]),
    ("7d", w.WINDOW_BY_NAME["7d"]),
    ("30d", w.WINDOW_BY_NAME["30d"]),
)

IMPOSSIBLE_TRAVEL_KMH = 900.0
IMPOSSIBLE_TRAVEL_MIN_KM = 300.0
NIGHT_HOURS = range(0, 6)


@dataclass(frozen=True, slots=True)
class EntityRef:
    """One entity an event touches: `account`, `device`, ... and its id."""

    kind: str
    id: str

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.id}"


def entities_of(event: Event) -> list[EntityRef]:
    """The entities whose state an event reads and updates, account first."""
    refs = [EntityRef("account", event.account_id)]
    if event.device is not None:
        refs.append(EntityRef("device", event.device.id))
    if event.ip is not None:
        refs.append(EntityRef("ip", event.ip))
    if event.payee is not None:
        refs.append(EntityRef("payee", event.payee.id))
    if event.merchant is not None:
        refs.append(EntityRef("merchant", event.merchant.id))
    if event.card is not None:
        refs.append(EntityRef("card", event.card.token))
    return refs


@dataclass(frozen=True, slots=True)
class Touch:
    """What one event touches, worked out once per event: its entities (account first),
    their state keys, and the members it adds to each kind of entity."""

    refs: tuple[EntityRef, ...]
    keys: tuple[str, ...]
    dims: Mapping[str, Mapping[str, str]]


def touch(event: Event) -> Touch:
    refs = tuple(entities_of(event))
    return Touch(refs, tuple(ref.key for ref in refs), _member_dims(event))


#: The list kind of each entity kind lists can name (`ListKind`): every one but `card`.
_LIST_KIND: dict[str, ListKind] = {kind.value: kind for kind in ListKind if kind.value in ENTITIES}


def _catalog() -> dict[str, Any]:
    """Every feature name with its neutral value; rules may only reference these."""
    names: dict[str, Any] = {
        "event_type": "",
        "channel": "",
        "currency": "",
        "amount": 0.0,
        "amount_minor": 0,
        "is_money_event": False,
        "has_device": False,
        "has_geo": False,
        "country": "",
        "local_hour": 0,
        "is_night": False,
        "login_failed": False,
        "new_device": False,
        "new_payee": False,
        "new_ip": False,
        "new_country": False,
        "new_account": False,
        "new_card": False,
        "foreign_currency": False,
        "amount_round": False,
        "remote_access": False,
        "emulator": False,
        "rooted": False,
        "promo": False,
        "sim_swap_hours": -1.0,
        "sim_swap_recent": False,
        "account_age_days": 0.0,
        "device_age_days": 0.0,
        "payee_age_days": 0.0,
        "merchant_age_days": 0.0,
        "card_age_days": 0.0,
        # The card's issuing country (its BIN's) is not the event's country.
        "card_bin_country_mismatch": False,
        # The card came as a payment token used outside its domain, revoked or expired.
        "token_domain_violation": False,
        "amount_zscore": 0.0,
        "amount_to_mean": 0.0,
        "account_payment_history": 0,
        "geo_distance_km": 0.0,
        "geo_speed_kmh": 0.0,
        "impossible_travel": False,
        "secs_since_credential_change": -1.0,
        "secs_since_payee_add": -1.0,
        "secs_since_new_device": -1.0,
        "secs_since_deposit": -1.0,
        "amount_to_deposits_24h": 0.0,
        # The device's health from its posture and attestation reports (payguard.devices);
        # -1 when it never reported.
        "device_health_score": -1,
        "device_compromised": False,
        "device_at_risk": False,
        "device_health_reasons": [],
        "device_community_hit": False,
    }
    for entity in ENTITIES:
        if entity in _LIST_KIND:
            names[f"{entity}_lists"] = []
        names[f"{entity}_fraud_reports"] = 0
        for suffix, _ in FRAUD_SPANS:
            names[f"{entity}_frauds_{suffix}"] = 0
            names[f"{entity}_fraud_rate_{suffix}"] = 0.0
        for window in w.WINDOWS:
            names[f"{entity}_events_{window.name}"] = 0
            names[f"{entity}_payments_{window.name}"] = 0
            names[f"{entity}_amount_{window.name}"] = 0.0
    for entity in ("account", "device", "ip"):
        for window in _TYPE_WINDOWS:
            names[f"{entity}_failed_logins_{window.name}"] = 0
    for series in ACCOUNT_TYPE_SERIES:
        for window in _TYPE_WINDOWS:
            names[f"account_{series}_{window.name}"] = 0
    for suffix, _ in FRAUD_SPANS:
        names[f"account_amount_mean_{suffix}"] = 0.0
    for window in _TYPE_WINDOWS:
        names[f"account_deposits_{window.name}"] = 0
        names[f"account_deposit_amount_{window.name}"] = 0.0
    for entity, dim in DISTINCT:
        for window in w.WINDOWS:
            names[f"{entity}_distinct_{dim}s_{window.name}"] = 0
    return names


#: Feature name → neutral value (the value when the entity is absent).
FEATURES: Mapping[str, Any] = _catalog()


def _haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 12742.0 * math.asin(min(1.0, math.sqrt(a)))


def _member_dims(event: Event) -> dict[str, dict[str, str]]:
    """For each entity kind, the members this event adds: {entity: {dimension: member}}."""
    dims: dict[str, dict[str, str]] = {"account": {}}
    if event.device is not None:
        dims["account"]["device"] = event.device.id
        dims["device"] = {"account": event.account_id}
    if event.ip is not None:
        dims["account"]["ip"] = event.ip
        dims["ip"] = {"account": event.account_id}
    if event.payee is not None:
        dims["account"]["payee"] = event.payee.id
        dims["payee"] = {"account": event.account_id}
    if event.merchant is not None:
        dims["merchant"] = {"account": event.account_id}
        if event.device is not None:
            dims["merchant"]["device"] = event.device.id
    if event.geo is not None and event.geo.country:
        dims["account"]["country"] = event.geo.country
    card = event.card
    if card is not None:
        dims["account"]["card"] = card.token
        dims["card"] = {"account": event.account_id}
        if event.merchant is not None:
            dims["card"]["merchant"] = event.merchant.id
    return dims


def compute(
    event: Event,
    states: Mapping[str, EntityState],
    lists: Mapping[ListKind, Mapping[str, tuple[str, ...]]],
    touched: Touch | None = None,
    device: DeviceVerdict | None = None,
) -> dict[str, Any]:
    """All features of `event` given the entities' current state and the list snapshot
    (`touched`: the event's `touch`, when the caller has it already; `device`: its device's
    health verdict, when it has one)."""
    f: dict[str, Any] = dict(FEATURES)
    if device is not None:
        f["device_health_score"] = device.score
        f["device_compromised"] = device.compromised
        f["device_at_risk"] = device.at_risk
        f["device_health_reasons"] = list(device.reasons)
        f["device_community_hit"] = device.community_hit
    at = event.occurred_at.timestamp()
    is_money = event.event_type in MONEY_EVENTS
    amount = float(event.amount.value) if event.amount is not None else 0.0

    f["event_type"] = event.event_type.value
    f["channel"] = event.channel.value if event.channel else ""
    f["is_money_event"] = is_money
    if event.amount is not None:
        f["currency"] = event.amount.currency
        f["amount"] = amount
        exponent = event.amount.value.as_tuple().exponent
        assert isinstance(exponent, int)
        f["amount_minor"] = int(event.amount.value.scaleb(max(0, -exponent)))
        # A whole multiple of 100 major units: people and launderers move round sums.
        f["amount_round"] = amount >= 100 and event.amount.value % 100 == 0
    hour = event.occurred_at.hour  # occurred_at keeps the partner's offset: this is local time
    f["local_hour"] = hour
    f["is_night"] = hour in NIGHT_HOURS
    f["has_device"] = event.device is not None
    attributes = event.attributes
    if attributes:
        f["remote_access"] = attributes.get("remote_access") is True
        f["emulator"] = attributes.get("emulator") is True
        f["rooted"] = attributes.get("rooted") is True
        f["promo"] = bool(attributes.get("promo_code"))
        swap = attributes.get("sim_swap_hours")
        if isinstance(swap, int | float) and not isinstance(swap, bool) and swap >= 0:
            f["sim_swap_hours"] = float(swap)
            f["sim_swap_recent"] = swap < SIM_SWAP_RECENT_HOURS
    f["login_failed"] = (
        event.event_type == EventType.LOGIN and event.attributes.get("success") is False
    )
    geo = event.geo
    f["has_geo"] = geo is not None and geo.lat is not None and geo.lon is not None
    f["country"] = (geo.country or "") if geo is not None else ""
    card = event.card
    if card is not None and card.bin_country and f["country"]:
        f["card_bin_country_mismatch"] = card.bin_country != f["country"]
    f["token_domain_violation"] = card is not None and card.domain_violation

    currency = event.amount.currency if event.amount is not None else None
    touched = touched or touch(event)
    dims = touched.dims
    for ref, key in zip(touched.refs, touched.keys, strict=True):
        data = states[key].data if key in states else {}
        # Sums and profiles are kept in the entity's home currency (that of its first
        # money event): money in another currency is counted, not added.
        home = data.get(CURRENCY)
        same = home is None or home == currency
        if ref.kind == "account" and is_money and not same:
            f["foreign_currency"] = True
        _entity_features(
            f, ref, data, at, amount if same else 0.0, is_money, dims.get(ref.kind, {})
        )
        list_kind = _LIST_KIND.get(ref.kind)
        kind_lists = lists.get(list_kind) if list_kind is not None else None
        if kind_lists:
            f[f"{ref.kind}_lists"] = list(kind_lists.get(ref.id, ()))
        if ref.kind == "account":
            _account_features(f, event, data, at, amount, is_money and same, same)
        elif ref.kind in _AGED:
            first = data.get(FIRST_SEEN)
            f[_AGED[ref.kind]] = 0.0 if first is None else max(0.0, (at - first) / 86400)
    return f


def _velocity_names(kind: str) -> tuple[tuple[w.Window, str, str, str], ...]:
    return tuple(
        (
            window,
            f"{kind}_events_{window.name}",
            f"{kind}_payments_{window.name}",
            f"{kind}_amount_{window.name}",
        )
        for window in w.WINDOWS
    )


# Feature names built once: formatting them per event costs more than the arithmetic.
_VELOCITY = {kind: _velocity_names(kind) for kind in ENTITIES}
_FAILED = {
    kind: tuple((window, f"{kind}_failed_logins_{window.name}") for window in _TYPE_WINDOWS)
    for kind in ("account", "device", "ip")
}
_DISTINCT = {
    kind: tuple(
        (dim, tuple(f"{kind}_distinct_{dim}s_{window.name}" for window in w.WINDOWS))
        for entity, dim in DISTINCT
        if entity == kind
    )
    for kind in ENTITIES
}
_TYPE_SERIES = tuple(
    (
        series,
        event_type,
        tuple((window, f"account_{series}_{window.name}") for window in _TYPE_WINDOWS),
    )
    for series, event_type in ACCOUNT_TYPE_SERIES.items()
)
_REPORTS = {kind: f"{kind}_fraud_reports" for kind in ENTITIES}
_FRAUD_NAMES = {
    kind: tuple(
        (
            window,
            f"{kind}_frauds_{suffix}",
            f"{kind}_fraud_rate_{suffix}",
            f"{kind}_events_{window.name}",
        )
        for suffix, window in FRAUD_SPANS
    )
    for kind in ENTITIES
}
_MEAN_NAMES = tuple(
    (
        f"account_amount_mean_{suffix}",
        f"account_amount_{window.name}",
        f"account_payments_{window.name}",
    )
    for suffix, window in FRAUD_SPANS
)
_AGED = {
    "device": "device_age_days",
    "payee": "payee_age_days",
    "merchant": "merchant_age_days",
    "card": "card_age_days",
}
_DEPOSIT_NAMES = tuple(
    (window, f"account_deposits_{window.name}", f"account_deposit_amount_{window.name}")
    for window in _TYPE_WINDOWS
)
_SINCE = (
    ("secs_since_credential_change", LAST_CREDENTIAL_CHANGE),
    ("secs_since_payee_add", LAST_PAYEE_ADD),
    ("secs_since_new_device", LAST_NEW_DEVICE),
    ("secs_since_deposit", LAST_DEPOSIT),
)


def _entity_features(
    f: dict[str, Any],
    ref: EntityRef,
    data: Mapping[str, Any],
    at: float,
    amount: float,
    is_money: bool,
    adds: Mapping[str, str],
) -> None:
    kind = ref.kind
    series = data.get(VELOCITY) or {}
    paid = 1 if is_money else 0
    for window, events_name, payments_name, amount_name in _VELOCITY[kind]:
        n, pn, ps = w.totals(series.get(window.name), window, at)
        f[events_name] = n + 1
        f[payments_name] = pn + paid
        f[amount_name] = ps + amount * paid
    fr = data.get(FRAUD_REPORTS)
    if fr:
        f[_REPORTS[kind]] = int(fr)
    frauds = data.get(FRAUD_WINDOWS)
    if frauds:
        # Frauds among the entity's events in the window (by event time) whose label is
        # known by now; over its events in the same buckets, this one included.
        for window, frauds_name, rate_name, events_name in _FRAUD_NAMES[kind]:
            n, _, _ = w.totals(frauds.get(window.name), window, at)
            if n:
                f[frauds_name] = n
                f[rate_name] = n / f[events_name]
    failed_names = _FAILED.get(kind)
    if failed_names:
        fails = data.get(FAILED_LOGINS) or {}
        failed_now = 1 if f["login_failed"] else 0
        for window, name in failed_names:
            n, _, _ = w.totals(fails.get(window.name), window, at)
            f[name] = n + failed_now
    members = data.get(MEMBERS) or {}
    for dim, names in _DISTINCT[kind]:
        seen = members.get(dim)
        current = adds.get(dim)
        if not seen:
            if current is not None:
                for name in names:
                    f[name] = 1
            continue
        counts = w.distinct_counts(seen, at)
        last = seen.get(current) if current is not None else None
        for window, n, name in zip(w.WINDOWS, counts, names, strict=True):
            if current is not None and (last is None or last <= at - window.seconds):
                n += 1
            f[name] = n


def _account_features(
    f: dict[str, Any],
    event: Event,
    data: Mapping[str, Any],
    at: float,
    amount: float,
    profiled: bool,
    home_currency: bool,
) -> None:
    """`profiled`: a money event in the account's home currency, so its amount is compared
    with the account's amount profile; `home_currency`: the event's amount (if any) is in
    the account's home currency."""
    for mean_name, amount_name, payments_name in _MEAN_NAMES:
        paid = f[payments_name]
        if paid:
            f[mean_name] = f[amount_name] / paid
    members = data.get(MEMBERS) or {}
    first_seen = data.get(FIRST_SEEN)
    f["new_account"] = first_seen is None
    opened = data.get(OPENED, first_seen)
    f["account_age_days"] = 0.0 if opened is None else max(0.0, (at - opened) / 86400)
    if first_seen is not None:
        if event.device is not None:
            f["new_device"] = event.device.id not in (members.get("device") or {})
        if event.payee is not None:
            f["new_payee"] = event.payee.id not in (members.get("payee") or {})
        if event.ip is not None:
            f["new_ip"] = event.ip not in (members.get("ip") or {})
        if event.geo is not None and event.geo.country:
            f["new_country"] = event.geo.country not in (members.get("country") or {})
        if event.card is not None:
            f["new_card"] = event.card.token not in (members.get("card") or {})
    types = data.get(TYPE_SERIES) or {}
    for series, event_type, names in _TYPE_SERIES:
        current = 1 if event.event_type == event_type else 0
        kept = types.get(series) or {}
        for window, name in names:
            n, _, _ = w.totals(kept.get(window.name), window, at)
            f[name] = n + current
    deposits = data.get(DEPOSITS) or {}
    deposited = event.event_type == EventType.DEPOSIT and home_currency
    inflow_24h = 0.0
    for window, count_name, amount_name in _DEPOSIT_NAMES:
        n, _, total = w.totals(deposits.get(window.name), window, at)
        if deposited:
            n, total = n + 1, total + amount
        f[count_name] = n
        f[amount_name] = total
        if window.name == "24h":
            inflow_24h = total
    if profiled and inflow_24h > 0:
        # Pass-through: how much of the last day's inflow this payment moves on.
        f["amount_to_deposits_24h"] = round(amount / inflow_24h, 4)
    for name, key in _SINCE:
        last = data.get(key)
        f[name] = -1.0 if last is None else max(0.0, at - last)
    profile = data.get(AMOUNT_PROFILE)
    if profiled and profile:
        n, mean, m2 = profile
        f["account_payment_history"] = int(n)
        if n >= 3:
            std = math.sqrt(m2 / (n - 1))
            f["amount_zscore"] = round((amount - mean) / max(std, 0.1 * mean, 1.0), 4)
            f["amount_to_mean"] = round(amount / mean, 4) if mean > 0 else 0.0
    last_geo = data.get(LAST_GEO)
    geo = event.geo
    if last_geo and geo is not None and geo.lat is not None and geo.lon is not None:
        km = _haversine_km(last_geo[0], last_geo[1], geo.lat, geo.lon)
        hours = max(at - last_geo[2], 60.0) / 3600
        speed = km / hours
        f["geo_distance_km"] = round(km, 3)
        f["geo_speed_kmh"] = round(speed, 3)
        f["impossible_travel"] = km > IMPOSSIBLE_TRAVEL_MIN_KM and speed > IMPOSSIBLE_TRAVEL_KMH


def _remember(members: dict[str, float], member: str, at: float) -> None:
    previous = members.get(member)
    if previous is None or previous < at:
        members[member] = at
    if len(members) > MEMBER_CAP + _EVICT_BATCH:
        # Forget the least recently seen in batches: one sort per 32 new members instead
        # of a scan per event on busy entities.
        for stale in sorted(members, key=members.__getitem__)[: len(members) - MEMBER_CAP]:
            del members[stale]


def _add_series(
    data: dict[str, Any], field: str, at: float, payment: bool, amount: float, windows: Any
) -> None:
    series = dict(data.get(field) or {})
    for window in windows:
        series[window.name] = w.add(series.get(window.name), window, at, payment, amount)
    data[field] = series


def update(
    event: Event, states: Mapping[str, EntityState], touched: Touch | None = None
) -> list[EntityState]:
    """The new state of every entity `event` touches (versions kept for the CAS write).

    Loaded states are shared read-only, so this copies only what it changes: the top-level
    dict, the touched series and member maps (a full deep copy of a busy merchant's state
    cost more than the whole feature computation).
    """
    at = event.occurred_at.timestamp()
    is_money = event.event_type in MONEY_EVENTS
    amount = float(event.amount.value) if event.amount is not None else 0.0
    failed = event.event_type == EventType.LOGIN and event.attributes.get("success") is False
    touched = touched or touch(event)
    dims = touched.dims
    currency = event.amount.currency if event.amount is not None else None
    updated: list[EntityState] = []
    for ref, key in zip(touched.refs, touched.keys, strict=True):
        current = states.get(key)
        data: dict[str, Any] = dict(current.data) if current is not None else {}
        if FIRST_SEEN not in data or data[FIRST_SEEN] > at:
            data[FIRST_SEEN] = at
        data[LAST_SEEN] = max(at, data.get(LAST_SEEN, at))
        if CURRENCY not in data and event.event_type in AMOUNT_EVENTS:
            data[CURRENCY] = currency
        same = is_money and data.get(CURRENCY) == currency
        _add_series(data, VELOCITY, at, is_money, amount if same else 0.0, w.WINDOWS)
        if failed and ref.kind in ("account", "device", "ip"):
            _add_series(data, FAILED_LOGINS, at, False, 0.0, _TYPE_WINDOWS)
        if ref.kind == "account":
            _update_account(data, event, at, amount, same, data.get(CURRENCY) == currency)
        adds = dims.get(ref.kind)
        if adds:
            members = dict(data.get(MEMBERS) or {})
            for dim, member in adds.items():
                copied = dict(members.get(dim) or {})
                _remember(copied, member, at)
                members[dim] = copied
            data[MEMBERS] = members
        updated.append(EntityState(key=key, version=current.version if current else 0, data=data))
    return updated


def _update_account(
    data: dict[str, Any], event: Event, at: float, amount: float, same: bool, home: bool
) -> None:
    """`same`: a money event in the home currency (profiled); `home`: the event's currency
    is the home currency."""
    for series, event_type in ACCOUNT_TYPE_SERIES.items():
        if event.event_type == event_type:
            types = dict(data.get(TYPE_SERIES) or {})
            types[series] = dict(types.get(series) or {})
            _add_series(types, series, at, False, 0.0, _TYPE_WINDOWS)
            data[TYPE_SERIES] = types
    if event.event_type == EventType.ACCOUNT_OPEN:
        data[OPENED] = at
    if event.event_type == EventType.CREDENTIAL_CHANGE:
        data[LAST_CREDENTIAL_CHANGE] = at
    if event.event_type == EventType.PAYEE_ADD:
        data[LAST_PAYEE_ADD] = at
    if event.event_type == EventType.DEPOSIT:
        data[LAST_DEPOSIT] = at
        if home:
            _add_series(data, DEPOSITS, at, True, amount, _TYPE_WINDOWS)
    if event.device is not None and event.device.id not in (
        (data.get(MEMBERS) or {}).get("device") or {}
    ):
        data[LAST_NEW_DEVICE] = at
    if same:  # the amount profile is in the account's home currency
        n, mean, m2 = data.get(AMOUNT_PROFILE) or (0, 0.0, 0.0)
        n += 1
        delta = amount - mean
        mean += delta / n
        m2 += delta * (amount - mean)
        data[AMOUNT_PROFILE] = [n, mean, m2]
    geo = event.geo
    if geo is not None and geo.lat is not None and geo.lon is not None:
        data[LAST_GEO] = [geo.lat, geo.lon, at]


def apply_outcome(
    states: Mapping[str, EntityState],
    keys: list[str],
    old: Outcome | None,
    new: Outcome,
    *,
    at: float,
) -> list[EntityState]:
    """Fraud reports counted on the entities of a labelled assessment (relabels adjust):
    the lifetime count and, in the bucket of the labelled event's time `at` (its
    `occurred_at`, POSIX seconds), the windowed counts. Called when the label becomes known,
    so features of later events see it and earlier ones never did."""
    delta = int(new in FRAUD_OUTCOMES) - int(old in FRAUD_OUTCOMES)
    if delta == 0:
        return []
    updated = []
    for key in keys:
        current = states.get(key) or EntityState(key=key)
        data = dict(current.data)
        data[FRAUD_REPORTS] = max(0, int(data.get(FRAUD_REPORTS, 0)) + delta)
        frauds = dict(data.get(FRAUD_WINDOWS) or {})
        for _, window in FRAUD_SPANS:
            series = w.shift(frauds.get(window.name), window, at, delta)
            if series:
                frauds[window.name] = series
            else:
                frauds.pop(window.name, None)
        if frauds:
            data[FRAUD_WINDOWS] = frauds
        else:
            data.pop(FRAUD_WINDOWS, None)
        updated.append(EntityState(key=key, version=current.version, data=data))
    return updated
