"""Contract tests for `SqlListRepository` on every SQL backend."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from payguard.adapters.sql.lists import SqlListRepository
from payguard.core.errors import ValidationFailed
from payguard.risk.interfaces import ListItem, ListKind, ListRepository

T0 = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


@pytest.fixture
def lists(sql_engine: sa.Engine) -> ListRepository:
    return SqlListRepository(sql_engine)


def item(
    list_name: str,
    value: str,
    kind: ListKind = ListKind.DEVICE,
    *,
    expires_at: datetime | None = None,
    note: str | None = None,
) -> ListItem:
    return ListItem(list_name, kind, value, T0, expires_at=expires_at, note=note)


def test_an_unknown_list_has_no_kind_and_no_items(lists: ListRepository, tenant: str) -> None:
    assert lists.kind_of(tenant, "blocked_devices") is None
    assert lists.items(tenant, "blocked_devices") == []
    assert lists.snapshot(tenant, T0) == {}
    assert lists.version(tenant) == 0


def test_add_counts_new_items_and_upserts(lists: ListRepository, tenant: str) -> None:
    assert lists.add(tenant, [item("blocked", "d1"), item("blocked", "d2", note="ring")]) == 2
    assert lists.kind_of(tenant, "blocked") is ListKind.DEVICE
    # d2 again with a new note is an update, not a new item.
    assert lists.add(tenant, [item("blocked", "d2", note="ring 7"), item("blocked", "d3")]) == 1
    assert lists.items(tenant, "blocked") == [
        item("blocked", "d1"),
        item("blocked", "d2", note="ring 7"),
        item("blocked", "d3"),
    ]
    assert lists.add(tenant, []) == 0


def test_the_first_item_fixes_the_kind(lists: ListRepository, tenant: str) -> None:
    lists.add(tenant, [item("blocked", "d1", ListKind.DEVICE)])
    version = lists.version(tenant)
    with pytest.raises(ValidationFailed) as refused:
        lists.add(tenant, [item("blocked", "d2"), item("blocked", "10.0.0.1", ListKind.IP)])
    assert refused.value.field == "kind"
    # Nothing from the refused batch was written.
    assert [i.value for i in lists.items(tenant, "blocked")] == ["d1"]
    assert lists.version(tenant) == version


def test_a_new_list_with_mixed_kinds_is_refused_whole(lists: ListRepository, tenant: str) -> None:
    with pytest.raises(ValidationFailed) as refused:
        lists.add(
            tenant, [item("mixed", "a1", ListKind.ACCOUNT), item("mixed", "p1", ListKind.PAYEE)]
        )
    assert refused.value.field == "kind"
    assert lists.kind_of(tenant, "mixed") is None
    assert lists.version(tenant) == 0


def test_kind_is_kept_when_the_list_is_emptied(lists: ListRepository, tenant: str) -> None:
    lists.add(tenant, [item("ips", "10.0.0.1", ListKind.IP)])
    assert lists.remove(tenant, "ips", ["10.0.0.1"]) == 1
    assert lists.kind_of(tenant, "ips") is ListKind.IP
    with pytest.raises(ValidationFailed):
        lists.add(tenant, [item("ips", "acct-1", ListKind.ACCOUNT)])


def test_remove_counts_what_existed(lists: ListRepository, tenant: str) -> None:
    lists.add(tenant, [item("blocked", "d1"), item("blocked", "d2")])
    assert lists.remove(tenant, "blocked", ["d1", "d1", "missing"]) == 1
    assert lists.remove(tenant, "blocked", []) == 0
    assert lists.remove(tenant, "no-such-list", ["d2"]) == 0
    assert [i.value for i in lists.items(tenant, "blocked")] == ["d2"]


def test_version_moves_only_when_something_changed(lists: ListRepository, tenant: str) -> None:
    assert lists.version(tenant) == 0
    lists.add(tenant, [item("blocked", "d1")])
    v1 = lists.version(tenant)
    assert v1 > 0
    lists.add(tenant, [item("blocked", "d1")])  # identical: no change
    assert lists.version(tenant) == v1
    lists.add(tenant, [item("blocked", "d1", note="confirmed")])
    v2 = lists.version(tenant)
    assert v2 > v1
    lists.remove(tenant, "blocked", ["missing"])
    assert lists.version(tenant) == v2
    lists.remove(tenant, "blocked", ["d1"])
    assert lists.version(tenant) > v2


def test_items_page_by_value(lists: ListRepository, tenant: str) -> None:
    values = [f"d{n:02d}" for n in range(25)]
    lists.add(tenant, [item("blocked", v) for v in reversed(values)])
    pages: list[str] = []
    after: str | None = None
    while page := lists.items(tenant, "blocked", limit=10, after=after):
        pages.extend(i.value for i in page)
        after = page[-1].value
    assert pages == values


def test_snapshot_groups_by_kind_and_skips_expired(lists: ListRepository, tenant: str) -> None:
    lists.add(
        tenant,
        [
            item("blocked_devices", "d1"),
            item("blocked_devices", "d2", expires_at=T0 + timedelta(hours=1)),
            item("blocked_devices", "d3", expires_at=T0),
        ],
    )
    lists.add(tenant, [item("watch_devices", "d1")])
    lists.add(tenant, [item("blocked_ips", "10.0.0.1", ListKind.IP)])

    assert lists.snapshot(tenant, T0) == {
        ListKind.DEVICE: {"d1": ("blocked_devices", "watch_devices"), "d2": ("blocked_devices",)},
        ListKind.IP: {"10.0.0.1": ("blocked_ips",)},
    }
    later = lists.snapshot(tenant, T0 + timedelta(hours=2))
    assert later[ListKind.DEVICE] == {"d1": ("blocked_devices", "watch_devices")}
    # Expired items are still listed for the analyst, just not enforced.
    assert len(lists.items(tenant, "blocked_devices")) == 3


def test_lists_are_per_tenant(lists: ListRepository, tenant: str, other_tenant: str) -> None:
    lists.add(tenant, [item("blocked", "d1", ListKind.DEVICE)])
    version = lists.version(tenant)

    assert lists.kind_of(other_tenant, "blocked") is None
    assert lists.items(other_tenant, "blocked") == []
    assert lists.snapshot(other_tenant, T0) == {}
    assert lists.version(other_tenant) == 0
    assert lists.remove(other_tenant, "blocked", ["d1"]) == 0
    # The same list name in another tenant is another list, with its own kind.
    assert lists.add(other_tenant, [item("blocked", "10.0.0.1", ListKind.IP)]) == 1

    assert lists.kind_of(tenant, "blocked") is ListKind.DEVICE
    assert [i.value for i in lists.items(tenant, "blocked")] == ["d1"]
    assert lists.version(tenant) == version


def test_large_batches(lists: ListRepository, tenant: str) -> None:
    values = [f"acct-{n:05d}" for n in range(1_200)]
    assert lists.add(tenant, [item("big", v, ListKind.ACCOUNT) for v in values]) == 1_200
    assert lists.add(tenant, [item("big", v, ListKind.ACCOUNT) for v in values]) == 0
    assert len(lists.snapshot(tenant, T0)[ListKind.ACCOUNT]) == 1_200
    assert lists.remove(tenant, "big", values) == 1_200
