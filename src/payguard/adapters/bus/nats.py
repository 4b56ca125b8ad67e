"""`EventBus` on NATS JetStream: durable, at-least-once, shared by every worker.

The bus owns an asyncio loop on a daemon thread; the synchronous methods hand work to it.

- On start it ensures a stream named after the namespace (dots and other characters stream
  names refuse become `_`) that captures `<namespace>.>`.
- `publish` serialises with orjson in the caller's thread (a bad message fails there) and
  schedules the JetStream publish without waiting; each message carries a `Nats-Msg-Id`, so
  the retries of a publish whose acknowledgement was lost are stored once.
- `subscribe` binds a durable pull consumer named after `(durable, subject)`. Every worker
  subscribing with the same names shares that consumer, so each message is handled by one of
  them, and a restarted worker resumes where the consumer stopped. The handler runs on a
  thread of its own (one per subscription, messages in order); the message is acked when it
  returns, and nak'ed for a redelivery with exponential delay when it raises, until
  `max_deliver` attempts, after which it is logged and dropped.
- `flush` waits until the server acknowledged every publish; `close` flushes, lets running
  handlers finish, drains the connection and stops the loop.

Namespaces sharing one server must not prefix one another (`payguard` and `payguard.eu`):
their streams would capture overlapping subjects, which JetStream refuses.

Errors: an unreachable server at construction, a closed bus, or publishes the server did not
acknowledge raise `BackendUnavailable`; invalid subjects raise `ValueError`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import hashlib
import math
import re
import threading
import time
import uuid
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import nats.errors
import nats.js.errors
import orjson
import structlog
from nats.aio.client import Client as NatsClient
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, StorageType, StreamConfig

from payguard.adapters.bus._subjects import check_subject
from payguard.core.bus import Handler, Message
from payguard.core.errors import BackendUnavailable

__all__ = ["NatsEventBus"]

log = structlog.get_logger(__name__)

_T = TypeVar("_T")
_NAMESPACE = re.compile(r"[A-Za-z0-9_\-]+(\.[A-Za-z0-9_\-]+)*")
_NAME_UNSAFE = re.compile(r"[^A-Za-z0-9_\-]")
_NATS_ERRORS = (nats.errors.Error, TimeoutError, OSError)


def _name_token(text: str) -> str:
    return _NAME_UNSAFE.sub("_", text)


def _consumer_name(durable: str, subject: str) -> str:
    """A consumer name (no dots or wildcards) that stays unique after sanitising."""
    digest = hashlib.blake2b(f"{durable}\0{subject}".encode(), digest_size=4).hexdigest()
    return f"{_name_token(durable)}-{_name_token(subject)}-{digest}"


def _redacted(url: str) -> str:
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    netloc = "***@" + parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=netloc))


@dataclass(eq=False)
class _Subscription:
    name: str
    handler: Handler
    pull: Any  # nats.js.JetStreamContext.PullSubscription
    executor: ThreadPoolExecutor
    task: asyncio.Task[None] | None = None
    fetching: bool = False
    stopped: bool = False


class NatsEventBus:
    """Publish-subscribe over one JetStream stream per namespace."""

    def __init__(
        self,
        url: str,
        *,
        namespace: str,
        connect_timeout: float = 2.0,
        publish_timeout: float = 5.0,
        publish_attempts: int = 3,
        ack_wait: float = 30.0,
        max_deliver: int = 10,
        redelivery_delay: float = 1.0,
        max_age: float = 7 * 24 * 3600.0,
        close_timeout: float = 5.0,
    ) -> None:
        """Connect and ensure the stream, or raise `BackendUnavailable` within about
        `connect_timeout` seconds. `max_age` (seconds) is how long the stream keeps messages
        for consumers that are away; `redelivery_delay` is the first retry delay after a
        handler raised (doubling, at most a minute)."""
        if not _NAMESPACE.fullmatch(namespace):
            raise ValueError(
                "namespace must be dot-separated tokens of letters, digits, '_' and '-'"
            )
        if publish_attempts < 1 or max_deliver < 1:
            raise ValueError("publish_attempts and max_deliver must be at least 1")
        self._where = ",".join(_redacted(u) for u in url.split(","))
        self._prefix = namespace + "."
        self._stream = _name_token(namespace)
        self._connect_timeout = connect_timeout
        self._publish_timeout = publish_timeout
        self._publish_attempts = publish_attempts
        self._ack_wait = ack_wait
        self._max_deliver = max_deliver
        self._redelivery_delay = redelivery_delay
        self._max_age = max_age
        self._close_timeout = close_timeout
        self._fetch_timeout = 5.0

        self._cond = threading.Condition()
        self._pending = 0
        self._failed = 0
        self._closed = False
        self._stopping = False  # read and written on the loop thread only
        self._subscriptions: dict[str, _Subscription] = {}  # loop thread only
        self._nc: Any = None
        self._js: Any = None

        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._run_loop, name="payguard-bus-nats", daemon=True
        )
        self._thread.start()
        try:
            self._call(self._start(url.split(",")), connect_timeout + publish_timeout)
        except BaseException as exc:
            self._stop_loop()
            if isinstance(exc, BackendUnavailable):
                raise
            raise BackendUnavailable(
                f"cannot use NATS JetStream at {self._where}: {exc!r}"
            ) from exc

    @property
    def stream_name(self) -> str:
        """The JetStream stream holding this namespace's messages."""
        return self._stream

    def publish(self, subject: str, message: Message) -> None:
        check_subject(subject, wildcards=False)
        payload = orjson.dumps(message)
        with self._cond:
            if self._closed:
                raise BackendUnavailable("the event bus is closed")
            self._pending += 1
        try:
            future = asyncio.run_coroutine_threadsafe(
                self._send(self._prefix + subject, payload), self._loop
            )
        except RuntimeError as exc:  # the loop stopped under us
            with self._cond:
                self._pending -= 1
                self._cond.notify_all()
            raise BackendUnavailable("the event bus is closed") from exc
        future.add_done_callback(self._sent)

    def subscribe(self, subject: str, handler: Handler, *, durable: str) -> None:
        check_subject(subject, wildcards=True)
        if not durable:
            raise ValueError("durable must name the consumer")
        with self._cond:
            if self._closed:
                raise BackendUnavailable("the event bus is closed")
        self._call(self._subscribe(subject, handler, durable), self._publish_timeout * 2)

    def flush(self, timeout: float = 5.0) -> None:
        """Wait until the server acknowledged everything published so far; raise
        `BackendUnavailable` if it did not in time or if a publish failed since the last
        flush."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._pending:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise BackendUnavailable(
                        f"{self._pending} messages not acknowledged by NATS after {timeout} s"
                    )
                self._cond.wait(remaining)
            failed, self._failed = self._failed, 0
        if failed:
            raise BackendUnavailable(f"{failed} messages could not be published to NATS")

    def close(self) -> None:
        """Flush, let running handlers finish (up to `close_timeout`), drain, stop the loop."""
        with self._cond:
            if self._closed:
                return
            self._closed = True
        try:
            self.flush(self._close_timeout)
        except BackendUnavailable as exc:
            log.warning("bus.close_unflushed", error=exc.message)
        try:
            self._call(self._shutdown(), self._close_timeout * 3)
        except Exception as exc:
            log.warning("bus.close_failed", error=repr(exc))
        finally:
            self._stop_loop()

    def ready(self, timeout: float = 1.0) -> bool:
        """Whether the bus is open, connected, and JetStream answers for this namespace's
        stream within `timeout` seconds (readiness)."""
        with self._cond:
            if self._closed:
                return False
        try:
            return self._call(self._ready(), timeout)
        except (BackendUnavailable, *_NATS_ERRORS):
            return False

    async def _ready(self) -> bool:
        if self._nc is None or not self._nc.is_connected:
            return False
        await self._js.stream_info(self._stream)
        return True

    def delete_stream(self) -> None:
        """Delete this namespace's stream with its messages and consumers (tests, teardown)."""
        self._call(self._delete_stream(), self._publish_timeout)

    # -- the loop thread -------------------------------------------------------------------

    def _run_loop(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_forever()

    def _call(self, coro: Coroutine[Any, Any, _T], timeout: float) -> _T:
        """Run `coro` on the loop and wait for its result."""
        if self._loop.is_closed() or not self._thread.is_alive():
            coro.close()
            raise BackendUnavailable("the event bus is closed")
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError as exc:
            future.cancel()
            raise BackendUnavailable(
                f"NATS at {self._where} did not answer in {timeout} s"
            ) from exc
        except (nats.errors.Error, OSError) as exc:
            raise BackendUnavailable(f"NATS at {self._where} failed: {exc!r}") from exc

    def _stop_loop(self) -> None:
        if self._loop.is_closed():
            return

        async def cancel_remaining() -> None:
            tasks = asyncio.all_tasks() - {asyncio.current_task()}
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        if self._thread.is_alive():
            with suppress(Exception):
                asyncio.run_coroutine_threadsafe(cancel_remaining(), self._loop).result(
                    self._close_timeout
                )
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(self._close_timeout)
        if not self._thread.is_alive():
            self._loop.close()

    async def _start(self, servers: list[str]) -> None:
        nc = NatsClient()
        self._nc = nc
        try:
            await asyncio.wait_for(
                nc.connect(
                    servers=servers,
                    name="payguard",
                    connect_timeout=math.ceil(self._connect_timeout),
                    allow_reconnect=True,
                    # Once connected, ride out server restarts; the first connection is bounded
                    # by the wait_for around this call.
                    max_reconnect_attempts=-1,
                    reconnect_time_wait=1,
                    drain_timeout=math.ceil(self._close_timeout),
                    error_cb=self._on_error,
                    disconnected_cb=self._on_disconnected,
                    reconnected_cb=self._on_reconnected,
                ),
                timeout=self._connect_timeout,
            )
        except BaseException as exc:
            with suppress(Exception):
                await nc.close()
            if isinstance(exc, TimeoutError):
                raise BackendUnavailable(
                    f"cannot connect to NATS at {self._where} within {self._connect_timeout} s"
                ) from exc
            raise
        self._js = nc.jetstream(timeout=self._publish_timeout)
        try:
            await self._js.stream_info(self._stream)
        except nats.js.errors.NotFoundError:
            config = StreamConfig(
                name=self._stream,
                subjects=[self._prefix + ">"],
                storage=StorageType.FILE,
                max_age=self._max_age,
                duplicate_window=120.0,
            )
            try:
                await self._js.add_stream(config)
            except nats.js.errors.BadRequestError as exc:
                try:
                    await self._js.stream_info(self._stream)  # another worker created it meanwhile
                except nats.js.errors.NotFoundError:
                    raise BackendUnavailable(
                        f"NATS refused to create the stream {self._stream!r}: {exc.description}"
                    ) from exc

    async def _send(self, subject: str, payload: bytes) -> None:
        headers = {"Nats-Msg-Id": uuid.uuid4().hex}
        for attempt in range(1, self._publish_attempts + 1):
            try:
                await self._js.publish(
                    subject, payload, timeout=self._publish_timeout, headers=headers
                )
                return
            except _NATS_ERRORS as exc:
                if attempt == self._publish_attempts:
                    log.error("bus.publish_failed", subject=subject, error=repr(exc))
                    raise
                log.warning("bus.publish_retry", subject=subject, attempt=attempt, error=repr(exc))
                await asyncio.sleep(min(0.1 * 2**attempt, 2.0))

    def _sent(self, future: concurrent.futures.Future[None]) -> None:
        with self._cond:
            self._pending -= 1
            if future.cancelled() or future.exception() is not None:
                self._failed += 1
            self._cond.notify_all()

    async def _subscribe(self, subject: str, handler: Handler, durable: str) -> None:
        name = _consumer_name(durable, subject)
        previous = self._subscriptions.pop(name, None)
        if previous is not None:
            await self._stop_subscription(previous)
        config = ConsumerConfig(
            name=name,
            durable_name=name,
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.ALL,
            ack_wait=self._ack_wait,
            max_deliver=self._max_deliver,
            filter_subject=self._prefix + subject,
        )
        pull = await self._js.pull_subscribe(
            self._prefix + subject, durable=name, stream=self._stream, config=config
        )
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"payguard-bus-{name}")
        subscription = _Subscription(name=name, handler=handler, pull=pull, executor=executor)
        subscription.task = asyncio.get_running_loop().create_task(self._consume(subscription))
        self._subscriptions[name] = subscription

    async def _consume(self, subscription: _Subscription) -> None:
        while not self._stopping and not subscription.stopped:
            subscription.fetching = True
            try:
                messages = await subscription.pull.fetch(1, timeout=self._fetch_timeout)
            except TimeoutError:
                continue
            except nats.errors.Error as exc:
                log.warning("bus.fetch_failed", consumer=subscription.name, error=repr(exc))
                await asyncio.sleep(1.0)
                continue
            finally:
                subscription.fetching = False
            for msg in messages:
                await self._deliver(subscription, msg)

    async def _deliver(self, subscription: _Subscription, msg: Any) -> None:
        subject = msg.subject.removeprefix(self._prefix)
        try:
            try:
                message = orjson.loads(msg.data)
            except orjson.JSONDecodeError:
                log.error("bus.message_undecodable", subject=subject, consumer=subscription.name)
                await msg.term()
                return
            try:
                await asyncio.get_running_loop().run_in_executor(
                    subscription.executor, subscription.handler, subject, message
                )
            except Exception:
                delivered = int(msg.metadata.num_delivered)
                if delivered >= self._max_deliver:
                    log.exception(
                        "bus.handler_failed_dropping",
                        subject=subject,
                        consumer=subscription.name,
                        delivered=delivered,
                    )
                    await msg.term()
                else:
                    log.exception(
                        "bus.handler_failed",
                        subject=subject,
                        consumer=subscription.name,
                        delivered=delivered,
                    )
                    await msg.nak(delay=min(self._redelivery_delay * 2 ** (delivered - 1), 60.0))
                return
            await msg.ack()
        except nats.errors.Error as exc:
            # The ack or nak did not reach the server: JetStream redelivers after ack_wait.
            log.warning(
                "bus.ack_failed", subject=subject, consumer=subscription.name, error=repr(exc)
            )

    async def _stop_subscription(self, subscription: _Subscription) -> None:
        subscription.stopped = True
        task = subscription.task
        if task is not None:
            if subscription.fetching:
                task.cancel()
            done, _ = await asyncio.wait({task}, timeout=self._close_timeout)
            if not done:
                task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        with suppress(Exception):
            await subscription.pull.unsubscribe()
        subscription.executor.shutdown(wait=False, cancel_futures=True)

    async def _shutdown(self) -> None:
        self._stopping = True
        subscriptions = list(self._subscriptions.values())
        self._subscriptions.clear()
        await asyncio.gather(*(self._stop_subscription(s) for s in subscriptions))
        try:
            await asyncio.wait_for(self._nc.drain(), self._close_timeout)
        except Exception as exc:
            log.warning("bus.drain_failed", error=repr(exc))
        finally:
            if not self._nc.is_closed:
                await self._nc.close()

    async def _delete_stream(self) -> None:
        with suppress(nats.js.errors.NotFoundError):
            await self._js.delete_stream(self._stream)

    async def _on_error(self, exc: Exception) -> None:
        log.warning("bus.nats_error", error=repr(exc))

    async def _on_disconnected(self) -> None:
        if not self._closed:
            log.warning("bus.nats_disconnected")

    async def _on_reconnected(self) -> None:
        log.info("bus.nats_reconnected")
