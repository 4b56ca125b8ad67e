"""`EntityStateStore` on Redis: one MGET per load, one Lua script per write.

Key layout, for namespace `ns` and tenant `t`::

    {ns:t}:state:<key>      "<version>:<orjson data>"
    {ns:t}:marker:<marker>  "1", expires after 30 days
    {ns}:epoch              a random id, written when the namespace's state starts

The tenant id is percent-encoded inside the braces, so the braces always close at the same
place and no (tenant, key) pair can spell another tenant's key.

Trade-off of the `{ns:t}` hash tag: Redis Cluster places every key of one tenant in the same
slot, which is what lets one Lua script check and write the account, device, payee and
merchant states of an assessment atomically (a script may not touch keys in several slots).
The price is that one tenant's state lives on one shard: a tenant too large or too busy for a
single Redis primary cannot be spread over the cluster. Tenants, not keys, are the unit of
scaling. (This module uses the single-node client; the layout is already cluster-ready.)

Lost state: Redis holds the only copy of the velocity state. A Redis restarted without its
data (no AOF, a lost volume, a failover to an empty replica) would otherwise restart every
counter from zero with nobody told. The epoch key is written once, when the namespace's state
starts (no epoch yet and no decision stored yet). Its absence later, once this process saw it
or once decisions exist (`has_history`), means the state was lost: `check_state` logs
`kv.state_lost` at error level, counts it, and reports the state lost, and keeps doing so
until `mark_rebuilt` writes a new epoch (`payguard state rebuild` or `payguard state
acknowledge`). Nothing else writes the epoch, so a restart does not hide the loss. `load`
runs the check at most once every `epoch_check_seconds`; readiness runs it on every probe.

Errors: a stale expected version raises `StateConflict`; a Redis that cannot be reached or
answers too slowly raises `BackendUnavailable`. `timeout` bounds connecting and each command;
a command that times out is retried once (see `__init__`), so a hung Redis fails a call after
about twice `timeout`.
"""

from __future__ import annotations

import functools
import math
import re
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from importlib import resources
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import orjson
import redis
import structlog
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

from payguard.core.errors import BackendUnavailable, StateConflict
from payguard.risk.interfaces import EntityState

__all__ = ["DEFAULT_TIMEOUT", "MARKER_TTL_SECONDS", "RedisEntityStateStore"]

log = structlog.get_logger(__name__)

#: Seconds allowed for connecting and for each command by default.
DEFAULT_TIMEOUT = 0.5

#: How long a write's marker is remembered, i.e. the window in which a replay is recognised.
MARKER_TTL_SECONDS = 30 * 24 * 3600

_NAMESPACE = re.compile(r"[A-Za-z0-9_.\-]+")
_UNAVAILABLE = (
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    redis.exceptions.ReadOnlyError,
)
_SCRIPTS = resources.files("payguard.adapters.kv")
_APPLY_SCRIPT = _SCRIPTS.joinpath("redis_apply.lua").read_text("utf-8")
_REPLACE_SCRIPT = _SCRIPTS.joinpath("redis_replace.lua").read_text("utf-8")


@functools.lru_cache(maxsize=4096)
def _tenant_tag(namespace: str, tenant_id: str) -> str:
    return f"{{{namespace}:{quote(tenant_id, safe='')}}}:"


def _redacted(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username or ''}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


