"""The demo's model: trained on simulated history the first time the demo runs, then kept.

The same steps a partner runs by hand (`payguard simulate`, `payguard train`,
`payguard models promote`), done in process for the demo tenant, so the demo's decisions
use a trained model from the first event on.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console

from payguard.audit.interfaces import Actor
from payguard.services import Services

#: Simulated history the demo model learns from: big enough for every typology to appear
#: many times, small enough to train in well under a minute on a laptop.
TRAINING_CUSTOMERS = 800
TRAINING_DAYS = 21.0
TRAINING_FRAUD_RATE = 0.02
TRAINING_SEED = 101


def ensure_model(
    services: Services,
    tenant_id: str,
    directory: Path,
    console: Console,
    *,
    customers: int = TRAINING_CUSTOMERS,
) -> int | None:
    """The demo tenant's champion version: the one it has, or a newly trained and promoted
    one. None (rules only) if training could not produce a model."""
    champion, _ = services.models.serving(tenant_id)
    if champion is not None:
        return champion.version

    from payguard.cli.simulate import SimulateOptions, write_run
    from payguard.ml.dataset import Dataset
    from payguard.ml.replay import load_features
    from payguard.ml.split import choose_split, table_span
    from payguard.ml.train import train_model

    data = directory / "training"
    if not (data / "manifest.json").is_file():
        console.print(
            f"training the demo model: simulating {TRAINING_DAYS:g} days of "
            f"{customers:,} customers ..."
        )
        write_run(
            SimulateOptions(
                days=TRAINING_DAYS,
                customers=customers,
                fraud_rate=TRAINING_FRAUD_RATE,
                seed=TRAINING_SEED,
                start=datetime(2026, 1, 1, tzinfo=UTC),
                out=data,
                output_format="jsonl",
                force=True,
            ),
            progress=False,
            console=Console(stderr=True, quiet=True),
        )
    console.print("training the demo model: replaying the history through the engine ...")
    dataset = Dataset(data)
    fingerprint = dataset.fingerprint()
    table, _ = load_features(dataset, fingerprint=fingerprint, progress=False)
    if int(table.fraud.sum()) < 10:
        console.print("[yellow]too little fraud to train on: the demo runs on rules only[/yellow]")
        return None
    split = choose_split(*table_span(table))
    trained = train_model(
        table,
        split,
        data_hash=fingerprint,
        data={"source": "payguard demo", "events": len(table)},
        extra_params={"tenant": "demo"},
    )
    demo = Actor.system("demo")
    record = services.models.register(tenant_id, trained.artifact, actor=demo)
    services.models.promote(tenant_id, record.version, actor=demo)
    model = trained.evaluation.report["model"]
    baseline = trained.evaluation.report["baseline"]
    console.print(
        f"demo model v{record.version} promoted: average precision "
        f"{model['average_precision']:.3f} (logistic baseline {baseline['average_precision']:.3f})"
        f" on the held-out last {TRAINING_DAYS * 0.2:g} days"
    )
    return int(record.version)
