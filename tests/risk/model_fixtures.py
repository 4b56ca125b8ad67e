"""Tiny trained models for the registry, scorer, engine, API and CLI tests.

The model is a small LightGBM booster over the catalog's columns, trained on random rows where
fraud means a large `amount` (over 2,000) or a device shared by 3+ accounts within the hour,
so tests can steer its score with ordinary events. Built once per process (training and the
ONNX export take about a second).
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from typing import Any

import numpy as np
import numpy.typing as npt

from payguard.ml.drift import build_reference
from payguard.ml.export import export_onnx
from payguard.risk.models.artifact import ModelArtifact
from payguard.risk.models.vector import catalog_columns

COLUMNS = catalog_columns()
#: A feature dict the model scores near 1, and one it scores near 0.
RISKY: dict[str, Any] = {"amount": 4800.0, "device_distinct_accounts_1h": 4}
SAFE: dict[str, Any] = {"amount": 25.0, "device_distinct_accounts_1h": 1}


def training_rows(
    count: int = 4000, seed: int = 0
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.int32]]:
    rng = np.random.default_rng(seed)
    matrix = np.zeros((count, len(COLUMNS)), dtype=np.float32)
    # Background noise on a few dozen columns, as real traffic has.
    noisy = rng.choice(len(COLUMNS), size=min(40, len(COLUMNS)), replace=False)
    matrix[:, noisy] = rng.integers(0, 4, size=(count, len(noisy)))
    amount = COLUMNS.index("amount")
    shared = COLUMNS.index("device_distinct_accounts_1h")
    matrix[:, amount] = np.round(rng.gamma(1.2, 600.0, size=count), 2)
    matrix[:, shared] = rng.choice([0, 1, 1, 1, 2, 3, 4, 5], size=count)
    fraud = (matrix[:, amount] > 2000) | (matrix[:, shared] >= 3)
    flip = rng.random(count) < 0.02
    return matrix, (fraud ^ flip).astype(np.int32)


def train_booster(trees: int = 30, seed: int = 0, leaves: int = 7) -> Any:
    import lightgbm as lgb

    matrix, labels = training_rows(seed=seed)
    params = {
        "objective": "binary",
        "num_leaves": leaves,
        "min_data_in_leaf": 10,
        "learning_rate": 0.2,
        "seed": seed,
        "verbose": -1,
    }
    return lgb.train(params, lgb.Dataset(matrix, label=labels), num_boost_round=trees)


def build_artifact(trees: int = 30, seed: int = 0, data_hash: str | None = None) -> ModelArtifact:
    booster = train_booster(trees=trees, seed=seed)
    matrix, _ = training_rows(seed=seed)
    scores = booster.predict(matrix)
    top = ["amount", "device_distinct_accounts_1h"]
    return ModelArtifact(
        columns=COLUMNS,
        onnx=export_onnx(booster, len(COLUMNS)),
        booster=booster.model_to_string(),
        trained_at=datetime(2026, 3, 1, tzinfo=UTC),
        data_hash=data_hash or f"sha256:{seed:064x}",
        metrics={"model": {"average_precision": 0.91, "roc_auc": 0.97}},
        params={"trees": trees, "seed": seed},
        reference=build_reference(scores, matrix, COLUMNS, top),
    )


@functools.cache
def artifact(seed: int = 0) -> ModelArtifact:
    """A trained model (cached per seed for the whole test run)."""
    return build_artifact(seed=seed)


@functools.cache
def booster(seed: int = 0) -> Any:
    import lightgbm as lgb

    return lgb.Booster(model_str=artifact(seed).booster)
