"""Shared simulator runs: generated once per session because several test modules read them."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime

import pytest

from payguard.sim import SimulatedEvent, simulate
from payguard.sim.population import Population, build_population

SEED = 11
CUSTOMERS = 500
DAYS = 8
FRAUD_RATE = 0.08
#: A Monday, so the run covers five weekdays and a weekend.
START = datetime(2026, 3, 2, tzinfo=UTC)


@pytest.fixture(scope="session")
def fraud_run() -> list[SimulatedEvent]:
    """Enough fraud that every typology runs a few campaigns (three decks' worth)."""
    return list(
        simulate(seed=SEED, customers=CUSTOMERS, days=DAYS, start=START, fraud_rate=FRAUD_RATE)
    )


@pytest.fixture(scope="session")
def population() -> Population:
    return build_population(seed=SEED, customers=CUSTOMERS)


@pytest.fixture(scope="session")
def campaigns(fraud_run: list[SimulatedEvent]) -> dict[str, list[list[SimulatedEvent]]]:
    """Fraud events grouped by typology, then by campaign, in time order."""
    grouped: dict[str, dict[str, list[SimulatedEvent]]] = defaultdict(dict)
    for event in fraud_run:
        if event.typology is not None:
            assert event.campaign is not None
            grouped[event.typology].setdefault(event.campaign, []).append(event)
    return {typology: list(runs.values()) for typology, runs in grouped.items()}
