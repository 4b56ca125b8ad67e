"""The `EventBus` contract, run against the in-process bus and, when
`PAYGUARD_TEST_NATS_URL` is set, NATS JetStream.

Nothing here measures time: deliveries are awaited with generous timeouts on a condition.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from structlog.testing import capture_logs

from payguard.adapters.bus.memory import MemoryEventBus
from payguard.core.bus import DECISION_MADE, OUTCOME_RECORDED, EventBus, Message
from payguard.core.errors import BackendUnavailable

WAIT = 30.0  # seconds; only ever reached when something is broken

MakeBus = Callable[[], EventBus]


class Inbox:
    """A handler that records what it receives and lets a test wait for a condition."""

    def __init__(self, fail: Callable[[str, Message], bool] | None = None) -> None:
        self._cond = threading.Condition()
        self._fail = fail
        self.received: list[tuple[str, Message]] = []

    def __call__(self, subject: str, message: Message) -> None:
        with self._cond:
            self.received.append((subject, message))
            self._cond.notify_all()
        if self._fail is not None and self._fail(subject, message):
            raise RuntimeError("handler failed on purpose")

    def wait_for(self, predicate: Callable[[list[tuple[str, Message]]], bool]) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: predicate(self.received), WAIT)

    def wait_for_count(self, count: int) -> bool:
        return self.wait_for(lambda received: len(received) >= count)

    def numbers(self) -> list[Any]:
        with self._cond:
            return [message["n"] for _, message in self.received]


@pytest.fixture(params=["memory", pytest.param("nats", marks=pytest.mark.nats)])
def make_bus(request: pytest.FixtureRequest) -> Iterator[MakeBus]:
    """Builds buses that share one namespace (so several can play the workers of one
    deployment); closes them and, on NATS, deletes the stream afterwards."""
    created: list[EventBus] = []
    if request.param == "memory":
        factory: MakeBus = MemoryEventBus
    else:
        from payguard.adapters.bus.nats import NatsEventBus

        url = request.getfixturevalue("nats_url")
        namespace = request.getfixturevalue("namespace")

        def factory() -> EventBus:
            # Short delays only make the waits below shorter. ack_wait bounds the rare
            # redelivery of a message that was on its way to a bus as it closed.
            return NatsEventBus(url, namespace=namespace, redelivery_delay=0.05, ack_wait=5.0)

    def make() -> EventBus:
        bus = factory()
        created.append(bus)
        return bus

    yield make
    for bus in created:
        bus.close()
    if request.param == "nats":
        admin = NatsEventBus(url, namespace=namespace)
        admin.delete_stream()
        admin.close()


@pytest.fixture
def bus(make_bus: MakeBus) -> EventBus:
    return make_bus()


def _is_durable(bus: EventBus) -> bool:
    return not isinstance(bus, MemoryEventBus)


def test_a_published_message_reaches_the_handler_with_its_subject(bus: EventBus) -> None:
    inbox = Inbox()
    bus.subscribe(DECISION_MADE, inbox, durable="cases")

    bus.publish(DECISION_MADE, {"assessment_id": "as-1", "score": 80, "reasons": ["NEW_PAYEE"]})

    assert inbox.wait_for_count(1)
    assert inbox.received == [
        (DECISION_MADE, {"assessment_id": "as-1", "score": 80, "reasons": ["NEW_PAYEE"]})
    ]


def test_subjects_do_not_cross(bus: EventBus) -> None:
    decisions, outcomes = Inbox(), Inbox()
    bus.subscribe(DECISION_MADE, decisions, durable="cases")
    bus.subscribe(OUTCOME_RECORDED, outcomes, durable="cases")

    # Interleaved, and each subject's last message is published after every other one but
    # the other subject's last: a crossed message would arrive before the one awaited.
    for n in range(3):
        bus.publish(DECISION_MADE, {"n": n})
        bus.publish(OUTCOME_RECORDED, {"n": 10 + n})

    assert decisions.wait_for(lambda r: {"n": 2} in [m for _, m in r])
    assert outcomes.wait_for(lambda r: {"n": 12} in [m for _, m in r])
    assert decisions.received == [(DECISION_MADE, {"n": n}) for n in range(3)]
    assert outcomes.received == [(OUTCOME_RECORDED, {"n": 10 + n}) for n in range(3)]


def test_every_durable_receives_every_message(bus: EventBus) -> None:
    cases, webhooks = Inbox(), Inbox()
    bus.subscribe(DECISION_MADE, cases, durable="cases")
    bus.subscribe(DECISION_MADE, webhooks, durable="webhooks")

    for n in range(5):
        bus.publish(DECISION_MADE, {"n": n})

    assert cases.wait_for_count(5)
    assert webhooks.wait_for_count(5)
    assert sorted(cases.numbers()) == sorted(webhooks.numbers()) == list(range(5))


def test_a_wildcard_subscription_receives_the_matching_subjects(bus: EventBus) -> None:
    inbox = Inbox()
    bus.subscribe("decision.*", inbox, durable="audit")

    bus.publish("decision.made", {"n": 1})
    bus.publish("outcome.recorded", {"n": 2})
    bus.publish("decision.reviewed", {"n": 3})

    assert inbox.wait_for(lambda r: {"n": 3} in [m for _, m in r])
    assert inbox.received == [("decision.made", {"n": 1}), ("decision.reviewed", {"n": 3})]


def test_subscribing_again_with_the_same_durable_replaces_the_handler(bus: EventBus) -> None:
    old, new = Inbox(), Inbox()
    bus.subscribe(DECISION_MADE, old, durable="cases")
    bus.subscribe(DECISION_MADE, new, durable="cases")

    bus.publish(DECISION_MADE, {"n": 1})

    assert new.wait_for_count(1)
    assert old.received == []


def test_a_failing_handler_does_not_stop_later_deliveries(bus: EventBus) -> None:
    attempts: dict[int, int] = {}

    def fail_first_attempt_of_one(_subject: str, message: Message) -> bool:
        attempts[message["n"]] = attempts.get(message["n"], 0) + 1
        return message["n"] == 1 and attempts[1] == 1

    inbox = Inbox(fail=fail_first_attempt_of_one)
    bus.subscribe(DECISION_MADE, inbox, durable="cases")

    with capture_logs() as logs:
        for n in range(4):
            bus.publish(DECISION_MADE, {"n": n})
        assert inbox.wait_for(lambda r: {"n": 3} in [m for _, m in r])
        if _is_durable(bus):  # JetStream redelivers what the handler failed on
            assert inbox.wait_for(lambda r: [m for _, m in r].count({"n": 1}) == 2)
        bus.flush()

    assert sorted(set(inbox.numbers())) == [0, 1, 2, 3]
    assert inbox.numbers().count(1) == (2 if _is_durable(bus) else 1)
    failures = [entry for entry in logs if entry["event"] == "bus.handler_failed"]
    assert len(failures) == 1
    assert failures[0]["subject"] == DECISION_MADE
    assert failures[0]["log_level"] == "error"


def test_a_handler_may_publish(bus: EventBus) -> None:
    outcomes = Inbox()

    def relay(_subject: str, message: Message) -> None:
        bus.publish(OUTCOME_RECORDED, {"n": message["n"] + 100})

    bus.subscribe(DECISION_MADE, relay, durable="relay")
    bus.subscribe(OUTCOME_RECORDED, outcomes, durable="cases")

    bus.publish(DECISION_MADE, {"n": 1})

    assert outcomes.wait_for_count(1)
    assert outcomes.received == [(OUTCOME_RECORDED, {"n": 101})]


def test_messages_published_while_no_subscriber_is_attached_are_delivered_later(
    make_bus: MakeBus,
) -> None:
    first = make_bus()
    if not _is_durable(first):
        pytest.skip("the in-process bus keeps nothing for consumers that are not attached")
    inbox = Inbox()
    first.subscribe(DECISION_MADE, inbox, durable="cases")
    first.publish(DECISION_MADE, {"n": 0})
    assert inbox.wait_for_count(1)
    first.close()  # the worker stops

    publisher = make_bus()
    for n in range(1, 4):
        publisher.publish(DECISION_MADE, {"n": n})
    publisher.flush()

    restarted = make_bus()
    restarted.subscribe(DECISION_MADE, inbox, durable="cases")

    assert inbox.wait_for_count(4)
    assert inbox.numbers() == [0, 1, 2, 3]  # resumed where it stopped: 0 is not redelivered


def test_flush_returns_once_everything_published_is_handed_over(bus: EventBus) -> None:
    inbox = Inbox()
    bus.subscribe(DECISION_MADE, inbox, durable="cases")
    for n in range(50):
        bus.publish(DECISION_MADE, {"n": n})

    bus.flush(timeout=WAIT)

    if not _is_durable(bus):  # in process, "handed over" means the handlers have returned
        assert len(inbox.received) == 50
    assert inbox.wait_for_count(50)
    assert sorted(inbox.numbers()) == list(range(50))


def test_nothing_published_before_close_is_lost(make_bus: MakeBus) -> None:
    inbox = Inbox()
    worker = make_bus()
    worker.subscribe(DECISION_MADE, inbox, durable="cases")
    for n in range(20):
        worker.publish(DECISION_MADE, {"n": n})

    worker.close()
    # In process, close delivers what is queued; on JetStream it is stored for the durable.
    make_bus().subscribe(DECISION_MADE, inbox, durable="cases")

    assert inbox.wait_for(lambda r: len({m["n"] for _, m in r}) == 20)


def test_a_closed_bus_refuses_to_publish_and_closes_once(bus: EventBus) -> None:
    bus.close()

    with pytest.raises(BackendUnavailable):
        bus.publish(DECISION_MADE, {"n": 1})
    with pytest.raises(BackendUnavailable):
        bus.subscribe(DECISION_MADE, Inbox(), durable="cases")
    bus.close()


def test_a_message_that_is_not_json_is_refused_at_publish(bus: EventBus) -> None:
    inbox = Inbox()
    bus.subscribe(DECISION_MADE, inbox, durable="cases")

    with pytest.raises(TypeError):
        bus.publish(DECISION_MADE, {"amount": object()})
    bus.publish(DECISION_MADE, {"n": 1})

    assert inbox.wait_for_count(1)
    assert inbox.received == [(DECISION_MADE, {"n": 1})]


@pytest.mark.parametrize("subject", ["", "decision..made", "decision made", "decision.*", ">"])
def test_an_invalid_subject_is_refused_at_publish(bus: EventBus, subject: str) -> None:
    with pytest.raises(ValueError, match="subject"):
        bus.publish(subject, {"n": 1})


@pytest.mark.parametrize("subject", ["", "decision..made", "a.>.b", "decision. made"])
def test_an_invalid_subject_is_refused_at_subscribe(bus: EventBus, subject: str) -> None:
    with pytest.raises(ValueError, match="subject"):
        bus.subscribe(subject, Inbox(), durable="cases")
