"""`EntityStateStore` on Redis: one MGET per load, one Lua script per write.

Key layout, for namespace `ns` and tenant `t`::

    {ns:t}:state:<key>      "<version>:<orjson data>"
    {ns:t}:marker:<marker>  "1", expires after 30 days

The tenant id is percent-encoded inside the braces, so the braces always close at the same
place and no (tenant, key) pair can spell another tenant's key.

Trade-off of the `{ns:t}` hash tag: Redis Cluster places every key of one tenant in the same
slot, which is what lets one Lua script check and write the account, device, payee and
merchant states of an assessment atomically (a script may not touch keys in several slots).
The price is that one tenant's state lives on one shard: a tenant too large or too busy for a
single Redis primary cannot be spread over the cluster. Tenants, not keys, are the unit of
scaling. (This module uses the single-node client; the layout is already cluster-ready.)

Errors: a stale expected version raises `StateConflict`; a Redis that cannot be reached or
answers too slowly raises `BackendUnavailable`.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from importlib import resources
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import orjson
import redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

from payguard.core.errors import BackendUnavailable, StateConflict
from payguard.risk.interfaces import EntityState

__all__ = ["MARKER_TTL_SECONDS", "RedisEntityStateStore"]

#: How long a write's marker is remembered, i.e. the window in which a replay is recognised.
MARKER_TTL_SECONDS = 30 * 24 * 3600

_NAMESPACE = re.compile(r"[A-Za-z0-9_.\-]+")
_UNAVAILABLE = (
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    redis.exceptions.ReadOnlyError,
)
_APPLY_SCRIPT = (
    resources.files("payguard.adapters.kv").joinpath("redis_apply.lua").read_text("utf-8")
)


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
        timeout: float = 2.0,
        max_connections: int | None = None,
    ) -> None:
        """`timeout` bounds connecting and each command, so a dead Redis fails fast (→ 503)."""
        if not _NAMESPACE.fullmatch(namespace):
            raise ValueError("namespace may only contain letters, digits, '_', '.' and '-'")
        self._namespace = namespace
        self._where = _redacted(url)
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

    def load(self, tenant_id: str, keys: Sequence[str]) -> dict[str, EntityState]:
        if not keys:
            return {}
        prefix = _tenant_tag(self._namespace, tenant_id) + "state:"
        try:
            values = self._client.mget([prefix + key for key in keys])
        except _UNAVAILABLE as exc:
            raise self._unavailable(exc) from exc
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
        except _UNAVAILABLE as exc:
            raise self._unavailable(exc) from exc
        return deleted

    def close(self) -> None:
        """Close the pool's connections."""
        self._client.close()

    def _unavailable(self, exc: Exception) -> BackendUnavailable:
        return BackendUnavailable(f"Redis at {self._where} did not answer: {exc}")
