"""Engines for the SQL contract tests: every test runs on SQLite and, when CI names a server,
on PostgreSQL. Each backend is migrated once per session; tests keep apart by using fresh
tenant ids."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from payguard.adapters.sql.engine import create_sql_engine, migrate
from payguard.core.decisions import Action, Decision, Reason

DecisionFactory = Callable[..., Decision]


@pytest.fixture(scope="session")
def sqlite_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[sa.Engine]:
    path: Path = tmp_path_factory.mktemp("sql") / "payguard.db"
    engine = create_sql_engine(f"sqlite:///{path}")
    migrate(engine)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def postgresql_engine(postgres_url: str) -> Iterator[sa.Engine]:
    engine = create_sql_engine(postgres_url, pool_size=4)
    migrate(engine)
    yield engine
    engine.dispose()


@pytest.fixture(
    scope="session",
    params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)],
)
def sql_engine(request: pytest.FixtureRequest) -> sa.Engine:
    """A migrated engine, once per backend."""
    engine: sa.Engine = request.getfixturevalue(f"{request.param}_engine")
    return engine


@pytest.fixture
def tenant() -> str:
    return f"t-{uuid.uuid4().hex}"


@pytest.fixture
def other_tenant() -> str:
    return f"t-{uuid.uuid4().hex}"


@pytest.fixture
def make_decision() -> DecisionFactory:
    """Builds a decision; keyword arguments override the defaults."""

    def build(tenant_id: str, **overrides: Any) -> Decision:
        at = overrides.pop("occurred_at", datetime(2026, 3, 2, 9, 30, tzinfo=UTC))
        fields: dict[str, Any] = {
            "assessment_id": uuid.uuid4().hex,
            "tenant_id": tenant_id,
            "event_id": f"evt-{uuid.uuid4().hex}",
            "event_type": "payment",
            "account_id": "acct-1",
            "decision": Action.ALLOW,
            "score": 12,
            "reasons": (Reason("low_risk", "nothing unusual"),),
            "warnings": (),
            "step_up": None,
            "rule_hits": (),
            "model": None,
            "rule_set_version": 1,
            "occurred_at": at,
            "decided_at": at,
            "features": {"amount": 12.5, "txn_count_1h": 3},
            "event": {"amount": "12.50", "currency": "KES"},
        }
        fields.update(overrides)
        return Decision(**fields)

    return build
