"""Decisions and entity state in the relational store: the storage half of the hot path.

`SqlEntityStateStore` is the feature store on SQL: compare-and-set on a version column,
idempotent through markers. `SqlAssessmentStore` persists a decision together with the state
it changes: in one transaction when the state lives in the same database (the decision's
unique event id makes that write idempotent, with no marker row), or state first and decision
second when it lives elsewhere (Redis at scale). The second order is safe because that state
write is idempotent per event (its marker) and the decision is unique per event.
`write_states` is the compare-and-set of states alone, with no decision (an exemption reset).

A label (`record_outcome`) reads the previous outcome under the row's lock and writes the new
one with the fraud-report adjustment for exactly that transition: in the same transaction in
one database; with external state, label first and then the adjustment, retried on fresh
state under a marker per transition. (A crash between those two leaves that one adjustment
undone; it is logged when retries run out.)

`load_states`, `record` and the lookups by id run plain SQL on pooled driver connections
(see `_dbapi`): on SQLite SQLAlchemy's statement overhead would be most of the cost.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
import structlog
from sqlalchemy.engine.interfaces import DBAPICursor

from payguard.adapters.sql import tables
from payguard.adapters.sql._dbapi import RawDialect, RawRead, RawTransaction
from payguard.adapters.sql._errors import StoreErrors
from payguard.core.decisions import (
    Action,
    Decision,
    Outcome,
    decision_from_document,
    decision_to_document,
)
from payguard.core.errors import Conflict, NotFound, StateConflict
from payguard.core.events import event_digest
from payguard.risk.interfaces import (
    Decide,
    DecisionQuery,
    EntityState,
    EntityStateStore,
    Relabel,
)

__all__ = ["SqlAssessmentStore", "SqlEntityStateStore"]

_LOAD_STATES = 'SELECT "key", version, data FROM entity_state WHERE tenant_id = ? AND "key" '
_CLAIM_MARKER = (
    "INSERT INTO state_markers (tenant_id, marker) VALUES (?, ?) "
    "ON CONFLICT (tenant_id, marker) DO NOTHING"
)
_UPDATE_STATE = (
    "UPDATE entity_state SET version = version + 1, data = ? "
    'WHERE tenant_id = ? AND "key" = ? AND version = ?'
)
_CREATE_STATE = 'INSERT INTO entity_state (tenant_id, "key", version, data) VALUES (?, ?, 1, ?)'

_INSERT_ASSESSMENT = (
    "INSERT INTO assessments (tenant_id, assessment_id, event_id, event_type, account_id, "
    "decision, score, rule_set_version, occurred_at, decided_at, outcome, document, "
    "request_digest, device_id, payee_id, reason_codes) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_READ = "SELECT document, outcome, final_decision, final_at FROM assessments "
_BY_ID = _READ + "WHERE tenant_id = ? AND assessment_id = ?"
_BY_EVENT = _READ + "WHERE tenant_id = ? AND event_id = ?"
_DIGEST = "SELECT request_digest FROM assessments WHERE tenant_id = ? AND assessment_id = ?"
_LOCK_OUTCOME = "SELECT outcome FROM assessments WHERE tenant_id = ? AND assessment_id = ?"
_SET_OUTCOME = (
    "UPDATE assessments SET outcome = ?, outcome_at = ? "
    "WHERE tenant_id = ? AND assessment_id = ? RETURNING document, final_decision, final_at"
)
_SET_FINAL = (
    "UPDATE assessments SET final_decision = ?, final_at = ? "
    "WHERE tenant_id = ? AND assessment_id = ? AND final_decision IS NULL"
)

_A = tables.assessments
#: Tries at the state half of a relabel against an external state store.
_EXTERNAL_ATTEMPTS = 10

log = structlog.get_logger(__name__)


class _EntityStateSql:
    """The statements on `entity_state` and `state_markers`, run on a caller's cursor."""

    __slots__ = ("_claim", "_create", "_in_lists", "_load_any", "_lock_any", "_update", "dialect")

    def __init__(self, dialect: RawDialect) -> None:
        self.dialect = dialect
        self._claim = dialect.sql(_CLAIM_MARKER)
        self._update = dialect.sql(_UPDATE_STATE)
        self._create = dialect.sql(_CREATE_STATE)
        self._load_any = dialect.sql(_LOAD_STATES + "= ANY(?)")
        self._lock_any = dialect.sql(_LOAD_STATES + '= ANY(?) ORDER BY "key" FOR UPDATE')
        self._in_lists: dict[int, str] = {}

    def load(
        self, cursor: DBAPICursor, tenant_id: str, keys: Sequence[str], *, lock: bool = False
    ) -> dict[str, EntityState]:
        """The states of `keys`; with `lock` on PostgreSQL the existing rows are locked until
        the transaction ends (SQLite's writer already holds the whole database)."""
        states = {key: EntityState(key) for key in keys}
        wanted = list(states)
        if self.dialect.is_sqlite:
            sql = self._in_lists.get(len(wanted))
            if sql is None:
                sql = _LOAD_STATES + "IN (" + ", ".join("?" * len(wanted)) + ")"
                if len(wanted) <= 64:
                    self._in_lists[len(wanted)] = sql
            cursor.execute(sql, (tenant_id, *wanted))
        else:
            cursor.execute(self._lock_any if lock else self._load_any, (tenant_id, wanted))
        for key, version, data in cursor.fetchall():
            states[key] = EntityState(key, version, tables.from_json(data))
        return states

    def claim(self, cursor: DBAPICursor, tenant_id: str, marker: str) -> bool:
        """Record `marker`; False if it was recorded before (the write already happened)."""
        cursor.execute(self._claim, (tenant_id, marker))
        return cursor.rowcount == 1

    def write(self, cursor: DBAPICursor, tenant_id: str, updates: Sequence[EntityState]) -> None:
        """Store each update as version + 1, or raise `StateConflict` if any is stale."""
        changed: list[tuple[str, str, str, int]] = []
        created: list[tuple[str, str, str]] = []
        # One lock order for every writer, so two PostgreSQL transactions cannot deadlock.
        for update in sorted(updates, key=_by_key):
            data = tables.to_json(update.data)
            if update.version > 0:
                changed.append((data, tenant_id, update.key, update.version))
            elif update.version == 0:
                created.append((tenant_id, update.key, data))
            else:
                raise ValueError(f"negative version for entity state {update.key!r}")
        if changed:
            cursor.executemany(self._update, changed)
            if cursor.rowcount != len(changed):
                raise StateConflict("entity state changed since it was read")
        if created:
            try:
                cursor.executemany(self._create, created)
            except self.dialect.dbapi.IntegrityError as exc:
                raise StateConflict("entity state was created since it was read") from exc


