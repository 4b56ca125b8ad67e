"""The `payguard` command: serve, demo, assess, tenants, purge."""

from __future__ import annotations

import re
import sys
from datetime import timedelta
from pathlib import Path
from typing import Annotated

import orjson
import typer
from pydantic import ValidationError
from rich.markup import escape

from payguard.audit.interfaces import Actor
from payguard.cli.context import err, print_table, table, text, when
from payguard.cli.context import services as _services
from payguard.cli.context import tenant_named as _tenant_named
from payguard.cli.keys import keys_app
from payguard.cli.models import models_app
from payguard.cli.sharing import sharing_app
from payguard.cli.shield import shield_app
from payguard.cli.state import state_app
from payguard.cli.tokens import tokens_app
from payguard.core.errors import PayguardError, ValidationFailed, field_path
from payguard.tenancy.interfaces import API_KEY, Role

#: A key id as `tenants revoke` takes it: the 16 hex digits after `pgk_`.
KEY_ID = re.compile(r"[0-9a-f]{16}")

app = typer.Typer(
    no_args_is_help=True, help="payguard: real-time fraud decisions for mobile payments."
)
tenants_app = typer.Typer(no_args_is_help=True, help="Partner tenants and their API keys.")
app.add_typer(tenants_app, name="tenants")
app.add_typer(models_app, name="models")
app.add_typer(state_app, name="state")
app.add_typer(keys_app, name="keys")
app.add_typer(tokens_app, name="tokens")
app.add_typer(shield_app, name="shield")
app.add_typer(sharing_app, name="sharing")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes")] = 1,
) -> None:
    """Serve the API (backends from PAYGUARD_* settings; SQLite under ./var by default).

    One worker per core is the usual choice; every worker shares the same stores, and on
    Linux each has its own socket on the port, so connections spread across them.
    """
    import os

    from payguard.api.server import serve as run

    # The workers build their services from the environment: tell them how many they are.
    os.environ["PAYGUARD_WORKERS"] = str(workers)
    shown = f"[{host}]" if ":" in host else host  # an IPv6 address in a URL is bracketed
    typer.echo(f"listening on http://{shown}:{port} ({workers} worker{'s' * (workers > 1)})")
    run(host, port, workers)


@tenants_app.command("create")
def tenants_create(
    name: Annotated[str, typer.Argument(help="The partner's name")],
    role: Annotated[
        Role | None, typer.Option(help="Role of the first API key [default: admin]")
    ] = None,
) -> None:
    """Create a tenant; its API key is printed on the last line (shown once, stored hashed).

    The first key is an admin key unless --role says otherwise (`tenants key` issues service
    keys by default); the role is always printed.
    """
    chosen = Role.ADMIN if role is None else role
    with _services() as services:
        tenant, key = services.tenants.create_tenant(name, actor=Actor.system("cli"), role=chosen)
    typer.echo(f"tenant {tenant.id} {tenant.name} (key role: {_role_shown(chosen, role)})")
    typer.echo(key)


def _role_shown(chosen: Role, given: Role | None) -> str:
    """The role of a new key, saying so when it is the command's default."""
    return chosen.value if given is not None else f"{chosen.value}, the default; see --role"


@tenants_app.command("key")
def tenants_key(
    name: Annotated[str, typer.Argument(help="The tenant's name")],
    role: Annotated[
        Role | None, typer.Option(help="Role of the new API key [default: service]")
    ] = None,
    expires_in_days: Annotated[
        int | None,
        typer.Option(min=1, max=3650, help="Days until the key stops working (default: never)"),
    ] = None,
) -> None:
    """Issue another API key for a tenant; printed on the last line.

    Further keys are service keys unless --role says otherwise (a tenant's first key, from
    `tenants create`, is an admin key); the role is always printed.
    """
    chosen = Role.SERVICE if role is None else role
    with _services() as services:
        tenant = _tenant_named(services, name)
        expires_at = (
            None
            if expires_in_days is None
            else services.clock.now() + timedelta(days=expires_in_days)
        )
        key, raw = services.tenants.issue_key(
            tenant.id, role=chosen, actor=Actor.system("cli"), expires_at=expires_at
        )
    until = "never expires" if key.expires_at is None else f"expires {key.expires_at.isoformat()}"
    typer.echo(
        f"key {key.id} for tenant {tenant.name} (role: {_role_shown(chosen, role)}; {until})"
    )
    typer.echo(raw)


