"""`EventBus` inside one process: a queue and one dispatcher thread.

The embedded default. Messages are serialised with orjson on `publish` (so a message that
NATS could not carry fails here too, and a publisher mutating its dict afterwards changes
nothing) and decoded afresh for each handler. Nothing survives the process: a message
published while no handler is subscribed to its subject is dropped, and a handler that
raises is logged, not retried.
"""

from __future__ import annotations

import threading
import time
from collections import deque

import orjson
import structlog

from payguard.adapters.bus._subjects import check_subject, subject_matches
from payguard.core.bus import Handler, Message
from payguard.core.errors import BackendUnavailable

__all__ = ["MemoryEventBus"]

log = structlog.get_logger(__name__)


class MemoryEventBus:
    """In-process publish-subscribe; handlers run one at a time on the dispatcher thread.

    Each `(subject, durable)` pair holds one handler (subscribing again replaces it); several
    durables on one subject each receive every message, as JetStream consumers do.
    """

    def __init__(self, *, close_timeout: float = 5.0) -> None:
        self._close_timeout = close_timeout
        self._cond = threading.Condition()
        self._queue: deque[tuple[str, bytes]] = deque()
        self._in_flight = False
        self._closed = False
        self._handlers: dict[tuple[str, str], Handler] = {}
        self._subscribed: dict[str, bool] = {}
        self._thread = threading.Thread(
            target=self._dispatch, name="payguard-bus-memory", daemon=True
        )
        self._thread.start()

    def publish(self, subject: str, message: Message) -> None:
        check_subject(subject, wildcards=False)
        payload = orjson.dumps(message)
        with self._cond:
            if self._closed:
                raise BackendUnavailable("the event bus is closed")
            if not self._has_subscriber(subject):
                # Dropped as it would be by the dispatcher, without waking it: on the hot
                # path a thread switch per message costs more than the assessment.
                return
            self._queue.append((subject, payload))
            self._cond.notify_all()

    def _has_subscriber(self, subject: str) -> bool:
        known = self._subscribed.get(subject)
        if known is None:
            known = any(subject_matches(pattern, subject) for pattern, _ in self._handlers)
            self._subscribed[subject] = known
        return known

    def subscribe(self, subject: str, handler: Handler, *, durable: str) -> None:
        check_subject(subject, wildcards=True)
        if not durable:
            raise ValueError("durable must name the consumer")
        with self._cond:
            if self._closed:
                raise BackendUnavailable("the event bus is closed")
            self._handlers[(subject, durable)] = handler
            self._subscribed.clear()

    def flush(self, timeout: float = 5.0) -> None:
        """Wait until every message published so far has been through its handlers.

        Called from a handler it returns at once: it cannot wait for its own caller.
        """
        if threading.current_thread() is self._thread:
            return
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._queue or self._in_flight:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not self._thread.is_alive():
                    raise BackendUnavailable(
                        f"{len(self._queue) + self._in_flight} messages still undelivered "
                        f"after {timeout} s"
                    )
                self._cond.wait(remaining)

    def close(self) -> None:
        """Refuse new messages, deliver the queued ones, stop the dispatcher thread."""
        with self._cond:
            if self._closed:
                return
            self._closed = True
            self._cond.notify_all()
        if threading.current_thread() is not self._thread:
            self._thread.join(self._close_timeout)
            if self._thread.is_alive():
                log.warning("bus.close_timeout", undelivered=len(self._queue))

    def _dispatch(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._closed:
                    self._cond.wait()
                if not self._queue:
                    return
                subject, payload = self._queue.popleft()
                self._in_flight = True
                targets = [
                    (durable, handler)
                    for (pattern, durable), handler in self._handlers.items()
                    if subject_matches(pattern, subject)
                ]
            try:
                for durable, handler in targets:
                    try:
                        handler(subject, orjson.loads(payload))
                    except Exception:
                        log.exception("bus.handler_failed", subject=subject, durable=durable)
            finally:
                with self._cond:
                    self._in_flight = False
                    self._cond.notify_all()
