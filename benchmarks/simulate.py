"""Benchmark the traffic simulator: events/s generating only, and generating + writing JSONL.

Prints, for each phase, the events, wall and CPU seconds and events/s (wall), plus the time
to build the population. The JSONL phase runs what `payguard simulate` runs (same writer,
same manifest) into a temporary directory. The machine's load average is printed too: other
processes on a 2-core machine show up directly in the wall-clock figures.

Usage:
python benchmarks/simulate.py [--customers N] [--days D] [--fraud-rate R] [--seed S]
                              [--skip-generate] [--skip-jsonl]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console

from payguard.cli.simulate import SimulateOptions, write_run
from payguard.sim import simulate
from payguard.sim.population import build_population

START = datetime(2026, 1, 1, tzinfo=UTC)


def _report(phase: str, events: int, wall: float, cpu: float) -> None:
    print(
        f"{phase:<22} {events:>10,} events  {wall:7.1f} s wall  {cpu:7.1f} s CPU  "
        f"{events / wall:>9,.0f} events/s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--days", type=float, default=9.0)
    parser.add_argument("--fraud-rate", type=float, default=0.01)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--skip-generate", action="store_true")
    parser.add_argument("--skip-jsonl", action="store_true")
    args = parser.parse_args()
    print(
        f"{args.customers:,} customers, {args.days:g} days, fraud rate {args.fraud_rate}, "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}"
    )

    wall, cpu = time.perf_counter(), time.process_time()
    build_population(seed=args.seed, customers=args.customers)
    _report("population", 0, time.perf_counter() - wall, time.process_time() - cpu)

    if not args.skip_generate:
        wall, cpu = time.perf_counter(), time.process_time()
        events = sum(
            1
            for _ in simulate(
                seed=args.seed,
                customers=args.customers,
                days=args.days,
                start=START,
                fraud_rate=args.fraud_rate,
            )
        )
        _report("generate", events, time.perf_counter() - wall, time.process_time() - cpu)

    if not args.skip_jsonl:
        with tempfile.TemporaryDirectory() as directory:
            options = SimulateOptions(
                days=args.days,
                customers=args.customers,
                fraud_rate=args.fraud_rate,
                seed=args.seed,
                start=START,
                out=Path(directory) / "run",
                output_format="jsonl",
            )
            wall, cpu = time.perf_counter(), time.process_time()
            manifest = write_run(options, progress=False, console=Console(quiet=True))
            _report(
                "generate + JSONL", manifest["events"], time.perf_counter() - wall,
                time.process_time() - cpu,
            )  # fmt: skip
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
