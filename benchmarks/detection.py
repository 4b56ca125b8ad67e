"""Detection benchmark: payguard's model against the fraud-detection literature's reference.

Simulates traffic (`payguard simulate`'s writer; about 1.06 M events by default), trains
payguard's model exactly as `payguard train` does (the engine's feature code replayed, the
time split, labels known at train-until, the label-delay gap: the same library functions
the command calls), and builds here, by hand, the reference model of the *Reproducible
Machine Learning for Credit Card Fraud Detection* handbook (chapter "Baseline feature
transformation") on the same events:

- `amount`, `is_weekend`, `is_night` (local hour <= 6, as the handbook);
- per account (the handbook's customer), over its transactions (payments and withdrawals)
  in the last 1, 7 and 30 days, the current one included: their number and mean amount;
- per merchant (the handbook's terminal), over its payments in a window of 1, 7 and 30 days
  shifted back by the label delay, `(t - delay - w, t - delay]`: their number and the share
  that is fraud (0 without payments). As in the handbook, a fraud counts once its event is
  older than the delay, reported or not (`truth after delay`). A second, stricter variant
  counts only frauds reported within the delay of their event (`reported within delay`),
  which is all a deployed system could know.

The windows are the handbook's pandas `rolling("Nd")` windows (right-closed time windows per
entity), computed with sorted keys and cumulative sums in NumPy (pandas is not a payguard
dependency). The reference is trained with the same learner (`train.fit_booster`, i.e.
LightGBM with `train.BOOSTER_PARAMS`, `DEFAULT_TREES` trees), on the same training rows (the
same sampling, weights and labels known at train-until) and scored on the same held-out
events, with `ml/evaluate.py`'s `score_metrics` (AUC ROC, average precision, account
precision@100 per day).

Usage:
python benchmarks/detection.py [--customers 3000] [--days 60] [--seed 1] [--out DIR]
                               [--label-delay-days 7] [--trees 200]
`--out DIR` keeps the simulation (and the replayed feature cache beside it) and reuses
them on the next run with the same DIR. Quick check: `--customers 400 --days 40`.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson
from rich.console import Console

from payguard.cli.simulate import DEFAULT_START, validate, write_run
from payguard.ml.dataset import Dataset
from payguard.ml.evaluate import known_compromised, score_metrics
from payguard.ml.replay import FeatureTable, load_features
from payguard.ml.split import choose_split, held_out_rows, table_span
from payguard.ml.train import (
    BOOSTER_PARAMS,
    DEFAULT_MAX_TRAIN_ROWS,
    DEFAULT_TREES,
    fit_booster,
    train_model,
    training_set,
)
from payguard.sim.wire import DAY_MS

WINDOWS = (1, 7, 30)
#: Events that are a customer's "transactions" (money out), and a merchant's.
CUSTOMER_TX = frozenset({"payment", "withdrawal"})
TERMINAL_TX = frozenset({"payment"})
TOP = 10
_TIME_BITS = 42  # ms since `base` in the low bits of a window key (139 years)

timings: dict[str, float] = {}


@contextmanager
def timed(name: str) -> Iterator[None]:
    started = time.perf_counter()
    yield
    timings[name] = time.perf_counter() - started
    print(f"  {name}: {timings[name]:.1f} s", flush=True)


@dataclass
class Events:
    """The columns of the events file the reference needs, in file (= table) order."""

    event_id: npt.NDArray[np.str_]
    event_type: npt.NDArray[np.str_]
    account: npt.NDArray[np.str_]
    merchant: npt.NDArray[np.str_]  # "" for none
    t_ms: npt.NDArray[np.int64]
    amount: npt.NDArray[np.float64]  # NaN for none
    hour: npt.NDArray[np.int64]  # local
    weekday: npt.NDArray[np.int64]  # local, Monday 0


def read_events(path: Path) -> Events:
    """Parse `events.jsonl` (the requests as the simulator wrote them)."""
    ids: list[str] = []
    types: list[str] = []
    accounts: list[str] = []
    merchants: list[str] = []
    stamps: list[int] = []
    amounts: list[float] = []
    hours: list[int] = []
    weekdays: list[int] = []
    nan = float("nan")
    with path.open("rb") as lines:
        for line in lines:
            if not line.strip():
                continue
            request = orjson.loads(line)["request"]
            at = datetime.fromisoformat(request["occurred_at"].replace("Z", "+00:00"))
            ids.append(request["event_id"])
            types.append(request["event_type"])
            accounts.append(request["account_id"])
            merchant = request.get("merchant")
            merchants.append(merchant["id"] if merchant else "")
            amount = request.get("amount")
            amounts.append(float(amount["value"]) if amount else nan)
            stamps.append(round(at.timestamp() * 1000))
            hours.append(at.hour)
            weekdays.append(at.weekday())
    return Events(
        event_id=np.array(ids),
        event_type=np.array(types),
        account=np.array(accounts),
        merchant=np.array(merchants),
        t_ms=np.array(stamps, dtype=np.int64),
        amount=np.array(amounts, dtype=np.float64),
        hour=np.array(hours, dtype=np.int64),
        weekday=np.array(weekdays, dtype=np.int64),
    )


def window_sums(
    group: npt.NDArray[np.int64],
    t_ms: npt.NDArray[np.int64],
    member: npt.NDArray[np.bool_],
    value: npt.NDArray[np.float64],
    *,
    far_ms: int,
    near_ms: int,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """For every row i: the number of member rows j of the same group with
    `t_i - far < t_j <= t_i - near`, and the sum of their `value`; pandas'
    `groupby(group).rolling("far")` minus `rolling("near")`, as the handbook computes its
    delayed windows. With `near_ms` 0 the window ends at the row itself: a member row counts
    itself, and no row counts the rows after it in the file at the same millisecond, as with
    pandas' rolling."""
    base = int(t_ms.min()) - far_ms - 1
    keys = (group << _TIME_BITS) + (t_ms - base)
    order = np.argsort(keys, kind="stable")  # ties in file order
    sorted_keys = keys[order]
    counts = np.concatenate([[0.0], np.cumsum(member[order], dtype=np.float64)])
    cumulative = np.concatenate([[0.0], np.cumsum(np.where(member, value, 0.0)[order])])
    left = np.searchsorted(sorted_keys, keys - far_ms, side="right")
    if near_ms == 0:
        right = np.empty(len(t_ms), dtype=np.int64)
        right[order] = np.arange(1, len(order) + 1)
    else:
        right = np.searchsorted(sorted_keys, keys - near_ms, side="right")
    count = counts[right] - counts[left]
    return count, cumulative[right] - cumulative[left]


