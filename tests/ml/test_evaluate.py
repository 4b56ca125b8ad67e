"""Metrics against hand-computed examples."""

from __future__ import annotations

import numpy as np
import pytest

from payguard.ml.evaluate import (
    precision_at_k,
    recall_at_fpr,
    score_metrics,
    threshold_at_fpr,
    typology_recall,
)


def test_recall_at_fpr_takes_the_last_point_within_the_rate() -> None:
    # 10 legitimate events scored 0.0-0.9, 4 frauds scored 0.95, 0.85, 0.5, 0.05.
    legit = [i / 10 for i in range(10)]
    frauds = [0.95, 0.85, 0.5, 0.05]
    labels = np.array([False] * 10 + [True] * 4)
    scores = np.array(legit + frauds)
    # No legitimate event may be flagged: only the fraud above 0.9 is caught.
    assert recall_at_fpr(labels, scores, 0.0) == 0.25
    assert threshold_at_fpr(labels, scores, 0.0) == 0.95
    # One legitimate event in ten (0.9) may be flagged: 0.95 and 0.85 are caught.
    assert recall_at_fpr(labels, scores, 0.1) == 0.5
    assert threshold_at_fpr(labels, scores, 0.1) == 0.85
    # 0.15 still allows only one.
    assert recall_at_fpr(labels, scores, 0.15) == 0.5
    assert recall_at_fpr(labels, scores, 1.0) == 1.0


def test_precision_at_k_counts_distinct_accounts_per_day() -> None:
    days = np.array(["2026-01-01"] * 6 + ["2026-01-02"] * 3, dtype="datetime64[D]")
    accounts = np.array(["a", "a", "a", "b", "c", "d", "a", "b", "c"])
    labels = np.array([True, False, False, False, False, True, False, False, True])
    # Day 1: a's max 0.9 (has a fraud), b 0.8, c 0.7, d 0.1 (fraud). Top 2: a, b -> 1/2.
    # Day 2: a was caught on day 1 (left out); b 0.3, c 0.9 (fraud). Top 2: c, b -> 1/2.
    scores = np.array([0.1, 0.9, 0.5, 0.8, 0.7, 0.1, 0.2, 0.3, 0.9])
    mean, by_day = precision_at_k(days, accounts, labels, scores, k=2)
    assert [d["precision"] for d in by_day] == [0.5, 0.5]
    assert mean == 0.5
    assert by_day[0] == {
        "day": "2026-01-01",
        "accounts": 4,
        "excluded": 0,
        "alerts": 2,
        "hits": 1,
        "precision": 0.5,
    }
    assert by_day[1]["accounts"] == 2 and by_day[1]["excluded"] == 1
    # k larger than the accounts of a day: every account is an alert, but the denominator
    # is still k.
    mean, by_day = precision_at_k(days, accounts, labels, scores, k=100)
    assert [d["alerts"] for d in by_day] == [4, 2]
    assert [d["hits"] for d in by_day] == [2, 1]
    assert [d["precision"] for d in by_day] == [0.02, 0.01]
    assert mean == pytest.approx(0.015)


def test_typology_recall_at_a_threshold() -> None:
    labels = np.array([True, True, True, False])
    scores = np.array([0.9, 0.2, 0.8, 0.1])
    typologies = np.array(["ato", "ato", "mule", ""])
    assert typology_recall(labels, scores, typologies, 0.5) == {
        "ato": {"events": 2, "caught": 1, "recall": 0.5},
        "mule": {"events": 1, "caught": 1, "recall": 1.0},
    }


def test_score_metrics_has_the_reported_keys() -> None:
    rng = np.random.default_rng(0)
    labels = rng.random(500) < 0.1
    scores = np.where(labels, rng.random(500) * 0.5 + 0.5, rng.random(500) * 0.7)
    days = np.array(["2026-01-01", "2026-01-02"] * 250, dtype="datetime64[D]")
    accounts = np.array([f"a{i % 40}" for i in range(500)])
    metrics = score_metrics(
        labels, scores, days=days, accounts=accounts, typologies=np.array(["x"] * 500)
    )
    assert set(metrics) >= {
        "average_precision",
        "auc_roc",
        "recall_at_fpr",
        "precision_at_k",
        "typology_recall",
        "events",
        "frauds",
    }
    assert set(metrics["recall_at_fpr"]) == {"0.001", "0.01"}
    assert 0.5 < metrics["auc_roc"] <= 1.0
    assert metrics["average_precision"] > labels.mean()
