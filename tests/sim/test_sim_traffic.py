"""The merged stream: determinism, ordering, ids, labels, fraud share and the endless demo."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

import payguard.sim
from payguard.sim import SimulatedEvent, simulate, stream
from payguard.sim.attacks import TYPOLOGIES
from payguard.sim.traffic import (
    customers_for_rate,
    event_time,
    events_per_second,
    expected_event_count,
    in_real_time,
)

START = datetime(2026, 3, 2, tzinfo=UTC)
DAYS = 8  # of the shared fraud_run (conftest)


def _dump(events: list[SimulatedEvent]) -> bytes:
    return json.dumps(
        [[e.request, e.label, e.typology, e.label_at, e.campaign] for e in events],
        separators=(",", ":"),
    ).encode()


def test_public_api() -> None:
    assert payguard.sim.__all__ == ["SimulatedEvent", "simulate", "stream"]


def test_same_seed_gives_byte_identical_output() -> None:
    def run() -> bytes:
        return _dump(list(simulate(seed=5, customers=60, days=3, start=START, fraud_rate=0.05)))

    assert run() == run()


_DIGEST = """
import hashlib, json
from datetime import UTC, datetime
from payguard.sim import simulate
digest = hashlib.sha256()
start = datetime(2026, 3, 2, tzinfo=UTC)
for e in simulate(seed=5, customers=60, days=2, start=start, fraud_rate=0.05):
    digest.update(json.dumps([e.request, e.label, e.typology, e.label_at]).encode())
