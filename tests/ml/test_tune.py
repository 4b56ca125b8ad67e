"""`tune`: a parameter search by prequential validation on the training period only."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from payguard.core.errors import ValidationFailed
from payguard.ml.dataset import Dataset
from payguard.ml.replay import load_features
from payguard.ml.split import TimeSplit, choose_split, table_span
from payguard.ml.train import TUNE_SPACE, train_model, tune, tuning_folds

#: A small space, so the tests stay quick.
SPACE = {
    "trees": (10, 20),
    "num_leaves": (7, 15),
    "learning_rate": (0.1, 0.2),
    "min_child_samples": (10, 20),
    "feature_fraction": (0.8, 1.0),
    "class_weight": ("none", "balanced"),
}


def test_folds_move_back_in_time_inside_the_training_period() -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    split = TimeSplit(
        train_from=start,
        train_until=start + timedelta(days=57),
        test_from=start + timedelta(days=57),
        test_until=start + timedelta(days=70),
        label_delay_days=7.0,
    )
    folds = tuning_folds(split, 3)
    assert len(folds) == 3
    window = timedelta(days=5)  # 10 % of the 50 usable days
    for i, fold in enumerate(folds):
        assert fold.test_until == split.train_events_until - window * i
        assert fold.test_from == fold.test_until - window
        assert fold.train_until == fold.test_from
        assert fold.train_events_until == fold.test_from - timedelta(days=7)
        assert fold.train_from == split.train_from
        assert fold.test_until <= split.train_events_until < split.test_from
    # Folds without a training period left are dropped.
    short = replace(split, train_until=start + timedelta(days=8))
    assert tuning_folds(short, 3) == []


@pytest.fixture(scope="module")
def table_and_split(sim_dir: Path) -> tuple:
    table, _ = load_features(Dataset(sim_dir), progress=False)
    return table, choose_split(*table_span(table), label_delay_days=1.0)


def test_tune_reads_nothing_after_train_until(table_and_split: tuple) -> None:
    table, split = table_and_split
    lines: list[str] = []
    result = tune(table, split, 3, seed=2, trees=20, space=SPACE, progress=lines.append)
    assert len(result["candidates"]) == 3 and len(lines) == 3
    assert lines[0].startswith("tune 1/3: mean AP ")
    assert result["candidates"][0]["params"]["num_leaves"] == 31  # the defaults come first
    for candidate in result["candidates"]:
        assert set(candidate["params"]) == set(TUNE_SPACE)
        assert len(candidate["fold_average_precision"]) == len(result["folds"]) >= 1
        assert candidate["mean_average_precision"] == pytest.approx(
            np.mean(candidate["fold_average_precision"])
        )
    assert result["best_mean_average_precision"] == max(
        c["mean_average_precision"] for c in result["candidates"]
    )
    assert all(
        fold["test_until"] <= split.train_events_until.isoformat() for fold in result["folds"]
    )
    # Rewrite the future: every event from train-until on (truth and features) and the truth
    # of every event whose label was not known by train-until. The search does not change.
    at = split.train_until.timestamp()
    after = table.occurred_at >= at
    with np.errstate(invalid="ignore"):
        unknown = ~(table.label_at <= at)
    future = replace(
        table,
        fraud=np.where(after | unknown, ~table.fraud, table.fraud),
        matrix=np.where(after[:, None], np.float32(7.0), table.matrix),
    )
    again = tune(future, split, 3, seed=2, trees=20, space=SPACE)
    for candidate in (*result["candidates"], *again["candidates"]):
        del candidate["seconds"]
    assert again == result


def test_train_model_uses_the_tuned_parameters(table_and_split: tuple) -> None:
    table, split = table_and_split
    trained = train_model(
        table, split, trees=20, seed=1, data_hash="h", tune_candidates=2, tune_space=SPACE
    )
    tuning = trained.artifact.params["tuning"]
    assert trained.evaluation.report["tuning"] == tuning
    best = tuning["best"]
    assert trained.artifact.params["trees"] == best["trees"]
    booster = trained.artifact.params["booster"]
    assert booster["num_leaves"] == best["num_leaves"]
    assert booster["is_unbalance"] == (best["class_weight"] == "balanced")
    assert "tune_seconds" in trained.timings
    from payguard.ml.report import render_html

    evaluation = trained.evaluation
    page = render_html(
        evaluation.report, evaluation.labels, evaluation.model_scores, evaluation.baseline_scores
    )
    assert "Tuning (2 candidates" in page and page.count("(chosen)") >= 1


def test_tune_refuses_when_no_fold_is_usable(table_and_split: tuple) -> None:
    table, split = table_and_split
    with pytest.raises(ValidationFailed):
        tune(table, split, 0)
    no_room = choose_split(*table_span(table))  # a 7-day delay leaves no fold a training period
    with pytest.raises(ValidationFailed):
        tune(table, no_room, 2, space=SPACE)
