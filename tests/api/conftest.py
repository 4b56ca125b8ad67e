from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from payguard.api.app import create_app
from payguard.audit.interfaces import Actor
from payguard.core.clock import FrozenClock
from payguard.services import Services, build_services
from payguard.settings import Settings
from payguard.tenancy.interfaces import Role


@pytest.fixture
def services(tmp_path, clock: FrozenClock) -> Iterator[Services]:
    # argon2 at its cheapest (t=1, 8 MiB): what the API tests check does not depend on the
    # hashing cost (benchmarks/auth.py measures the real one).
    settings = Settings(
        database_url=f"sqlite:///{tmp_path}/api.db",
        cache_ttl_seconds=0,
        argon2_time_cost=1,
        argon2_memory_kib=8192,
    )
    built = build_services(settings, clock=clock)
    yield built
    built.close()


@pytest.fixture
def client(services: Services) -> Iterator[TestClient]:
    with TestClient(create_app(services), raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def tenant(services: Services) -> Callable[..., dict[str, str]]:
    """Creates a tenant; returns auth headers for a key of the given role."""

    def make(name: str = "acme", role: Role = Role.ADMIN) -> dict[str, str]:
        existing = services.tenants.get_tenant_by_name(name)
        if existing is None:
            _, key = services.tenants.create_tenant(name, actor=Actor.system("test"), role=role)
        else:
            _, key = services.tenants.issue_key(existing.id, role=role, actor=Actor.system("test"))
        return {"Authorization": f"Bearer {key}"}

    return make


@pytest.fixture
def payment() -> Callable[..., dict[str, Any]]:
    counter = iter(range(1_000_000))

    def make(**overrides: Any) -> dict[str, Any]:
        body: dict[str, Any] = {
            "event_id": f"evt-{next(counter)}",
            "event_type": "payment",
            "occurred_at": "2026-03-02T17:20:00+08:00",
            "account_id": "acct-1",
            "amount": {"value": "25.00", "currency": "SGD"},
            "payee": {"id": "payee-1", "name": "Tan Ah Kow"},
            "device": {"id": "dev-1", "fingerprint": "fp-1"},
            "ip": "198.51.100.7",
            "geo": {"lat": 1.3521, "lon": 103.8198, "country": "SG"},
            "channel": "app",
            "attributes": {"app_version": "5.2.1"},
        }
        body.update(overrides)
        return body

    return make
