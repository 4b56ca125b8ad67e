"""Contract tests for `SqlRuleSetRepository` on every SQL backend."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from payguard.adapters.sql.rules import SqlRuleSetRepository
from payguard.risk.interfaces import RuleSetRepository, StoredRuleSet

T0 = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


@pytest.fixture
def rules(sql_engine: sa.Engine) -> RuleSetRepository:
    return SqlRuleSetRepository(sql_engine)


def test_no_rule_set_yet(rules: RuleSetRepository, tenant: str) -> None:
    assert rules.active(tenant) is None
    assert rules.active_version(tenant) == 0
    assert rules.get(tenant, 1) is None


def test_versions_count_up_and_the_newest_is_active(rules: RuleSetRepository, tenant: str) -> None:
    first = rules.add(tenant, "rules: [a]", T0, "alice")
    second = rules.add(tenant, "rules: [b]", T0 + timedelta(minutes=1), "bob")

    assert first == StoredRuleSet(tenant, 1, "rules: [a]", T0, "alice")
    assert second.version == 2
    assert rules.active(tenant) == second
    assert rules.active_version(tenant) == 2
    assert rules.get(tenant, 1) == first
    assert rules.get(tenant, 3) is None
    stored = rules.get(tenant, 2)
    assert stored is not None
    assert stored.created_at.tzinfo == UTC


def test_rule_sets_are_per_tenant(rules: RuleSetRepository, tenant: str, other_tenant: str) -> None:
    rules.add(tenant, "rules: [a]", T0, "alice")
    rules.add(tenant, "rules: [b]", T0, "alice")

    assert rules.active(other_tenant) is None
    assert rules.active_version(other_tenant) == 0
    assert rules.get(other_tenant, 1) is None
    # Another tenant starts at version 1 and does not move ours.
    assert rules.add(other_tenant, "rules: [z]", T0, "zed").version == 1
    assert rules.active_version(tenant) == 2


def test_concurrent_adds_never_share_a_version(sql_engine: sa.Engine, tenant: str) -> None:
    writers, each = 6, 5

    def write(writer: int) -> list[int]:
        repository = SqlRuleSetRepository(sql_engine)
        return [
            repository.add(tenant, f"rules: [{writer}-{n}]", T0, f"w{writer}").version
            for n in range(each)
        ]

    with ThreadPoolExecutor(max_workers=writers) as pool:
        versions = [v for batch in pool.map(write, range(writers)) for v in batch]

    assert sorted(versions) == list(range(1, writers * each + 1))
    assert SqlRuleSetRepository(sql_engine).active_version(tenant) == writers * each
