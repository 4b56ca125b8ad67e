"""`payguard tokens`: tokenize and detokenize values, show and revoke tokens, and show or
replace the tenant's vault policy (`payguard tokens policy`), from the operator's shell.

The CLI acts as an admin of the named tenant (whoever runs it holds the database and the key
file already), so detokenizing still needs a purpose the tenant's vault policy allows the
admin role, and every call is audited with the actor `cli`.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Annotated

import typer

from payguard.audit.interfaces import Actor
from payguard.cli.context import print_table, table, text, when
from payguard.cli.context import services as _services
from payguard.cli.context import tenant_named as _tenant_named
from payguard.core.errors import PayloadTooLarge, ValidationFailed
from payguard.tenancy.interfaces import Role
from payguard.vault.policy import MAX_DOCUMENT_BYTES, ActivePolicy, document_of, read_document

tokens_app = typer.Typer(
    no_args_is_help=True, help="Vault tokens: tokenize, detokenize, show, revoke, shred."
)

TenantOption = Annotated[str, typer.Option("--tenant", help="The tenant (by name)")]
CLI = Actor.system("cli")


@tokens_app.command()
def tokenize(
    tenant: TenantOption,
    kind: Annotated[str, typer.Option("--kind", help="pan, account, phone, id_number, email…")],
    values: Annotated[list[str], typer.Argument(help="The values to tokenize")],
    style: Annotated[
        str | None, typer.Option("--style", help="fpe_deterministic, vault_deterministic…")
    ] = None,
    scope: Annotated[
        str, typer.Option("--scope", help="Bind to merchant:<id>, device:<id> or channel:<id>")
    ] = "",
    ttl: Annotated[
        int | None, typer.Option("--ttl-seconds", help="Tokens expire after", min=1)
    ] = None,
    subject: Annotated[
        str | None, typer.Option("--subject", help="Whose values: `shred` erases them")
    ] = None,
) -> None:
    """Print a token and its masked value for each value, one line each."""
    with _services() as built:
        owner = _tenant_named(built, tenant)
        made = built.tokens.tokenize(
            owner.id,
            kind,
            values,
            actor=CLI,
            style=style,
            scope=scope,
            ttl=None if ttl is None else timedelta(seconds=ttl),
            subject=subject,
        )
        for token in made:
            typer.echo(f"{token.token}\t{token.masked or '-'}")


@tokens_app.command()
def detokenize(
    tenant: TenantOption,
    purpose: Annotated[str, typer.Option("--purpose", help="Why, such as dispute")],
    tokens: Annotated[list[str], typer.Argument(help="The tokens")],
    scope: Annotated[
        str, typer.Option("--scope", help="The merchant, device or channel they are used in")
    ] = "",
) -> None:
    """Print the value behind each token (as an admin, for --purpose; audited)."""
    with _services() as built:
        owner = _tenant_named(built, tenant)
        values = built.tokens.detokenize(
            owner.id, tokens, purpose=purpose, role=Role.ADMIN, actor=CLI, scope=scope
        )
        for token, value in zip(tokens, values, strict=True):
            typer.echo(f"{token}\t{value}")


@tokens_app.command()
def show(
    tenant: TenantOption,
    token: Annotated[str, typer.Argument(help="The token")],
) -> None:
    """A token's metadata (never its value)."""
    with _services() as built:
        owner = _tenant_named(built, tenant)
        record = built.tokens.metadata(owner.id, token)
        rows = table("field", "value")
        for name, value in (
            ("token", text(record.token)),
            ("kind", record.kind),
            ("style", record.style.value),
            ("scope", text(record.scope or "-")),
            ("key version", f"v{record.key_version}"),
            ("created (UTC)", when(record.created_at)),
            ("expires (UTC)", when(record.expires_at)),
            ("revoked (UTC)", when(record.revoked_at)),
            ("subject", text(record.subject_id or "-")),
        ):
            rows.add_row(name, value)
        print_table(rows)


@tokens_app.command()
def revoke(
    tenant: TenantOption,
    token: Annotated[str, typer.Argument(help="The token")],
) -> None:
    """Revoke a token: it no longer detokenizes."""
    with _services() as built:
        owner = _tenant_named(built, tenant)
        record = built.tokens.revoke(owner.id, token, actor=CLI)
        typer.echo(f"{record.token} revoked at {when(record.revoked_at)}")


@tokens_app.command()
def shred(
    tenant: TenantOption,
    subject: Annotated[str, typer.Argument(help="The subject whose values are erased")],
) -> None:
    """Crypto-shred a subject: destroy its data keys; its tokens resolve to nothing."""
    with _services() as built:
        owner = _tenant_named(built, tenant)
        done = built.tokens.shred(owner.id, subject, actor=CLI)
        typer.echo(
            f"{done.subject}: {done.tokens} token(s) erased, "
            f"{done.key_versions} key version(s) destroyed"
        )


policy_app = typer.Typer(
    no_args_is_help=True, help="The tenant's vault policy: token styles, who may detokenize."
)
tokens_app.add_typer(policy_app, name="policy")


def _policy_json(active: ActivePolicy) -> str:
    return json.dumps(
        {
            "version": active.version,
            **document_of(active.policy),
            "created_at": None if active.created_at is None else active.created_at.isoformat(),
            "created_by": active.created_by,
        },
        indent=2,
    )


@policy_app.command("show")
def policy_show(tenant: TenantOption) -> None:
    """Print the vault policy in force as JSON (version 0: the built-in default)."""
    with _services() as built:
        owner = _tenant_named(built, tenant)
        typer.echo(_policy_json(built.vault_policies.active(owner.id)))


@policy_app.command("set")
def policy_set(
    tenant: TenantOption,
    file: Annotated[
        Path,
        typer.Option(
            "--file",
            help="The policy document (JSON, at most 64 KiB)",
            exists=True,
            dir_okay=False,
            readable=True,
        ),
    ],
) -> None:
    """Replace the vault policy with the document in --file (a new version; audited)."""
    with _services() as built:
        owner = _tenant_named(built, tenant)
        with file.open("rb") as stream:
            text = stream.read(MAX_DOCUMENT_BYTES + 1)
        if len(text) > MAX_DOCUMENT_BYTES:
            raise PayloadTooLarge(f"{file.name} is over {MAX_DOCUMENT_BYTES} bytes")
        try:
            active = built.vault_policies.set_policy(owner.id, read_document(text), actor=CLI)
        except ValidationFailed as exc:  # the field at fault, as the API names it
            raise ValidationFailed(f"{exc.field}: {exc.message}", field=exc.field) from None
        typer.echo(f"vault policy of {tenant} is now version {active.version}")
