"""Metrics as the fraud-detection literature reports them: account precision@k per day
(divided by k, accounts caught on an earlier day left out), the test period without the
accounts known to be compromised when it starts, and a fair logistic baseline."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from payguard.ml.evaluate import known_compromised, precision_at_k
from payguard.ml.export import export_onnx
from payguard.ml.replay import FeatureTable
from payguard.ml.split import TimeSplit
from payguard.ml.train import baseline_scores, fit_baseline, fit_booster
from payguard.risk.models.artifact import ModelArtifact

DAY = 86_400.0


def _days(*names: str) -> np.ndarray:
    return np.array(names, dtype="datetime64[D]")


def test_one_alert_of_k_is_one_kth_not_one() -> None:
    # A single account on a single day, fraudulent: one alert, one hit, precision 1/k.
    mean, by_day = precision_at_k(
        _days("2026-01-01"), np.array(["a"]), np.array([True]), np.array([0.9]), k=100
    )
    assert mean == 0.01
    assert by_day == [
        {
            "day": "2026-01-01",
            "accounts": 1,
            "excluded": 0,
            "alerts": 1,
            "hits": 1,
            "precision": 0.01,
        }
    ]


def test_accounts_with_fraud_on_an_earlier_day_are_left_out() -> None:
    days = _days(*["2026-01-01"] * 2, *["2026-01-02"] * 3, *["2026-01-03"] * 2)
    accounts = np.array(["a", "b", "a", "b", "c", "c", "d"])
    labels = np.array([True, False, True, False, True, False, True])
    scores = np.array([0.2, 0.9, 0.99, 0.5, 0.6, 0.9, 0.1])
    # Day 1: b 0.9 (legit) outranks a 0.2 (fraud): 0 of 1. a is fraudulent on day 1, even
    #   though no alert caught it, so it would be blocked from day 2 on.
    # Day 2: a (0.99, fraud again) is left out; c 0.6 (fraud) > b 0.5: 1 of 1.
    # Day 3: c (caught on day 2) is left out though it scores 0.9; d 0.1 (fraud): 1 of 1.
    mean, by_day = precision_at_k(days, accounts, labels, scores, k=1)
    assert [d["precision"] for d in by_day] == [0.0, 1.0, 1.0]
    assert [d["excluded"] for d in by_day] == [0, 1, 1]
    assert [d["accounts"] for d in by_day] == [2, 2, 1]
    assert mean == pytest.approx(2 / 3)
    # An account's fraud counts for the day it happens on, whatever its order in the day.
    same_day, _ = precision_at_k(
        _days("2026-01-01", "2026-01-01"),
        np.array(["a", "a"]),
        np.array([False, True]),
        np.array([0.9, 0.1]),
        k=1,
    )
    assert same_day == 1.0


def test_precision_at_k_refuses_k_below_one() -> None:
    with pytest.raises(ValueError):
        precision_at_k(_days("2026-01-01"), np.array(["a"]), np.array([True]), np.array([1.0]), 0)


def test_known_compromised_needs_a_label_before_the_test_starts() -> None:
    start = 10 * DAY
    accounts = np.array(["known", "late", "never", "clean", "edge", "known"])
    labels = np.array([True, True, True, False, True, False])
    label_at = np.array([2 * DAY, 11 * DAY, np.nan, 1 * DAY, start, np.nan])
    assert known_compromised(accounts, labels, label_at, start).tolist() == ["known"]


def _table(rows: list[tuple[str, float, bool, float]], rng: np.random.Generator) -> FeatureTable:
    """Rows of (account, occurred_at, fraud, label_at), two random feature columns (the
    first shifted up for frauds, so a model has something to learn)."""
    n = len(rows)
    fraud = np.array([r[2] for r in rows])
    matrix = rng.normal(size=(n, 2)).astype(np.float32)
    matrix[:, 0] += fraud * 3
    return FeatureTable(
        columns=("x0", "x1"),
        matrix=matrix,
        fraud=fraud,
        label_at=np.array([r[3] for r in rows]),
        occurred_at=np.array([r[1] for r in rows]),
        account=np.array([r[0] for r in rows]),
        event_id=np.array([f"e{i}" for i in range(n)]),
        event_type=np.array(["payment"] * n),
        typology=np.array(["ato" if r[2] else "" for r in rows]),
    )


class _FirstColumn:
    """A stand-in baseline: the first column as the score."""

    def predict_proba(self, matrix: np.ndarray) -> np.ndarray:
        return np.column_stack([1 - matrix[:, 0], matrix[:, 0]])


def test_the_report_leaves_out_accounts_known_compromised_at_the_test_start() -> None:
    from payguard.ml.train import evaluate_split

    rng = np.random.default_rng(5)
    nan = float("nan")
    rows: list[tuple[str, float, bool, float]] = []
    # Training period: days 0-8; filler traffic so LightGBM has rows to split.
    for i in range(300):
        fraud = i % 10 == 0
        rows.append((f"filler{i % 30}", i * 8 * DAY / 300, fraud, i * 8 * DAY / 300 + 1))
    rows += [
        ("known", 1 * DAY, True, 2 * DAY),  # labelled before the test starts (day 10)
        ("late", 3 * DAY, True, 11 * DAY),  # labelled only during the test period
        ("never", 3 * DAY, True, nan),  # never reported
    ]
    # Test period: days 10-12.
    rows += [
        ("known", 10.5 * DAY, True, 11 * DAY),
        ("known", 11.5 * DAY, False, nan),
        ("late", 10.5 * DAY, False, nan),
        ("never", 10.6 * DAY, True, 12 * DAY),
        ("clean", 10.7 * DAY, False, nan),
        ("clean", 11.7 * DAY, False, nan),
    ]
    rows.sort(key=lambda r: r[1])
    table = _table(rows, rng)
    split = TimeSplit(
        train_from=datetime.fromtimestamp(0, UTC),
        train_until=datetime.fromtimestamp(10 * DAY, UTC),
        test_from=datetime.fromtimestamp(10 * DAY, UTC),
        test_until=datetime.fromtimestamp(13 * DAY, UTC),
        label_delay_days=1.0,
    )
    train = np.flatnonzero(table.occurred_at < 9 * DAY)
    booster = fit_booster(
        table.matrix[train], table.fraud[train], trees=5, seed=1, min_child_samples=5
    )
    artifact = ModelArtifact(
        columns=table.columns,
        onnx=export_onnx(booster, 2),
        booster=booster.model_to_string(),
        trained_at=datetime.now(UTC),
        data_hash="h",
    )
    evaluation = evaluate_split(table, split, artifact, baseline=_FirstColumn())
    report = evaluation.report
    assert report["model"]["events"] == 6 and report["model"]["frauds"] == 2
    without = report["without_known_compromised"]
    assert without["accounts_excluded"] == 1
    assert without["events_excluded"] == 2 and without["frauds_excluded"] == 1
    for side in ("model", "baseline"):
        assert without[side]["events"] == 4 and without[side]["frauds"] == 1
    assert without["baseline"]["kind"] == "logistic_regression"
    # The as-is test set is still every test event, scored in order.
    assert evaluation.test.event_id.tolist() == [
        table.event_id[i] for i in np.flatnonzero(table.occurred_at >= 10 * DAY)
    ]


def _imbalanced(rng: np.random.Generator, n: int = 20_000) -> tuple[np.ndarray, np.ndarray]:
    """1 % fraud; column 0 carries the signal on a unit scale, column 1 is noise with a
    range of billions (a raw amount in minor units, seconds since an event)."""
    labels = rng.random(n) < 0.01
    signal = rng.normal(size=n) + 2.5 * labels
    noise = rng.lognormal(mean=18, sigma=2, size=n)
    return np.column_stack([signal, noise]).astype(np.float32), labels


def test_the_baseline_scales_its_inputs() -> None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import average_precision_score

    rng = np.random.default_rng(7)
    matrix, labels = _imbalanced(rng)
    test, test_labels = _imbalanced(rng)
    model = fit_baseline(matrix, labels, seed=1)
    assert [name for name, _ in model.steps] == ["bound", "scale", "logistic"]
    fair = average_precision_score(test_labels, baseline_scores(model, test))
    # The same regression on raw inputs: the huge column swamps the signal.
    raw = LogisticRegression(max_iter=1000).fit(matrix, labels)
    unfair = average_precision_score(test_labels, raw.predict_proba(test)[:, 1])
    assert fair > 0.3
    assert fair > unfair + 0.1


def test_the_baseline_balances_the_classes() -> None:
    rng = np.random.default_rng(8)
    matrix, labels = _imbalanced(rng)
    model = fit_baseline(matrix, labels, seed=1)
    assert model.named_steps["logistic"].class_weight == "balanced"
    scores = baseline_scores(model, matrix)
    # Balanced weights: the intercept makes the mean score of the frauds and that of the
    # legitimate events add up to 1 (unweighted, the mean score would be the fraud rate).
    assert scores[labels].mean() + scores[~labels].mean() == pytest.approx(1.0, abs=0.02)
    assert scores.mean() > 5 * labels.mean()


def test_the_baseline_does_not_extrapolate_or_fail_on_missing_cells() -> None:
    rng = np.random.default_rng(9)
    matrix, labels = _imbalanced(rng)
    model = fit_baseline(matrix, labels, seed=1)
    top = matrix.max(axis=0)
    far = np.array([top * 1000, top, [np.nan, np.nan], [np.inf, -np.inf]], dtype=np.float32)
    scores = baseline_scores(model, far)
    assert np.all(np.isfinite(scores))
    assert scores[0] == scores[1]  # beyond the training range reads as its end
