"""Merges every customer's legitimate stream and the attack campaigns into one labelled stream.

Streams are generated lazily and merged on a heap keyed by each stream's next event, so
memory grows with the number of customers, never with the length of the run.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from heapq import heapify, heappop, heapreplace
from typing import Any

from payguard.sim.attacks import TYPOLOGIES, AttackCampaigns
from payguard.sim.legit import (
    CustomerActivity,
    expected_events_per_day,
    mean_events_per_customer_day,
)
from payguard.sim.population import Population, build_population
from payguard.sim.wire import DAY_MS

_Item = tuple[int, int, dict[str, Any], tuple[int | None, str] | None]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_RUN = re.compile(r"[A-Za-z0-9-]{1,16}")


@dataclass(slots=True)
class SimulatedEvent:
    """One assessment request in wire format with its ground truth.

    Not frozen: a frozen dataclass takes four times as long to build, and the simulator
    builds one per event.
    """

    request: dict[str, Any]
    #: "fraud" for attack events, None for legitimate ones.
    label: str | None
    #: One of `payguard.sim.attacks.TYPOLOGIES` for fraud, None for legitimate events.
    typology: str | None
    #: When the partner learns the event was fraud (epoch ms): a report, a complaint or a
    #: chargeback, days or weeks later. None for legitimate events and for fraud nobody ever
    #: reports (whose `label` is still "fraud": it is the ground truth).
    label_at: int | None = None
    #: Which campaign a fraud event belongs to (its events share it); None for legitimate ones.
    campaign: str | None = None


def simulate(
    *, seed: int, customers: int, days: float, start: datetime, fraud_rate: float = 0.01
) -> Iterator[SimulatedEvent]:
    """`days` of traffic from `customers` account holders, in `occurred_at` order.

    The same arguments always give the same events, byte for byte. `fraud_rate` is roughly
    the share of events that belong to attack campaigns.
    """
    if not math.isfinite(days) or days < 0:
        raise ValueError("days must be a finite number >= 0")
    start_ms = _epoch_ms(start)
    population = _population(seed, customers, fraud_rate)
    return _events(population, seed, start_ms, start_ms + round(days * DAY_MS), fraud_rate, None)


def stream(
    *,
    seed: int,
    customers: int,
    rate_per_second: float | None = None,
    start: datetime,
    fraud_rate: float = 0.01,
    sleep: Callable[[float], None] = time.sleep,
    monotonic: Callable[[], float] = time.monotonic,
    run: str | None = None,
) -> Iterator[SimulatedEvent]:
    """Endless traffic for live demos, simulated from `start` onwards.

    It is one unbounded run rather than a chain of daily runs, so customers keep their devices,
    payees and trips from one day to the next, and newcomers keep joining (`NEWCOMER_SHARE`
    of the population a month).
    With `rate_per_second`, events are handed out no faster than that in wall-clock time
    (`sleep` and `monotonic` are injectable for tests); simulated time runs at whatever pace
    the population's own activity gives. To hand them out at their own times instead, as
    live traffic, wrap the stream in `in_real_time`. `run` goes into every event id
    (`evt-<seed>-<run>-<n>`), so two runs of the same seed never share an id.
    """
    if rate_per_second is not None and not rate_per_second > 0:
        raise ValueError("rate_per_second must be positive")
    if run is not None and not _RUN.fullmatch(run):
        raise ValueError("run must be 1 to 16 letters, digits or dashes")
    start_ms = _epoch_ms(start)
    population = _population(seed, customers, fraud_rate)
    events = _events(population, seed, start_ms, None, fraud_rate, run)
    if rate_per_second is None:
        return events
    return _paced(events, rate_per_second, sleep, monotonic)


def in_real_time(
    events: Iterator[SimulatedEvent],
    *,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
    longest_sleep: float = 1.0,
) -> Iterator[SimulatedEvent | None]:
    """Hand out each event once `clock` (epoch seconds) reaches its `occurred_at`.

    Events already due (a backfill, or a consumer that fell behind) come at once. While
    waiting, it sleeps at most `longest_sleep` seconds at a time and yields None after each
    sleep, so the consumer can refresh a display or stop between events.
    """
    for event in events:
        due = event_time(event)
        while True:
            wait = due - clock()
            if wait <= 0:
                break
            sleep(min(wait, longest_sleep))
            yield None
        yield event


def event_time(event: SimulatedEvent) -> float:
    """When `event` occurred, in epoch seconds."""
    return datetime.fromisoformat(event.request["occurred_at"]).timestamp()


def events_per_second(customers: int) -> float:
    """The average legitimate events a second `customers` account holders make (over a
    week; busier at lunch and in the evening, quiet at night)."""
    return customers * mean_events_per_customer_day() / (DAY_MS / 1000)


def customers_for_rate(rate_per_second: float) -> int:
    """How many account holders make `rate_per_second` legitimate events on average."""
    if not rate_per_second > 0 or not math.isfinite(rate_per_second):
        raise ValueError("rate_per_second must be positive")
    return max(1, round(rate_per_second * (DAY_MS / 1000) / mean_events_per_customer_day()))


def expected_event_count(*, customers: int, days: float, fraud_rate: float) -> int:
    """Roughly how many events `simulate` yields for these arguments (for progress bars)."""
    legit = customers * mean_events_per_customer_day() * days
    return round(legit / (1 - fraud_rate)) if fraud_rate < 1 else round(legit)


def _epoch_ms(start: datetime) -> int:
    if start.tzinfo is None or start.utcoffset() is None:
        raise ValueError("start must be timezone-aware")
    # Rounded up, so that no event falls before `start` once shown to the millisecond.
    return -((_EPOCH - start) // timedelta(milliseconds=1))


def _population(seed: int, customers: int, fraud_rate: float) -> Population:
    if not 0 <= fraud_rate < 1:
        raise ValueError("fraud_rate must be in [0, 1)")
    if customers < 1:
        raise ValueError("customers must be at least 1")
    return build_population(seed=seed, customers=customers)


def _events(
    population: Population,
    seed: int,
    start_ms: int,
    end_ms: int | None,
    fraud_rate: float,
    run: str | None,
) -> Iterator[SimulatedEvent]:
    people = population.customers
    streams: list[Iterator[_Item]] = [
        iter(
            CustomerActivity(
                customer, population, seed=seed, start_ms=start_ms, end_ms=end_ms, stream=i
            )
        )
        for i, customer in enumerate(people)
    ]
    legit_per_ms = sum(expected_events_per_day(c) for c in people) / DAY_MS
    if fraud_rate > 0:
        streams.append(
            iter(
                AttackCampaigns(
                    population,
                    seed=seed,
                    start_ms=start_ms,
                    end_ms=end_ms,
                    events_per_ms=legit_per_ms * fraud_rate / (1 - fraud_rate),
                    stream_base=len(people),
                )
            )
        )
    legit = len(people)
    prefix = f"evt-{seed}-" if run is None else f"evt-{seed}-{run}-"
    for n, (_, key, request, truth) in enumerate(_merge(streams)):
        request["event_id"] = f"{prefix}{n:09d}"
        if truth is None:
            yield SimulatedEvent(request, None, None)
        else:
            yield SimulatedEvent(request, "fraud", TYPOLOGIES[key - legit], truth[0], truth[1])


def _merge(streams: list[Iterator[_Item]]) -> Iterator[_Item]:
    """Merge time-ordered streams into one time-ordered stream.

    Like `heapq.merge`, but heap entries are flat `(time, stream index, item)` tuples, which
    compare faster than `heapq.merge`'s nested lists (this is the simulator's hottest loop).
    The index is unique on the heap, so items themselves are never compared.
    """
    due: list[tuple[int, int, _Item]] = []
    for i, stream in enumerate(streams):
        first = next(stream, None)
        if first is not None:
            due.append((first[0], i, first))
    heapify(due)
    while due:
        _, i, item = due[0]
        yield item
        following = next(streams[i], None)
        if following is None:
            heappop(due)
        else:
            heapreplace(due, (following[0], i, following))


def _paced(
    events: Iterator[SimulatedEvent],
    rate_per_second: float,
    sleep: Callable[[float], None],
    monotonic: Callable[[], float],
) -> Iterator[SimulatedEvent]:
    interval = 1.0 / rate_per_second
    due = monotonic()
    for event in events:
        now = monotonic()
        if due > now:
            sleep(due - now)
        elif now - due > 1.0:
            # A consumer that stalled gets the pace back, not a burst of catch-up events.
            due = now
        due += interval
        yield event
