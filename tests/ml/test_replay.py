"""No train/serve skew: replayed training features equal what the engine stored online."""

from __future__ import annotations

import heapq
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from payguard.audit.interfaces import Actor
from payguard.core.clock import FrozenClock
from payguard.core.decisions import Outcome
from payguard.ml.dataset import Dataset
from payguard.ml.replay import FeatureTable, load_features, replay, replay_dataset
from payguard.risk.engine import dense
from payguard.risk.models.vector import Vectorizer
from payguard.services import build_services
from payguard.settings import Settings

from .conftest import write_sim_dir


@pytest.fixture(scope="module")
def skew_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("skew")
    write_sim_dir(out, customers=25, days=5, fraud_rate=0.08, seed=12, max_delay_hours=12)
    return out


def test_replayed_features_equal_the_engines(skew_dir: Path, tmp_path: Path) -> None:
    stream = list(Dataset(skew_dir).events())
    assert 300 < len(stream) < 3000
    assert sum(1 for e in stream if e.fraud and e.label_at is not None) >= 10
    replayed: dict[str, dict[str, Any]] = {}
    table, stats = replay(
        stream, on_features=lambda item, f: replayed.__setitem__(item.event.event_id, f)
    )
    assert stats.labels_applied >= 10

    clock = FrozenClock(datetime(2026, 1, 1, tzinfo=UTC))
    services = build_services(Settings(database_url=f"sqlite:///{tmp_path}/engine.db"), clock=clock)
    try:
        tenant, _ = services.tenants.create_tenant("skew", actor=Actor.system("test"))
        pending: list[tuple[datetime, int, str]] = []
        online: dict[str, dict[str, Any]] = {}
        for n, item in enumerate(stream):
            event = item.event
            # Labels reach the engine as the partner reports them: before every later event.
            while pending and pending[0][0] < event.occurred_at:
                at, _, assessment_id = heapq.heappop(pending)
                clock.set(at)
                services.assessments.record_outcome(
                    tenant_id=tenant.id,
                    assessment_id=assessment_id,
                    outcome=Outcome.FRAUD,
                    actor=Actor("test"),
                )
            clock.set(event.occurred_at)
            decision, replayed_id = services.assessments.assess(tenant.id, event)
            assert not replayed_id
            online[event.event_id] = dense(decision.features)
            if item.fraud and item.label_at is not None:
                heapq.heappush(pending, (item.label_at, n, decision.assessment_id))
    finally:
        services.close()

    mismatched = [
        (event_id, {k: (v, online[event_id][k]) for k, v in f.items() if online[event_id][k] != v})
        for event_id, f in replayed.items()
        if f != online[event_id]
    ]
    assert not mismatched, mismatched[:3]
    # ... and so do the rows a model reads.
    vectorizer = Vectorizer(table.columns)
    engine_rows = vectorizer.matrix(
        (online[str(event_id)] for event_id in table.event_id), count=len(table)
    )
    np.testing.assert_array_equal(engine_rows, table.matrix)
    # The two-process replay (entity kinds split between processes) gives the same rows.
    sharded, _ = replay_dataset(Dataset(skew_dir), workers=2)
    np.testing.assert_array_equal(engine_rows, sharded.matrix)
    np.testing.assert_array_equal(table.label_at, sharded.label_at)
    # Fraud reports did reach the features of later events.
    reports = [c for c in table.columns if c.endswith("_fraud_reports")]
    assert table.matrix[:, [table.columns.index(c) for c in reports]].sum() > 0
    # ... and so did the windowed, delay-aware fraud counts and rates.
    for suffix in ("frauds_1d", "frauds_30d", "fraud_rate_7d"):
        windowed = [c for c in table.columns if c.endswith(f"_{suffix}")]
        assert len(windowed) == 6  # one per entity kind, the card's included
        assert table.matrix[:, [table.columns.index(c) for c in windowed]].sum() > 0


def test_features_are_cached_beside_the_data(sim_dir: Path) -> None:
    dataset = Dataset(sim_dir)
    first, stats = load_features(dataset, progress=False)
    assert stats is not None and stats.events == len(first) > 1000
    again, cached = load_features(dataset, progress=False)
    assert cached is None
    for name in ("matrix", "fraud", "label_at", "occurred_at", "account", "typology"):
        np.testing.assert_array_equal(getattr(first, name), getattr(again, name))
    assert list(sim_dir.glob(".payguard-features-*.npz"))
    assert isinstance(again, FeatureTable) and again.columns == first.columns
