"""Request dependencies: the services container, the caller, and role checks.

Handlers and dependencies are `async def` and call the (synchronous) services directly on the
event loop: a worker then runs one store transaction at a time, which is what SQLite's single
writer wants and saves a thread hop per request. Scale out with more workers.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from functools import partial
from typing import Annotated, Any

from fastapi import Depends, Path, Request

from payguard.audit.interfaces import Actor, AuditAction
from payguard.audit.service import AuditService
from payguard.auth.service import AuthService
from payguard.auth.stepup import StepUpService
from payguard.core.clock import Clock
from payguard.core.errors import PermissionDenied
from payguard.core.ids import IDENTIFIER_MAX, IDENTIFIER_PATTERN
from payguard.devices.service import DeviceService
from payguard.ml.registry import ModelService
from payguard.risk.lists import ListService
from payguard.risk.rules.service import RuleService
from payguard.risk.service import AssessmentService
from payguard.services import ReadinessReport, Services
from payguard.sharing.service import SharingService
from payguard.shield.service import PrivacyService
from payguard.shield.stored import StoredRecognizers
from payguard.tenancy.interfaces import Principal, Role
from payguard.vault.interfaces import CardTokenizing
from payguard.vault.policy import StoredPolicies
from payguard.vault.service import TokenService
from payguard.wire.schemas import set_pans_in_text, tokenized_in_text


def services_of(request: Request) -> Services:
    """The process's services, built by the composition root (`payguard.services`)."""
    services: Services = request.app.state.services
    return services


async def _assessments(request: Request) -> AssessmentService:
    return services_of(request).assessments


async def _rules(request: Request) -> RuleService:
    return services_of(request).rules


async def _lists(request: Request) -> ListService:
    return services_of(request).lists


async def _models(request: Request) -> ModelService:
    return services_of(request).models


async def _audit(request: Request) -> AuditService:
    return services_of(request).audit


async def _auth(request: Request) -> AuthService:
    return services_of(request).auth


async def _step_up(request: Request) -> StepUpService:
    return services_of(request).step_up


async def _devices(request: Request) -> DeviceService:
    return services_of(request).devices


async def _readiness(request: Request) -> Callable[[], ReadinessReport]:
    return services_of(request).readiness


async def _clock(request: Request) -> Clock:
    return services_of(request).clock


async def _tokens(request: Request) -> TokenService:
    return services_of(request).tokens


async def _cards(request: Request) -> CardTokenizing:
    return services_of(request).cards


async def _vault_policies(request: Request) -> StoredPolicies:
    return services_of(request).vault_policies


async def _sharing(request: Request) -> SharingService:
    return services_of(request).sharing


async def _privacy(request: Request) -> PrivacyService:
    return services_of(request).privacy


async def _shield_recognizers(request: Request) -> StoredRecognizers:
    return services_of(request).shield_recognizers


Assessments = Annotated[AssessmentService, Depends(_assessments)]
Rules = Annotated[RuleService, Depends(_rules)]
Lists = Annotated[ListService, Depends(_lists)]
Models = Annotated[ModelService, Depends(_models)]
AuditLog = Annotated[AuditService, Depends(_audit)]
Auth = Annotated[AuthService, Depends(_auth)]
StepUps = Annotated[StepUpService, Depends(_step_up)]
Devices = Annotated[DeviceService, Depends(_devices)]
ClockDep = Annotated[Clock, Depends(_clock)]
Tokens = Annotated[TokenService, Depends(_tokens)]
CardTokens = Annotated[CardTokenizing, Depends(_cards)]
VaultPolicies = Annotated[StoredPolicies, Depends(_vault_policies)]
Sharing = Annotated[SharingService, Depends(_sharing)]
Privacy = Annotated[PrivacyService, Depends(_privacy)]
ShieldRecognizers = Annotated[StoredRecognizers, Depends(_shield_recognizers)]
Readiness = Annotated[Callable[[], ReadinessReport], Depends(_readiness)]


def client_ip(request: Request) -> str | None:
    return request.client.host if request.client else None


def actor_of(principal: Principal, request: Request) -> Actor:
    """The audit actor for a request made with `principal`'s API key."""
    return Actor.api_key(principal.tenant_id, principal.key_id, client_ip(request))


def get_principal(request: Request) -> Principal:
    services = services_of(request)
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
            services_of(request).audit.denied(
                AuditAction.ACCESS_DENIED,
                actor_of(principal, request),
                f"{request.method} {request.url.path}",
                details={"role": principal.role.value},
            )
            raise PermissionDenied(f"role {principal.role.value!r} may not do this")
        # The body is validated after this: a card number in its free text becomes the
        # caller's tenant's deterministic token beside its mask.
        set_pans_in_text(
            tokenized_in_text(partial(services_of(request).cards.tokenize, principal.tenant_id))
        )
        return principal

    return dependency


#: A caller-chosen id in a path (`core.ids.IDENTIFIER_PATTERN`).
IdentifierPath = Annotated[
    str, Path(min_length=1, max_length=IDENTIFIER_MAX, pattern=IDENTIFIER_PATTERN)
]

ANYONE = (Role.ADMIN, Role.ANALYST, Role.SERVICE)
Assessor = Annotated[Principal, Depends(require(Role.ADMIN, Role.SERVICE))]
Reader = Annotated[Principal, Depends(require(*ANYONE))]
Labeller = Annotated[Principal, Depends(require(*ANYONE))]
Analyst = Annotated[Principal, Depends(require(Role.ADMIN, Role.ANALYST))]
Admin = Annotated[Principal, Depends(require(Role.ADMIN))]
