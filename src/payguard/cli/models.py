"""`payguard models`: list a tenant's model versions, promote one, run one in shadow mode.

Every command ends with exit code 2 and a message on stderr for an unknown tenant or version.
"""

from __future__ import annotations

from typing import Annotated

import typer

models_app = typer.Typer(
    no_args_is_help=True, help="Fraud model versions: list, show, promote, shadow."
)

Tenant = Annotated[str, typer.Option(help="Tenant name the models belong to")]
Version = Annotated[int, typer.Argument(min=1, help="The model version")]


@models_app.command("list")
def models_list(tenant: Tenant = "demo") -> None:
    """Every version, newest first: version, status, created, by, data hash, average
    precision (AUC-PR) on its test period."""
    from payguard.cli.context import print_table, table, text, when
    from payguard.cli.context import services as _services
    from payguard.cli.context import tenant_named as _tenant_named

    with _services() as services:
        owner = _tenant_named(services, tenant)
        summaries = services.models.list(owner.id)
    if not summaries:
        typer.echo(f"tenant {tenant} has no models yet (payguard train registers one)")
        return
    rows = table(
        "version",
        "status",
        "created (UTC)",
        "by",
        "data hash",
        "AUC-PR",
        right=("version", "AUC-PR"),
    )
    for summary in summaries:
        model = summary.metrics.get("model") or {}
        quality = model.get("average_precision") if isinstance(model, dict) else None
        rows.add_row(
            f"v{summary.version}",
            summary.status.value,
            when(summary.created_at),
            text(summary.created_by),
            text(summary.data_hash[:19]),
            "-" if quality is None else f"{quality:.4f}",
        )
    print_table(rows)


@models_app.command("show")
def models_show(version: Version, tenant: Tenant = "demo") -> None:
    """One version: status, training data hash, columns, metrics."""
    import orjson

    from payguard.cli.context import services as _services
    from payguard.cli.context import tenant_named as _tenant_named

    with _services() as services:
        owner = _tenant_named(services, tenant)
        summary = services.models.describe(owner.id, version)
    typer.echo(f"version:    {summary.version}")
    typer.echo(f"status:     {summary.status.value}")
    typer.echo(f"created:    {summary.created_at.isoformat()} by {summary.created_by}")
    typer.echo(f"trained:    {summary.trained_at.isoformat()}")
    typer.echo(f"data hash:  {summary.data_hash}")
    typer.echo(f"columns:    {summary.columns}")
    typer.echo("metrics:")
    typer.echo(orjson.dumps(summary.metrics, option=orjson.OPT_INDENT_2).decode())


@models_app.command("promote")
def models_promote(version: Version, tenant: Tenant = "demo") -> None:
    """Make VERSION the champion: it scores and acts on every event (every worker within
    PAYGUARD_CACHE_TTL_SECONDS); the previous champion is retired."""
    from payguard.audit.interfaces import Actor
    from payguard.cli.context import services as _services
    from payguard.cli.context import tenant_named as _tenant_named

    with _services() as services:
        owner = _tenant_named(services, tenant)
        before, _ = services.models.serving(owner.id)
        services.models.promote(owner.id, version, actor=Actor.system("cli"))
    previous = (
        "" if before is None or before.version == version else f" (v{before.version} retired)"
    )
    typer.echo(f"v{version} is the champion of {tenant}{previous}")


@models_app.command("shadow")
def models_shadow(
    version: Annotated[str, typer.Argument(help="The version to shadow, or 'none' to stop")],
    tenant: Tenant = "demo",
) -> None:
    """Run VERSION in shadow mode: scored on every event and stored beside the decision,
    never acted on. `none` stops shadowing."""
    from payguard.audit.interfaces import Actor
    from payguard.cli.context import err
    from payguard.cli.context import services as _services
    from payguard.cli.context import tenant_named as _tenant_named

    chosen: int | None
    if version.strip().lower() == "none":
        chosen = None
    else:
        try:
            chosen = int(version)
        except ValueError:
            chosen = 0
        if chosen < 1:
            err.print("[red]error:[/red] VERSION must be a model version (1, 2, ...) or 'none'")
            raise typer.Exit(2)
    with _services() as services:
        owner = _tenant_named(services, tenant)
        services.models.shadow(owner.id, chosen, actor=Actor.system("cli"))
    if chosen is None:
        typer.echo(f"{tenant} has no shadow model")
    else:
        typer.echo(f"v{chosen} runs in shadow mode for {tenant}")
