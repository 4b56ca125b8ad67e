"""Train the fraud model (LightGBM) and its logistic-regression baseline on replayed features,
evaluate both on the held-out period and package the model as a `ModelArtifact`.

The artifact's scores are the ONNX graph's (what the engine serves), so the reported metrics
are those of the served model, not of the booster it was converted from.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import numpy.typing as npt

from payguard.core.errors import ValidationFailed
from payguard.ml.drift import TOP_FEATURES, build_reference
from payguard.ml.evaluate import score_metrics
from payguard.ml.export import export_onnx
from payguard.ml.replay import FeatureTable
from payguard.ml.split import TimeSplit, held_out_rows, training_rows
from payguard.risk.models.artifact import ModelArtifact

#: LightGBM settings; `num_threads` 2 matches the machines this runs on, and a fixed seed
#: with `deterministic` gives the same trees for the same data.
BOOSTER_PARAMS: Mapping[str, Any] = {
    "objective": "binary",
    "learning_rate": 0.05,
    "num_leaves": 31,
    "min_child_samples": 50,
    "feature_fraction": 0.8,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "lambda_l2": 1.0,
    "num_threads": 2,
    "deterministic": True,
    "force_row_wise": True,
    "verbose": -1,
}
DEFAULT_TREES = 200
#: Most training rows: beyond it, legitimate events are sampled (every fraud is kept) and
#: weighted by the inverse of the sampling rate, so scores stay probabilities. Tree and
#: baseline training time grow with rows; ranking quality barely does past this.
DEFAULT_MAX_TRAIN_ROWS = 600_000
#: Fewest fraud labels in the training period worth training on.
MIN_FRAUDS = 10
_SCORE_BATCH = 200_000
#: Training-period rows the drift reference's bins are drawn from.
REFERENCE_ROWS = 200_000

Matrix = npt.NDArray[np.float32]
Scores = npt.NDArray[np.float64]


def fit_booster(
    matrix: Matrix,
    labels: npt.NDArray[np.bool_],
    *,
    trees: int,
    seed: int,
    weights: Scores | None = None,
    **overrides: Any,
) -> Any:
    """A LightGBM binary booster (`lightgbm.Booster`) on `matrix`."""
    import lightgbm as lgb

    params = {**BOOSTER_PARAMS, "seed": seed, **overrides}
    data = lgb.Dataset(matrix, label=labels.astype(np.float32), weight=weights, free_raw_data=True)
    return lgb.train(params, data, num_boost_round=trees)


def sample_rows(
    rows: npt.NDArray[np.intp], labels: npt.NDArray[np.bool_], max_rows: int, seed: int
) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.bool_], Scores]:
    """At most `max_rows` of the training rows: every fraud, a seeded sample of the rest,
    with weights 1 for frauds and 1/rate for the sampled legitimate rows."""
    weights = np.ones(len(rows), dtype=np.float64)
    legit = np.flatnonzero(~labels)
    room = max_rows - int(labels.sum())
    if len(rows) <= max_rows or room >= len(legit) or room <= 0:
        return rows, labels, weights
    rng = np.random.default_rng(seed)
    kept_legit = np.sort(rng.choice(legit, size=room, replace=False))
    keep = np.sort(np.concatenate([np.flatnonzero(labels), kept_legit]))
    weights = np.where(labels[keep], 1.0, len(legit) / room)
    return rows[keep], labels[keep], weights


def fit_baseline(
    matrix: Matrix, labels: npt.NDArray[np.bool_], *, seed: int, weights: Scores | None = None
) -> Any:
    """Logistic regression on standardised features, classes balanced (scikit-learn)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    model = make_pipeline(
        StandardScaler(),
        LogisticRegression(class_weight="balanced", max_iter=500, random_state=seed),
    )
    model.fit(matrix, labels, logisticregression__sample_weight=weights)
    return model


def baseline_scores(model: Any, matrix: Matrix) -> Scores:
    scores: Scores = model.predict_proba(matrix)[:, 1].astype(np.float64)
    return scores


