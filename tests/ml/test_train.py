"""Training end to end: a model that beats chance, the CLI's report, retraining from the store."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from payguard.audit.interfaces import Actor
from payguard.cli.main import app
from payguard.ml.dataset import Dataset
from payguard.ml.replay import load_features
from payguard.ml.split import choose_split, held_out_rows, table_span
from payguard.ml.train import sample_rows, train_model

runner = CliRunner()
REQUIRED = {"average_precision", "auc_roc", "recall_at_fpr", "precision_at_k"}


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PAYGUARD_DATABASE_URL", f"sqlite:///{tmp_path}/cli.db")
    return tmp_path


def test_a_trained_model_beats_chance(sim_dir: Path) -> None:
    table, _ = load_features(Dataset(sim_dir), progress=False)
    split = choose_split(*table_span(table))
    trained = train_model(table, split, trees=40, seed=1, data_hash="h")
    report = trained.evaluation.report
    model = report["model"]
    assert model["frauds"] > 0
    assert model["average_precision"] > model["fraud_rate"] * 2
    assert model["auc_roc"] > 0.7
    artifact = trained.artifact
    assert artifact.columns == table.columns
    assert artifact.params["split"] == split.to_dict()
    assert set(artifact.reference["features"]) == set(artifact.params["top_features"])
    assert (
        set(artifact.metrics["model"]) >= REQUIRED and set(artifact.metrics["baseline"]) >= REQUIRED
    )
    # The registry accepts it: the engine can serve it.
    from payguard.ml.registry import servable

    servable(artifact)


def test_sampling_keeps_every_fraud_and_reweights() -> None:
    rows = np.arange(1000)
    labels = np.zeros(1000, dtype=bool)
    labels[::100] = True
    kept, kept_labels, weights = sample_rows(rows, labels, 210, seed=1)
    assert len(kept) == 210 and kept_labels.sum() == 10
    assert np.all(weights[kept_labels] == 1.0)
    assert np.allclose(weights[~kept_labels], 990 / 200)
    assert np.all(np.diff(kept) > 0)
    same, _, ones = sample_rows(rows, labels, 5000, seed=1)
    assert len(same) == 1000 and np.all(ones == 1.0)


def test_train_then_evaluate_from_the_cli(sim_dir: Path, env: Path) -> None:
    model_file = env / "model.pgm"
    assert runner.invoke(app, ["tenants", "create", "demo"]).exit_code == 0
    trained = runner.invoke(
        app, ["train", "--data", str(sim_dir), "--trees", "30", "--out", str(model_file)]
    )
    assert trained.exit_code == 0, trained.output
    assert "registered model version 1 for tenant demo" in trained.output
    assert model_file.is_file()

    report_path = env / "report.json"
    evaluated = runner.invoke(
        app, ["evaluate", "--data", str(sim_dir), "--json", str(report_path), "--drift"]
    )
    assert evaluated.exit_code == 0, evaluated.output
    report = json.loads(report_path.read_text())
    assert report["model_version"] == 1
    for side in ("model", "baseline"):
        assert set(report[side]) >= REQUIRED
        assert set(report[side]["recall_at_fpr"]) == {"0.001", "0.01"}
    assert report["drift"] and "score_psi" in report["drift"][0]
    html = (env / "report.html").read_text()
    assert html.count("<svg") == 3

    without = report["without_known_compromised"]
    assert set(without) >= {"accounts_excluded", "events_excluded", "frauds_excluded"}
    for side in ("model", "baseline"):
        assert set(without[side]) >= REQUIRED
        assert without[side]["events"] == report[side]["events"] - without["events_excluded"]
    assert "known compromised out" in html

    scores_path = env / "scores.csv"
    from_file = runner.invoke(
        app,
        [
            "evaluate",
            "--data",
            str(sim_dir),
            "--model-file",
            str(model_file),
            "--scores",
            str(scores_path),
        ],
    )
    assert from_file.exit_code == 0, from_file.output
    with scores_path.open(newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["event_id", "score", "baseline"]
    assert len(rows) - 1 == report["model"]["events"]
    assert len({row[0] for row in rows[1:]}) == len(rows) - 1
    assert all(0.0 <= float(row[1]) <= 1.0 and 0.0 <= float(row[2]) <= 1.0 for row in rows[1:])
    # Anyone can recompute a metric from the file and the data's labels.
    table, _ = load_features(Dataset(sim_dir), progress=False)
    split = choose_split(*table_span(table))
    test = table.take(held_out_rows(table, split))
    assert [row[0] for row in rows[1:]] == test.event_id.tolist()
    from sklearn.metrics import roc_auc_score

    recomputed = roc_auc_score(test.fraud, [float(row[1]) for row in rows[1:]])
    assert recomputed == pytest.approx(report["model"]["auc_roc"], abs=1e-9)


def test_cli_refuses_bad_input_with_code_2(env: Path, tmp_path: Path) -> None:
    csv = tmp_path / "tx.csv"
    csv.write_text("CUSTOMER_ID,TX_DATETIME,TX_AMOUNT,TX_FRAUD\n1,2026-01-01,abc,0\n")
    assert runner.invoke(app, ["tenants", "create", "demo"]).exit_code == 0
    bad = runner.invoke(
        app,
        [
            "train",
            "--data",
            str(csv),
            "--map",
            "account=CUSTOMER_ID,time=TX_DATETIME,amount=TX_AMOUNT,label=TX_FRAUD",
        ],
    )
    assert bad.exit_code == 2
    assert "row 1, column 'TX_AMOUNT'" in bad.output
    unknown = runner.invoke(app, ["train", "--data", str(csv), "--map", "acct=CUSTOMER_ID"])
    assert unknown.exit_code == 2 and "acct" in unknown.output
    neither = runner.invoke(app, ["train"])
    assert neither.exit_code == 2


def test_retrain_from_recorded_outcomes(env: Path) -> None:
    from payguard.core.clock import FrozenClock
    from payguard.core.decisions import Outcome
    from payguard.services import build_services
    from payguard.settings import Settings

    from .conftest import START, write_sim_dir

    data = env / "sim"
    write_sim_dir(data, customers=30, days=6, fraud_rate=0.08, seed=5)
    clock = FrozenClock(START)
    services = build_services(Settings(), clock=clock)
    try:
        tenant, _ = services.tenants.create_tenant("acme", actor=Actor.system("test"))
        for item in Dataset(data).events():
            clock.set(item.event.occurred_at)
            decision, _ = services.assessments.assess(tenant.id, item.event)
            if item.fraud:
                services.assessments.record_outcome(
                    tenant_id=tenant.id,
                    assessment_id=decision.assessment_id,
                    outcome=Outcome.CHARGEBACK,
                    actor=Actor("test"),
                )
    finally:
        services.close()

    result = runner.invoke(
        app,
        ["train", "--from-store", "--tenant", "acme", "--trees", "20", "--label-delay-days", "0.5"],
    )
    assert result.exit_code == 0, result.output
    assert "registered model version 1 for tenant acme" in result.output
    missing = runner.invoke(app, ["train", "--from-store", "--tenant", "nobody"])
    assert missing.exit_code == 2


def test_train_tune_reaches_the_trainer_with_progress(
    sim_dir: Path, env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`payguard train --tune N` asks the trainer for N candidates and prints its progress
    (the search itself is tested in test_tune.py; here it is stubbed to stay quick)."""
    import payguard.ml.train as training

    real = training.train_model
    seen: dict[str, object] = {}

    def spy(*args: object, **kwargs: object) -> object:
        seen.update(kwargs)
        progress = kwargs["progress"]
        assert callable(progress)
        progress("candidate 1/3: average precision 0.5")
        return real(*args, **{**kwargs, "tune_candidates": 0})  # type: ignore[arg-type]

    monkeypatch.setattr(training, "train_model", spy)
    assert runner.invoke(app, ["tenants", "create", "demo"]).exit_code == 0
    trained = runner.invoke(app, ["train", "--data", str(sim_dir), "--trees", "20", "--tune", "3"])
    assert trained.exit_code == 0, trained.output
    assert seen["tune_candidates"] == 3
    assert "candidate 1/3" in trained.output
    assert runner.invoke(app, ["train", "--data", str(sim_dir), "--tune", "-1"]).exit_code == 2
