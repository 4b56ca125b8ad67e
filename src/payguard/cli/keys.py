"""`payguard keys`: the vault's data keys: which versions exist, rotate, retire.

`rotate` makes a new data-key version that new writes use; older versions still open.
`rewrap` re-seals stored values (TOTP secrets, and those sealed before the keyring) under
their current version, online. `retire --below N` refuses every version below N from then
on (a pair's current version is never retired). Each change is audited (`key:rotate`,
`key:rewrap`, `key:retire`). No key is ever shown.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from payguard.audit.interfaces import Actor
from payguard.cli.context import print_table, table, text, when
from payguard.cli.context import services as _services
from payguard.cli.context import tenant_named as _tenant_named

if TYPE_CHECKING:
    from payguard.services import Services

keys_app = typer.Typer(
    no_args_is_help=True, help="Vault data keys: status, rotate, retire old versions."
)

TenantOption = Annotated[
    str | None, typer.Option("--tenant", help="Only this tenant's keys (by name)")
]
PurposeOption = Annotated[
    str | None, typer.Option("--purpose", help="Only keys for this purpose, such as token:pan")
]


def _tenant_id(built: Services, name: str | None) -> str | None:
    return None if name is None else _tenant_named(built, name).id


def _names(built: Services) -> dict[str, str]:
    return {tenant.id: tenant.name for tenant in built.tenants.tenants()}


@keys_app.command()
def status(tenant: TenantOption = None, purpose: PurposeOption = None) -> None:
    """Every data-key version: current, in use or retired, and under which KEK."""
    with _services() as built:
        tenant_id = _tenant_id(built, tenant)
        keys = built.rewrap.status(tenant_id=tenant_id, purpose=purpose)
        names = _names(built)
        typer.echo(f"key source: {built.keys.source.describe()}")
        legacy = sum(
            count
            for (_, _, version), count in built.rewrap.counts(
                tenant_id=tenant_id, purpose=purpose
            ).items()
            if version == 0
        )
        if legacy:
            typer.echo(
                f"{legacy} value(s) still sealed outside the keyring (TOTP secrets under the "
                "auth key): run `payguard keys rewrap`"
            )
        if not keys:
            typer.echo("no data keys yet: they are made on first use")
            return
        rows = table(
            "tenant",
            "purpose",
            "version",
            "state",
            "created (UTC)",
            "retired (UTC)",
            "KEK",
            "protects",
            right=("version", "protects"),
        )
        for row in keys:
            key = row.key
            state = "retired" if key.retired else ("current" if row.current else "opens")
            rows.add_row(
                text(names.get(key.tenant_id, key.tenant_id)),
                text(key.purpose),
                f"v{key.version}",
                state,
                when(key.created_at),
                when(key.retired_at),
                text(key.kek_id),
                "-" if row.protects is None else str(row.protects),
            )
        print_table(rows)


@keys_app.command()
def rotate(tenant: TenantOption = None, purpose: PurposeOption = None) -> None:
    """A new version for every matching tenant and purpose that has keys (or for the one
    named by both --tenant and --purpose); new writes use it, older versions still open."""
    with _services() as built:
        made = built.keys.rotate(
            actor=Actor.system("cli"), tenant_id=_tenant_id(built, tenant), purpose=purpose
        )
        if not made:
            typer.echo("no data keys to rotate (name --tenant and --purpose to make a first one)")
            return
        names = _names(built)
        for key in made:
            owner = names.get(key.tenant_id, key.tenant_id)
            typer.echo(f"{owner} {key.purpose}: now v{key.version}")


@keys_app.command()
def retire(
    below: Annotated[
        int, typer.Option("--below", help="Retire every version below this one", min=2)
    ],
    tenant: TenantOption = None,
    purpose: PurposeOption = None,
) -> None:
    """Refuse every version below --below from now on: values under them no longer open."""
    with _services() as built:
        retired = built.keys.retire(
            below=below,
            actor=Actor.system("cli"),
            tenant_id=_tenant_id(built, tenant),
            purpose=purpose,
        )
        if not retired:
            typer.echo(f"no versions below v{below} left to retire")
            return
        names = _names(built)
        for key in retired:
            owner = names.get(key.tenant_id, key.tenant_id)
            typer.echo(f"{owner} {key.purpose}: v{key.version} retired")


@keys_app.command()
def rewrap(tenant: TenantOption = None, purpose: PurposeOption = None) -> None:
    """Re-seal every stored value under a version below its current one (and TOTP secrets
    sealed before the keyring) under the current version, online: rotate first, rewrap,
    then retire the old versions."""
    with _services() as built:
        tenant_id = _tenant_id(built, tenant)
        total = built.rewrap.pending(tenant_id=tenant_id, purpose=purpose)
        if not total:
            typer.echo("nothing to rewrap: every stored value is under its current key version")
            return
        bar = Progress(
            TextColumn("[bold]rewrapping"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=Console(stderr=True),
            disable=not sys.stderr.isatty(),
        )
        done = 0
        with bar:
            task = bar.add_task("rewrap", total=total)

            def advance(count: int) -> None:
                nonlocal done
                done += count
                bar.update(task, advance=count, total=max(total, done))
                if bar.disable:
                    typer.echo(f"rewrapped {done} of {max(total, done)}")

            results = built.rewrap.rewrap(
                actor=Actor.system("cli"), tenant_id=tenant_id, purpose=purpose, progress=advance
            )
        names = _names(built)
        for result in results:
            owner = names.get(result.tenant_id, result.tenant_id)
            line = f"{owner} {result.purpose} ({result.store}): {result.resealed} re-sealed"
            if result.changed:
                line += f", {result.changed} changed meanwhile (left as written)"
            if result.unopenable:
                line += f", {result.unopenable} do not open (left as they are)"
            typer.echo(line)
        if any(result.unopenable for result in results):
            raise typer.Exit(1)
