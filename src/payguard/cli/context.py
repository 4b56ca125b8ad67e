"""What every `payguard` command shares: the platform's services for one command, the
tenant named on the command line, and the error console."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import typer
from rich.console import Console

from payguard.core.errors import NotFound, PayguardError

if TYPE_CHECKING:
    from payguard.services import Services
    from payguard.tenancy.interfaces import Tenant

err = Console(stderr=True)


@contextmanager
def services() -> Iterator[Services]:
    """The platform's services for one command; a domain error ends it with exit code 2."""
    from payguard.services import build_services

    built = build_services()
    try:
        yield built
    except PayguardError as exc:
        err.print(f"[red]error:[/red] {exc.message}", markup=True, highlight=False)
        raise typer.Exit(2) from None
    finally:
        built.close()


def tenant_named(built: Services, name: str) -> Tenant:
    """The tenant called `name`, or NotFound."""
    tenant = built.tenants.get_tenant_by_name(name)
    if tenant is None:
        raise NotFound(f"no tenant named {name!r}")
    return tenant
