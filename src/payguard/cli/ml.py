"""`payguard train` and `payguard evaluate`: the fraud model from labelled history.

`main.py` declares the options; these functions do the work, so the commands stay thin.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
import typer
from rich.console import Console
from rich.table import Table

from payguard.cli.context import domain_errors as _errors
from payguard.cli.context import err
from payguard.cli.context import services as _services
from payguard.core.errors import ValidationFailed

if TYPE_CHECKING:
    from payguard.ml.dataset import Dataset
    from payguard.ml.replay import FeatureTable
    from payguard.ml.train import Evaluation
    from payguard.risk.models.artifact import ModelArtifact
    from payguard.services import Services
    from payguard.tenancy.interfaces import Tenant

out = Console()


def _iso(value: str | None, option: str) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValidationFailed(f"{value!r} is not an ISO 8601 time", field=option) from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _tenant(services: Services, name: str) -> Tenant:
    """The tenant a model is trained or evaluated for. It must exist already: training never
    creates a tenant (one made here would have no API key anyone kept)."""
    import shlex

    from payguard.core.errors import NotFound

    tenant = services.tenants.get_tenant_by_name(name)
    if tenant is None:
        raise NotFound(
            f"no tenant named {name!r}: create it first with "
            f"payguard tenants create {shlex.quote(name)}"
        )
    return tenant


def _dataset(
    data: Path,
    mapping: str | None,
    currency: str,
    label_delay_days: float,
    *,
    features: str | None = None,
    categorical: str | None = None,
    time_origin: str | None = None,
    recorded: Mapping[str, Any] | None = None,
) -> Dataset:
    """The data to read. `features`/`categorical`: the partner's own columns as model inputs
    (`--features V1,V2 --categorical MCC`); `recorded`: a model's `params["data"]`, whose
    partner columns and time origin are used when these are not given (evaluate)."""
    from payguard.ml.dataset import (
        CATEGORY_PREFIX,
        NUMERIC_PREFIX,
        Dataset,
        add_features,
        parse_columns,
        parse_mapping,
    )

    partner = (NUMERIC_PREFIX, CATEGORY_PREFIX)
    parsed = None if mapping is None else parse_mapping(mapping)
    if (features or categorical) and parsed is None:
        raise ValidationFailed("--features and --categorical need --map", field="--features")
    if parsed is not None:
        parsed = add_features(parsed, parse_columns(features), parse_columns(categorical))
    if recorded is not None and parsed is not None:
        known = recorded.get("mapping") or {}
        if not any(key.startswith(partner) for key in parsed):
            parsed.update({k: v for k, v in known.items() if k.startswith(partner)})
        time_origin = time_origin or recorded.get("time_origin")
    return Dataset(
        data,
        mapping=parsed,
        currency=currency.upper(),
        label_delay=timedelta(days=label_delay_days),
        time_origin=None if time_origin is None else _iso(time_origin, "--time-origin"),
    )


def _features(dataset: Dataset, fingerprint: str) -> FeatureTable:
    from payguard.ml.replay import load_features

    started = time.perf_counter()
    table, stats = load_features(dataset, fingerprint=fingerprint)
    if stats is None:
        err.print(
            f"features: {len(table):,} events from the cache "
            f"({time.perf_counter() - started:.1f} s)"
        )
    else:
        err.print(
            f"features: replayed {stats.events:,} events in {stats.seconds:.1f} s "
            f"({stats.events_per_second:,.0f} events/s, {stats.labels_applied:,} labels applied)"
        )
    return table


def _data_facts(dataset: Dataset, fingerprint: str, table: FeatureTable) -> dict[str, Any]:
    return {
        "source": str(dataset.path),
        "kind": dataset.kind,
        "mapping": dataset.mapping,
        **(
            {"time_origin": dataset.time_origin.isoformat()}
            if dataset.time_origin is not None
            else {}
        ),
        "events": len(table),
        "frauds": int(table.fraud.sum()),
        "data_hash": fingerprint,
    }


def _metrics_table(section: Mapping[str, Any], title: str) -> Table:
    """The headline numbers of a report section's model and baseline, side by side."""
    from payguard.ml.evaluate import headline

    model = headline(section["model"])
    baseline = headline(section["baseline"])
    table = Table(title=title)
    table.add_column("metric")
    table.add_column("model", justify="right")
    table.add_column("baseline (logistic)", justify="right")
    for key in model:
        table.add_row(key, _cell(model[key]), _cell(baseline.get(key)))
    for key in ("events", "frauds"):
        table.add_row(key, _cell(section["model"][key]), _cell(section["baseline"][key]))
    return table


def _print_metrics(report: Mapping[str, Any], title: str) -> None:
    out.print(_metrics_table(report, title))
    typologies = report["model"].get("typology_recall") or {}
    if typologies:
        per = Table(title="recall per typology at 1 % FPR")
        per.add_column("typology")
        per.add_column("events", justify="right")
        per.add_column("model", justify="right")
        per.add_column("baseline", justify="right")
        other = report["baseline"].get("typology_recall") or {}
        for name, values in typologies.items():
            per.add_row(
                name,
                str(values["events"]),
                _cell(values["recall"]),
                _cell((other.get(name) or {}).get("recall")),
            )
        out.print(per)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


