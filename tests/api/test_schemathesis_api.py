"""Property-based tests of every operation in the OpenAPI document (schemathesis).

Schemathesis generates requests from the schema for each operation, both conforming and
deliberately broken ones; every answer must be a non-5xx with payguard's error document.
The fuzzing requests carry a valid admin key so that the generated input, not authentication,
is what gets exercised; further tests send generated requests to every `/v1` operation with no
key, a malformed, unknown or revoked one (401), and with a role the operation does not admit
(403). Schemathesis is used as a library (its strategies under Hypothesis) because
its pytest plugin does not yet run under pytest 9.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import payguard.api.routes
from payguard.api.app import create_app
from payguard.audit.interfaces import Actor
from payguard.core.clock import FrozenClock
from payguard.services import Services, build_services
from payguard.settings import Settings
from payguard.tenancy.interfaces import API_KEY, Role


@pytest.fixture(scope="module")
def api() -> Iterator[tuple[Services, schemathesis.BaseSchema, str]]:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        services = build_services(
            Settings(database_url=f"sqlite:///{tmp}/api.db"),
            clock=FrozenClock(datetime(2026, 3, 2, 9, 30, tzinfo=UTC)),
        )
        _, key = services.tenants.create_tenant("fuzz", actor=Actor.system("test"))
        schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(services))
        yield services, schema, key
        services.close()


def _operations(
    api: tuple[Services, schemathesis.BaseSchema, str],
) -> list[schemathesis.APIOperation]:
    _, schema, _ = api
    return [result.ok() for result in schema.get_all_operations()]


def test_every_operation_is_covered(api) -> None:
    labels = {operation.label for operation in _operations(api)}
    assert "POST /v1/assessments" in labels
    assert "PUT /v1/rules" in labels
    assert len(labels) >= 10


@pytest.mark.parametrize("mode", ["positive", "negative"])
def test_no_operation_answers_5xx(api, mode: str) -> None:
    _, _, key = api
    headers = {"Authorization": f"Bearer {key}"}
    generation = (
        schemathesis.GenerationMode.POSITIVE
        if mode == "positive"
        else schemathesis.GenerationMode.NEGATIVE
    )
    strategies = [
        operation.as_strategy(generation_mode=generation) for operation in _operations(api)
    ]

    @given(case=st.one_of(strategies))
    @settings(
        max_examples=400,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def run(case: schemathesis.Case) -> None:
        response = case.call(headers=headers)
        assert response.status_code < 500, (case.method, case.path, response.text[:500])
        if response.status_code >= 400:
            assert response.json()["error"]["code"], response.text[:500]

    run()


@pytest.fixture(scope="module")
def keys(api) -> dict[str, str]:
    """Raw keys of the fuzz tenant: an analyst's, a service's, and a revoked admin key."""
    services, _, admin = api
    tenant = services.tenants.get_tenant_by_name("fuzz")
    assert tenant is not None
    made = {}
    for role in (Role.ANALYST, Role.SERVICE):
        _, made[role.value] = services.tenants.issue_key(
            tenant.id, role=role, actor=Actor.system("test")
        )
    _, revoked = services.tenants.issue_key(tenant.id, role=Role.ADMIN, actor=Actor.system("test"))
    match = API_KEY.fullmatch(revoked)
    assert match is not None
    services.tenants.revoke_key(match.group(1), actor=Actor.system("test"))
    made["revoked"] = revoked
    made["admin"] = admin
    return made


def _v1(api) -> list[schemathesis.APIOperation]:
    return [operation for operation in _operations(api) if operation.path.startswith("/v1/")]


def _settings(examples: int) -> settings:
    return settings(
        max_examples=examples,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )


#: How the Authorization header is spoilt; schemathesis's own generated bearer value (random
#: text) is the malformed case.
SPOILT = ["missing", "generated", "unknown", "revoked", "wrong_scheme"]


@pytest.mark.parametrize("spoilt", SPOILT)
def test_every_v1_operation_refuses_a_missing_or_bad_key(api, keys, spoilt: str) -> None:
    _, _, admin = api
    authorization = {
        "unknown": f"Bearer pgk_{'0' * 16}_{'A' * 43}",
        "revoked": f"Bearer {keys['revoked']}",
        "wrong_scheme": f"Token {admin}",
    }.get(spoilt)
    operations = _v1(api)
    assert len(operations) > 20
    strategies = [
        operation.as_strategy(generation_mode=schemathesis.GenerationMode.POSITIVE)
        for operation in operations
    ]

    @given(case=st.one_of(strategies))
    @_settings(120)
    def run(case: schemathesis.Case) -> None:
        headers = case.headers or {}
        if spoilt == "missing":
            headers.pop("Authorization", None)
        elif authorization is not None:
            headers["Authorization"] = authorization
        case.headers = headers
        response = case.call()
        assert response.status_code == 401, (case.method, case.path, response.text[:300])
        assert response.json()["error"]["code"] == "unauthenticated", response.text[:300]
        assert response.headers["www-authenticate"] == ["Bearer"]

    run()


def _roles() -> dict[str, frozenset[Role]]:
    """The roles each operation ("METHOD /path") admits, read from the `require(...)`
    dependency of its route in every module of `payguard.api.routes`."""
    found: dict[str, frozenset[Role]] = {}
    for info in pkgutil.iter_modules(payguard.api.routes.__path__):
        module = importlib.import_module(f"payguard.api.routes.{info.name}")
        router = getattr(module, "router", None)
        for route in getattr(router, "routes", ()):
            dependant = getattr(route, "dependant", None)
            for dependency in getattr(dependant, "dependencies", ()):
                if dependency.call is None or not inspect.isfunction(dependency.call):
                    continue
                allowed = inspect.getclosurevars(dependency.call).nonlocals.get("allowed")
                if allowed:
                    for method in route.methods:
                        found[f"{method} {route.path}"] = frozenset(allowed)
    return found


def test_every_v1_operation_names_the_roles_it_admits(api) -> None:
    roles = _roles()
    for operation in _v1(api):
        assert operation.label in roles, operation.label
    assert any(Role.ANALYST not in admitted for admitted in roles.values())
    assert any(Role.SERVICE not in admitted for admitted in roles.values())


@pytest.mark.parametrize("role", [Role.ANALYST, Role.SERVICE])
def test_a_role_without_the_permission_gets_403(api, keys, role: Role) -> None:
    roles = _roles()
    refused = [
        operation
        for operation in _v1(api)
        if role not in roles.get(operation.label, frozenset(Role))
    ]
    assert len(refused) >= 3, role
    strategies = [
        operation.as_strategy(generation_mode=schemathesis.GenerationMode.POSITIVE)
        for operation in refused
    ]
    authorization = f"Bearer {keys[role.value]}"

    @given(case=st.one_of(strategies))
    @_settings(100)
    def run(case: schemathesis.Case) -> None:
        response = case.call(headers={"Authorization": authorization})
        assert response.status_code == 403, (case.method, case.path, response.text[:300])
        assert response.json()["error"]["code"] == "forbidden", response.text[:300]

    run()
