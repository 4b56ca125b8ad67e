"""What every `payguard` command shares: the platform's services for one command, the
tenant named on the command line, the error console, and tables on stdout."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from payguard.core.errors import NotFound, PayguardError

if TYPE_CHECKING:
    from payguard.services import Services
    from payguard.tenancy.interfaces import Tenant

err = Console(stderr=True)


@contextmanager
def domain_errors() -> Iterator[None]:
    """A domain error (bad data, bad mapping, unknown tenant) ends the command with code 2."""
    try:
        yield
    except PayguardError as exc:
        err.print(f"[red]error:[/red] {exc.message}", markup=True, highlight=False)
        raise typer.Exit(2) from None


@contextmanager
def services() -> Iterator[Services]:
    """The platform's services for one command; a domain error ends it with exit code 2."""
    from payguard.services import build_services

    built = build_services()
    try:
        with domain_errors():
            yield built
    finally:
        built.close()


def tenant_named(built: Services, name: str) -> Tenant:
    """The tenant called `name`, or NotFound."""
    tenant = built.tenants.get_tenant_by_name(name)
    if tenant is None:
        raise NotFound(f"no tenant named {name!r}")
    return tenant


def print_table(rows: Table) -> None:
    """Print a table on stdout, fitted to the terminal's width (`COLUMNS` when not a
    terminal, else 80): the console is made per call so that it reads the width then."""
    Console(highlight=False).print(rows)


def table(
    *headers: str,
    title: str | None = None,
    right: tuple[str, ...] = (),
    whole: dict[str, int] | None = None,
) -> Table:
    """A table with these column headers (the ones in `right` right-aligned). A cell too wide
    for a narrow terminal wraps, never cut short; the columns in `whole` (header: width),
    ids to copy, always keep that width on one line."""
    made = Table(title=title)
    for header in headers:
        width = (whole or {}).get(header)
        made.add_column(
            header,
            justify="right" if header in right else "left",
            overflow="fold",
            no_wrap=width is not None,
            min_width=width,
        )
    return made


def text(value: object) -> Text:
    """A cell shown as given: names and ids from users are never read as Rich markup."""
    return Text(str(value))


def when(at: datetime | None, *, none: str = "-") -> str:
    """A time to the minute in UTC, short enough for a table's column."""
    return none if at is None else at.astimezone(UTC).strftime("%Y-%m-%d %H:%M")
