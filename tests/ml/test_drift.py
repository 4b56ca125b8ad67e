"""Population-stability index: known values."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest

from payguard.ml.drift import build_reference, drift_by_day, psi
from payguard.risk.features.extractor import FEATURES


def test_psi_of_identical_distributions_is_zero() -> None:
    assert psi([0.25, 0.25, 0.5], [0.25, 0.25, 0.5]) == 0.0


def test_psi_known_value() -> None:
    # (0.3-0.5)ln(0.3/0.5) + (0.7-0.5)ln(0.7/0.5)
    expected = -0.2 * np.log(0.6) + 0.2 * np.log(1.4)
    assert psi([0.5, 0.5], [0.3, 0.7]) == pytest.approx(expected)


def test_drift_by_day_sees_a_shift() -> None:
    rng = np.random.default_rng(1)
    columns = ("amount", "account_events_1h")
    train = np.column_stack([rng.normal(50, 10, 20_000), rng.poisson(2, 20_000)])
    scores = rng.beta(1, 20, 20_000)
    reference = build_reference(scores, train, columns, ["amount", "account_events_1h"])
    assert len(reference["score"]["edges"]) == 9
    same_day, shifted_day = date(2026, 2, 1), date(2026, 2, 2)
    rows = [
        (same_day, float(s), {**FEATURES, "amount": float(a), "account_events_1h": int(c)})
        for s, a, c in zip(
            rng.beta(1, 20, 5000), rng.normal(50, 10, 5000), rng.poisson(2, 5000), strict=True
        )
    ] + [
        (shifted_day, float(s), {"amount": float(a), "account_events_1h": 2})
        for s, a in zip(rng.beta(3, 10, 5000), rng.normal(65, 10, 5000), strict=True)
    ]
    by_day = drift_by_day(reference, rows)
    assert [d["day"] for d in by_day] == ["2026-02-01", "2026-02-02"]
    same, shifted = by_day
    assert same["events"] == 5000
    assert same["score_psi"] < 0.02 and same["features"]["amount"] < 0.02
    assert shifted["score_psi"] > 0.25 and shifted["features"]["amount"] > 0.25
    assert drift_by_day(reference, []) == []


def test_missing_values_do_not_poison_the_cut_points() -> None:
    """A partner column with gaps (NaN = missing) still gets real quantile edges; missing
    values fall in the top bin, and a column never given has one bin."""
    from payguard.ml.drift import _bin_reference

    values = np.array([*range(100), *[np.nan] * 20], dtype=np.float64)
    reference = _bin_reference(values, 10)
    assert reference["edges"] and not any(np.isnan(reference["edges"]))
    assert abs(sum(reference["expected"]) - 1.0) < 1e-9
    assert _bin_reference(np.full(5, np.nan), 10) == {"edges": [], "expected": [1.0]}
