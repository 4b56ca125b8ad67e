"""The HTML report: self-contained charts, everything escaped."""

from __future__ import annotations

import numpy as np

from payguard.ml.evaluate import score_metrics
from payguard.ml.report import render_html

HOSTILE = '<script>alert("x")</script>'


def test_report_has_curves_and_escapes_the_data() -> None:
    rng = np.random.default_rng(2)
    labels = rng.random(400) < 0.1
    model = np.where(labels, rng.random(400) * 0.4 + 0.6, rng.random(400) * 0.8)
    baseline = np.where(labels, rng.random(400), rng.random(400))
    typologies = np.where(labels, HOSTILE, "")
    days = np.array(["2026-01-01"] * 400, dtype="datetime64[D]")
    accounts = np.array([f"a{i % 50}" for i in range(400)])

    def metrics(scores: np.ndarray) -> dict:
        return score_metrics(labels, scores, days=days, accounts=accounts, typologies=typologies)

    report = {
        "model": metrics(model),
        "baseline": metrics(baseline),
        "data": {"source": HOSTILE},
        "split": {},
        "model_version": 3,
    }
    drift = [{"day": "2026-01-01", "events": 400, "score_psi": 0.01, "features": {HOSTILE: 0.3}}]
    page = render_html(report, labels, model, baseline, drift)
    assert page.count("<svg") == 3  # ROC, PR, histogram
    assert "ROC curve" in page and "Precision-recall curve" in page
    assert page.count("<polyline") >= 4  # model and baseline on both curves
    assert "<script" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page
    assert "http" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")


def test_report_shows_the_test_set_without_known_compromised_accounts() -> None:
    rng = np.random.default_rng(3)
    labels = rng.random(200) < 0.2
    scores = np.where(labels, rng.random(200) * 0.5 + 0.5, rng.random(200) * 0.6)
    days = np.array(["2026-01-01", "2026-01-02"] * 100, dtype="datetime64[D]")
    accounts = np.array([f"a{i % 30}" for i in range(200)])
    typologies = np.array([""] * 200)
    full = score_metrics(labels, scores, days=days, accounts=accounts, typologies=typologies)
    keep = accounts != "a0"
    part = score_metrics(
        labels[keep],
        scores[keep],
        days=days[keep],
        accounts=accounts[keep],
        typologies=typologies[keep],
    )
    report = {
        "model": full,
        "baseline": full,
        "without_known_compromised": {
            "accounts_excluded": 1,
            "events_excluded": int((~keep).sum()),
            "frauds_excluded": int(labels[~keep].sum()),
            "model": part,
            "baseline": part,
        },
    }
    page = render_html(report, labels, scores, scores)
    assert "model, known compromised out" in page
    assert "baseline, known compromised out" in page
    assert f"<td>{part['events']}</td>" in page
    assert "Account precision@100 per day" in page
    assert page.count("<tr><td>2026-01-0") == 2
    # An older report without the second test set still renders.
    older = render_html({"model": full, "baseline": full}, labels, scores, scores)
    assert "known compromised out" not in older