def reference_features(
    events: Events,
    fraud: npt.NDArray[np.bool_],
    label_at: npt.NDArray[np.float64],
    delay_days: float,
) -> dict[str, tuple[tuple[str, ...], npt.NDArray[np.float32]]]:
    """The handbook's features for every event, in two variants of the merchant risk:
    {"truth after delay": (columns, matrix), "reported within delay": (columns, matrix)}."""
    delay_ms = round(delay_days * DAY_MS)
    _, account = np.unique(events.account, return_inverse=True)
    account = account.reshape(-1).astype(np.int64)
    _, merchant = np.unique(events.merchant, return_inverse=True)
    merchant = merchant.reshape(-1).astype(np.int64)
    has_merchant = events.merchant != ""
    customer_tx = np.isin(events.event_type, list(CUSTOMER_TX)) & ~np.isnan(events.amount)
    terminal_tx = np.isin(events.event_type, list(TERMINAL_TX)) & has_merchant
    amount = np.nan_to_num(events.amount, nan=0.0)

    common: dict[str, npt.NDArray[np.float64]] = {
        "amount": events.amount,
        "is_weekend": (events.weekday >= 5).astype(np.float64),
        "is_night": (events.hour <= 6).astype(np.float64),
    }
    for w in WINDOWS:
        count, total = window_sums(
            account, events.t_ms, customer_tx, amount, far_ms=w * DAY_MS, near_ms=0
        )
        common[f"customer_nb_tx_{w}d"] = count
        common[f"customer_avg_amount_{w}d"] = np.divide(
            total, count, out=np.zeros_like(total), where=count > 0
        )
    # A fraud reported within the delay of its event (label_at in epoch seconds, NaN never).
    with np.errstate(invalid="ignore"):
        reported = fraud & (label_at * 1000 - events.t_ms <= delay_ms)
    variants = {"truth after delay": fraud, "reported within delay": reported}
    out: dict[str, tuple[tuple[str, ...], npt.NDArray[np.float32]]] = {}
    for name, known in variants.items():
        features = dict(common)
        for w in WINDOWS:
            count, frauds = window_sums(
                merchant,
                events.t_ms,
                terminal_tx,
                known.astype(np.float64),
                far_ms=delay_ms + w * DAY_MS,
                near_ms=delay_ms,
            )
            risk = np.divide(frauds, count, out=np.zeros_like(frauds), where=count > 0)
            features[f"terminal_nb_tx_{w}d"] = np.where(has_merchant, count, np.nan)
            features[f"terminal_risk_{w}d"] = np.where(has_merchant, risk, np.nan)
        columns = tuple(features)
        matrix = np.column_stack([features[c] for c in columns]).astype(np.float32)
        out[name] = (columns, matrix)
    return out


