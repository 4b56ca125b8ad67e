"""What `MemoryEventBus` does beyond the shared contract."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from payguard.adapters.bus.memory import MemoryEventBus
from payguard.core.bus import DECISION_MADE, EventBus, Message

WAIT = 30.0


@pytest.fixture
def bus() -> Iterator[MemoryEventBus]:
    memory_bus = MemoryEventBus()
    yield memory_bus
    memory_bus.close()


def test_it_is_an_event_bus(bus: MemoryEventBus) -> None:
    port: EventBus = bus
    port.flush()


def test_publish_does_not_wait_for_a_busy_handler(bus: MemoryEventBus) -> None:
    release = threading.Event()
    started = threading.Event()
    received: list[Message] = []

    def slow(_subject: str, message: Message) -> None:
        started.set()
        assert release.wait(WAIT)
        received.append(message)

    bus.subscribe(DECISION_MADE, slow, durable="cases")
    bus.publish(DECISION_MADE, {"n": 0})
    assert started.wait(WAIT)

    for n in range(1, 10):  # would hang here if publish waited for the handler
        bus.publish(DECISION_MADE, {"n": n})
    release.set()
    bus.flush(WAIT)

    assert [m["n"] for m in received] == list(range(10))


def test_a_publisher_changing_its_message_afterwards_changes_nothing(bus: MemoryEventBus) -> None:
    received: list[Message] = []
    bus.subscribe(DECISION_MADE, lambda _s, m: received.append(m), durable="cases")
    message: Message = {"reasons": ["NEW_PAYEE"]}

    bus.publish(DECISION_MADE, message)
    message["reasons"].append("changed")
    bus.flush(WAIT)

    assert received == [{"reasons": ["NEW_PAYEE"]}]


def test_each_handler_gets_its_own_copy(bus: MemoryEventBus) -> None:
    seen: list[Message] = []

    def vandal(_subject: str, message: Message) -> None:
        message["reasons"].append("vandalised")

    bus.subscribe(DECISION_MADE, vandal, durable="a")
    bus.subscribe(DECISION_MADE, lambda _s, m: seen.append(m), durable="b")
    bus.publish(DECISION_MADE, {"reasons": []})
    bus.flush(WAIT)

    assert seen == [{"reasons": []}]


def test_flush_inside_a_handler_returns(bus: MemoryEventBus) -> None:
    done = threading.Event()

    def flushing(_subject: str, _message: Message) -> None:
        bus.flush(WAIT)
        done.set()

    bus.subscribe(DECISION_MADE, flushing, durable="cases")
    bus.publish(DECISION_MADE, {})

    assert done.wait(WAIT)


def test_messages_without_a_subscriber_are_dropped(bus: MemoryEventBus) -> None:
    bus.publish(DECISION_MADE, {"n": 1})
    bus.flush(WAIT)
    received: list[Message] = []
    bus.subscribe(DECISION_MADE, lambda _s, m: received.append(m), durable="cases")

    bus.publish(DECISION_MADE, {"n": 2})
    bus.flush(WAIT)

    assert received == [{"n": 2}]


def test_close_stops_the_dispatcher_thread() -> None:
    bus = MemoryEventBus()
    threads = {t for t in threading.enumerate() if t.name == "payguard-bus-memory"}
    assert threads

    bus.close()

    assert not any(t.is_alive() for t in threads if t is bus._thread)
