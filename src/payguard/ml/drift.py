"""Population stability of the model's score and top features against its training period.

PSI = sum over bins of (actual - expected) * ln(actual / expected), with shares per bin. The
bins are the training period's quantiles, so each holds about the same share there. Rule
of thumb: < 0.1 stable, 0.1-0.25 moderate shift, > 0.25 a shift worth a look (retrain, or
find what changed upstream).

A reference (stored in `ModelArtifact.reference`):
`{"score": {"edges": [...], "expected": [...]}, "features": {column: {...}}, "bins": n}`.
`edges` are the inner cut points: a value v falls in bin `searchsorted(edges, v, "right")`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from payguard.risk.models.vector import Vectorizer

DEFAULT_BINS = 10
#: Share standing in for an empty bin, so that PSI stays finite.
EPSILON = 1e-4
TOP_FEATURES = 10

Array = npt.NDArray[Any]


def _bin_reference(values: Array, bins: int) -> dict[str, list[float]]:
    values = np.asarray(values, dtype=np.float64)
    if len(values) == 0:
        return {"edges": [], "expected": [1.0]}
    present = values[~np.isnan(values)]
    if len(present) == 0:  # a partner column never given: one bin (missing sorts last)
        return {"edges": [], "expected": [1.0]}
    cuts = np.quantile(present, np.linspace(0, 1, bins + 1)[1:-1])
    edges = np.unique(cuts)  # a feature that is mostly 0 has fewer distinct cut points
    return {"edges": [float(e) for e in edges], "expected": _shares(values, edges)}


def _shares(values: Array, edges: Array) -> list[float]:
    counts = np.bincount(
        np.searchsorted(edges, np.asarray(values, dtype=np.float64), side="right"),
        minlength=len(edges) + 1,
    )
    total = counts.sum()
    if total == 0:
        return [0.0] * len(counts)
    return [float(c) / float(total) for c in counts]


def build_reference(
    scores: Array,
    matrix: Array,
    columns: Sequence[str],
    top_columns: Sequence[str],
    bins: int = DEFAULT_BINS,
) -> dict[str, Any]:
    """Quantile bins and expected shares of the score and of `top_columns` (columns of
    `matrix`, laid out as `columns`), from the training period."""
    index = {name: i for i, name in enumerate(columns)}
    return {
        "bins": bins,
        "score": _bin_reference(scores, bins),
        "features": {name: _bin_reference(matrix[:, index[name]], bins) for name in top_columns},
    }


def psi(expected_shares: Sequence[float], actual_shares: Sequence[float]) -> float:
    """Population-stability index of two binnings of the same edges."""
    expected = np.maximum(np.asarray(expected_shares, dtype=np.float64), EPSILON)
    actual = np.maximum(np.asarray(actual_shares, dtype=np.float64), EPSILON)
    if expected.shape != actual.shape:
        raise ValueError("expected and actual shares must have the same number of bins")
    return float(np.sum((actual - expected) * np.log(actual / expected)))


def psi_of(reference_bins: Mapping[str, Any], values: Array) -> float:
    """PSI of `values` against one reference binning (`{"edges", "expected"}`)."""
    edges = np.asarray(reference_bins["edges"], dtype=np.float64)
    return psi(reference_bins["expected"], _shares(values, edges))


def drift_by_day_arrays(
    reference: Mapping[str, Any],
    days: Array,
    scores: Array,
    matrix: Array,
    columns: Sequence[str],
) -> list[dict[str, Any]]:
    """`drift_by_day` for rows already as arrays: UTC days (datetime64[D] or dates), scores
    and a matrix laid out as `columns`."""
    index = {name: i for i, name in enumerate(columns)}
    features: Mapping[str, Any] = reference.get("features") or {}
    result: list[dict[str, Any]] = []
    days = np.asarray(days)
    for day in np.unique(days):
        rows = np.flatnonzero(days == day)
        per_feature = {
            name: round(psi_of(bins, matrix[rows, index[name]]), 6) if name in index else None
            for name, bins in features.items()
        }
        result.append(
            {
                "day": str(day),
                "events": len(rows),
                "score_psi": round(psi_of(reference["score"], scores[rows]), 6),
                "features": per_feature,
            }
        )
    return result


def drift_by_day(
    reference: Mapping[str, Any],
    rows: Iterable[tuple[dt.date, float, Mapping[str, Any]]],
) -> list[dict[str, Any]]:
    """Per day: `{"day": "YYYY-MM-DD", "events": n, "score_psi": x, "features": {column: psi}}`.

    `rows` are (day, model score, feature dict) — the engine's feature dicts (dense or the
    sparse stored form: missing features read as neutral); the reference's feature columns
    are read from them with the same `Vectorizer` the model uses.
    """
    columns = list((reference.get("features") or {}).keys())
    vectorizer = Vectorizer(columns)
    days: list[str] = []
    scores: list[float] = []
    built: list[npt.NDArray[np.float32]] = []
    for day, score, features in rows:
        days.append(day.isoformat())
        scores.append(float(score))
        built.append(vectorizer.row(features)[0])
    if not days:
        return []
    matrix = np.stack(built) if built else np.zeros((len(days), 0), dtype=np.float32)
    return drift_by_day_arrays(
        reference, np.array(days), np.array(scores, dtype=np.float64), matrix, columns
    )