def onnx_scores(onnx: bytes, matrix: Matrix) -> Scores:
    """Fraud probabilities from the served ONNX graph, in batches."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 2
    session = ort.InferenceSession(onnx, options, providers=["CPUExecutionProvider"])
    out = np.empty(len(matrix), dtype=np.float64)
    for start in range(0, len(matrix), _SCORE_BATCH):
        batch = np.ascontiguousarray(matrix[start : start + _SCORE_BATCH], dtype=np.float32)
        (probabilities,) = session.run(["probabilities"], {"x": batch})
        out[start : start + len(batch)] = probabilities[:, 1]
    return out


def top_features(booster: Any, columns: tuple[str, ...], n: int = TOP_FEATURES) -> list[str]:
    """The `n` columns with the most total split gain."""
    gains = booster.feature_importance(importance_type="gain")
    order = np.argsort(-gains, kind="stable")
    return [columns[i] for i in order[:n] if gains[i] > 0]


@dataclass
class Evaluation:
    """A model and its baseline scored on the held-out period of one split."""

    report: dict[str, Any]
    labels: npt.NDArray[np.bool_]
    model_scores: Scores
    baseline_scores: Scores
    test: FeatureTable
    timings: dict[str, float] = field(default_factory=dict)


def training_set(
    table: FeatureTable, split: TimeSplit, *, max_rows: int, seed: int
) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.bool_], Scores]:
    """The training rows (sampled down to `max_rows`), labels and weights; refused when
    there is too little to learn from."""
    rows, labels = training_rows(table, split)
    frauds = int(labels.sum())
    if len(rows) == 0 or frauds < MIN_FRAUDS:
        raise ValidationFailed(
            f"the training period has {len(rows)} events and {frauds} frauds known by "
            f"train-until; at least {MIN_FRAUDS} are needed",
            field="--train-until",
        )
    if frauds == len(rows):
        raise ValidationFailed("the training period has no legitimate events", field="--data")
    return sample_rows(rows, labels, max_rows, seed)


def evaluate_split(
    table: FeatureTable,
    split: TimeSplit,
    artifact: ModelArtifact,
    *,
    seed: int = 1,
    baseline: Any = None,
    data: Mapping[str, Any] | None = None,
    model_version: int | str | None = None,
    max_train_rows: int = DEFAULT_MAX_TRAIN_ROWS,
) -> Evaluation:
    """Score `artifact` and the logistic baseline (trained on the split's training period
    unless given) on the split's test period; the report is what `payguard evaluate` writes."""
    matrix = (
        table.matrix
        if tuple(artifact.columns) == table.columns
        else relayout(table, artifact.columns)
    )
    timings: dict[str, float] = {}
    if baseline is None:
        started = time.perf_counter()
        rows, labels, weights = training_set(table, split, max_rows=max_train_rows, seed=seed)
        baseline = fit_baseline(table.matrix[rows], labels, seed=seed, weights=weights)
        timings["baseline_train_seconds"] = round(time.perf_counter() - started, 3)
    test_index = held_out_rows(table, split)
    if len(test_index) == 0:
        raise ValidationFailed("the test period holds no events", field="--test-from")
    test = table.take(test_index)
    started = time.perf_counter()
    model = onnx_scores(artifact.onnx, matrix[test_index])
    timings["model_score_seconds"] = round(time.perf_counter() - started, 3)
    base = baseline_scores(baseline, test.matrix)
    days = test.days()

    def metrics(scores: Scores) -> dict[str, Any]:
        return score_metrics(
            test.fraud, scores, days=days, accounts=test.account, typologies=test.typology
        )

    report = {
        "model_version": model_version,
        "model": metrics(model),
        "baseline": {"kind": "logistic_regression", **metrics(base)},
        "data": dict(data or {}),
        "split": split.to_dict(),
        "timings": timings,
    }
    return Evaluation(report, test.fraud, model, base, test, timings)


