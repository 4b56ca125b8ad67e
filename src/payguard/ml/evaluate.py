"""How well scores separate fraud from legitimate events over a held-out period.

Definitions (scikit-learn computes the curves); `docs/ml.md` says which to compare with
published tables:

- `auc_roc`: area under the ROC curve; `average_precision`: area under the
  precision-recall curve as scikit-learn's step-wise sum (the headline number: fraud is rare,
  and AP is what an alert queue feels).
- `recall_at_fpr[x]`: the largest share of frauds caught while flagging at most a share `x`
  of legitimate events (the ROC curve's TPR at the last point with FPR <= x).
- `precision_at_k` (card/account precision top-k): for each UTC day of the test period,
  every account's highest score that day; accounts that had a fraud event on an earlier
  test day are left out (they were caught, so they would have been blocked); the `k`
  remaining accounts with the highest are the day's alerts, and the precision is the number
  of them with at least one fraud event that day divided by `k` (not by the number of
  alerts: a day with fewer than `k` accounts cannot score 1.0 with one lucky alert).
  Averaged over the days (`precision_at_k_by_day` has each day).
- `typology_recall`: per fraud typology, the share of its events scored at or above the
  threshold that flags 1 % of legitimate events.

`known_compromised` finds the accounts whose compromise was known before the test period
started (a fraud label with its label time before `test_from`): the report gives every metric
on the test period as is and without those accounts' events.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

#: False-positive rates at which recall is reported.
FPR_POINTS: tuple[float, ...] = (0.001, 0.01)
#: Alerts per day in `precision_at_k`.
TOP_K = 100
#: The operating point for per-typology recall.
TYPOLOGY_FPR = 0.01
UNSPECIFIED_TYPOLOGY = "unspecified"

Scores = npt.NDArray[np.floating[Any]]
Labels = npt.NDArray[np.bool_]


def threshold_at_fpr(labels: Labels, scores: Scores, fpr: float) -> float:
    """The lowest score threshold (flag when score >= it) whose false-positive rate is at
    most `fpr`; +inf when even the highest score flags too many legitimate events."""
    from sklearn.metrics import roc_curve

    if labels.all() or not labels.any():
        return float("inf")
    false_pos, _, thresholds = roc_curve(labels, scores)
    last = int(np.searchsorted(false_pos, fpr, side="right")) - 1
    return float(thresholds[last]) if last >= 0 else float("inf")


def recall_at_fpr(labels: Labels, scores: Scores, fpr: float) -> float:
    """The ROC curve's true-positive rate at the last point whose FPR is at most `fpr`."""
    from sklearn.metrics import roc_curve

    if labels.all() or not labels.any():
        return 0.0
    false_pos, true_pos, _ = roc_curve(labels, scores)
    last = int(np.searchsorted(false_pos, fpr, side="right")) - 1
    return float(true_pos[last]) if last >= 0 else 0.0


def precision_at_k(
    days: npt.NDArray[Any],
    accounts: npt.NDArray[Any],
    labels: Labels,
    scores: Scores,
    k: int = TOP_K,
) -> tuple[float, list[dict[str, Any]]]:
    """Mean over days of the day's account precision at `k` (see the module doc), and each
    day's `{"day", "accounts", "excluded", "alerts", "hits", "precision"}`: `accounts` active
    that day and not caught before, `excluded` caught on an earlier day, `alerts` the top
    min(k, accounts), `hits` the fraudulent ones among them, `precision` = hits / k."""
    if k < 1:
        raise ValueError("k must be at least 1")
    if len(labels) == 0:
        return 0.0, []
    day_codes, day_index = np.unique(days, return_inverse=True)
    _, account_index = np.unique(accounts, return_inverse=True)
    day_index = day_index.reshape(-1).astype(np.int64)
    account_index = account_index.reshape(-1).astype(np.int64)
    n_accounts = int(account_index.max()) + 1
    key = day_index * n_accounts + account_index
    order = np.argsort(key, kind="stable")
    key_sorted = key[order]
    starts = np.flatnonzero(np.r_[True, key_sorted[1:] != key_sorted[:-1]])
    best = np.maximum.reduceat(scores[order].astype(np.float64), starts)
    fraud = np.logical_or.reduceat(labels[order], starts)
    group_day = day_index[order][starts]
    group_account = account_index[order][starts]
    # The first test day each account had a fraud on; from the next day on it is caught.
    first_fraud = np.full(n_accounts, len(day_codes), dtype=np.int64)
    np.minimum.at(first_fraud, group_account[fraud], group_day[fraud])
    caught = first_fraud[group_account] < group_day
    per_day: list[dict[str, Any]] = []
    for code, day in enumerate(day_codes):
        in_day = np.flatnonzero(group_day == code)
        excluded = int(caught[in_day].sum())
        in_day = in_day[~caught[in_day]]
        ranked = in_day[np.argsort(-best[in_day], kind="stable")][:k]
        hits = int(fraud[ranked].sum())
        per_day.append(
            {
                "day": str(day),
                "accounts": len(in_day),
                "excluded": excluded,
                "alerts": len(ranked),
                "hits": hits,
                "precision": hits / k,
            }
        )
    mean = float(np.mean([d["precision"] for d in per_day]))
    return mean, per_day