def _by_key(state: EntityState) -> str:
    return state.key


class SqlEntityStateStore:
    """`EntityStateStore` on SQL: versions checked by `UPDATE ... WHERE version = :expected`."""

    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine
        self._dialect = RawDialect(engine)
        self._sql = _EntityStateSql(self._dialect)
        self._guard = StoreErrors(engine, StateConflict)

    def load(self, tenant_id: str, keys: Sequence[str]) -> dict[str, EntityState]:
        if not keys:
            return {}
        with self._guard, RawRead(self._engine, self._dialect) as cursor:
            return self._sql.load(cursor, tenant_id, keys)

    def apply(self, tenant_id: str, marker: str, updates: Sequence[EntityState]) -> bool:
        with self._guard, RawTransaction(self._engine, self._dialect) as cursor:
            if not self._sql.claim(cursor, tenant_id, marker):
                return False
            self._sql.write(cursor, tenant_id, updates)
            return True


class _AlreadyStored(Exception):
    """The tenant already has a decision for this event; roll the transaction back."""


class SqlAssessmentStore:
    """`AssessmentStore` on SQL.

    With `external_states=None` the entity state lives in this database and `record` is one
    transaction. With an external state store, the state is written first under the marker
    `assessment:<event_id>` and the decision after it.
    """

    def __init__(self, engine: sa.Engine, external_states: EntityStateStore | None = None) -> None:
        self._engine = engine
        self._dialect = dialect = RawDialect(engine)
        self._states = _EntityStateSql(dialect)
        self._external = external_states
        self._guard = StoreErrors(engine, StateConflict)
        self._insert = dialect.sql(_INSERT_ASSESSMENT)
        self._by_id = dialect.sql(_BY_ID)
        self._by_event = dialect.sql(_BY_EVENT)
        self._digest = dialect.sql(_DIGEST)
        self._set_outcome = dialect.sql(_SET_OUTCOME)
        self._set_final = dialect.sql(_SET_FINAL)
        self._lock_outcome = dialect.sql(
            _LOCK_OUTCOME if dialect.is_sqlite else _LOCK_OUTCOME + " FOR UPDATE"
        )
        bind_time = tables.UtcDateTime().dialect_impl(engine.dialect).bind_processor(engine.dialect)
        self._bind_time: Callable[[datetime], Any] = bind_time or _unchanged

    def load_states(self, tenant_id: str, keys: Sequence[str]) -> dict[str, EntityState]:
        if self._external is not None:
            return self._external.load(tenant_id, keys)
        if not keys:
            return {}
        with self._guard, RawRead(self._engine, self._dialect) as cursor:
            return self._states.load(cursor, tenant_id, keys)

    def record(self, decision: Decision, updates: Sequence[EntityState]) -> Decision:
        tenant_id = decision.tenant_id
        row = self._row(decision)
        marker = f"assessment:{decision.event_id}"
        integrity_error = self._dialect.dbapi.IntegrityError
        if self._external is not None:
            earlier = self.get_by_event(tenant_id, decision.event_id)
            if earlier is not None:
                return earlier
            self._external.apply(tenant_id, marker, updates)
            try:
                with self._guard, RawTransaction(self._engine, self._dialect) as cursor:
                    cursor.execute(self._insert, row)
            except integrity_error:
                return self._stored_instead_of(decision)
            return decision
        try:
            with self._guard, RawTransaction(self._engine, self._dialect) as cursor:
                self._write(cursor, row, tenant_id, updates)
        except _AlreadyStored:
            return self._stored_instead_of(decision)
        return decision

    def write_states(self, tenant_id: str, updates: Sequence[EntityState]) -> None:
        if self._external is not None:
            # A marker of its own: a retried script (a dropped connection) finds it used
            # and writes nothing twice.
            self._external.apply(tenant_id, f"states:{uuid.uuid4().hex}", updates)
            return
        with self._guard, RawTransaction(self._engine, self._dialect) as cursor:
            self._states.write(cursor, tenant_id, updates)

    def _write(
        self,
        cursor: DBAPICursor,
        row: tuple[Any, ...],
        tenant_id: str,
        updates: Sequence[EntityState],
    ) -> None:
        """A decision's row and its state updates, on the caller's transaction: raises
        `_AlreadyStored` if the tenant has a decision for the event already, `StateConflict`
        if an update is stale; the caller rolls back either way."""
        try:
            cursor.execute(self._insert, row)
        except self._dialect.dbapi.IntegrityError as exc:
            raise _AlreadyStored from exc
        # The decision's unique (tenant, event_id) already makes this write
        # idempotent; a marker row per assessment would only grow the table.
        self._states.write(cursor, tenant_id, updates)

    def decide_and_record(
        self, tenant_id: str, keys: Sequence[str], decide: Decide
    ) -> tuple[Decision, Decision]:
        if self._external is not None:
            # Redis cannot hold keys across our computation: optimistic, as `record`.
            decision, updates = decide(self.load_states(tenant_id, keys))
            return self.record(decision, updates), decision
        try:
            with self._guard, RawTransaction(self._engine, self._dialect) as cursor:
                # SQLite: BEGIN IMMEDIATE holds the write lock from here to commit.
                # PostgreSQL: the existing rows stay locked (FOR UPDATE, in key order).
                states = self._states.load(cursor, tenant_id, keys, lock=True)
                decision, updates = decide(states)
                self._write(cursor, self._row(decision), tenant_id, updates)
        except _AlreadyStored:
            return self._stored_instead_of(decision), decision
        return decision, decision

    def record_many(
        self, items: Sequence[tuple[Decision, Sequence[EntityState]]]
    ) -> list[Decision | StateConflict]:
        """All items in one transaction. The batch is first tried without savepoints (the
        usual case: no duplicate, no stale state, and two statements fewer per item); if any
        item fails, that attempt is rolled back whole and the batch is written again with
        each item inside its own savepoint, so that a duplicate or a stale state undoes only
        that item. With external state there is no shared transaction to join, so items are
        recorded one by one."""
        if self._external is not None or len(items) == 1:
            return [self._record_or_conflict(decision, updates) for decision, updates in items]
        rows = [self._row(decision) for decision, _ in items]
        try:
            with self._guard, RawTransaction(self._engine, self._dialect) as cursor:
                for row, (decision, updates) in zip(rows, items, strict=True):
                    self._write(cursor, row, decision.tenant_id, updates)
        except (_AlreadyStored, Conflict):
            return self._record_each(items, rows)
        return [decision for decision, _ in items]

    def _record_each(
        self,
        items: Sequence[tuple[Decision, Sequence[EntityState]]],
        rows: Sequence[tuple[Any, ...]],
    ) -> list[Decision | StateConflict]:
        """`record_many` with a savepoint per item, for a batch in which some item fails."""
        results: list[Decision | StateConflict | None] = []
        try:
            with self._guard, RawTransaction(self._engine, self._dialect) as cursor:
                for row, (decision, updates) in zip(rows, items, strict=True):
                    cursor.execute("SAVEPOINT assessment")
                    try:
                        self._write(cursor, row, decision.tenant_id, updates)
                    except _AlreadyStored:
                        cursor.execute("ROLLBACK TO SAVEPOINT assessment")
                        results.append(None)  # a duplicate event: answered after commit
                    except StateConflict as exc:
                        cursor.execute("ROLLBACK TO SAVEPOINT assessment")
                        results.append(exc)
                    else:
                        results.append(decision)
                    cursor.execute("RELEASE SAVEPOINT assessment")
        except Conflict:
            # A deadlock or serialisation failure between two workers' batches: fall back
            # to one transaction per item, each with its own retry by the caller.
            return [self._record_or_conflict(decision, updates) for decision, updates in items]
        return [
            self._stored_instead_of(decision) if result is None else result
            for result, (decision, _) in zip(results, items, strict=True)
        ]

    def _record_or_conflict(
        self, decision: Decision, updates: Sequence[EntityState]
    ) -> Decision | StateConflict:
        try:
            return self.record(decision, updates)
        except StateConflict as exc:
            return exc

    def _row(self, decision: Decision) -> tuple[Any, ...]:
        event = decision.event
        return (
            decision.tenant_id,
            decision.assessment_id,
            decision.event_id,
            decision.event_type,
            decision.account_id,
            decision.decision.value,
            decision.score,
            decision.rule_set_version,
            self._bind_time(decision.occurred_at),
            self._bind_time(decision.decided_at),
            None if decision.outcome is None else decision.outcome.value,
            tables.to_json(decision_to_document(decision)),
            event_digest(event),
            _id_of(event.get("device")),
            _id_of(event.get("payee")),
            reason_codes(decision),
        )

    def _stored_instead_of(self, decision: Decision) -> Decision:
        earlier = self.get_by_event(decision.tenant_id, decision.event_id)
        if earlier is None:
            raise Conflict(f"assessment id {decision.assessment_id!r} is already taken")
        return earlier

    def record_outcome(
        self,
        tenant_id: str,
        assessment_id: str,
        outcome: Outcome,
        at: datetime,
        keys: Sequence[str],
        adjust: Relabel,
    ) -> tuple[Decision, Outcome | None]:
        label = (outcome.value, self._bind_time(at), tenant_id, assessment_id)
        with self._guard, RawTransaction(self._engine, self._dialect) as cursor:
            # The row stays locked (SQLite: the write lock of BEGIN IMMEDIATE; PostgreSQL:
            # FOR UPDATE) until commit: a concurrent relabel reads our label, not the old one.
            cursor.execute(self._lock_outcome, (tenant_id, assessment_id))
            found = cursor.fetchone()
            if found is None:
                raise NotFound(f"unknown assessment {assessment_id!r}")
            previous = None if found[0] is None else Outcome(found[0])
            cursor.execute(self._set_outcome, label)
            document, final, final_at = cursor.fetchone()  # type: ignore[misc]  # row is locked
            if self._external is None:
                # Versions still guard the states: an assessment may write them meanwhile
                # on PostgreSQL, and the caller then retries the whole relabel.
                states = self._states.load(cursor, tenant_id, keys)
                self._states.write(cursor, tenant_id, adjust(states, previous))
        if self._external is not None:
            was = "none" if previous is None else previous.value
            marker = f"outcome:{assessment_id}:{was}>{outcome.value}:{at.isoformat()}"
            self._adjust_external(
                self._external, tenant_id, marker, keys, lambda states: adjust(states, previous)
            )
        return _decision(document, outcome.value, final, final_at), previous

    @staticmethod
    def _adjust_external(
        external: EntityStateStore,
        tenant_id: str,
        marker: str,
        keys: Sequence[str],
        adjust: Callable[[Mapping[str, EntityState]], list[EntityState]],
    ) -> None:
        """The state half of a relabel when state lives in another store: the label is
        committed, so the adjustment for this exact transition (`marker`) is retried on
        fresh state until it lands; the marker makes a repeat a no-op."""
        for _ in range(_EXTERNAL_ATTEMPTS):
            try:
                external.apply(tenant_id, marker, adjust(external.load(tenant_id, keys)))
            except StateConflict:
                continue
            return
        log.error("outcome.state_not_adjusted", tenant_id=tenant_id, marker=marker)
        raise Conflict(
            "the label is recorded, but its entities kept changing and their fraud reports "
            "were not adjusted"
        )

    def finalize(self, tenant_id: str, assessment_id: str, final: Action, at: datetime) -> Decision:
        row = (final.value, self._bind_time(at), tenant_id, assessment_id)
        with self._guard, RawTransaction(self._engine, self._dialect) as cursor:
            cursor.execute(self._set_final, row)
            changed = cursor.rowcount
            cursor.execute(self._by_id, (tenant_id, assessment_id))
            found = cursor.fetchone()
        if found is None:
            raise NotFound(f"unknown assessment {assessment_id!r}")
        decision = _decision(*found)
        if changed != 1 and decision.final != final:
            raise Conflict(f"assessment {assessment_id!r} is already final: {decision.final}")
        return decision

    def get(self, tenant_id: str, assessment_id: str) -> Decision | None:
        return self._find(self._by_id, tenant_id, assessment_id)

    def get_by_event(self, tenant_id: str, event_id: str) -> Decision | None:
        return self._find(self._by_event, tenant_id, event_id)

    def digest_of(self, tenant_id: str, assessment_id: str) -> str | None:
        with self._guard, RawRead(self._engine, self._dialect) as cursor:
            cursor.execute(self._digest, (tenant_id, assessment_id))
            row = cursor.fetchone()
        return None if row is None else row[0]

    def _find(self, sql: str, tenant_id: str, ident: str) -> Decision | None:
        with self._guard, RawRead(self._engine, self._dialect) as cursor:
            cursor.execute(sql, (tenant_id, ident))
            row = cursor.fetchone()
        return None if row is None else _decision(*row)

    def search(self, tenant_id: str, query: DecisionQuery) -> list[Decision]:
        if query.limit <= 0 or (query.reason is not None and " " in query.reason):
            return []  # a code never holds a space: " A B " would match two codes in a row
        select = search_select(tenant_id, query, sqlite=self._dialect.is_sqlite)
        with self._guard, self._engine.connect() as conn:
            rows = conn.execute(select).all()
        return [_decision(*row) for row in rows]

    def iter_decisions(
        self,
        tenant_id: str,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 10_000,
    ) -> Iterator[Decision]:
        if limit <= 0:
            return
        query = sa.select(_A.c.document, _A.c.outcome, _A.c.final_decision, _A.c.final_at).where(
            _A.c.tenant_id == tenant_id
        )
        if since is not None:
            query = query.where(_A.c.occurred_at >= since)
        if until is not None:
            query = query.where(_A.c.occurred_at < until)
        query = query.order_by(_A.c.occurred_at, _A.c.assessment_id).limit(limit)
        # In a transaction: PostgreSQL's server-side cursor needs one.
        with self._guard, self._engine.connect() as conn:
            rows = conn.execution_options(yield_per=500).execute(query)
            for document, outcome, final, final_at in rows:
                yield _decision(document, outcome, final, final_at)


