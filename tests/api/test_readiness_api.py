"""`/readyz` checks every configured backend: the database, Redis (and whether it still holds
the velocity state), NATS. A backend that is away, hung, or lost its state gives 503."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from fastapi.testclient import TestClient

from payguard.api.app import create_app
from payguard.audit.interfaces import Actor
from payguard.services import Services, build_services
from payguard.settings import Settings


@pytest.fixture
def deploy(tmp_path, clock) -> Iterator[Callable[..., Any]]:
    """Builds a deployment on SQLite with the given settings; closes and cleans up after."""
    built: list[Services] = []

    @contextmanager
    def make(**settings: Any) -> Iterator[TestClient]:
        services = build_services(
            Settings(
                database_url=f"sqlite:///{tmp_path}/ready-{len(built)}.db",
                cache_ttl_seconds=0,
                argon2_time_cost=1,
                argon2_memory_kib=8192,
                **settings,
            ),
            clock=clock,
        )
        built.append(services)
        with TestClient(create_app(services), raise_server_exceptions=False) as client:
            yield client

    yield make
    for services in built:
        services.close()


@pytest.fixture
def hung_port() -> Iterator[int]:
    """A port that accepts TCP connections and never answers (a hung server)."""
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    try:
        yield server.getsockname()[1]
    finally:
        server.close()


def _key(client: TestClient) -> dict[str, str]:
    services: Services = client.app.state.services  # type: ignore[attr-defined]
    _, key = services.tenants.create_tenant("acme", actor=Actor.system("test"))
    return {"Authorization": f"Bearer {key}"}


def test_the_embedded_default_checks_the_database_only(deploy) -> None:
    with deploy() as client:
        ready = client.get("/readyz")

    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "checks": {"database": True}}


def test_a_redis_that_is_never_reachable_starts_then_is_not_ready(deploy, payment) -> None:
    with deploy(kv_url="redis://127.0.0.1:1/0", redis_timeout_ms=200) as client:
        assert client.get("/healthz").status_code == 200  # the process is up
        ready = client.get("/readyz")
        refused = client.post("/v1/assessments", json=payment(), headers=_key(client))

    assert ready.status_code == 503
    body = ready.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["database"] is True
    assert body["checks"]["redis"] is False
    assert body["redis_state"] == {"status": "unknown", "lost_detected": 0}
    assert refused.status_code == 503
    assert refused.json()["error"]["code"] == "backend_unavailable"


def test_a_hung_redis_is_not_ready_and_assessments_get_503(deploy, hung_port, payment) -> None:
    with deploy(kv_url=f"redis://127.0.0.1:{hung_port}/0", redis_timeout_ms=100) as client:
        ready = client.get("/readyz")
        refused = client.post("/v1/assessments", json=payment(), headers=_key(client))

    assert ready.status_code == 503
    assert ready.json()["checks"]["redis"] is False
    assert refused.status_code == 503
    assert refused.json()["error"]["code"] == "backend_unavailable"


@pytest.mark.redis
def test_redis_ready_then_lost_state_is_503_until_rebuilt(
    deploy, redis_url: str, namespace: str, payment
) -> None:
    with deploy(kv_url=redis_url, namespace=namespace) as client:
        services: Services = client.app.state.services  # type: ignore[attr-defined]
        store = services.state_store
        assert store is not None
        try:
            ready = client.get("/readyz")
            assert ready.status_code == 200, ready.text
            assert ready.json()["checks"] == {"database": True, "redis": True, "redis_state": True}
            assert ready.json()["redis_state"] == {"status": "ok", "lost_detected": 0}
            headers = _key(client)
            assert (
                client.post("/v1/assessments", json=payment(), headers=headers).status_code == 201
            )

            store.purge_namespace()  # Redis restarted empty: this namespace's keys only
            lost = client.get("/readyz")
            # Decisions still answer (from the state left), but the loss is reported.
            decided = client.post("/v1/assessments", json=payment(), headers=headers)
            still_lost = client.get("/readyz")

            store.mark_rebuilt()  # what `payguard state rebuild` / `acknowledge` end with
            back = client.get("/readyz")
        finally:
            store.purge_namespace()

    assert lost.status_code == 503
    assert lost.json()["checks"] == {"database": True, "redis": True, "redis_state": False}
    assert lost.json()["redis_state"] == {
        "status": "lost",
        "lost_detected": 1,
        "remedy": "payguard state rebuild",
    }
    assert decided.status_code == 201
    assert still_lost.status_code == 503  # new writes do not hide the loss
    assert back.status_code == 200
    assert back.json()["redis_state"]["lost_detected"] == 1


@pytest.mark.redis
def test_a_restarted_server_on_an_emptied_redis_is_not_ready(
    tmp_path, clock, redis_url: str, namespace: str, payment
) -> None:
    settings = Settings(
        database_url=f"sqlite:///{tmp_path}/restart.db",
        kv_url=redis_url,
        namespace=namespace,
        argon2_time_cost=1,
        argon2_memory_kib=8192,
    )
    first = build_services(settings, clock=clock)
    try:
        with TestClient(create_app(first), raise_server_exceptions=False) as client:
            headers = _key(client)
            assert (
                client.post("/v1/assessments", json=payment(), headers=headers).status_code == 201
            )
        assert first.state_store is not None
        first.state_store.purge_namespace()  # Redis comes back empty while we are down
    finally:
        first.close()

    second = build_services(settings, clock=clock)
    try:
        with TestClient(create_app(second), raise_server_exceptions=False) as client:
            ready = client.get("/readyz")
    finally:
        assert second.state_store is not None
        second.state_store.purge_namespace()
        second.close()

    assert ready.status_code == 503
    assert ready.json()["checks"]["redis_state"] is False


@pytest.mark.nats
def test_nats_is_checked_when_configured(deploy, nats_url: str, namespace: str) -> None:
    with deploy(bus_url=nats_url, namespace=namespace) as client:
        services: Services = client.app.state.services  # type: ignore[attr-defined]
        try:
            ready = client.get("/readyz")
            services.bus.close()  # the bus is gone: not ready
            gone = client.get("/readyz")
        finally:
            from payguard.adapters.bus.nats import NatsEventBus

            cleanup = NatsEventBus(nats_url, namespace=namespace)
            cleanup.delete_stream()
            cleanup.close()

    assert ready.status_code == 200
    assert ready.json()["checks"] == {"database": True, "nats": True}
    assert gone.status_code == 503
    assert gone.json()["checks"]["nats"] is False