def run_train(
    *,
    data: Path | None,
    mapping: str | None,
    currency: str,
    train_from: str | None,
    train_until: str | None,
    test_from: str | None,
    test_until: str | None,
    label_delay_days: float,
    tenant: str,
    trees: int,
    seed: int,
    max_train_rows: int,
    model_out: Path | None,
    from_store: bool,
    since: str | None,
    until: str | None,
    features: str | None = None,
    categorical: str | None = None,
    time_origin: str | None = None,
    tune: int = 0,
) -> None:
    """`payguard train`: replay (or read stored decisions), split, train, evaluate, register."""
    from payguard.audit.interfaces import Actor
    from payguard.ml.split import choose_split, table_span
    from payguard.ml.train import train_model

    with _errors():
        if from_store == (data is not None):
            raise ValidationFailed("give either --data or --from-store", field="--data")
        bounds = {
            "train_from": _iso(train_from, "--train-from"),
            "train_until": _iso(train_until, "--train-until"),
            "test_from": _iso(test_from, "--test-from"),
            "test_until": _iso(test_until, "--test-until"),
        }
        with _services() as services:
            owner = _tenant(services, tenant)
            if from_store:
                from payguard.ml.store import decisions_table

                table, facts = decisions_table(
                    services.assessment_store,
                    owner.id,
                    since=_iso(since, "--since"),
                    until=_iso(until, "--until"),
                    label_delay_days=label_delay_days,
                )
                fingerprint = facts["data_hash"]
                err.print(f"features: {len(table):,} stored decisions of tenant {tenant!r}")
            else:
                assert data is not None
                dataset = _dataset(
                    data,
                    mapping,
                    currency,
                    label_delay_days,
                    features=features,
                    categorical=categorical,
                    time_origin=time_origin,
                )
                fingerprint = dataset.fingerprint()
                table = _features(dataset, fingerprint)
                facts = _data_facts(dataset, fingerprint, table)
            split = choose_split(
                *table_span(table),
                train_from=bounds["train_from"],
                train_until=bounds["train_until"],
                test_from=bounds["test_from"],
                test_until=bounds["test_until"],
                label_delay_days=label_delay_days,
            )
            started = time.perf_counter()
            trained = train_model(
                table,
                split,
                trees=trees,
                seed=seed,
                data_hash=fingerprint,
                data=facts,
                extra_params={"data": facts, "tenant": tenant},
                max_train_rows=max_train_rows,
                tune_candidates=tune,
                progress=lambda line: err.print(line, markup=False, highlight=False),
            )
            err.print(
                f"trained in {time.perf_counter() - started:.1f} s "
                + ", ".join(f"{k}={v}" for k, v in trained.timings.items())
            )
            version: int | None = None
            registry = getattr(services, "models", None)
            if registry is not None:
                record = registry.register(owner.id, trained.artifact, actor=Actor.system("cli"))
                version = int(record.version)
        if model_out is not None:
            from payguard.ml.artifact_io import save

            save(trained.artifact, model_out)
            err.print(f"model written to {model_out}")
        trained.evaluation.report["model_version"] = version
        _print_metrics(trained.evaluation.report, "test period (held out)")
        if version is not None:
            typer.echo(f"registered model version {version} for tenant {tenant}")
        elif model_out is None:
            raise ValidationFailed(
                "no model registry here: give --out FILE to keep the model", field="--out"
            )


def _model(
    services: Services | None, owner_id: str | None, version: int | None, model_file: Path | None
) -> tuple[ModelArtifact, int | str | None]:
    if model_file is not None:
        from payguard.ml.artifact_io import load

        return load(model_file), model_file.name
    registry = getattr(services, "models", None)
    if registry is None or owner_id is None:
        raise ValidationFailed("no model registry here: give --model-file", field="--model-file")
    if version is not None:
        record = registry.get(owner_id, version)
    else:
        record = registry.latest(owner_id)
        if record is None:
            raise ValidationFailed(
                "the tenant has no model yet (payguard train registers one)", field="--model"
            )
    return record.artifact, int(record.version)


