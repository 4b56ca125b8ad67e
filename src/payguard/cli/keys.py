"""`payguard keys`: the vault's data keys: which versions exist, rotate, retire.

`rotate` makes a new data-key version that new writes use; older versions still open.
`retire --below N` refuses every version below N from then on (a pair's current version is
never retired). Each change is audited (`key:rotate`, `key:retire`). No key is ever shown.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

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
        keys = built.keys.status(tenant_id=_tenant_id(built, tenant), purpose=purpose)
        names = _names(built)
        typer.echo(f"key source: {built.keys.source.describe()}")
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
