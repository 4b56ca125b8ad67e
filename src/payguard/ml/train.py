"""Train the fraud model (LightGBM) and its logistic-regression baseline on replayed features,
evaluate both on the held-out period and package the model as a `ModelArtifact`.

The artifact's scores are the ONNX graph's (what the engine serves), so the reported metrics
are those of the served model, not of the booster it was converted from.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import numpy.typing as npt

from payguard.core.errors import ValidationFailed
from payguard.ml.drift import TOP_FEATURES, build_reference
from payguard.ml.evaluate import known_compromised, score_metrics
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
#: lbfgs iterations of the baseline; on standardised inputs it converges well within this.
BASELINE_MAX_ITER = 1000
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


def fit_baseline(matrix: Matrix, labels: npt.NDArray[np.bool_], *, seed: int) -> Any:
    """The fair baseline, a scikit-learn `Pipeline`: every column clipped to its training
    range (missing cells as 0, infinities to the range's ends), `StandardScaler`, then
    `LogisticRegression(class_weight="balanced")` (lbfgs).

    Unscaled, a column with a huge range (amounts in minor units, seconds since) swamps the
    others and lbfgs stops far from the optimum; unweighted, 1 % fraud is learnt as "always
    legitimate". Unclipped, a linear model extrapolates: counters and ages grow past anything
    seen in training (a history that starts cold), and their terms drown the rest (on a small
    simulation, test AP 0.02 unclipped, 0.16 clipped; LightGBM 0.18). The sampling weights of
    `sample_rows` are not passed: they are the same for every legitimate row and only
    restate the class ratio, which balancing sets aside (passed with `balanced`, they would
    tilt the classes back by the sampling rate).
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer, StandardScaler

    finite = matrix if np.isfinite(matrix).all() else np.nan_to_num(matrix, nan=0.0)
    if len(finite):
        low, high = finite.min(axis=0), finite.max(axis=0)
    else:
        low = high = np.zeros(matrix.shape[1], dtype=np.float32)
    model = Pipeline(
        [
            ("bound", FunctionTransformer(bounded, kw_args={"low": low, "high": high})),
            ("scale", StandardScaler(copy=False)),  # scales `bounded`'s own copy
            (
                "logistic",
                LogisticRegression(
                    class_weight="balanced", max_iter=BASELINE_MAX_ITER, random_state=seed
                ),
            ),
        ]
    )
    model.fit(matrix, labels)
    return model


def bounded(matrix: Matrix, low: Matrix, high: Matrix) -> Scores:
    """A float64 copy of `matrix` with every column clipped to `[low, high]` (its training
    range) and missing (NaN) cells as 0; the `Vectorizer` writes no NaN today, but the
    scaler would fail on one. Float64 because scaling and lbfgs in float32 lose the signal
    (test AP 0.02 instead of 0.16 on the same small simulation)."""
    out: Scores = np.clip(matrix.astype(np.float64), low, high)
    np.nan_to_num(out, copy=False, nan=0.0)
    return out


def baseline_scores(model: Any, matrix: Matrix) -> Scores:
    """The baseline's fraud probabilities, in batches (each batch is copied as float64)."""
    out = np.empty(len(matrix), dtype=np.float64)
    for start in range(0, len(matrix), _SCORE_BATCH):
        out[start : start + _SCORE_BATCH] = model.predict_proba(
            matrix[start : start + _SCORE_BATCH]
        )[:, 1]
    return out


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
        rows, labels, _ = training_set(table, split, max_rows=max_train_rows, seed=seed)
        baseline = fit_baseline(table.matrix[rows], labels, seed=seed)
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

    def metrics(chosen: npt.NDArray[np.bool_] | None, scores: Scores) -> dict[str, Any]:
        if chosen is None:
            return score_metrics(
                test.fraud, scores, days=days, accounts=test.account, typologies=test.typology
            )
        return score_metrics(
            test.fraud[chosen],
            scores[chosen],
            days=days[chosen],
            accounts=test.account[chosen],
            typologies=test.typology[chosen],
        )

    # Accounts whose compromise was known before the test period started (labelled fraud,
    # label time before test-from): a deployed system would have blocked them already.
    known = known_compromised(
        table.account, table.fraud, table.label_at, split.test_from.timestamp()
    )
    unknown = ~np.isin(test.account, known)
    report = {
        "model_version": model_version,
        "model": metrics(None, model),
        "baseline": {"kind": "logistic_regression", **metrics(None, base)},
        "without_known_compromised": {
            "accounts_excluded": len(np.unique(test.account[~unknown])),
            "events_excluded": int((~unknown).sum()),
            "frauds_excluded": int(test.fraud[~unknown].sum()),
            "model": metrics(unknown, model),
            "baseline": {"kind": "logistic_regression", **metrics(unknown, base)},
        },
        "data": dict(data or {}),
        "split": split.to_dict(),
        "timings": timings,
    }
    if artifact.params.get("tuning"):
        report["tuning"] = artifact.params["tuning"]
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


#: What `tune` searches: LightGBM's main parameters and the values tried (`trees` is the
#: number of boosting rounds; `class_weight` "balanced" sets `is_unbalance`).
TUNE_SPACE: Mapping[str, tuple[Any, ...]] = {
    "trees": (100, 200, 400),
    "num_leaves": (15, 31, 63, 127),
    "learning_rate": (0.02, 0.05, 0.1),
    "min_child_samples": (20, 50, 100, 200),
    "feature_fraction": (0.5, 0.8, 1.0),
    "class_weight": ("none", "balanced"),
}
#: Prequential validation folds of `tune`, and each validation window's share of the
#: training period.
TUNE_FOLDS = 3
TUNE_WINDOW_SHARE = 0.1


def default_candidate(trees: int = DEFAULT_TREES) -> dict[str, Any]:
    """The untuned settings, as a `TUNE_SPACE` candidate."""
    return {
        "trees": trees,
        "num_leaves": BOOSTER_PARAMS["num_leaves"],
        "learning_rate": BOOSTER_PARAMS["learning_rate"],
        "min_child_samples": BOOSTER_PARAMS["min_child_samples"],
        "feature_fraction": BOOSTER_PARAMS["feature_fraction"],
        "class_weight": "none",
    }


def candidate_overrides(candidate: Mapping[str, Any]) -> tuple[int, dict[str, Any]]:
    """Boosting rounds and `fit_booster` overrides for a `TUNE_SPACE` candidate."""
    overrides = {k: v for k, v in candidate.items() if k not in ("trees", "class_weight")}
    overrides["is_unbalance"] = candidate.get("class_weight") == "balanced"
    return int(candidate["trees"]), overrides


def tuning_folds(split: TimeSplit, folds: int = TUNE_FOLDS) -> list[TimeSplit]:
    """Prequential folds inside the training period, newest first: fold i validates on a
    window (`TUNE_WINDOW_SHARE` of the usable training period) ending i windows before the
    last training event, and trains on what precedes it less the label delay (labels known
    at the window's start). Folds with no training period left are dropped."""
    span = split.train_events_until - split.train_from
    window = span * TUNE_WINDOW_SHARE
    out: list[TimeSplit] = []
    for i in range(folds):
        valid_until = split.train_events_until - window * i
        valid_from = valid_until - window
        fold = TimeSplit(
            train_from=split.train_from,
            train_until=valid_from,
            test_from=valid_from,
            test_until=valid_until,
            label_delay_days=split.label_delay_days,
        )
        if fold.train_events_until > fold.train_from:
            out.append(fold)
    return out


def tune(
    table: FeatureTable,
    split: TimeSplit,
    candidates: int,
    *,
    seed: int = 1,
    trees: int = DEFAULT_TREES,
    folds: int = TUNE_FOLDS,
    max_train_rows: int = DEFAULT_MAX_TRAIN_ROWS,
    progress: Callable[[str], None] | None = None,
    space: Mapping[str, tuple[Any, ...]] = TUNE_SPACE,
) -> dict[str, Any]:
    """Search `space` (default `TUNE_SPACE`) by prequential validation on the training
    period only.

    The candidates are the default settings and `candidates - 1` seeded random draws from
    the space. Each is trained on every fold of `tuning_folds` and scored by average
    precision on the fold's validation window. Labels there are those known at the split's
    `train_until`: the test period and the truth after `train_until` are never read. The best
    mean AP wins (the earlier candidate on a tie). Returns `{"best", "folds", "candidates"}`.
    """
    from sklearn.metrics import average_precision_score

    if candidates < 1:
        raise ValidationFailed("must be at least 1", field="--tune")
    fold_splits = tuning_folds(split, folds)
    known_at = split.train_until.timestamp()
    prepared = []
    for fold in fold_splits:
        valid = held_out_rows(table, fold)
        valid_labels = table.fraud[valid] & (table.label_at[valid] <= known_at)
        try:
            rows, labels, weights = training_set(table, fold, max_rows=max_train_rows, seed=seed)
        except ValidationFailed:
            continue  # too few frauds that early
        if 0 < int(valid_labels.sum()) < len(valid):
            prepared.append((fold, rows, labels, weights, valid, valid_labels))
    if not prepared:
        raise ValidationFailed(
            "no validation fold in the training period has both enough training frauds and "
            "frauds to validate on; train without tuning or on a longer period",
            field="--tune",
        )
    rng = np.random.default_rng(seed)
    drawn = [default_candidate(trees)]
    while len(drawn) < candidates:
        draw = {k: values[int(rng.integers(len(values)))] for k, values in space.items()}
        drawn.append({**drawn[0], **draw})
    results: list[dict[str, Any]] = []
    for number, candidate in enumerate(drawn, start=1):
        rounds, overrides = candidate_overrides(candidate)
        scores: list[float] = []
        started = time.perf_counter()
        for _, rows, labels, weights, valid, valid_labels in prepared:
            booster = fit_booster(
                table.matrix[rows], labels, trees=rounds, seed=seed, weights=weights, **overrides
            )
            predicted = booster.predict(table.matrix[valid], num_threads=2)
            scores.append(float(average_precision_score(valid_labels, predicted)))
        mean = float(np.mean(scores))
        results.append(
            {
                "params": candidate,
                "fold_average_precision": scores,
                "mean_average_precision": mean,
                "seconds": round(time.perf_counter() - started, 3),
            }
        )
        if progress is not None:
            best_so_far = max(r["mean_average_precision"] for r in results)
            progress(
                f"tune {number}/{len(drawn)}: mean AP {mean:.4f} "
                f"(folds {', '.join(f'{x:.4f}' for x in scores)}; best {best_so_far:.4f}) "
                + ", ".join(f"{k}={v}" for k, v in candidate.items())
            )
    best = max(results, key=lambda r: r["mean_average_precision"])  # first of the ties
    return {
        "best": best["params"],
        "best_mean_average_precision": best["mean_average_precision"],
        "folds": [
            {
                **fold.to_dict(),
                "training_rows": len(rows),
                "validation_events": len(valid),
                "validation_frauds": int(valid_labels.sum()),
            }
            for fold, rows, _, _, valid, valid_labels in prepared
        ],
        "candidates": results,
    }


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
    tune_candidates: int = 0,
    tune_space: Mapping[str, tuple[Any, ...]] = TUNE_SPACE,
    progress: Callable[[str], None] | None = None,
    **booster_overrides: Any,
) -> TrainedModel:
    """Train on the split's training period, evaluate on its test period, package. With
    `tune_candidates` > 0, the booster's settings are first chosen by `tune` (on the training
    period only); the search goes into `params["tuning"]` and the report's `"tuning"`."""
    all_rows, _ = training_rows(table, split)
    rows, labels, weights = training_set(table, split, max_rows=max_train_rows, seed=seed)
    timings: dict[str, float] = {}
    tuning: dict[str, Any] | None = None
    if tune_candidates > 0:
        started = time.perf_counter()
        tuning = tune(
            table,
            split,
            tune_candidates,
            seed=seed,
            trees=trees,
            max_train_rows=max_train_rows,
            progress=progress,
            space=tune_space,
        )
        trees, chosen = candidate_overrides(tuning["best"])
        booster_overrides = {**booster_overrides, **chosen}
        timings["tune_seconds"] = round(time.perf_counter() - started, 3)
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
    baseline = fit_baseline(train_matrix, labels, seed=seed)
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
        **({"tuning": tuning} if tuning is not None else {}),
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
    without_known = evaluation.report["without_known_compromised"]
    metrics = {
        "model": _without_days(evaluation.report["model"]),
        "baseline": _without_days(evaluation.report["baseline"]),
        "without_known_compromised": {
            **without_known,
            "model": _without_days(without_known["model"]),
            "baseline": _without_days(without_known["baseline"]),
        },
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