def run_evaluate(
    *,
    data: Path,
    mapping: str | None,
    currency: str,
    model_version: int | None,
    model_file: Path | None,
    tenant: str,
    json_out: Path | None,
    html_out: Path | None,
    drift: bool,
    scores_out: Path | None = None,
) -> None:
    """`payguard evaluate`: the model on its own split's test period, beside the baseline;
    `scores_out` gets `event_id,score,baseline` for every test event."""
    from payguard.ml.drift import drift_by_day_arrays
    from payguard.ml.report import render_html
    from payguard.ml.split import TimeSplit, held_out_rows
    from payguard.ml.train import DEFAULT_MAX_TRAIN_ROWS, evaluate_split, relayout

    with _errors():
        if model_file is not None:
            artifact, version = _model(None, None, None, model_file)
        else:
            with _services() as services:
                owner = _tenant(services, tenant)
                artifact, version = _model(services, owner.id, model_version, None)
        stored_split = artifact.params.get("split")
        if not stored_split:
            raise ValidationFailed("the model does not record its split", field="--model")
        split = TimeSplit.from_dict(stored_split)
        delay = float(stored_split.get("label_delay_days", 7.0))
        dataset = _dataset(data, mapping, currency, delay, recorded=artifact.params.get("data"))
        fingerprint = dataset.fingerprint()
        table = _features(dataset, fingerprint)
        if fingerprint != artifact.data_hash:
            err.print("[yellow]note:[/yellow] this data is not the data the model was trained on")
        evaluation = evaluate_split(
            table,
            split,
            artifact,
            seed=int(artifact.params.get("seed", 1)),
            data=_data_facts(dataset, fingerprint, table),
            model_version=version,
            max_train_rows=int(
                (artifact.params.get("training") or {}).get("max_train_rows")
                or DEFAULT_MAX_TRAIN_ROWS
            ),
        )
        report = evaluation.report
        drift_rows: list[dict[str, Any]] = []
        if drift and artifact.reference:
            test = table.take(held_out_rows(table, split))
            drift_rows = drift_by_day_arrays(
                artifact.reference,
                test.days(),
                evaluation.model_scores,
                relayout(test, artifact.columns),
                artifact.columns,
            )
            report["drift"] = drift_rows
        _print_metrics(report, f"model {version} on the test period")
        _print_without_known(report)
        if drift:
            _print_drift(drift_rows)
        if scores_out is not None:
            _write_scores(scores_out, evaluation)
            err.print(f"scores of {len(evaluation.labels):,} test events written to {scores_out}")
        if json_out is not None:
            json_out.write_bytes(
                orjson.dumps(report, option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY)
            )
            err.print(f"report written to {json_out}")
            html_out = html_out or json_out.with_suffix(".html")
        if html_out is not None:
            html_out.write_text(
                render_html(
                    report,
                    evaluation.labels,
                    evaluation.model_scores,
                    evaluation.baseline_scores,
                    drift_rows,
                ),
                encoding="utf-8",
            )
            err.print(f"HTML report written to {html_out}")


def _print_without_known(report: Mapping[str, Any]) -> None:
    """The headline numbers without the accounts known compromised when the test started."""
    without = report.get("without_known_compromised")
    if not without:
        return
    title = (
        f"without the {without['accounts_excluded']:,} accounts known compromised when "
        f"the test period started ({without['events_excluded']:,} events, "
        f"{without['frauds_excluded']:,} frauds left out): compare these with published tables"
    )
    out.print(_metrics_table(without, title))


def _write_scores(path: Path, evaluation: Evaluation) -> None:
    """`event_id,score,baseline`, one row per test event in time order; scores as Python
    writes floats (shortest repr that reads back to the same value)."""
    import csv

    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(("event_id", "score", "baseline"))
        writer.writerows(
            zip(
                evaluation.test.event_id.tolist(),
                evaluation.model_scores.tolist(),
                evaluation.baseline_scores.tolist(),
                strict=True,
            )
        )


def _print_drift(rows: list[dict[str, Any]]) -> None:
    """Drift in two tables that fit the terminal whatever the number of features: per day
    (score PSI and the day's most shifted feature), then per feature over the test period.
    Every day's PSI of every feature is in the --json and --html reports."""
    from payguard.cli.context import print_table, table, text

    if not rows:
        out.print("no drift reference in this model")
        return
    days = table(
        "day",
        "events",
        "score PSI",
        "most shifted feature",
        "its PSI",
        title="PSI against the training period (> 0.25: a shift worth a look)",
        right=("events", "score PSI", "its PSI"),
    )
    per_feature: dict[str, list[tuple[float, str]]] = {name: [] for name in rows[0]["features"]}
    for row in rows:
        known = {k: v for k, v in row["features"].items() if v is not None}
        for name, value in known.items():
            per_feature.setdefault(name, []).append((float(value), row["day"]))
        worst = max(known, key=lambda name: known[name], default=None)
        days.add_row(
            row["day"],
            str(row["events"]),
            _cell(row["score_psi"]),
            "-" if worst is None else text(worst),
            "-" if worst is None else _cell(known[worst]),
        )
    print_table(days)
    features = table(
        "feature",
        "mean PSI",
        "max PSI",
        "on day",
        title="PSI per feature over the test period",
        right=("mean PSI", "max PSI"),
    )
    for name, values in per_feature.items():
        if not values:
            features.add_row(text(name), "-", "-", "-")
            continue
        top, day = max(values)
        features.add_row(
            text(name), _cell(sum(v for v, _ in values) / len(values)), _cell(top), day
        )
    print_table(features)