class RedisEntityStateStore:
    """The feature/velocity store on Redis (redis-py's synchronous client and its pool)."""

    def __init__(
        self,
        url: str,
        *,
        namespace: str,
        timeout: float = DEFAULT_TIMEOUT,
        max_connections: int | None = None,
        has_history: Callable[[], bool] | None = None,
        epoch_check_seconds: float = 5.0,
        timer: Callable[[], float] = time.monotonic,
    ) -> None:
        """`timeout` bounds connecting and each command, so a dead or hung Redis fails fast
        (→ 503). Nothing is sent to Redis here: a process starts with Redis away, and its
        readiness says so. `has_history()` tells whether decisions were ever stored, i.e.
        whether a namespace with no epoch lost its state or is new (None: new, unless this
        process saw the epoch); `load` checks the epoch once every `epoch_check_seconds` of
        `timer`."""
        if not _NAMESPACE.fullmatch(namespace):
            raise ValueError("namespace may only contain letters, digits, '_', '.' and '-'")
        if timeout <= 0 or epoch_check_seconds < 0:
            raise ValueError("timeout must be positive and epoch_check_seconds not negative")
        self._namespace = namespace
        self._where = _redacted(url)
        self._epoch_key = f"{{{namespace}}}:epoch"
        self._has_history = has_history
        self._check_every = epoch_check_seconds
        self._timer = timer
        self._next_check = -math.inf
        self._state_lock = threading.Lock()
        self._seen_epoch = False
        self._lost = False
        self._lost_detected = 0
        # One retry on a dropped connection is safe even for a write: the marker makes a
        # replayed script return "already applied" instead of writing twice.
        self._client: redis.Redis = redis.Redis.from_url(
            url,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            retry=Retry(ExponentialBackoff(cap=0.1, base=0.01), 1),
            health_check_interval=30,
            max_connections=max_connections,
        )
        self._apply_script = self._client.register_script(_APPLY_SCRIPT)
        self._replace_script = self._client.register_script(_REPLACE_SCRIPT)

    @property
    def state_lost(self) -> bool:
        """Whether the last epoch check found the state lost (no Redis call)."""
        return self._lost

    @property
    def lost_detected(self) -> int:
        """How many times this process found the state lost (intact → lost transitions)."""
        return self._lost_detected

    def ping(self) -> bool:
        """Whether Redis answers a PING within the timeout."""
        try:
            return bool(self._client.ping())
        except (*_UNAVAILABLE, redis.exceptions.RedisError):
            return False

    def check_state(self) -> bool:
        """Read the epoch: True if the state is intact, False if it was lost (logged at
        error level and counted on the transition). Starts the epoch of a new namespace.
        Raises `BackendUnavailable` if Redis does not answer."""
        self._next_check = self._timer() + self._check_every
        try:
            present = self._client.get(self._epoch_key) is not None
            if not present and not self._seen_epoch and not self._history():
                # A new namespace: start its epoch (several workers may race; one wins).
                self._client.set(self._epoch_key, uuid.uuid4().hex, nx=True)
                present = True
        except _UNAVAILABLE as exc:
            raise self._unavailable(exc) from exc
        with self._state_lock:
            was_lost = self._lost
            if present:
                self._seen_epoch = True
                self._lost = False
            else:
                self._lost = True
                if not was_lost:
                    self._lost_detected += 1
        if not present and not was_lost:
            log.error(
                "kv.state_lost",
                namespace=self._namespace,
                where=self._where,
                remedy="payguard state rebuild",
            )
        elif present and was_lost:
            log.warning("kv.state_restored", namespace=self._namespace)
        return present

    def mark_rebuilt(self) -> None:
        """Start a new epoch: the state was rebuilt (or its loss accepted) by an operator."""
        try:
            self._client.set(self._epoch_key, uuid.uuid4().hex)
        except _UNAVAILABLE as exc:
            raise self._unavailable(exc) from exc
        self.check_state()

    def replace(self, tenant_id: str, states: Sequence[EntityState]) -> None:
        """Overwrite the tenant's states with `states` (a rebuild), each stored one version
        above what it holds now, so an assessment that read the old value fails its
        compare-and-set and decides again on the rebuilt state. `EntityState.version` is
        ignored."""
        if len({s.key for s in states}) != len(states):
            raise ValueError("each entity key may appear at most once in one write")
        prefix = _tenant_tag(self._namespace, tenant_id) + "state:"
        try:
            for start in range(0, len(states), 500):
                chunk = states[start : start + 500]
                self._replace_script(
                    keys=[prefix + s.key for s in chunk],
                    args=[orjson.dumps(s.data) for s in chunk],
                )
        except _UNAVAILABLE as exc:
            raise self._unavailable(exc) from exc

    def load(self, tenant_id: str, keys: Sequence[str]) -> dict[str, EntityState]:
        if not keys:
            return {}
        prefix = _tenant_tag(self._namespace, tenant_id) + "state:"
        try:
            values = self._client.mget([prefix + key for key in keys])
        except _UNAVAILABLE as exc:
            raise self._unavailable(exc) from exc
        if self._timer() >= self._next_check:
            self.check_state()
        states: dict[str, EntityState] = {}
        for key, value in zip(keys, values, strict=True):
            if value is None:
                states[key] = EntityState(key)
            else:
                assert isinstance(value, bytes)  # the client does not decode responses
                version, _, data = value.partition(b":")
                states[key] = EntityState(key, int(version), orjson.loads(data))
        return states

    def apply(self, tenant_id: str, marker: str, updates: Sequence[EntityState]) -> bool:
        if len({u.key for u in updates}) != len(updates):
            raise ValueError("each entity key may appear at most once in one write")
        tag = _tenant_tag(self._namespace, tenant_id)
        keys = [f"{tag}marker:{marker}"]
        keys.extend(f"{tag}state:{u.key}" for u in updates)
        args: list[Any] = [MARKER_TTL_SECONDS]
        args.extend(u.version for u in updates)
        args.extend(b"%d:" % (u.version + 1) + orjson.dumps(u.data) for u in updates)
        try:
            outcome = int(self._apply_script(keys=keys, args=args))
        except _UNAVAILABLE as exc:
            raise self._unavailable(exc) from exc
        if outcome == 1:
            return True
        if outcome == 0:
            return False
        expected = updates[-outcome - 1].version
        raise StateConflict(
            f"entity state changed since it was read (expected version {expected}); "
            "reload and retry"
        )

    def purge_namespace(self) -> int:
        """Delete every key of every tenant under this namespace; returns how many. For tests
        and decommissioning: it walks the keyspace with SCAN, so it is slow on a big server."""
        deleted = 0
        batch: list[bytes] = []
        try:
            for key in self._client.scan_iter(match=f"{{{self._namespace}:*", count=1000):
                batch.append(key)
                if len(batch) >= 500:
                    deleted += int(self._client.unlink(*batch))
                    batch.clear()
            if batch:
                deleted += int(self._client.unlink(*batch))
            deleted += int(self._client.unlink(self._epoch_key))
        except _UNAVAILABLE as exc:
            raise self._unavailable(exc) from exc
        return deleted

    def close(self) -> None:
        """Close the pool's connections."""
        self._client.close()

    def _history(self) -> bool:
        return self._has_history is not None and self._has_history()

    def _unavailable(self, exc: Exception) -> BackendUnavailable:
        return BackendUnavailable(f"Redis at {self._where} did not answer: {exc}")