def known_compromised(
    accounts: npt.NDArray[Any],
    labels: Labels,
    label_at: npt.NDArray[np.floating[Any]],
    before: float,
) -> npt.NDArray[Any]:
    """The accounts (sorted, distinct) with a fraud label known before `before` (epoch
    seconds): `labels` true and `label_at < before`; a label never known (NaN) does not
    count. Pass every event up to the test period's end, not just the test period."""
    with np.errstate(invalid="ignore"):
        known = labels & (label_at < before)
    return np.unique(accounts[known])


def typology_recall(
    labels: Labels, scores: Scores, typologies: npt.NDArray[Any], threshold: float
) -> dict[str, dict[str, Any]]:
    """Per typology: its fraud events, how many scored >= `threshold`, and the share."""
    result: dict[str, dict[str, Any]] = {}
    fraud = np.flatnonzero(labels)
    names = typologies[fraud]
    for name in sorted({str(n) for n in names}):
        rows = fraud[names == name]
        caught = int((scores[rows] >= threshold).sum())
        result[name or UNSPECIFIED_TYPOLOGY] = {
            "events": len(rows),
            "caught": caught,
            "recall": caught / len(rows) if len(rows) else 0.0,
        }
    return result


def score_metrics(
    labels: Labels,
    scores: Scores,
    *,
    days: npt.NDArray[Any],
    accounts: npt.NDArray[Any],
    typologies: npt.NDArray[Any],
    k: int = TOP_K,
    fpr_points: Sequence[float] = FPR_POINTS,
) -> dict[str, Any]:
    """Every metric of the module doc for one set of scores."""
    from sklearn.metrics import average_precision_score, roc_auc_score

    events = len(labels)
    frauds = int(labels.sum())
    both = 0 < frauds < events
    threshold = threshold_at_fpr(labels, scores, TYPOLOGY_FPR)
    mean_precision, by_day = precision_at_k(days, accounts, labels, scores, k)
    return {
        "events": events,
        "frauds": frauds,
        "fraud_rate": frauds / events if events else 0.0,
        "auc_roc": float(roc_auc_score(labels, scores)) if both else None,
        "average_precision": float(average_precision_score(labels, scores)) if both else None,
        "recall_at_fpr": {_fpr_key(x): recall_at_fpr(labels, scores, x) for x in fpr_points},
        "threshold_at_fpr": {
            _fpr_key(x): _finite(threshold_at_fpr(labels, scores, x)) for x in fpr_points
        },
        "top_k": k,
        "precision_at_k": mean_precision,
        "precision_at_k_by_day": by_day,
        "typology_recall": typology_recall(labels, scores, typologies, threshold),
    }


def _fpr_key(x: float) -> str:
    return format(x, "g") if x >= 0.0001 else repr(x)


def _finite(value: float) -> float | None:
    return value if np.isfinite(value) else None


def headline(metrics: Mapping[str, Any]) -> dict[str, Any]:
    """The few numbers printed side by side."""
    return {
        "average_precision": metrics.get("average_precision"),
        "auc_roc": metrics.get("auc_roc"),
        **{f"recall@{x} FPR": v for x, v in (metrics.get("recall_at_fpr") or {}).items()},
        f"precision@{metrics.get('top_k', TOP_K)}/day": metrics.get("precision_at_k"),
    }