def relayout(table: FeatureTable, columns: tuple[str, ...]) -> Matrix:
    """The table's matrix with `columns` (a model trained on an older catalog): columns the
    table lacks read as 0, as the `Vectorizer` does online."""
    if tuple(columns) == table.columns:
        return table.matrix
    index = {name: i for i, name in enumerate(table.columns)}
    out = np.zeros((len(table), len(columns)), dtype=np.float32)
    for j, name in enumerate(columns):
        if name in index:
            out[:, j] = table.matrix[:, index[name]]
    return out


@dataclass
class TrainedModel:
    artifact: ModelArtifact
    evaluation: Evaluation
    booster: Any
    timings: dict[str, float]


def train_model(
    table: FeatureTable,
    split: TimeSplit,
    *,
    trees: int = DEFAULT_TREES,
    seed: int = 1,
    data_hash: str,
    data: Mapping[str, Any] | None = None,
    extra_params: Mapping[str, Any] | None = None,
    max_train_rows: int = DEFAULT_MAX_TRAIN_ROWS,
    **booster_overrides: Any,
) -> TrainedModel:
    """Train on the split's training period, evaluate on its test period, package."""
    all_rows, _ = training_rows(table, split)
    rows, labels, weights = training_set(table, split, max_rows=max_train_rows, seed=seed)
    timings: dict[str, float] = {}
    started = time.perf_counter()
    train_matrix = table.matrix[rows]
    booster = fit_booster(
        train_matrix, labels, trees=trees, seed=seed, weights=weights, **booster_overrides
    )
    timings["model_train_seconds"] = round(time.perf_counter() - started, 3)
    started = time.perf_counter()
    onnx = export_onnx(booster, len(table.columns))
    timings["export_seconds"] = round(time.perf_counter() - started, 3)
    started = time.perf_counter()
    baseline = fit_baseline(train_matrix, labels, seed=seed, weights=weights)
    timings["baseline_train_seconds"] = round(time.perf_counter() - started, 3)
    del train_matrix
    # Drift is measured against the training period as it was (not the sampled rows).
    top = top_features(booster, table.columns)
    rng = np.random.default_rng(seed)
    sample = np.sort(rng.choice(all_rows, size=min(len(all_rows), REFERENCE_ROWS), replace=False))
    reference_matrix = table.matrix[sample]
    reference = build_reference(
        onnx_scores(onnx, reference_matrix), reference_matrix, table.columns, top
    )
    params = {
        "algorithm": "lightgbm",
        "trees": trees,
        "seed": seed,
        "booster": {**BOOSTER_PARAMS, **booster_overrides},
        "split": split.to_dict(),
        "training": {
            "events": len(all_rows),
            "frauds": int(labels.sum()),
            "rows_used": len(rows),
            "max_train_rows": max_train_rows,
        },
        "top_features": top,
        **dict(extra_params or {}),
    }
    draft = ModelArtifact(
        columns=table.columns,
        onnx=onnx,
        booster=booster.model_to_string(),
        trained_at=datetime.now(UTC),
        data_hash=data_hash,
        params=params,
        reference=reference,
    )
    evaluation = evaluate_split(
        table, split, draft, seed=seed, baseline=baseline, data=data, max_train_rows=max_train_rows
    )
    evaluation.report["timings"] = {**timings, **evaluation.timings}
    metrics = {
        "model": _without_days(evaluation.report["model"]),
        "baseline": _without_days(evaluation.report["baseline"]),
    }
    artifact = ModelArtifact(
        columns=draft.columns,
        onnx=draft.onnx,
        booster=draft.booster,
        trained_at=draft.trained_at,
        data_hash=data_hash,
        metrics=metrics,
        params=params,
        reference=reference,
    )
    return TrainedModel(artifact, evaluation, booster, evaluation.report["timings"])


def _without_days(metrics: Mapping[str, Any]) -> dict[str, Any]:
    """Metrics as stored with the model: the per-day list stays in the report."""
    return {k: v for k, v in metrics.items() if k != "precision_at_k_by_day"}
