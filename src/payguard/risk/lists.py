"""Block and allow lists: validated changes, audited, and a cached snapshot for the hot path.

Items of an `ip` list are addresses or CIDR networks, stored in their canonical spelling
(`core.ip`), and the snapshot matches an event's address against both. List notes are free
text: a card number in one is masked before it is stored.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Mapping, Sequence
from datetime import datetime

from payguard.audit.interfaces import Actor, AuditAction, AuditWriter
from payguard.core.bus import LISTS_CHANGED, EventBus
from payguard.core.clock import Clock
from payguard.core.errors import PayloadTooLarge, ValidationFailed
from payguard.core.ip import AddressIndex, canonical_network
from payguard.core.pan import mask_pans
from payguard.risk.cache import PolledCache
from payguard.risk.interfaces import ExpiringListRepository, ListItem, ListKind

LIST_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
#: Why a list name was refused, in words (hyphens are refused, not folded into `_`, so one
#: list never has two names).
LIST_NAME_RULE = (
    "list names are 1-64 lower-case letters, digits and _, starting with a letter (no hyphens)"
)
MAX_ITEMS_PER_CALL = 1000
MAX_VALUE_LENGTH = 256

Snapshot = Mapping[ListKind, Mapping[str, tuple[str, ...]]]


class ListService:
    """Changes lists on behalf of a caller and serves the per-tenant snapshot rules read.

    The snapshot is cached per process and re-validated against the repository's version
    counter at most every `ttl` seconds: a change made through this worker applies at once,
    one made through another worker within `ttl`. It is also reloaded when its next item
    expires, though no version moved. Changes are also published on the bus
    (`lists.changed`) for consumers such as the console.
    """

    def __init__(
        self,
        repository: ExpiringListRepository,
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
        self._cache: PolledCache[tuple[Snapshot, datetime | None]] = PolledCache(
            ttl=ttl, version=repository.version, load=lambda tenant_id, _: self._load(tenant_id)
        )

    def snapshot(self, tenant_id: str) -> Snapshot:
        """Every unexpired item of the tenant: kind → value → names of the lists holding it
        (for `ip`, any address matches its own items and the networks holding it)."""
        snapshot, next_expiry = self._cache.get(tenant_id)
        if next_expiry is not None and self._clock.now() >= next_expiry:
            self._cache.invalidate(tenant_id)
            snapshot, _ = self._cache.get(tenant_id)
        return snapshot

    def _load(self, tenant_id: str) -> tuple[Snapshot, datetime | None]:
        """The snapshot as of now, and when its first item expires."""
        now = self._clock.now()
        snapshot = self._repository.snapshot(tenant_id, now)
        return _indexed(snapshot), self._repository.next_expiry(tenant_id, now)

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
        if kind == ListKind.IP:
            values = _networks(values)
        now = self._clock.now()
        if expires_at is not None and expires_at <= now:
            raise ValidationFailed("expires_at must be in the future", field="expires_at")
        existing = self._repository.kind_of(tenant_id, list_name)
        if existing is not None and existing != kind:
            raise ValidationFailed(
                f"list {list_name!r} holds {existing.value} values, not {kind.value}", field="kind"
            )
        if note is not None:
            note = mask_pans(note)
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
        if self._repository.kind_of(tenant_id, list_name) == ListKind.IP:
            values = _spellings(values)
        removed = self._repository.remove(tenant_id, list_name, list(dict.fromkeys(values)))
        self._changed(tenant_id, AuditAction.LIST_REMOVE, list_name, actor, removed)
        return removed

    def items(
        self, tenant_id: str, list_name: str, *, limit: int, after: str | None
    ) -> list[ListItem]:
        if not LIST_NAME.match(list_name):
            raise ValidationFailed(LIST_NAME_RULE, field="name")
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
        raise ValidationFailed(LIST_NAME_RULE, field="name")
    if not values:
        raise ValidationFailed("at least one item is required", field="items")
    if len(values) > MAX_ITEMS_PER_CALL:
        raise PayloadTooLarge(f"at most {MAX_ITEMS_PER_CALL} items per call")
    for index, value in enumerate(values):
        if not value or len(value) > MAX_VALUE_LENGTH or not value.isprintable():
            raise ValidationFailed(
                f"items must be 1-{MAX_VALUE_LENGTH} printable characters", field=f"items[{index}]"
            )


def _networks(values: Sequence[str]) -> list[str]:
    """IP list items in their canonical spelling; a bad one is refused, naming its index."""
    canonical = []
    for index, value in enumerate(values):
        try:
            canonical.append(canonical_network(value))
        except ValueError as error:
            raise ValidationFailed(
                f"{error}: an ip list holds IPv4 or IPv6 addresses and CIDR networks",
                field=f"items[{index}]",
            ) from None
    return canonical


def _spellings(values: Sequence[str]) -> list[str]:
    """What to remove from an ip list: each value as given (items stored before values were
    canonicalised) and in its canonical spelling."""
    wanted = list(values)
    for value in values:
        with contextlib.suppress(ValueError):
            wanted.append(canonical_network(value))
    return wanted


def _indexed(snapshot: Snapshot) -> Snapshot:
    """The snapshot with its ip items indexed, so an address matches its networks too."""
    addresses = snapshot.get(ListKind.IP)
    if not addresses:
        return snapshot
    return {**snapshot, ListKind.IP: AddressIndex(addresses)}
