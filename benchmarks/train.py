"""Benchmark the training pipeline: feature replay (events/s) and model training time.

Simulates traffic into a temporary directory (as `payguard simulate` writes it), then times:
reading and validating the events alone; the replay through the engine's feature code in one
process and in two (`replay.SHARDS`); LightGBM and the logistic baseline on the replayed rows;
and prints the held-out average precision of both. Usage:
python benchmarks/train.py [--customers N] [--days D] [--trees N] [--data DIR]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import orjson

from payguard.ml.dataset import Dataset
from payguard.ml.replay import replay_dataset
from payguard.ml.split import choose_split, table_span
from payguard.ml.train import train_model
from payguard.sim.traffic import simulate


def write_events(out: Path, customers: int, days: float, seed: int) -> int:
    count = 0
    with (out / "events.jsonl").open("wb") as lines:
        for item in simulate(
            seed=seed,
            customers=customers,
            days=days,
            start=datetime(2026, 1, 1, tzinfo=UTC),
            fraud_rate=0.01,
        ):
            label_at = getattr(item, "label_at", None)
            if isinstance(label_at, int):  # the simulator's epoch milliseconds
                label_at = datetime.fromtimestamp(label_at / 1000, tz=UTC).isoformat()
            document = {
                "request": item.request,
                "label": item.label,
                "typology": item.typology,
                "label_at": label_at,
            }
            lines.write(orjson.dumps(document) + b"\n")
            count += 1
    (out / "manifest.json").write_bytes(orjson.dumps({"events": count}))
    return count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1000)
    parser.add_argument("--days", type=float, default=30.0)
    parser.add_argument("--trees", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--data", type=Path, help="an existing simulator output directory")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="payguard-bench-train-") as scratch:
        data = args.data
        if data is None:
            data = Path(scratch)
            started = time.perf_counter()
            count = write_events(data, args.customers, args.days, args.seed)
            print(f"simulated {count:,} events in {time.perf_counter() - started:.1f} s")
        dataset = Dataset(data)

        started = time.perf_counter()
        count = sum(1 for _ in dataset.events())
        seconds = time.perf_counter() - started
        print(f"read + validate: {count / seconds:,.0f} events/s ({seconds:.1f} s)")

        for workers in (1, 2):
            table, stats = replay_dataset(dataset, workers=workers)
            print(
                f"replay, {workers} process{'es' if workers > 1 else ''}: "
                f"{stats.events_per_second:,.0f} events/s ({stats.seconds:.1f} s, "
                f"{stats.labels_applied:,} labels applied)"
            )

        split = choose_split(*table_span(table))
        started = time.perf_counter()
        trained = train_model(table, split, trees=args.trees, seed=args.seed, data_hash="bench")
        print(f"train + evaluate: {time.perf_counter() - started:.1f} s {trained.timings}")
        report = trained.evaluation.report
        for side in ("model", "baseline"):
            metrics = report[side]
            print(
                f"{side}: average precision {metrics['average_precision']:.4f}, "
                f"AUC {metrics['auc_roc']:.4f}, recall@1% FPR "
                f"{metrics['recall_at_fpr']['0.01']:.4f}, "
                f"precision@100/day {metrics['precision_at_k']:.4f}"
            )


if __name__ == "__main__":
    main()