@tenants_app.command("keys")
def tenants_keys(name: Annotated[str, typer.Argument(help="The tenant's name")]) -> None:
    """List a tenant's API keys: id, role, created, expires, status (secrets are never shown;
    only their hashes are stored)."""
    with _services() as services:
        tenant = _tenant_named(services, name)
        keys = services.tenants.keys(tenant.id)
        now = services.clock.now()
    if not keys:
        typer.echo(f"tenant {tenant.name} has no API keys (payguard tenants key NAME issues one)")
        return
    rows = table("key id", "role", "created (UTC)", "expires (UTC)", "status", whole={"key id": 16})
    for key in keys:
        status = key.refusal(now) or "active"
        if key.revoked_at is not None:
            status += f" {when(key.revoked_at)}"
        rows.add_row(
            key.id, key.role.value, when(key.created_at), when(key.expires_at, none="never"), status
        )
    print_table(rows)


@tenants_app.command("revoke")
def tenants_revoke(
    key: Annotated[
        str,
        typer.Argument(
            metavar="KEY_ID",
            help="The key id (the 16 hex digits after pgk_); a whole API key is taken too",
        ),
    ],
) -> None:
    """Revoke an API key at once (other workers stop accepting it within the cache TTL).

    Given a whole key (`pgk_<id>_<secret>`), only its id is used and shown: the secret is
    never printed.
    """
    whole = API_KEY.fullmatch(key)
    key_id = whole.group(1) if whole else key
    if not KEY_ID.fullmatch(key_id):
        # Never echoed: a mistyped or truncated key may still hold most of a secret.
        err.print(
            "[red]error:[/red] KEY_ID must be a key id, the 16 hex digits after pgk_ "
            "(see payguard tenants keys NAME), or a whole API key",
            highlight=False,
        )
        raise typer.Exit(2)
    with _services() as services:
        services.tenants.revoke_key(key_id, actor=Actor.system("cli"))
    typer.echo(f"revoked key {key_id}")
    if whole:
        typer.echo("(the key id alone is enough; the secret was not shown or kept)")


@tenants_app.command("list")
def tenants_list() -> None:
    """List tenants: id, name, created."""
    with _services() as services:
        tenants = services.tenants.tenants()
    if not tenants:
        typer.echo("no tenants yet (payguard tenants create NAME makes one)")
        return
    rows = table("tenant id", "name", "created (UTC)", whole={"tenant id": 32})
    for tenant in tenants:
        rows.add_row(tenant.id, text(tenant.name), when(tenant.created_at))
    print_table(rows)


