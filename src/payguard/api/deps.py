"""Request dependencies: the services container, the caller, and role checks.

Handlers and dependencies are `async def` and call the (synchronous) services directly on the
event loop: a worker then runs one store transaction at a time, which is what SQLite's single
writer wants and saves a thread hop per request. Scale out with more workers.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, Request

from payguard.audit.interfaces import AuditAction, AuditOutcome
from payguard.core.errors import PermissionDenied
from payguard.tenancy.interfaces import Principal, Role

if TYPE_CHECKING:
    from payguard.api.app import Services


async def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated["Services", Depends(get_services)]


def client_ip(request: Request) -> str | None:
    return request.client.host if request.client else None


def get_principal(request: Request) -> Principal:
    services: Services = request.app.state.services
    header = request.headers.get("authorization", "")
    scheme, _, raw = header.partition(" ")
    token = raw.strip() if scheme.lower() == "bearer" else None
    return services.tenants.authenticate(token, source_ip=client_ip(request))


def require(*roles: Role) -> Callable[[Request], Coroutine[Any, Any, Principal]]:
    """A dependency admitting only `roles`; every other caller is refused and audited."""
    allowed = frozenset(roles)

    async def dependency(request: Request) -> Principal:
        principal = get_principal(request)
        if principal.role not in allowed:
            services: Services = request.app.state.services
            services.audit.record(
                action=AuditAction.ACCESS_DENIED,
                actor=f"apikey:{principal.key_id}",
                target=f"{request.method} {request.url.path}",
                outcome=AuditOutcome.DENIED,
                tenant_id=principal.tenant_id,
                source_ip=client_ip(request),
                details={"role": principal.role.value},
            )
            raise PermissionDenied(f"role {principal.role.value!r} may not do this")
        return principal

    return dependency


ANYONE = (Role.ADMIN, Role.ANALYST, Role.SERVICE)
Assessor = Annotated[Principal, Depends(require(Role.ADMIN, Role.SERVICE))]
Reader = Annotated[Principal, Depends(require(*ANYONE))]
Labeller = Annotated[Principal, Depends(require(*ANYONE))]
Analyst = Annotated[Principal, Depends(require(Role.ADMIN, Role.ANALYST))]
Admin = Annotated[Principal, Depends(require(Role.ADMIN))]
