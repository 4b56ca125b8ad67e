"""Block and allow lists: validated changes, audited, and a cached snapshot for the hot path."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime

from payguard.audit.interfaces import Actor, AuditAction, AuditWriter
from payguard.core.bus import LISTS_CHANGED, EventBus
from payguard.core.clock import Clock
from payguard.core.errors import PayloadTooLarge, ValidationFailed
from payguard.risk.cache import PolledCache
from payguard.risk.interfaces import ListItem, ListKind, ListRepository

LIST_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
MAX_ITEMS_PER_CALL = 1000
MAX_VALUE_LENGTH = 256

Snapshot = Mapping[ListKind, Mapping[str, tuple[str, ...]]]


class ListService:
    """Changes lists on behalf of a caller and serves the per-tenant snapshot rules read.

    The snapshot is cached per process and re-validated against the repository's version
    counter at most every `ttl` seconds: a change made through this worker applies at once,
    one made through another worker within `ttl`. Changes are also published on the bus
    (`lists.changed`) for consumers such as the console.
    """

    def __init__(
        self,
        repository: ListRepository,
        *,
        audit: AuditWriter,
        bus: EventBus,
        clock: Clock,
        ttl: float,
    ) -> None:
        self._repository = repository
        self._audit = audit
        self._bus = bus
        self._clock = clock
        self._cache: PolledCache[Snapshot] = PolledCache(
            ttl=ttl,
            version=repository.version,
            load=lambda tenant_id, _: repository.snapshot(tenant_id, clock.now()),
        )

    def snapshot(self, tenant_id: str) -> Snapshot:
        return self._cache.get(tenant_id)

    def invalidate(self, tenant_id: str) -> None:
        self._cache.invalidate(tenant_id)

    def add(
        self,
        *,
        tenant_id: str,
        list_name: str,
        kind: ListKind,
        values: Sequence[str],
        expires_at: datetime | None,
        note: str | None,
        actor: Actor,
    ) -> int:
        _check(list_name, values)
        now = self._clock.now()
        if expires_at is not None and expires_at <= now:
            raise ValidationFailed("expires_at must be in the future", field="expires_at")
        existing = self._repository.kind_of(tenant_id, list_name)
        if existing is not None and existing != kind:
            raise ValidationFailed(
                f"list {list_name!r} holds {existing.value} values, not {kind.value}", field="kind"
            )
        items = [
            ListItem(list_name, kind, value, now, expires_at=expires_at, note=note)
            for value in dict.fromkeys(values)
        ]
        added = self._repository.add(tenant_id, items)
        self._changed(tenant_id, AuditAction.LIST_ADD, list_name, actor, len(items))
        return added

    def remove(
        self,
        *,
        tenant_id: str,
        list_name: str,
        values: Sequence[str],
        actor: Actor,
    ) -> int:
        _check(list_name, values)
        removed = self._repository.remove(tenant_id, list_name, list(dict.fromkeys(values)))
        self._changed(tenant_id, AuditAction.LIST_REMOVE, list_name, actor, removed)
        return removed

    def items(
        self, tenant_id: str, list_name: str, *, limit: int, after: str | None
    ) -> list[ListItem]:
        if not LIST_NAME.match(list_name):
            raise ValidationFailed("list name must match ^[a-z][a-z0-9_]{0,63}$", field="name")
        return self._repository.items(tenant_id, list_name, limit=limit, after=after)

    def kind_of(self, tenant_id: str, list_name: str) -> ListKind | None:
        return self._repository.kind_of(tenant_id, list_name)

    def _changed(
        self,
        tenant_id: str,
        action: AuditAction,
        list_name: str,
        actor: Actor,
        count: int,
    ) -> None:
        self.invalidate(tenant_id)
        self._audit.success(
            action, actor, f"list:{list_name}", tenant_id=tenant_id, details={"items": count}
        )
        self._bus.publish(LISTS_CHANGED, {"tenant_id": tenant_id, "list": list_name})


def _check(list_name: str, values: Sequence[str]) -> None:
    if not LIST_NAME.match(list_name):
        raise ValidationFailed("list name must match ^[a-z][a-z0-9_]{0,63}$", field="name")
    if not values:
        raise ValidationFailed("at least one item is required", field="items")
    if len(values) > MAX_ITEMS_PER_CALL:
        raise PayloadTooLarge(f"at most {MAX_ITEMS_PER_CALL} items per call")
    for index, value in enumerate(values):
        if not value or len(value) > MAX_VALUE_LENGTH or not value.isprintable():
            raise ValidationFailed(
                f"items must be 1-{MAX_VALUE_LENGTH} printable characters", field=f"items[{index}]"
            )
