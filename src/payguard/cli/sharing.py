"""`payguard sharing`: governed data sharing from the operator's shell: register recipients
and data requests, record and revoke consents, export a file of records, and print a data
subject's report.

The CLI acts as an admin of the named tenant, audited with the actor `cli`.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from payguard.audit.interfaces import Actor
from payguard.cli.context import print_table, table, text, when
from payguard.cli.context import services as _services
from payguard.cli.context import tenant_named as _tenant_named
from payguard.core.errors import PayloadTooLarge, ValidationFailed
from payguard.sharing.service import DEFAULT_MIN_K, MAX_RECORDS

sharing_app = typer.Typer(
    no_args_is_help=True,
    help="Governed data sharing: recipients, data requests, consents, exports, reports.",
)
recipients_app = typer.Typer(no_args_is_help=True, help="Who data goes to, and its k.")
requests_app = typer.Typer(no_args_is_help=True, help="What a recipient asks for, and why.")
consents_app = typer.Typer(no_args_is_help=True, help="Subjects' consents to data requests.")
sharing_app.add_typer(recipients_app, name="recipients")
sharing_app.add_typer(requests_app, name="requests")
sharing_app.add_typer(consents_app, name="consents")

TenantOption = Annotated[str, typer.Option("--tenant", help="The tenant (by name)")]
CLI = Actor.system("cli")
#: The largest records file `export` reads.
MAX_FILE_BYTES = 64 * 1024 * 1024


# -- recipients --------------------------------------------------------------------------------


@recipients_app.command("add")
def recipients_add(
    tenant: TenantOption,
    recipient_id: Annotated[str, typer.Option("--id", help="The recipient's id")],
    name: Annotated[str, typer.Option("--name", help="Who it is")],
    min_k: Annotated[
        int, typer.Option("--min-k", help="Exports to it keep at least this k")
    ] = DEFAULT_MIN_K,
    quasi_identifiers: Annotated[
        list[str] | None,
        typer.Option("--quasi-identifier", "-q", help="A field it could link (repeat)"),
    ] = None,
) -> None:
    """Register a recipient."""
    with _services() as built:
        owner = _tenant_named(built, tenant)
        made = built.sharing.add_recipient(
            owner.id,
            recipient_id=recipient_id,
            name=name,
            min_k=min_k,
            quasi_identifiers=quasi_identifiers or [],
            actor=CLI,
        )
    typer.echo(f"recipient {made.id} registered (min k {made.min_k})")


@recipients_app.command("list")
def recipients_list(tenant: TenantOption) -> None:
    """The tenant's recipients."""
    with _services() as built:
        owner = _tenant_named(built, tenant)
        found = built.sharing.recipients(owner.id)
    rows = table("id", "name", "min k", "quasi-identifiers", "created (UTC)", right=("min k",))
    for recipient in found:
        rows.add_row(
            text(recipient.id),
            text(recipient.name),
            str(recipient.min_k),
            text(", ".join(recipient.quasi_identifiers) or "-"),
            when(recipient.created_at),
        )
    print_table(rows)


# -- data requests -----------------------------------------------------------------------------


def _field_methods(given: list[str]) -> dict[str, str]:
    fields: dict[str, str] = {}
    for index, item in enumerate(given):
        name, sep, method = item.partition("=")
        if not sep:
            raise ValidationFailed(
                "a field is given as NAME=METHOD, such as email=tokenize",
                field=f"--field[{index}]",
            )
        fields[name] = method
    return fields


@requests_app.command("add")
def requests_add(
    tenant: TenantOption,
    request_id: Annotated[str, typer.Option("--id", help="The request's id")],
    recipient: Annotated[str, typer.Option("--recipient", help="The recipient's id")],
    purpose: Annotated[str, typer.Option("--purpose", help="Why, such as claims_review")],
    fields: Annotated[
        list[str],
        typer.Option("--field", "-f", help="NAME=raw|tokenize|generalize|hash (repeat)"),
    ],
    retention_days: Annotated[
        int, typer.Option("--retention-days", help="How long the recipient keeps it")
    ],
) -> None:
    """Register a data request."""
    with _services() as built:
        owner = _tenant_named(built, tenant)
        made = built.sharing.add_request(
            owner.id,
            request_id=request_id,
            recipient_id=recipient,
            purpose=purpose,
            fields=_field_methods(fields),
            retention_days=retention_days,
            actor=CLI,
        )
    typer.echo(f"data request {made.id} registered for {made.recipient_id}")


@requests_app.command("list")
def requests_list(tenant: TenantOption) -> None:
    """The tenant's data requests."""
    with _services() as built:
        owner = _tenant_named(built, tenant)
        found = built.sharing.requests(owner.id)
    rows = table("id", "recipient", "purpose", "fields", "retention", "closed (UTC)")
    for request in found:
        rows.add_row(
            text(request.id),
            text(request.recipient_id),
            request.purpose,
            ", ".join(f"{name}={method.value}" for name, method in request.fields.items()),
            f"{request.retention_days} d",
            when(request.closed_at),
        )
    print_table(rows)


