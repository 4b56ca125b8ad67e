"""The event bus port: everything slow consumes the bus, never the request."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

Message = dict[str, Any]
Handler = Callable[[str, Message], None]

#: Subjects published by payguard (prefixed with the configured namespace by the adapters).
DECISION_MADE = "decision.made"
OUTCOME_RECORDED = "outcome.recorded"
RULES_CHANGED = "rules.changed"
LISTS_CHANGED = "lists.changed"
MODELS_CHANGED = "models.changed"
AUTH_FAILED = "auth.failed"
AUTH_CLONE_SUSPECTED = "auth.clone_suspected"
STEP_UP_SETTLED = "stepup.settled"
DEVICE_HEALTH = "device.health"


class EventBus(Protocol):
    """Publish-subscribe with at-least-once delivery to durable consumers.

    `publish` never blocks the caller on the network: adapters buffer and send in the
    background. Handlers run on the adapter's own thread and must be idempotent.
    """

    def publish(self, subject: str, message: Message) -> None: ...

    def subscribe(self, subject: str, handler: Handler, *, durable: str) -> None:
        """Deliver every message on `subject` to `handler`; `durable` names the consumer so
        a restarted worker resumes where it stopped (JetStream) instead of starting over."""
        ...

    def flush(self, timeout: float = 5.0) -> None:
        """Wait until everything published so far has been handed to the server."""
        ...

    def close(self) -> None: ...