@app.command()
def assess(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="JSON lines of events")],
    tenant: Annotated[str, typer.Option(help="Tenant name the events belong to")],
) -> None:
    """Decide every event in FILE, in process: one assessment request per line, or the lines
    `payguard simulate` writes (`{"request": {...}, "label": ...}`; the request is decided).

    Prints one JSON decision per line on stdout; a bad line prints
    `{"line": N, "error": ...}` instead and the run goes on. Exits with code 1 when no line
    could be decided.
    """
    from payguard.wire.schemas import (
        AssessmentRequest,
        assessment_public,
        pans_in_text,
        tokenized_in_text,
    )

    counts: dict[str, int] = {}
    with _services() as services:
        owner = _tenant_named(services, tenant)
        out = sys.stdout.buffer

        def refuse(number: int, error: str, field: str | None, kind: str = "invalid") -> None:
            line: dict[str, object] = {"line": number, "error": error}
            if field is not None:
                line["field"] = field
            out.write(orjson.dumps(line) + b"\n")
            counts[kind] = counts.get(kind, 0) + 1

        in_text = tokenized_in_text(lambda digits: services.cards.tokenize(owner.id, digits))

        with file.open("rb") as lines:
            for number, line in enumerate(lines, start=1):
                if not line.strip():
                    continue
                if len(line) > services.settings.max_body_bytes:
                    refuse(number, "line too long", "body")
                    continue
                try:
                    with pans_in_text(in_text):
                        request = AssessmentRequest.model_validate_json(_request_part(line))
                        event = request.to_event(
                            now=services.clock.now(),
                            cards=lambda pan: services.cards.tokenize(owner.id, pan),
                            tokens=lambda token: services.cards.resolve(owner.id, token),
                        )
                    decision, replayed = services.assessments.assess(owner.id, event)
                except ValidationError as exc:
                    first = exc.errors()[0]
                    refuse(number, first["msg"], field_path(first["loc"]) or "body")
                    continue
                except ValidationFailed as exc:
                    refuse(number, exc.message, exc.field)
                    continue
                except PayguardError as exc:
                    refuse(number, exc.message, None, kind="failed")
                    continue
                out.write(orjson.dumps(assessment_public(decision, replayed=replayed)) + b"\n")
                counts[decision.decision.value] = counts.get(decision.decision.value, 0) + 1
    err.print("decisions: " + ", ".join(f"{k}={v}" for k, v in sorted(counts.items())))
    refused = counts.get("invalid", 0) + counts.get("failed", 0)
    if refused and refused == sum(counts.values()):
        err.print(
            f"[red]error:[/red] none of the {refused:,} lines of {escape(file.name)} could be "
            "decided (one assessment request per line, or a line of payguard simulate's "
            "events.jsonl)",
            highlight=False,
        )
        raise typer.Exit(1)


def _request_part(line: bytes) -> bytes:
    """The assessment request in a line: the line itself, or the `request` of a simulator
    line (`{"request": {...}, "label": ..., ...}`). Anything else is returned as it is, so
    that validation reports what is wrong with it."""
    try:
        parsed = orjson.loads(line)
    except orjson.JSONDecodeError:
        return line
    if isinstance(parsed, dict) and "event_id" not in parsed:
        request = parsed.get("request")
        if isinstance(request, dict):
            return orjson.dumps(request)
    return line


@app.command()
def demo(
    host: Annotated[
        str, typer.Option(envvar="PAYGUARD_DEMO_HOST", help="Interface to listen on")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(envvar="PAYGUARD_DEMO_PORT", help="TCP port")] = 8000,
    customers: Annotated[
        int | None,
        typer.Option(min=10, help="Simulated customers [default: 800, the model's population]"),
    ] = None,
    days: Annotated[float, typer.Option(min=0.1, help="Days of history, ending now")] = 2.0,
    seed: Annotated[int, typer.Option(help="Simulator seed")] = 7,
    fraud_rate: Annotated[float, typer.Option(min=0.0, max=0.5)] = 0.02,
    rate: Annotated[
        float | None,
        typer.Option(
            min=0.001,
            help="Average live events per second; scales the population to it "
            "(about 14,800 customers per event a second) instead of --customers",
        ),
    ] = None,
    database: Annotated[
        str, typer.Option(help="Database URL (the demo prints the line to use it elsewhere)")
    ] = "sqlite:///var/demo.db",
    keep_serving: Annotated[
        bool, typer.Option(help="After the backfill, keep serving with live traffic")
    ] = True,
    model: Annotated[
        bool, typer.Option(help="Train (first run only) and use a model beside the rules")
    ] = True,
    model_dir: Annotated[
        Path, typer.Option(help="Where the demo model's simulated training data is kept")
    ] = Path("var/demo-model"),
    training_customers: Annotated[
        int, typer.Option(min=50, help="Customers in the model's training history")
    ] = 800,
    summary_every: Annotated[
        float,
        typer.Option(min=0.1, help="Off a terminal: seconds between one-line summaries"),
    ] = 10.0,
) -> None:
    """Serve on HOST:PORT with SQLite, create a demo tenant, stream simulated traffic with
    fraud through the API (a backfill of DAYS, then the same customers live, each event at
    its own time) and show a live summary. Ctrl-C or SIGTERM stops it with a summary."""
    from payguard.cli.demo import run_demo

    code = run_demo(
        host=host,
        port=port,
        customers=customers,
        days=days,
        seed=seed,
        fraud_rate=fraud_rate,
        rate=rate,
        database_url=database,
        keep_serving=keep_serving,
        model_dir=model_dir if model else None,
        training_customers=training_customers,
        summary_every=summary_every,
    )
    if code:
        raise typer.Exit(code)