@requests_app.command("close")
def requests_close(
    tenant: TenantOption,
    request_id: Annotated[str, typer.Argument(help="The request's id")],
) -> None:
    """Close a data request: no more consents or exports under it."""
    with _services() as built:
        owner = _tenant_named(built, tenant)
        built.sharing.close_request(owner.id, request_id, actor=CLI)
    typer.echo(f"data request {request_id} closed")


# -- consents ----------------------------------------------------------------------------------


def _time(value: str) -> datetime:
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        at = None
    if at is None or at.tzinfo is None:
        raise ValidationFailed(
            "expires-at must be an ISO 8601 time with an offset, such as 2027-03-02T00:00:00Z",
            field="--expires-at",
        )
    return at


@consents_app.command("give")
def consents_give(
    tenant: TenantOption,
    subject: Annotated[str, typer.Option("--subject", help="The data subject's id")],
    request: Annotated[str, typer.Option("--request", help="The data request's id")],
    expires_at: Annotated[str, typer.Option("--expires-at", help="When the consent lapses")],
) -> None:
    """Record a subject's consent to a data request."""
    with _services() as built:
        owner = _tenant_named(built, tenant)
        consent = built.sharing.give_consent(
            owner.id,
            subject_id=subject,
            request_id=request,
            expires_at=_time(expires_at),
            actor=CLI,
        )
    typer.echo(f"consent recorded until {when(consent.expires_at)} UTC")


@consents_app.command("revoke")
def consents_revoke(
    tenant: TenantOption,
    subject: Annotated[str, typer.Option("--subject", help="The data subject's id")],
    request: Annotated[str, typer.Option("--request", help="The data request's id")],
) -> None:
    """Revoke a consent: no export carries the subject under the request from now on."""
    with _services() as built:
        owner = _tenant_named(built, tenant)
        built.sharing.revoke_consent(owner.id, subject_id=subject, request_id=request, actor=CLI)
    typer.echo("consent revoked")


# -- exports and reports -----------------------------------------------------------------------


def _records(path: Path) -> list[Any]:
    """A JSON array of records, or JSON Lines (one record per line)."""
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise PayloadTooLarge(f"a records file is at most {MAX_FILE_BYTES:,} bytes")
    content = path.read_text("utf-8")
    try:
        if content.lstrip().startswith("["):
            loaded = json.loads(content)
            return loaded if isinstance(loaded, list) else [loaded]
        records: list[Any] = []
        for line in content.splitlines():
            if line.strip():
                records.append(json.loads(line))
                if len(records) > MAX_RECORDS:
                    break
        return records
    except (ValueError, RecursionError):
        raise ValidationFailed(
            "the file is not a JSON array or JSON Lines of records", field="file"
        ) from None


@sharing_app.command()
def export(
    tenant: TenantOption,
    request: Annotated[str, typer.Option("--request", help="The data request's id")],
    file: Annotated[Path, typer.Argument(help="Records: a JSON array or JSON Lines", exists=True)],
    out: Annotated[
        Path | None, typer.Option("--out", help="Write the minimised records here (JSON Lines)")
    ] = None,
) -> None:
    """Export the consented, minimised records of FILE for a data request."""
    with _services() as built:
        owner = _tenant_named(built, tenant)
        records = _records(file)
        made = built.sharing.export(owner.id, request_id=request, records=records, actor=CLI)
    lines = "".join(json.dumps(record, ensure_ascii=False) + "\n" for record in made.records)
    if out is None:
        typer.echo(lines, nl=False)
    else:
        out.write_text(lines, "utf-8")
    typer.echo(
        f"export {made.export.id}: {made.export.records} records to {made.export.recipient_id}, "
        f"{made.export.dropped} dropped without consent, k {made.export.k}",
        err=True,
    )


@sharing_app.command()
def report(
    tenant: TenantOption,
    subject: Annotated[str, typer.Argument(help="The data subject's id")],
) -> None:
    """What a data subject consented to, and what was shared with whom, when and why."""
    with _services() as built:
        owner = _tenant_named(built, tenant)
        found = built.sharing.subject_report(owner.id, subject)
    consents = table(
        "request", "recipient", "purpose", "given", "expires", "revoked", title="consents"
    )
    for consent, data_request in found.consents:
        consents.add_row(
            text(consent.request_id),
            text("-" if data_request is None else data_request.recipient_id),
            "-" if data_request is None else data_request.purpose,
            when(consent.given_at),
            when(consent.expires_at),
            when(consent.revoked_at),
        )
    print_table(consents)
    exports = table("export", "when (UTC)", "recipient", "purpose", "fields", title="exports")
    for made in found.exports:
        exports.add_row(
            text(made.id),
            when(made.created_at),
            text(made.recipient_id),
            made.purpose,
            ", ".join(sorted(made.fields)),
        )
    print_table(exports)
