"""Small labelled data sets for the ML tests: simulated traffic written as the simulator's
output directory, with labels that arrive within the run."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from payguard.sim.traffic import simulate

START = datetime(2026, 1, 5, tzinfo=UTC)


def write_sim_dir(
    out: Path,
    *,
    customers: int,
    days: float,
    fraud_rate: float = 0.03,
    seed: int = 3,
    max_delay_hours: float = 48.0,
) -> int:
    """Write `events.jsonl` + `manifest.json` as `payguard simulate` does; fraud labels
    arrive 1-`max_delay_hours` hours after the event (10 % never), so that labels land
    inside short runs. Returns the number of events."""
    rng = random.Random(seed)
    out.mkdir(parents=True, exist_ok=True)
    count = 0
    with (out / "events.jsonl").open("wb") as lines:
        for item in simulate(
            seed=seed, customers=customers, days=days, start=START, fraud_rate=fraud_rate
        ):
            document: dict[str, Any] = {
                "request": item.request,
                "label": item.label,
                "typology": item.typology,
                "label_at": None,
            }
            if item.label == "fraud" and rng.random() > 0.1:
                at = datetime.fromisoformat(item.request["occurred_at"])
                delay = timedelta(hours=rng.uniform(1, max_delay_hours))
                document["label_at"] = (at + delay).astimezone(UTC).isoformat()
            lines.write(orjson.dumps(document) + b"\n")
            count += 1
    (out / "manifest.json").write_bytes(orjson.dumps({"events": count}))
    return count


@pytest.fixture(scope="session")
def sim_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """About 2 weeks of traffic from 80 customers (a few thousand events)."""
    out = tmp_path_factory.mktemp("sim")
    write_sim_dir(out, customers=80, days=16, fraud_rate=0.04, seed=4)
    return out