@app.command()
def simulate(
    out: Annotated[Path, typer.Option(help="Directory for the events file and manifest.json")],
    days: Annotated[float, typer.Option(help="Days of traffic (at most 3660)")] = 30.0,
    customers: Annotated[int, typer.Option(help="Simulated customers")] = 10_000,
    fraud_rate: Annotated[float, typer.Option(help="Share of events that are fraud")] = 0.01,
    seed: Annotated[int, typer.Option(help="Simulator seed")] = 1,
    start: Annotated[
        str, typer.Option(help="First instant, ISO 8601 (a date means midnight UTC)")
    ] = "2026-01-01T00:00:00Z",
    output_format: Annotated[str, typer.Option("--format", help="jsonl or parquet")] = "jsonl",
    force: Annotated[bool, typer.Option(help="Write into a non-empty directory")] = False,
    quiet: Annotated[bool, typer.Option(help="No progress bar or summary")] = False,
) -> None:
    """Write seeded synthetic traffic with labelled fraud (JSONL or Parquet) and a manifest."""
    from payguard.cli.simulate import run_simulate

    run_simulate(
        days=days,
        customers=customers,
        fraud_rate=fraud_rate,
        seed=seed,
        start=start,
        out=out,
        output_format=output_format,
        force=force,
        quiet=quiet,
    )


@app.command()
def train(
    data: Annotated[
        Path | None,
        typer.Option(help="Simulator output directory, or a CSV/Parquet file with --map"),
    ] = None,
    mapping: Annotated[
        str | None,
        typer.Option("--map", help="Columns: account=COL,time=COL,amount=COL,label=COL,..."),
    ] = None,
    currency: Annotated[str, typer.Option(help="Currency of a file's amounts")] = "USD",
    train_from: Annotated[str | None, typer.Option(help="ISO 8601; default: the start")] = None,
    train_until: Annotated[
        str | None, typer.Option(help="ISO 8601; default: where the test period starts")
    ] = None,
    test_from: Annotated[
        str | None, typer.Option(help="ISO 8601; default: the last 20 % of the time range")
    ] = None,
    test_until: Annotated[str | None, typer.Option(help="ISO 8601; default: the end")] = None,
    label_delay_days: Annotated[
        float, typer.Option(min=0, help="Days before a fraud label is known")
    ] = 7.0,
    tenant: Annotated[str, typer.Option(help="Tenant the model is registered for")] = "demo",
    trees: Annotated[int, typer.Option(min=1, max=5000, help="Boosting rounds")] = 200,
    seed: Annotated[int, typer.Option(help="Training seed")] = 1,
    max_train_rows: Annotated[
        int, typer.Option(min=1000, help="Sample legitimate training events above this")
    ] = 600_000,
    out: Annotated[Path | None, typer.Option(help="Also write the model to this file")] = None,
    from_store: Annotated[
        bool, typer.Option(help="Train on the tenant's stored decisions and outcomes")
    ] = False,
    since: Annotated[str | None, typer.Option(help="--from-store: decisions from")] = None,
    until: Annotated[str | None, typer.Option(help="--from-store: decisions before")] = None,
    features: Annotated[
        str | None,
        typer.Option(
            help="Your own numeric columns as model inputs (V1,V2,...); online from the "
            "assessment's attributes v1, v2, ... (--map feature.NAME=COL does the same)"
        ),
    ] = None,
    categorical: Annotated[
        str | None,
        typer.Option(help="Your own categorical columns as model inputs (one-hot): COL,..."),
    ] = None,
    time_origin: Annotated[
        str | None,
        typer.Option(help="Numeric times are seconds from this ISO 8601 time (default: epoch)"),
    ] = None,
    tune: Annotated[
        int,
        typer.Option(
            min=0,
            help="Search LightGBM's parameters over N candidates first (prequential folds "
            "inside the training period; keeps the best by average precision)",
        ),
    ] = 0,
) -> None:
    """Train the fraud model (LightGBM) on replayed features, evaluate it beside a logistic
    baseline on the held-out period, and register it (a candidate) for the tenant."""
    from payguard.cli.ml import run_train

    run_train(
        data=data,
        mapping=mapping,
        currency=currency,
        train_from=train_from,
        train_until=train_until,
        test_from=test_from,
        test_until=test_until,
        label_delay_days=label_delay_days,
        tenant=tenant,
        trees=trees,
        seed=seed,
        max_train_rows=max_train_rows,
        model_out=out,
        from_store=from_store,
        since=since,
        until=until,
        features=features,
        categorical=categorical,
        time_origin=time_origin,
        tune=tune,
    )


