"""Contract tests for `AssessmentStore.search` and `digest_of` on every SQL backend, and
through every assessment store the composition root can build (own state, external state,
behind the in-process cache)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config

import payguard.adapters.sql
from payguard.adapters.kv.memory import CachingAssessmentStore
from payguard.adapters.sql import tables
from payguard.adapters.sql.assessments import SqlAssessmentStore, SqlEntityStateStore
from payguard.adapters.sql.engine import create_sql_engine
from payguard.core.decisions import Action, Decision, Reason, decision_to_document
from payguard.core.events import event_digest
from payguard.risk.interfaces import AssessmentStore, DecisionQuery

DecisionFactory = Callable[..., Decision]
T0 = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
MIGRATIONS = Path(payguard.adapters.sql.__file__).parent / "migrations"


@pytest.fixture(params=["embedded", "external", "cached"])
def store(request: pytest.FixtureRequest, sql_engine: sa.Engine) -> AssessmentStore:
    if request.param == "embedded":
        return SqlAssessmentStore(sql_engine)
    if request.param == "external":
        return SqlAssessmentStore(sql_engine, external_states=SqlEntityStateStore(sql_engine))
    return CachingAssessmentStore(SqlAssessmentStore(sql_engine))


def _event(minutes: int, **parts: object) -> dict[str, object]:
    return {
        "event_id": "ignored",
        "event_type": "payment",
        "occurred_at": (T0 + timedelta(minutes=minutes)).isoformat(),
        "account_id": "acct-1",
        "amount": {"value": "12.50", "currency": "KES"},
        **parts,
    }


def _ids(decisions: list[Decision]) -> list[str]:
    return [d.assessment_id for d in decisions]


def test_search_filters_and_orders_newest_first(
    store: AssessmentStore, tenant: str, other_tenant: str, make_decision: DecisionFactory
) -> None:
    def put(minutes: int, **fields: object) -> Decision:
        event = fields.pop("event", _event(minutes))
        decision = make_decision(
            tenant, occurred_at=T0 + timedelta(minutes=minutes), event=event, **fields
        )
        assert store.record(decision, []) == decision
        return decision

    a = put(0, account_id="acct-1", score=10)
    b = put(1, account_id="acct-2", decision=Action.BLOCK, score=900)
    c = put(2, event=_event(2, device={"id": "dev-1"}, payee={"id": "payee-1"}), score=500)
    d = put(
        3,
        reasons=(Reason("CARD_TESTING_BURST", "x"), Reason("NEW_DEVICE", "y")),
        decision=Action.REVIEW,
        score=700,
    )
    store.record(make_decision(other_tenant, occurred_at=T0, account_id="acct-1"), [])

    def search(**filters: object) -> list[str]:
        return _ids(store.search(tenant, DecisionQuery(**filters)))  # type: ignore[arg-type]

    assert search() == _ids([d, c, b, a])
    assert search(account_id="acct-2") == [b.assessment_id]
    assert search(account_id="acct-1") == _ids([d, c, a])  # not the other tenant's
    assert search(device_id="dev-1") == [c.assessment_id]
    assert search(payee_id="payee-1") == [c.assessment_id]
    assert search(decisions=(Action.BLOCK, Action.REVIEW)) == _ids([d, b])
    assert search(reason="NEW_DEVICE") == [d.assessment_id]
    assert search(reason="CARD_TESTING_BURST") == [d.assessment_id]
    assert search(reason="low_risk") == _ids([c, b, a])
    assert search(reason="low_ris_") == [] and search(reason="%") == []
    assert search(reason="NEW") == [] and search(reason="new_device") == []
    assert search(reason="CARD_TESTING_BURST NEW_DEVICE") == []
    assert search(score_min=500) == _ids([d, c, b])
    assert search(score_min=500, score_max=800) == _ids([d, c])
    assert search(since=T0 + timedelta(minutes=1), until=T0 + timedelta(minutes=3)) == _ids([c, b])
    assert search(limit=2) == _ids([d, c])
    assert search(limit=0) == []
    assert search(after=(c.occurred_at, c.assessment_id)) == _ids([b, a])
    assert search(after=(c.occurred_at, c.assessment_id), account_id="acct-1") == [a.assessment_id]


def test_ties_in_time_are_paged_by_assessment_id(
    store: AssessmentStore, tenant: str, make_decision: DecisionFactory
) -> None:
    same = [make_decision(tenant, occurred_at=T0, assessment_id=f"a{i:02d}") for i in range(7)]
    for decision in same:
        store.record(decision, [])
    seen: list[str] = []
    after = None
    while True:
        page = store.search(tenant, DecisionQuery(limit=3, after=after))
        if not page:
            break
        seen += _ids(page)
        after = (page[-1].occurred_at, page[-1].assessment_id)
    assert seen == [f"a{i:02d}" for i in reversed(range(7))]


def test_search_returns_labels_and_finals(
    store: AssessmentStore, tenant: str, make_decision: DecisionFactory
) -> None:
    decision = make_decision(tenant, decision=Action.CHALLENGE)
    store.record(decision, [])
    store.finalize(tenant, decision.assessment_id, Action.BLOCK, T0)
    (found,) = store.search(tenant, DecisionQuery())
    assert found == store.get(tenant, decision.assessment_id)
    assert found.final is Action.BLOCK


def test_the_event_digest_is_stored_with_the_decision(
    store: AssessmentStore, tenant: str, make_decision: DecisionFactory
) -> None:
    event = _event(0)
    decision = make_decision(tenant, event=event)
    store.record(decision, [])
    assert store.digest_of(tenant, decision.assessment_id) == event_digest(event)
    assert store.digest_of(tenant, "unknown") is None
    assert store.digest_of(f"{tenant}-other", decision.assessment_id) is None


def test_group_commit_stores_digests_too(
    sql_engine: sa.Engine, tenant: str, make_decision: DecisionFactory
) -> None:
    store = SqlAssessmentStore(sql_engine)
    decisions = [make_decision(tenant, event=_event(i)) for i in range(3)]
    assert store.record_many([(d, []) for d in decisions]) == decisions
    for i, decision in enumerate(decisions):
        assert store.digest_of(tenant, decision.assessment_id) == event_digest(_event(i))


# --- migration 0007 on a database with decisions in it ------------------------------------


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def fresh_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/upgrade.db"
    url: str = request.getfixturevalue("postgres_own_url")
    return url


def _alembic(conn: sa.Connection, action: Callable[[Config, str], None], revision: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = conn
    action(config, revision)


def test_0007_fills_the_search_columns_of_existing_decisions(
    fresh_url: str, make_decision: DecisionFactory
) -> None:
    engine = create_sql_engine(fresh_url)
    tenant = "t-upgrade"
    event = _event(0, device={"id": "dev-old"}, payee={"id": "payee-old"})
    old = make_decision(
        tenant, event=event, reasons=(Reason("NEW_DEVICE", "x"), Reason("VELOCITY", "y"))
    )
    bare = make_decision(tenant, event=_event(1), reasons=(), occurred_at=T0 + timedelta(1))
    try:
        with engine.begin() as conn:
            _alembic(conn, command.upgrade, "0006")
            for decision in (old, bare):
                conn.execute(
                    sa.text(
                        "INSERT INTO assessments (tenant_id, assessment_id, event_id, event_type, "
                        "account_id, decision, score, rule_set_version, occurred_at, decided_at, "
                        "document) VALUES (:t, :a, :e, 'payment', 'acct-1', 'allow', 1, 1, "
                        ":at, :at, :doc)"
                    ),
                    {
                        "t": tenant,
                        "a": decision.assessment_id,
                        "e": decision.event_id,
                        "at": decision.occurred_at.replace(tzinfo=None),
                        "doc": tables.to_json(decision_to_document(decision)),
                    },
                )
        with engine.begin() as conn:
            _alembic(conn, command.upgrade, "0007")
        store = SqlAssessmentStore(engine)
        found = store.search(tenant, DecisionQuery(device_id="dev-old"))
        assert _ids(found) == [old.assessment_id]
        assert _ids(store.search(tenant, DecisionQuery(payee_id="payee-old"))) == _ids(found)
        assert _ids(store.search(tenant, DecisionQuery(reason="VELOCITY"))) == _ids(found)
        assert _ids(store.search(tenant, DecisionQuery(reason="NEW_DEVICE"))) == _ids(found)
        assert store.search(tenant, DecisionQuery(reason="")) == []
        assert len(store.search(tenant, DecisionQuery())) == 2
        # Old rows have no digest: a repeat of their event_id replays whatever it carries.
        assert store.digest_of(tenant, old.assessment_id) is None
        # And the revision goes down and up again.
        with engine.begin() as conn:
            _alembic(conn, command.downgrade, "0006")
        with engine.begin() as conn:
            _alembic(conn, command.upgrade, "0007")
        assert _ids(store.search(tenant, DecisionQuery(device_id="dev-old"))) == _ids(found)
    finally:
        engine.dispose()


def test_a_search_for_decisions_other_than_allow_reads_the_partial_index(tmp_path: Path) -> None:
    # Only non-allow rows are in the decision index (most writes skip it); the query names
    # its predicate so that SQLite's planner can prove the index applies, with the tenant
    # and the decisions bound as parameters as the store sends them.
    from payguard.adapters.sql.engine import migrate

    engine = create_sql_engine(f"sqlite:///{tmp_path}/plan.db")
    sent: list[tuple[str, object]] = []

    def capture(conn, cursor, statement, parameters, context, executemany) -> None:
        if statement.lstrip().upper().startswith("SELECT ASSESSMENTS.DOCUMENT"):
            sent.append((statement, parameters))

    try:
        migrate(engine)
        sa.event.listen(engine, "before_cursor_execute", capture)
        for decisions in [(Action.BLOCK,), (Action.CHALLENGE,)]:
            sent.clear()
            SqlAssessmentStore(engine).search("t-plan", DecisionQuery(decisions=decisions))
            [(statement, parameters)] = sent
            with engine.connect() as conn:
                rows = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)
                plan = " ".join(str(row[-1]) for row in rows)
            assert "ix_assessments_tenant_id_decision_occurred_at_assessment_id" in plan, plan
    finally:
        engine.dispose()
