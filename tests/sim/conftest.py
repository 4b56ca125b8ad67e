"""Shared simulator runs: generated once per session because several test modules read them."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from payguard.sim import SimulatedEvent, simulate
from payguard.sim.population import Population, build_population

SEED = 11
CUSTOMERS = 400
#: A Monday, so a seven-day run covers five weekdays and one weekend.
START = datetime(2026, 3, 2, tzinfo=UTC)


@pytest.fixture(scope="session")
def fraud_run() -> list[SimulatedEvent]:
    return list(simulate(seed=SEED, customers=CUSTOMERS, days=7, start=START, fraud_rate=0.05))


@pytest.fixture(scope="session")
def population() -> Population:
    return build_population(seed=SEED, customers=CUSTOMERS)
