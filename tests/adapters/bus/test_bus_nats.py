"""What `NatsEventBus` does beyond the shared contract: the stream it keeps, acknowledged
publishes, work shared between workers, poison messages, and failing fast when NATS is away."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import nats
import pytest
from structlog.testing import capture_logs

from payguard.adapters.bus.nats import NatsEventBus
from payguard.core.bus import DECISION_MADE, EventBus, Message
from payguard.core.errors import BackendUnavailable

WAIT = 30.0


def _stream_info(url: str, stream: str) -> Any:
    async def fetch() -> Any:
        nc = await nats.connect(url, connect_timeout=2, max_reconnect_attempts=1)
        try:
            return await nc.jetstream().stream_info(stream)
        finally:
            await nc.close()

    return asyncio.run(fetch())


@pytest.fixture
def make_bus(nats_url: str, namespace: str) -> Iterator[Callable[..., NatsEventBus]]:
    created: list[NatsEventBus] = []

    def make(**options: Any) -> NatsEventBus:
        options.setdefault("redelivery_delay", 0.05)
        bus = NatsEventBus(nats_url, namespace=options.pop("namespace", namespace), **options)
        created.append(bus)
        return bus

    yield make
    for bus in created:
        bus.close()
    admin = NatsEventBus(nats_url, namespace=namespace)
    admin.delete_stream()
    admin.close()


@pytest.mark.nats
def test_it_is_an_event_bus(make_bus: Callable[..., NatsEventBus]) -> None:
    port: EventBus = make_bus()
    port.flush()


@pytest.mark.nats
def test_the_stream_is_named_after_the_namespace_and_captures_it(
    nats_url: str, namespace: str, make_bus: Callable[..., NatsEventBus]
) -> None:
    dotted = f"{namespace}.eu.prod"
    bus = make_bus(namespace=dotted)
    try:
        info = _stream_info(nats_url, bus.stream_name)

        assert bus.stream_name == f"{namespace}_eu_prod"
        assert info.config.subjects == [f"{dotted}.>"]
    finally:
        bus.delete_stream()


@pytest.mark.nats
def test_after_flush_the_server_holds_every_message(
    nats_url: str, make_bus: Callable[..., NatsEventBus]
) -> None:
    bus = make_bus()
    for n in range(50):
        bus.publish(DECISION_MADE, {"n": n})

    bus.flush(WAIT)

    assert _stream_info(nats_url, bus.stream_name).state.messages == 50


@pytest.mark.nats
def test_workers_with_the_same_durable_share_the_messages(
    make_bus: Callable[..., NatsEventBus],
) -> None:
    cond = threading.Condition()
    handled: dict[str, list[int]] = {"w1": [], "w2": []}

    def worker(name: str) -> Callable[[str, Message], None]:
        def handle(_subject: str, message: Message) -> None:
            with cond:
                handled[name].append(message["n"])
                cond.notify_all()

        return handle

    first, second = make_bus(), make_bus()
    first.subscribe(DECISION_MADE, worker("w1"), durable="cases")
    second.subscribe(DECISION_MADE, worker("w2"), durable="cases")
    for n in range(40):
        first.publish(DECISION_MADE, {"n": n})

    with cond:
        assert cond.wait_for(lambda: len(handled["w1"]) + len(handled["w2"]) >= 40, WAIT)
    assert sorted(handled["w1"] + handled["w2"]) == list(range(40))


@pytest.mark.nats
def test_a_message_that_always_fails_is_dropped_after_max_deliver(
    make_bus: Callable[..., NatsEventBus],
) -> None:
    cond = threading.Condition()
    attempts: list[int] = []

    def poisoned(_subject: str, message: Message) -> None:
        with cond:
            attempts.append(message["n"])
            cond.notify_all()
        if message["n"] == 0:
            raise ValueError("cannot handle this one")

    bus = make_bus(max_deliver=3)
    with capture_logs() as logs:
        bus.subscribe(DECISION_MADE, poisoned, durable="cases")
        bus.publish(DECISION_MADE, {"n": 0})
        bus.publish(DECISION_MADE, {"n": 1})
        with cond:
            assert cond.wait_for(lambda: attempts.count(0) == 3 and 1 in attempts, WAIT)
        bus.close()

    assert attempts.count(0) == 3
    events = [entry["event"] for entry in logs]
    assert events.count("bus.handler_failed") == 2
    assert events.count("bus.handler_failed_dropping") == 1


def test_an_unreachable_server_is_backend_unavailable_without_hanging() -> None:
    started = time.monotonic()

    with pytest.raises(BackendUnavailable) as caught:
        NatsEventBus("nats://user:s3cret@127.0.0.1:1", namespace="payguard", connect_timeout=1.0)

    assert time.monotonic() - started < WAIT
    assert "127.0.0.1:1" in caught.value.message
    assert "s3cret" not in caught.value.message
    assert not [t for t in threading.enumerate() if t.name == "payguard-bus-nats"]


@pytest.mark.parametrize("namespace", ["", "a b", "a.*", "a..b", "a>"])
def test_a_namespace_that_is_not_a_subject_prefix_is_refused(namespace: str) -> None:
    with pytest.raises(ValueError, match="namespace"):
        NatsEventBus("nats://127.0.0.1:1", namespace=namespace)


@pytest.mark.nats
def test_a_closed_bus_cannot_delete_its_stream(make_bus: Callable[..., NatsEventBus]) -> None:
    bus = make_bus()
    bus.close()

    with pytest.raises(BackendUnavailable):
        bus.delete_stream()
