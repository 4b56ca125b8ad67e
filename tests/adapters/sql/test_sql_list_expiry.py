"""`SqlListRepository.next_expiry` (the `ExpiringListRepository` port) on every SQL backend:
when the cached snapshot must be reloaded because an item expires."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from payguard.adapters.sql.lists import SqlListRepository
from payguard.risk.interfaces import ExpiringListRepository, ListItem, ListKind

T0 = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


@pytest.fixture
def lists(sql_engine: sa.Engine) -> ExpiringListRepository:
    return SqlListRepository(sql_engine)


def item(name: str, value: str, expires_at: datetime | None) -> ListItem:
    return ListItem(name, ListKind.IP, value, T0, expires_at=expires_at)


def test_next_expiry_is_the_earliest_later_expiry_of_the_tenant(
    lists: ExpiringListRepository, tenant: str, other_tenant: str
) -> None:
    assert lists.next_expiry(tenant, T0) is None
    lists.add(tenant, [item("blocked_ips", "192.0.2.1", None)])
    assert lists.next_expiry(tenant, T0) is None
    lists.add(
        tenant,
        [
            item("blocked_ips", "192.0.2.2", T0 + timedelta(hours=2)),
            item("blocked_ips", "192.0.2.3", T0 + timedelta(hours=1)),
        ],
    )
    lists.add(tenant, [item("watch_ips", "10.0.0.0/8", T0 + timedelta(minutes=30))])
    lists.add(other_tenant, [item("blocked_ips", "192.0.2.9", T0 + timedelta(minutes=1))])

    assert lists.next_expiry(tenant, T0) == T0 + timedelta(minutes=30)
    assert lists.next_expiry(tenant, T0 + timedelta(minutes=30)) == T0 + timedelta(hours=1)
    assert lists.next_expiry(tenant, T0 + timedelta(hours=2)) is None
    assert lists.next_expiry(other_tenant, T0) == T0 + timedelta(minutes=1)
    found = lists.next_expiry(tenant, T0)
    assert found is not None and found.tzinfo is not None