def top_gain(booster: Any, columns: tuple[str, ...], n: int = TOP) -> list[tuple[str, float]]:
    """The `n` columns with the most split gain, with their share of the total."""
    gains = booster.feature_importance(importance_type="gain")
    total = float(gains.sum()) or 1.0
    order = np.argsort(-gains, kind="stable")[:n]
    return [(columns[i], float(gains[i]) / total) for i in order if gains[i] > 0]


def simulate_into(out: Path, customers: int, days: float, seed: int) -> dict[str, Any]:
    options = validate(
        days=days,
        customers=customers,
        fraud_rate=0.01,
        seed=seed,
        start=DEFAULT_START,
        out=out,
        output_format="jsonl",
        force=True,
    )
    return write_run(options, progress=False, console=Console(stderr=True))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=3000)
    parser.add_argument("--days", type=float, default=60.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--trees", type=int, default=DEFAULT_TREES)
    parser.add_argument("--label-delay-days", type=float, default=7.0)
    parser.add_argument(
        "--out", type=Path, help="keep the simulation here; reused when it holds one already"
    )
    args = parser.parse_args()

    today = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    print(
        f"machine: {os.cpu_count()} cores, {platform.machine()}, Python "
        f"{sys.version.split()[0]}, load average {os.getloadavg()[0]:.2f}, {today}"
    )
    with tempfile.TemporaryDirectory(prefix="payguard-bench-detection-") as scratch:
        data = args.out or Path(scratch)
        manifest_path = data / "manifest.json"
        if manifest_path.is_file():
            manifest = orjson.loads(manifest_path.read_bytes())
            print(f"data: reusing {data} ({manifest.get('arguments', manifest)})")
        else:
            print(
                f"data: simulating {args.customers:,} customers x {args.days:g} days, "
                f"seed {args.seed}, into {data}"
            )
            with timed("simulate"):
                manifest = simulate_into(data, args.customers, args.days, args.seed)
        ours, reference = run(data, args)
    print("\ntimings: " + ", ".join(f"{k} {v:.1f} s" for k, v in timings.items()))
    print(f"total: {sum(timings.values()):.1f} s; load average now {os.getloadavg()[0]:.2f}")
    print(f"payguard AP {ours:.4f} vs reference AP {reference:.4f}")


def run(data: Path, args: argparse.Namespace) -> tuple[float, float]:
    """Replay, train both models, print their tables; the two headline APs."""
    delay = float(args.label_delay_days)
    dataset = Dataset(data, label_delay=timedelta(days=delay))
    print("payguard: replay through the engine's feature code (cached beside the data)")
    with timed("replay"):
        fingerprint = dataset.fingerprint()
        table, stats = load_features(dataset, fingerprint=fingerprint, progress=sys.stderr.isatty())
    if stats is None:
        print(f"  features of {len(table):,} events from the cache")
    else:
        print(
            f"  replayed {stats.events:,} events, {stats.events_per_second:,.0f} events/s, "
            f"{stats.labels_applied:,} labels applied"
        )
    split = choose_split(*table_span(table), label_delay_days=delay)
    print(
        f"data: {len(table):,} events, {int(table.fraud.sum()):,} fraud "
        f"({table.fraud.mean():.2%}), {len(np.unique(table.account)):,} accounts, "
        f"{len(table.columns)} payguard columns"
    )
    when = "%Y-%m-%d %H:%M"
    print(
        f"split: train {split.train_from:{when}} .. {split.train_events_until:{when}} "
        f"(labels known at {split.train_until:{when}}), test {split.test_from:{when}} .. "
        f"{split.test_until:{when}}, label delay {delay:g} days"
    )
    with timed("payguard train (LightGBM + ONNX + logistic baseline + evaluation)"):
        trained = train_model(table, split, trees=args.trees, seed=args.seed, data_hash=fingerprint)
    print("  " + ", ".join(f"{k} {v:.1f} s" for k, v in trained.timings.items()))
    training = trained.artifact.params["training"]
    print(
        f"  training rows: {training['rows_used']:,} of {training['events']:,} training-period "
        f"events, {training['frauds']:,} frauds known at train-until"
    )

    print("reference: the handbook's features, built here")
    with timed("reference features"):
        events = read_events(dataset.files[0])
        if not np.array_equal(events.event_id, table.event_id):
            position = {e: i for i, e in enumerate(events.event_id)}
            align = np.array([position[e] for e in table.event_id])
            events = Events(**{k: v[align] for k, v in vars(events).items()})
        variants = reference_features(events, table.fraud, table.label_at, delay)
    rows, labels, weights = training_set(
        table, split, max_rows=DEFAULT_MAX_TRAIN_ROWS, seed=args.seed
    )
    test_rows = held_out_rows(table, split)
    test = trained.evaluation.test
    assert np.array_equal(test.event_id, table.event_id[test_rows])
    scores: dict[str, npt.NDArray[np.float64]] = {
        "payguard (LightGBM, engine features)": trained.evaluation.model_scores,
        "payguard logistic baseline": trained.evaluation.baseline_scores,
    }
    importances: dict[str, list[tuple[str, float]]] = {
        "payguard": top_gain(trained.booster, table.columns)
    }
    for name, (columns, matrix) in variants.items():
        with timed(f"reference train ({name})"):
            booster = fit_booster(
                matrix[rows], labels, trees=args.trees, seed=args.seed, weights=weights
            )
        scores[f"reference ({name})"] = booster.predict(
            matrix[test_rows], num_threads=BOOSTER_PARAMS["num_threads"]
        ).astype(np.float64)
        importances[f"reference ({name})"] = top_gain(booster, columns)
    # The ceiling: P@100/day cannot reach 1 on a day with fewer than 100 new fraud accounts.
    scores["perfect ranking (the truth; the ceiling)"] = test.fraud.astype(np.float64)

    return report(table, split, test, scores, importances)


def report(
    table: FeatureTable,
    split: Any,
    test: FeatureTable,
    scores: dict[str, npt.NDArray[np.float64]],
    importances: dict[str, list[tuple[str, float]]],
) -> tuple[float, float]:
    """Print the metric tables, per-typology recall and importances; the APs of payguard
    and of the reference (truth after delay) on all test events."""
    days = test.days()
    known = known_compromised(
        table.account, table.fraud, table.label_at, split.test_from.timestamp()
    )
    subsets = {
        "all test events": np.ones(len(test), dtype=np.bool_),
        "without accounts known compromised before the test": ~np.isin(test.account, known),
        "transactions only (payments, withdrawals)": np.isin(test.event_type, list(CUSTOMER_TX)),
    }
    headline: dict[str, float] = {}
    typologies: dict[str, dict[str, dict[str, Any]]] = {}
    for subset, chosen in subsets.items():
        print(
            f"\n{subset}: {int(chosen.sum()):,} events, {int(test.fraud[chosen].sum()):,} fraud, "
            f"{len(np.unique(test.account[chosen])):,} accounts, "
            f"{len(np.unique(days[chosen]))} days"
        )
        print(f"| {'model':<42} | {'AUC ROC':>7} | {'AP':>6} | {'P@100/day':>9} |")
        print(f"| {'-' * 42} | {'-' * 6}: | {'-' * 5}: | {'-' * 8}: |")
        for name, values in scores.items():
            metrics = score_metrics(
                test.fraud[chosen],
                values[chosen],
                days=days[chosen],
                accounts=test.account[chosen],
                typologies=test.typology[chosen],
            )
            if subset == "all test events":
                headline[name] = metrics["average_precision"]
            typologies.setdefault(subset, {})[name] = metrics["typology_recall"]
            print(
                f"| {name:<42} | {metrics['auc_roc']:>7.4f} | "
                f"{metrics['average_precision']:>6.4f} | {metrics['precision_at_k']:>9.4f} |"
            )
    names = list(scores)[:-1]  # not the ceiling: it catches everything
    for subset in ("all test events", "transactions only (payments, withdrawals)"):
        recall = typologies[subset]
        print(f"\nrecall per typology at 1 % FPR (of that set's legitimate events), {subset}")
        print("| typology | events | " + " | ".join(names) + " |")
        print("| --- | ---: | " + " | ".join("---:" for _ in names) + " |")
        for typology, first in recall[names[0]].items():
            cells = [f"{recall[n].get(typology, {}).get('recall', 0.0):.3f}" for n in names]
            print(f"| {typology} | {first['events']:,} | " + " | ".join(cells) + " |")
    for name, top in importances.items():
        print(f"\ntop {TOP} features by split gain, {name}:")
        for column, share in top:
            print(f"  {share:6.1%}  {column}")
    return headline["payguard (LightGBM, engine features)"], headline[
        "reference (truth after delay)"
    ]


if __name__ == "__main__":
    main()
