"""Property-based tests of every operation in the OpenAPI document (schemathesis).

Schemathesis generates requests from the schema for each operation, both conforming and
deliberately broken ones; every answer must be a non-5xx with payguard's error document.
Requests carry a valid admin key so that the generated input, not authentication, is what
gets exercised. Schemathesis is used as a library (its strategies under Hypothesis) because
its pytest plugin does not yet run under pytest 9.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from payguard.api.app import create_app
from payguard.audit.interfaces import Actor
from payguard.core.clock import FrozenClock
from payguard.services import Services, build_services
from payguard.settings import Settings


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
