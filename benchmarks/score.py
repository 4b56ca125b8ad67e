"""Benchmark single-row model scoring, the way the engine scores one event.

Trains a LightGBM model (200 trees by default) on synthetic rows as wide as the feature
catalog, or loads one written by `payguard train` (`--model-file`), and prints µs per
single-row call for: onnxruntime's `session.run` on a ready row, `Vectorizer.row` (feature
dict → float32 row), `OnnxScorer.score` end to end (what the hot path pays), LightGBM's
`Booster.predict`, `pred_leaf` and `pred_contrib` (SHAP), each on one thread as the hot
path would call them, and the leaf-attribution reason codes (`OnnxScorer.explain`, paid
only by decisions the model drives). Usage:
python benchmarks/score.py [--trees N] [--rows N] [--model-file PATH]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from payguard.core.events import Channel, EventType
from payguard.ml.export import export_onnx
from payguard.risk.features.extractor import FEATURES
from payguard.risk.models.artifact import ModelArtifact
from payguard.risk.models.onnx import PROBABILITIES, OnnxScorer, inference_session
from payguard.risk.models.vector import Vectorizer, catalog_columns


def synthetic_features(count: int, seed: int) -> list[dict[str, Any]]:
    """Feature dicts shaped like the engine's: every catalog feature, random values."""
    rng = np.random.default_rng(seed)
    events = [t.value for t in EventType]
    channels = [c.value for c in Channel]
    rows = []
    for _ in range(count):
        features: dict[str, Any] = {}
        for name, neutral in FEATURES.items():
            if isinstance(neutral, bool):
                features[name] = bool(rng.random() < 0.1)
            elif isinstance(neutral, int):
                features[name] = int(rng.poisson(1.0))
            elif isinstance(neutral, float):
                features[name] = float(np.round(rng.gamma(1.0, 50.0), 2))
            elif isinstance(neutral, list):
                features[name] = ["blocked"] if rng.random() < 0.02 else []
            else:
                features[name] = neutral
        features["event_type"] = events[int(rng.integers(len(events)))]
        features["channel"] = channels[int(rng.integers(len(channels)))]
        rows.append(features)
    return rows


def train(trees: int, rows: int, seed: int) -> tuple[ModelArtifact, Any]:
    import lightgbm as lgb

    columns = catalog_columns()
    vectorizer = Vectorizer(columns)
    features = synthetic_features(rows, seed)
    matrix = vectorizer.matrix(features, count=len(features))
    rng = np.random.default_rng(seed)
    weights = rng.normal(size=len(columns))
    margin = (matrix - matrix.mean(axis=0)) / (matrix.std(axis=0) + 1e-6) @ weights
    labels = (margin + rng.normal(scale=2.0, size=len(margin)) > 2.5).astype(np.int32)
    params = {"objective": "binary", "num_leaves": 31, "verbose": -1, "seed": seed}
    booster = lgb.train(params, lgb.Dataset(matrix, label=labels), num_boost_round=trees)
    artifact = ModelArtifact(
        columns=columns,
        onnx=export_onnx(booster, len(columns)),
        booster=booster.model_to_string(),
        trained_at=datetime.now(UTC),
        data_hash="synthetic",
    )
    return artifact, booster


def per_call(fn: Callable[[int], object], count: int) -> float:
    """Median over 5 rounds of µs per call; `fn(i)` is called with i = 0..count-1."""
    for i in range(min(200, count)):
        fn(i)
    rounds = []
    for _ in range(5):
        started = time.perf_counter_ns()
        for i in range(count):
            fn(i)
        rounds.append((time.perf_counter_ns() - started) / count / 1000)
    return sorted(rounds)[2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trees", type=int, default=200)
    parser.add_argument("--rows", type=int, default=20_000, help="synthetic training rows")
    parser.add_argument("--calls", type=int, default=2_000, help="calls per measurement")
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--model-file", type=Path, help="a model written by `payguard train`")
    args = parser.parse_args()

    import lightgbm as lgb

    if args.model_file:
        from payguard.ml.artifact_io import load

        artifact = load(args.model_file)
        booster = lgb.Booster(model_str=artifact.booster)
        source = f"{args.model_file.name}"
    else:
        artifact, booster = train(args.trees, args.rows, args.seed)
        source = f"synthetic, {args.rows} rows"
    today = datetime.now(UTC).strftime("%Y-%m-%d")
    print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}, {today}")
    print(
        f"model: {booster.num_trees()} trees, {len(artifact.columns)} columns ({source}); "
        f"µs per single-row call, median of 5 rounds of {args.calls}"
    )

    features = synthetic_features(args.calls, args.seed + 1)
    vectorizer = Vectorizer(artifact.columns)
    rows = [vectorizer.row(f) for f in features]
    session = inference_session(artifact.onnx)
    name = session.get_inputs()[0].name
    scorer = OnnxScorer(artifact, 1)
    ready = np.zeros((1, len(artifact.columns)), dtype=np.float32)

    figures = {
        "onnxruntime session.run (ready row)": lambda i: session.run(
            [PROBABILITIES], {name: rows[i]}
        ),
        "Vectorizer.row (feature dict → row)": lambda i: vectorizer.row(features[i]),
        "Vectorizer.fill (into a ready row)": lambda i: vectorizer.fill(features[i], ready[0]),
        "OnnxScorer.score (end to end)": lambda i: scorer.score(features[i]),
        "Booster.predict": lambda i: booster.predict(rows[i], num_threads=1),
        "Booster.predict pred_leaf": lambda i: booster.predict(
            rows[i], pred_leaf=True, num_threads=1
        ),
        "Booster.predict pred_contrib (SHAP)": lambda i: booster.predict(
            rows[i], pred_contrib=True, num_threads=1
        ),
        "reason codes (OnnxScorer.explain, 3)": lambda i: scorer.explain(features[i], 3),
    }
    width = max(len(label) for label in figures)
    for label, fn in figures.items():
        calls = args.calls if "contrib" not in label else min(args.calls, 300)
        print(f"{label:<{width}}  {per_call(fn, calls):8.1f} µs")


if __name__ == "__main__":
    main()
