"""Delay-aware windowed fraud features: `{entity}_frauds_{1d,7d,30d}`,
`{entity}_fraud_rate_{1d,7d,30d}` and the account's `account_amount_mean_{1d,7d,30d}`.

A fraud counts among the entity's events in the window by the labelled event's own time, and
only from the moment its label is known (its outcome time online, `label_at` in replay).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from payguard.audit.interfaces import Actor
from payguard.core.clock import FrozenClock
from payguard.core.decisions import Outcome
from payguard.core.events import Channel, Device, Event, EventType, Merchant
from payguard.core.money import Money
from payguard.ml.dataset import LabelledEvent
from payguard.ml.replay import replay
from payguard.risk.engine import dense
from payguard.risk.features import windows as w
from payguard.risk.features.extractor import (
    FEATURES,
    FRAUD_SPANS,
    apply_outcome,
    compute,
    entities_of,
)
from payguard.risk.interfaces import EntityState
from payguard.services import Services, build_services
from payguard.settings import Settings

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
HOUR = 3600.0
DAY = 86400.0


def _event(
    n: int, at: float, account: str, device: str, merchant: str | None, amount: int | None
) -> Event:
    return Event(
        event_id=f"evt-{n}",
        event_type=EventType.PAYMENT if amount is not None else EventType.LOGIN,
        occurred_at=T0 + timedelta(seconds=at),
        account_id=account,
        amount=Money(Decimal(amount), "SGD") if amount is not None else None,
        merchant=Merchant(merchant) if merchant else None,
        device=Device(device),
        channel=Channel.APP,
    )


def test_the_new_features_are_in_the_catalog() -> None:
    for kind in ("account", "device", "ip", "payee", "merchant"):
        for suffix in ("1d", "7d", "30d"):
            assert FEATURES[f"{kind}_frauds_{suffix}"] == 0
            assert FEATURES[f"{kind}_fraud_rate_{suffix}"] == 0.0
    for suffix in ("1d", "7d", "30d"):
        assert FEATURES[f"account_amount_mean_{suffix}"] == 0.0


# -- the windowed counts and rates against brute force ----------------------------------------


def _in_window(window: w.Window, at: float, then: float) -> bool:
    """`then` falls in the buckets of `window` ending at `at` (windows are bucketed)."""
    current = int((T0.timestamp() + at) // window.bucket_seconds)
    bucket = int((T0.timestamp() + then) // window.bucket_seconds)
    return current - window.buckets + 1 <= bucket <= current


_STEP = st.one_of(st.integers(0, 600), st.integers(0, 6 * int(HOUR)), st.integers(0, 4 * int(DAY)))
_ROW = st.tuples(
    _STEP,
    st.sampled_from(["a1", "a2"]),
    st.sampled_from(["d1", "d2"]),
    st.sampled_from(["m1", "m2", None]),
    st.one_of(st.none(), st.integers(1, 500)),  # None: a login
    st.booleans(),  # fraud
    st.one_of(st.none(), st.integers(0, 12 * int(DAY))),  # label delay; None: never known
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_ROW, min_size=1, max_size=40))
def test_windowed_counts_and_rates_equal_brute_force(rows: list[Any]) -> None:
    stream: list[LabelledEvent] = []
    times: list[float] = []
    labels: list[float | None] = []
    at = 0.0
    for n, (step, account, device, merchant, amount, fraud, delay) in enumerate(rows):
        at += step
        event = _event(n, at, account, device, merchant, amount)
        known = at + delay if fraud and delay is not None else None
        stream.append(
            LabelledEvent(
                event=event,
                fraud=fraud,
                typology="x" if fraud else None,
                label_at=None if known is None else T0 + timedelta(seconds=known),
            )
        )
        times.append(at)
        labels.append(known)
    seen: list[dict[str, Any]] = []
    replay(stream, on_features=lambda _, f: seen.append(f))

    for i, item in enumerate(stream):
        features = seen[i]
        for ref in entities_of(item.event):
            before = [
                j for j in range(i) if ref in entities_of(stream[j].event)
            ]  # the entity's earlier events
            for suffix, window in FRAUD_SPANS:
                inside = [j for j in before if _in_window(window, times[i], times[j])]
                # Labels are applied before an event when known strictly before it.
                frauds = sum(
                    1 for j in inside if (known := labels[j]) is not None and known < times[i]
                )
                events = len(inside) + 1
                assert features[f"{ref.kind}_events_{window.name}"] == events
                assert features[f"{ref.kind}_frauds_{suffix}"] == frauds
                rate = frauds / events if frauds else 0.0
                assert features[f"{ref.kind}_fraud_rate_{suffix}"] == rate
                if ref.kind == "account":
                    paid = [
                        stream[j].event
                        for j in [*inside, i]
                        if stream[j].event.event_type == EventType.PAYMENT
                    ]
                    mean = (
                        float(sum(e.amount.value for e in paid if e.amount is not None)) / len(paid)
                        if paid
                        else 0.0
                    )
                    assert features[f"account_amount_mean_{suffix}"] == pytest.approx(mean)
                    assert features[f"account_payments_{window.name}"] == len(paid)
        for kind in {"ip", "payee"}:  # not on these events: neutral
            assert features[f"{kind}_frauds_1d"] == 0


# -- a label inside its delay never reaches a feature ------------------------------------------


@pytest.fixture
def engine(tmp_path) -> Iterator[tuple[Services, FrozenClock, str]]:
    clock = FrozenClock(T0)
    services = build_services(Settings(database_url=f"sqlite:///{tmp_path}/w.db"), clock=clock)
    tenant, _ = services.tenants.create_tenant("windows", actor=Actor.system("test"))
    yield services, clock, tenant.id
    services.close()


_TIMELINE = [  # (event seconds after T0, device); the first is labelled fraud at 2 h
    (0.0, "d1"),
    (1 * HOUR, "d1"),  # before the label is known: sees nothing
    (3 * HOUR, "d1"),  # after: 1 fraud of 3 events in a day
    (3 * DAY + HOUR, "d1"),  # the fraud's event is over a day old: 7d and 30d only
]
_LABEL_AT = 2 * HOUR


def _check_timeline(features: list[dict[str, Any]]) -> None:
    for f in features[:2]:
        assert all(f[f"{k}_frauds_{s}"] == 0 for k in ("device", "account") for s in ("1d", "30d"))
        assert f["device_fraud_rate_7d"] == 0.0 and f["device_fraud_reports"] == 0
    third = features[2]
    assert third["device_frauds_1d"] == third["account_frauds_1d"] == 1
    assert third["device_fraud_rate_1d"] == pytest.approx(1 / 3)
    assert third["device_fraud_reports"] == 1
    fourth = features[3]
    assert fourth["device_frauds_1d"] == 0 and fourth["device_fraud_rate_1d"] == 0.0
    assert fourth["device_frauds_7d"] == fourth["device_frauds_30d"] == 1
    assert fourth["device_fraud_rate_7d"] == pytest.approx(1 / 4)


def test_a_label_not_yet_known_never_reaches_a_feature_online(engine) -> None:
    services, clock, tenant = engine
    features: list[dict[str, Any]] = []
    first: str | None = None
    labelled = False
    for n, (at, device) in enumerate(_TIMELINE):
        if at > _LABEL_AT and first is not None and not labelled:
            clock.set(T0 + timedelta(seconds=_LABEL_AT))
            services.assessments.record_outcome(
                tenant_id=tenant, assessment_id=first, outcome=Outcome.FRAUD, actor=Actor("t")
            )
            labelled = True
        event = _event(n, at, "a1", device, "m1", 20)
        clock.set(event.occurred_at)
        decision, _ = services.assessments.assess(tenant, event)
        features.append(dense(decision.features))
        first = first or decision.assessment_id
    _check_timeline(features)


def test_a_label_not_yet_known_never_reaches_a_feature_in_replay() -> None:
    stream = [
        LabelledEvent(
            event=_event(n, at, "a1", device, "m1", 20),
            fraud=n == 0,
            typology="x" if n == 0 else None,
            label_at=T0 + timedelta(seconds=_LABEL_AT) if n == 0 else None,
        )
        for n, (at, device) in enumerate(_TIMELINE)
    ]
    features: list[dict[str, Any]] = []
    replay(stream, on_features=lambda _, f: features.append(f))
    _check_timeline(features)


def test_a_relabel_to_legit_takes_the_fraud_back_out(engine) -> None:
    services, clock, tenant = engine
    first, _ = services.assessments.assess(tenant, _event(0, 0.0, "a1", "d1", "m1", 20))
    relabels = ((Outcome.FRAUD, 1), (Outcome.LEGIT, 0), (Outcome.CHARGEBACK, 1))
    for n, (outcome, expected) in enumerate(relabels, start=1):
        clock.set(T0 + timedelta(minutes=10 * n))
        services.assessments.record_outcome(
            tenant_id=tenant, assessment_id=first.assessment_id, outcome=outcome, actor=Actor("t")
        )
        event = _event(n, 600.0 * n + 1, "a1", "d1", "m1", 20)
        clock.set(event.occurred_at)
        decision, _ = services.assessments.assess(tenant, event)
        features = dense(decision.features)
        assert features["merchant_frauds_1d"] == features["device_frauds_30d"] == expected
        assert features["merchant_fraud_reports"] == expected


def test_old_states_load_and_a_label_older_than_every_window_stays_out() -> None:
    """States written before these features have no `fw`: they read as no frauds. A label
    whose event is older than 30 days counts in the lifetime reports only."""
    key = "merchant:m1"
    event = _event(0, 0.0, "a1", "d1", "m1", 20)
    old = {key: EntityState(key, 3, {"fr": 2})}
    assert compute(event, old, {})["merchant_frauds_30d"] == 0
    updated = apply_outcome(old, [key], None, Outcome.FRAUD, at=T0.timestamp() - 40 * DAY)
    assert updated[0].data["fr"] == 3
    features = compute(event, {s.key: s for s in updated}, {})
    assert features["merchant_frauds_30d"] == 0
    assert features["merchant_fraud_reports"] == 3
    assert compute(event, old, {})["merchant_fraud_reports"] == 2


@given(st.lists(st.tuples(st.integers(0, 40 * int(DAY)), st.booleans()), max_size=30))
def test_shift_adds_and_takes_back_like_a_multiset(changes: list[tuple[int, bool]]) -> None:
    """`windows.shift` keeps, per bucket, the frauds added minus those taken back (never
    below 0); totals over a window then equal a direct count of the surviving frauds."""
    window = w.WINDOW_BY_NAME["7d"]
    series: w.Series | None = None
    kept: list[int] = []
    base = T0.timestamp()
    for at, adding in sorted(changes):
        if adding:
            series = w.shift(series, window, base + at, 1)
            kept.append(at)
        else:
            series = w.shift(series, window, base + at, -1)
            same = [
                k
                for k in kept
                if int((base + k) // window.bucket_seconds)
                == int((base + at) // window.bucket_seconds)
            ]
            if same:
                kept.remove(same[0])
    now = base + 40 * DAY
    current = int(now // window.bucket_seconds)
    expected = sum(
        1 for k in kept if int((base + k) // window.bucket_seconds) > current - window.buckets
    )
    assert w.totals(series, window, now)[0] == expected