def search_select(tenant_id: str, query: DecisionQuery, *, sqlite: bool) -> sa.Select[Any]:
    """One page of `search`: the tenant's decisions matching `query`, newest first, after
    the keyset position."""
    select = sa.select(_A.c.document, _A.c.outcome, _A.c.final_decision, _A.c.final_at)
    select = select.where(_A.c.tenant_id == tenant_id, *_filters(query, sqlite=sqlite))
    if query.after is not None:
        at, assessment_id = query.after
        select = select.where(
            sa.tuple_(_A.c.occurred_at, _A.c.assessment_id)
            < sa.tuple_(sa.literal(at, tables.UtcDateTime), sa.literal(assessment_id))
        )
    select = select.order_by(_A.c.occurred_at.desc(), _A.c.assessment_id.desc())
    return select.limit(query.limit)


def _filters(query: DecisionQuery, *, sqlite: bool) -> list[sa.ColumnElement[bool]]:
    """The WHERE terms of a search besides the tenant and the keyset position."""
    terms: list[sa.ColumnElement[bool]] = []
    if query.since is not None:
        terms.append(_A.c.occurred_at >= query.since)
    if query.until is not None:
        terms.append(_A.c.occurred_at < query.until)
    if query.decisions:
        wanted = [action.value for action in query.decisions]
        terms.append(_A.c.decision.in_(wanted))
        if "allow" not in wanted:
            # The partial index's predicate (`tables.NOT_ALLOWED`) with the constant inline,
            # not bound, so that both planners can prove the index applies.
            terms.append(_A.c.decision != sa.literal_column("'allow'"))
    for column, value in (
        (_A.c.account_id, query.account_id),
        (_A.c.device_id, query.device_id),
        (_A.c.payee_id, query.payee_id),
    ):
        if value is not None:
            terms.append(column == value)
    if query.reason is not None:
        # A substring test, not LIKE: no wildcards to escape, and case-sensitive on SQLite
        # too (its LIKE ignores ASCII case).
        find = sa.func.instr if sqlite else sa.func.strpos
        terms.append(find(_A.c.reason_codes, f" {query.reason} ") > 0)
    if query.score_min is not None:
        terms.append(_A.c.score >= query.score_min)
    if query.score_max is not None:
        terms.append(_A.c.score <= query.score_max)
    return terms


def reason_codes(decision: Decision) -> str:
    """The `reason_codes` column: every reason code between single spaces (`" a b "`), so
    that finding `" a "` in it matches exactly one whole code."""
    if not decision.reasons:
        return ""
    return " " + " ".join(reason.code for reason in decision.reasons) + " "


def _id_of(part: Any) -> str | None:
    """The `id` of an event's device or payee document, if it has one."""
    if isinstance(part, dict):
        ident = part.get("id")
        return ident if isinstance(ident, str) else None
    return None


def _unchanged(value: datetime) -> Any:
    return value


def _utc(value: datetime | str | None) -> str | None:
    """A timestamp as a raw cursor returns it (SQLite: naive UTC text; PostgreSQL: aware)
    in the document's RFC 3339 form."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat()


def _decision(
    document: str,
    outcome: str | None,
    final: str | None = None,
    final_at: datetime | str | None = None,
) -> Decision:
    doc = tables.from_json(document)
    doc["outcome"] = outcome
    doc["final"] = final
    doc["final_at"] = _utc(final_at)
    return decision_from_document(doc)