@app.command()
def evaluate(
    data: Annotated[Path, typer.Option(help="The data the model is evaluated on")],
    mapping: Annotated[str | None, typer.Option("--map", help="As for train")] = None,
    currency: Annotated[str, typer.Option(help="Currency of a file's amounts")] = "USD",
    model: Annotated[int | None, typer.Option(help="Model version (default: latest)")] = None,
    model_file: Annotated[
        Path | None, typer.Option(help="A model file from train --out instead")
    ] = None,
    tenant: Annotated[str, typer.Option(help="Tenant whose model is evaluated")] = "demo",
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the report")] = None,
    html_out: Annotated[
        Path | None, typer.Option("--html", help="HTML report (default: beside --json)")
    ] = None,
    drift: Annotated[bool, typer.Option(help="Per-day PSI of score and top features")] = False,
    scores: Annotated[
        Path | None,
        typer.Option(help="Write event_id,score,baseline for every test event (CSV)"),
    ] = None,
) -> None:
    """Evaluate a model on its own split's test period beside the logistic baseline."""
    from payguard.cli.ml import run_evaluate

    run_evaluate(
        data=data,
        mapping=mapping,
        currency=currency,
        model_version=model,
        model_file=model_file,
        tenant=tenant,
        json_out=json_out,
        html_out=html_out,
        drift=drift,
        scores_out=scores,
    )


@app.command()
def purge(
    older_than_days: Annotated[
        int, typer.Option(min=1, help="Keep device history, challenges and sessions this long")
    ] = 30,
) -> None:
    """Housekeeping (run it daily, e.g. from cron): forget expired replay nonces, expired
    community entries, device history, challenges and sessions older than N days, and which
    subjects data exports carried once their request's retention has ended."""
    from payguard.audit.interfaces import AuditAction

    with _services() as services:
        now = services.clock.now()
        before = now - timedelta(days=older_than_days)
        auth = services.auth.purge(now=now, before=before)
        devices = services.devices.purge(now=now, before=before)
        sharing = services.sharing.purge(now=now)
        counts = {
            "nonces": auth["nonces"],
            "community_entries": devices["community_entries"],
            "challenges": auth["challenges"],
            "sessions": auth["sessions"],
            "device_snapshots": devices["device_snapshots"],
            "exported_subjects": sharing["exported_subjects"],
        }
        services.audit.success(
            AuditAction.MAINTENANCE_PURGE,
            Actor.system("cli"),
            "stores",
            details={**counts, "older_than_days": older_than_days},
        )
    for name, count in counts.items():
        typer.echo(f"{name}: {count:,} removed")


if __name__ == "__main__":
    app()