print(digest.hexdigest())
"""


def test_output_does_not_depend_on_string_hash_randomisation() -> None:
    def digest(hash_seed: str) -> str:
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        # Runs this interpreter on a fixed script: no untrusted input reaches the subprocess.
        done = subprocess.run(
            [sys.executable, "-c", _DIGEST], env=env, capture_output=True, text=True, check=True
        )
        return done.stdout.strip()

    assert digest("1") == digest("2")


def test_different_seeds_give_different_output() -> None:
    one = _dump(list(simulate(seed=1, customers=60, days=2, start=START)))
    two = _dump(list(simulate(seed=2, customers=60, days=2, start=START)))
    assert one != two


def test_events_are_in_time_order(fraud_run: list[SimulatedEvent]) -> None:
    times = [datetime.fromisoformat(e.request["occurred_at"]) for e in fraud_run]
    assert times == sorted(times)
    assert times[0] >= START and times[-1] < START + timedelta(days=DAYS)


def test_event_ids_are_assigned_in_output_order(fraud_run: list[SimulatedEvent]) -> None:
    ids = [e.request["event_id"] for e in fraud_run]
    assert ids == [f"evt-11-{n:09d}" for n in range(len(fraud_run))]
    assert next(iter(fraud_run)).request["event_id"] == "evt-11-000000000"


def test_every_typology_is_labelled_and_legit_is_not(fraud_run: list[SimulatedEvent]) -> None:
    typologies = {(e.label, e.typology) for e in fraud_run}
    assert typologies == {(None, None)} | {("fraud", t) for t in TYPOLOGIES}


def test_simulated_event_keeps_its_positional_form() -> None:
    """`payguard demo` builds events as SimulatedEvent(request, label, typology)."""
    event = SimulatedEvent({"event_id": "x"}, "fraud", "sim_swap")
    assert event.label_at is None and event.campaign is None


def test_fraud_rate_is_roughly_the_share_of_attack_events(
    fraud_run: list[SimulatedEvent],
) -> None:
    share = sum(e.label == "fraud" for e in fraud_run) / len(fraud_run)
    assert 0.05 < share < 0.11


@pytest.mark.parametrize("fraud_rate", [0.01, 0.05])
def test_fraud_rate_holds_over_a_longer_run(fraud_rate: float) -> None:
    events = simulate(seed=8, customers=400, days=20, start=START, fraud_rate=fraud_rate)
    counts = Counter(e.label for e in events)
    share = counts["fraud"] / counts.total()
    assert 0.6 * fraud_rate < share < 1.4 * fraud_rate


def test_the_expected_event_count_is_close() -> None:
    counted = sum(1 for _ in simulate(seed=8, customers=300, days=10, start=START))
    expected = expected_event_count(customers=300, days=10, fraud_rate=0.01)
    assert 0.85 < counted / expected < 1.15


def test_no_fraud_when_the_rate_is_zero() -> None:
    events = list(simulate(seed=3, customers=50, days=2, start=START, fraud_rate=0))
    assert events and all(e.label is None for e in events)


def test_an_empty_period_yields_nothing() -> None:
    assert list(simulate(seed=3, customers=50, days=0, start=START)) == []


def test_simulate_is_lazy() -> None:
    began = time.perf_counter()
    events = simulate(seed=3, customers=2_000, days=3_650, start=START)
    first = list(itertools.islice(events, 100))
    assert len(first) == 100
    assert time.perf_counter() - began < 10  # ten years of traffic would take hours


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"start": datetime(2026, 3, 2)}, "timezone-aware"),
        ({"days": -1.0}, "days"),
        ({"days": float("inf")}, "days"),
        ({"customers": 0}, "customers"),
        ({"fraud_rate": 1.0}, "fraud_rate"),
        ({"fraud_rate": -0.1}, "fraud_rate"),
    ],
)
def test_bad_arguments_are_refused_at_call_time(arguments: dict[str, object], message: str) -> None:
    call: dict[str, object] = {"seed": 1, "customers": 10, "days": 1.0, "start": START}
    call.update(arguments)
    with pytest.raises(ValueError, match=message):
        simulate(**call)  # type: ignore[arg-type]


def test_stream_runs_past_the_first_day_in_order_with_unique_ids() -> None:
    horizon = START + timedelta(days=3)
    events = list(
        itertools.takewhile(
            lambda e: datetime.fromisoformat(e.request["occurred_at"]) < horizon,
            stream(seed=4, customers=80, start=START, fraud_rate=0.05),
        )
    )
    times = [datetime.fromisoformat(e.request["occurred_at"]) for e in events]
    assert times == sorted(times)
    assert times[-1] > START + timedelta(days=2, hours=12)
    assert len({e.request["event_id"] for e in events}) == len(events)
    assert len({e.typology for e in events} - {None}) >= 3


def test_stream_is_deterministic() -> None:
    def head() -> bytes:
        return _dump(list(itertools.islice(stream(seed=9, customers=30, start=START), 500)))

    assert head() == head()


class FakeTime:
    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_stream_paces_events_in_wall_clock_time() -> None:
    clock = FakeTime()
    events = stream(
        seed=4,
        customers=20,
        start=START,
        rate_per_second=5,
        sleep=clock.sleep,
        monotonic=clock.monotonic,
    )
    list(itertools.islice(events, 11))
    assert clock.now == pytest.approx(102.0)
    assert all(s == pytest.approx(0.2) for s in clock.slept)


def test_stream_refuses_a_rate_that_is_not_positive() -> None:
    with pytest.raises(ValueError, match="rate_per_second"):
        stream(seed=1, customers=5, start=START, rate_per_second=0)


def test_in_real_time_hands_each_event_out_at_its_own_time() -> None:
    """Live traffic keeps the simulated pace: nothing is handed out before its time, and the
    history before the clock comes at once."""
    events = stream(seed=4, customers=200, start=START)
    now = [START.timestamp() + 6 * 3600.0]  # six hours of history are already due
    handed: list[tuple[float, float]] = []
    waits = 0
    for event in in_real_time(
        events, clock=lambda: now[0], sleep=lambda s: now.__setitem__(0, now[0] + s)
    ):
        if event is None:
            waits += 1
            continue
        handed.append((event_time(event), now[0]))
        if event_time(event) > START.timestamp() + 8 * 3600:
            break
    assert waits > 0
    assert all(at <= clock for at, clock in handed)
    live = [(at, clock) for at, clock in handed if at > START.timestamp() + 6 * 3600]
    assert live and all(clock - at < 1e-6 for at, clock in live)
    history = [clock for at, clock in handed if at <= START.timestamp() + 6 * 3600]
    assert set(history) == {START.timestamp() + 6 * 3600.0}


def test_the_run_id_goes_into_every_event_id() -> None:
    first = list(itertools.islice(stream(seed=3, customers=20, start=START, run="a1"), 50))
    second = list(itertools.islice(stream(seed=3, customers=20, start=START, run="b2"), 50))
    assert all(e.request["event_id"].startswith("evt-3-a1-") for e in first)
    assert not {e.request["event_id"] for e in first} & {e.request["event_id"] for e in second}
    assert [e.request["account_id"] for e in first] == [e.request["account_id"] for e in second]
    with pytest.raises(ValueError, match="run"):
        stream(seed=3, customers=20, start=START, run="no spaces")


def test_a_rate_scales_the_population_not_each_customer() -> None:
    customers = customers_for_rate(1.0)
    assert 10_000 < customers < 20_000
    assert events_per_second(customers) == pytest.approx(1.0, rel=1e-3)
    with pytest.raises(ValueError, match="rate_per_second"):
        customers_for_rate(0)


def test_an_endless_stream_keeps_taking_on_newcomers() -> None:
    """Newcomers open their accounts over a month of an endless run, not all on its first
    day."""
    horizon = START + timedelta(days=12)
    openings = [
        datetime.fromisoformat(e.request["occurred_at"])
        for e in itertools.takewhile(
            lambda e: datetime.fromisoformat(e.request["occurred_at"]) < horizon,
            stream(seed=2, customers=600, start=START, fraud_rate=0),
        )
        if e.request["event_type"] == "account_open"
    ]
    assert sum(t < START + timedelta(days=1) for t in openings) < len(openings) / 2
    assert any(t > START + timedelta(days=6) for t in openings)
