"""Decisions and entity state in the relational store: the write half of the hot path.

`SqlEntityStateStore` is the feature store on SQL (compare-and-set on a version column,
idempotent through markers). `SqlAssessmentStore` persists a decision together with the
state it changes: in one transaction when the states live in the same database, or state
first and decision second when they live elsewhere (Redis at scale), which is safe because
the state write is idempotent per event and the decision insert is unique per event.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from payguard.adapters.sql import tables
from payguard.adapters.sql._errors import StoreErrors
from payguard.adapters.sql.engine import for_reads, for_writes
from payguard.core.decisions import Decision, Outcome, decision_from_document, decision_to_document
from payguard.core.errors import Conflict, NotFound
from payguard.risk.interfaces import EntityState, EntityStateStore, StateConflict

__all__ = ["SqlAssessmentStore", "SqlEntityStateStore"]

_A = tables.assessments
_S = tables.entity_state
_M = tables.state_markers

_LOAD_STATES = sa.select(_S.c.key, _S.c.version, _S.c.data).where(
    _S.c.tenant_id == sa.bindparam("tenant_id"),
    _S.c.key.in_(sa.bindparam("keys", expanding=True)),
)
_UPDATE_STATE = (
    sa.update(_S)
    .where(
        _S.c.tenant_id == sa.bindparam("b_tenant_id"),
        _S.c.key == sa.bindparam("b_key"),
        _S.c.version == sa.bindparam("b_expected"),
    )
    .values(version=_S.c.version + 1, data=sa.bindparam("b_data"))
)
_INSERT_STATE = sa.insert(_S)

_INSERT_ASSESSMENT = sa.insert(_A)
_BY_ID = sa.select(_A.c.document, _A.c.outcome).where(
    _A.c.tenant_id == sa.bindparam("tenant_id"),
    _A.c.assessment_id == sa.bindparam("assessment_id"),
)
_BY_EVENT = sa.select(_A.c.document, _A.c.outcome).where(
    _A.c.tenant_id == sa.bindparam("tenant_id"),
    _A.c.event_id == sa.bindparam("event_id"),
)
_SET_OUTCOME = (
    sa.update(_A)
    .where(
        _A.c.tenant_id == sa.bindparam("b_tenant_id"),
        _A.c.assessment_id == sa.bindparam("b_assessment_id"),
    )
    .values(outcome=sa.bindparam("b_outcome"), outcome_at=sa.bindparam("b_outcome_at"))
    .returning(_A.c.document)
)


class _StateTable:
    """The statements on `entity_state` and `state_markers`, run on a caller's connection."""

    __slots__ = ("_claim",)

    def __init__(self, dialect_name: str) -> None:
        self._claim = tables.dialect_insert(dialect_name, _M).on_conflict_do_nothing(
            index_elements=[_M.c.tenant_id, _M.c.marker]
        )

    def load(
        self, conn: sa.Connection, tenant_id: str, keys: Sequence[str]
    ) -> dict[str, EntityState]:
        states = {key: EntityState(key) for key in keys}
        if states:
            rows = conn.execute(_LOAD_STATES, {"tenant_id": tenant_id, "keys": list(states)})
            for key, version, data in rows:
                states[key] = EntityState(key, version, tables.from_json(data))
        return states

    def claim(self, conn: sa.Connection, tenant_id: str, marker: str) -> bool:
        """Record `marker`; False if it was already recorded (the write already happened)."""
        result = conn.execute(self._claim, {"tenant_id": tenant_id, "marker": marker})
        return result.rowcount == 1

    def write(self, conn: sa.Connection, tenant_id: str, updates: Sequence[EntityState]) -> None:
        """Store each update as version + 1, or raise `StateConflict` if any is stale."""
        changed: list[dict[str, Any]] = []
        created: list[dict[str, Any]] = []
        # One lock order for every writer, so two transactions cannot deadlock on PostgreSQL.
        for update in sorted(updates, key=_by_key):
            data = tables.to_json(update.data)
            if update.version > 0:
                changed.append(
                    {
                        "b_tenant_id": tenant_id,
                        "b_key": update.key,
                        "b_expected": update.version,
                        "b_data": data,
                    }
                )
            elif update.version == 0:
                created.append(
                    {"tenant_id": tenant_id, "key": update.key, "version": 1, "data": data}
                )
            else:
                raise ValueError(f"negative version for {update.key!r}")
        if changed and conn.execute(_UPDATE_STATE, changed).rowcount != len(changed):
            raise StateConflict("entity state changed since it was read")
        if created:
            try:
                conn.execute(_INSERT_STATE, created)
            except sa.exc.IntegrityError as exc:
                raise StateConflict("entity state was created since it was read") from exc


def _by_key(state: EntityState) -> str:
    return state.key


class SqlEntityStateStore:
    """`EntityStateStore` on SQL: versions checked by `UPDATE ... WHERE version = :expected`."""

    def __init__(self, engine: sa.Engine) -> None:
        self._reads = for_reads(engine)
        self._writes = for_writes(engine)
        self._table = _StateTable(engine.dialect.name)
        self._guard = StoreErrors(StateConflict)

    def load(self, tenant_id: str, keys: Sequence[str]) -> dict[str, EntityState]:
        if not keys:
            return {}
        with self._guard, self._reads.connect() as conn:
            return self._table.load(conn, tenant_id, keys)

    def apply(self, tenant_id: str, marker: str, updates: Sequence[EntityState]) -> bool:
        with self._guard, self._writes.begin() as conn:
            if not self._table.claim(conn, tenant_id, marker):
                return False
            self._table.write(conn, tenant_id, updates)
            return True


class _AlreadyStored(Exception):
    """The tenant already has a decision for this event; the transaction must roll back."""


class SqlAssessmentStore:
    """`AssessmentStore` on SQL.

    With `external_states=None` the entity state lives in this database and `record` is one
    transaction. With an external state store (Redis at scale), the state is written first
    under the marker `assessment:<event_id>` and the decision after it.
    """

    def __init__(self, engine: sa.Engine, external_states: EntityStateStore | None = None) -> None:
        self._engine = engine
        self._reads = for_reads(engine)
        self._writes = for_writes(engine)
        self._states = _StateTable(engine.dialect.name)
        self._external = external_states
        self._guard = StoreErrors(StateConflict)

    def load_states(self, tenant_id: str, keys: Sequence[str]) -> dict[str, EntityState]:
        if self._external is not None:
            return self._external.load(tenant_id, keys)
        if not keys:
            return {}
        with self._guard, self._reads.connect() as conn:
            return self._states.load(conn, tenant_id, keys)

    def record(self, decision: Decision, updates: Sequence[EntityState]) -> Decision:
        row = _assessment_row(decision)
        marker = f"assessment:{decision.event_id}"
        if self._external is not None:
            earlier = self.get_by_event(decision.tenant_id, decision.event_id)
            if earlier is not None:
                return earlier
            self._external.apply(decision.tenant_id, marker, updates)
            try:
                with self._guard, self._writes.begin() as conn:
                    conn.execute(_INSERT_ASSESSMENT, row)
            except sa.exc.IntegrityError:
                return self._stored_instead_of(decision)
            return decision
        try:
            with self._guard, self._writes.begin() as conn:
                try:
                    conn.execute(_INSERT_ASSESSMENT, row)
                except sa.exc.IntegrityError as exc:
                    raise _AlreadyStored from exc
                if self._states.claim(conn, decision.tenant_id, marker):
                    self._states.write(conn, decision.tenant_id, updates)
        except _AlreadyStored:
            return self._stored_instead_of(decision)
        return decision

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
        updates: Sequence[EntityState],
    ) -> Decision:
        marker = f"outcome:{assessment_id}:{outcome.value}:{at.isoformat()}"
        label = {
            "b_tenant_id": tenant_id,
            "b_assessment_id": assessment_id,
            "b_outcome": outcome.value,
            "b_outcome_at": at,
        }
        if self._external is not None:
            if self.get(tenant_id, assessment_id) is None:
                raise NotFound(f"unknown assessment {assessment_id!r}")
            self._external.apply(tenant_id, marker, updates)
            with self._guard, self._writes.begin() as conn:
                document = conn.execute(_SET_OUTCOME, label).scalar_one_or_none()
        else:
            with self._guard, self._writes.begin() as conn:
                if not self._states.claim(conn, tenant_id, marker):
                    # Applied before: report the decision as it stands.
                    row = conn.execute(
                        _BY_ID, {"tenant_id": tenant_id, "assessment_id": assessment_id}
                    ).first()
                    if row is None:
                        raise NotFound(f"unknown assessment {assessment_id!r}")
                    return _decision(row[0], row[1])
                document = conn.execute(_SET_OUTCOME, label).scalar_one_or_none()
                if document is None:
                    raise NotFound(f"unknown assessment {assessment_id!r}")
                self._states.write(conn, tenant_id, updates)
        if document is None:
            raise NotFound(f"unknown assessment {assessment_id!r}")
        return _decision(document, outcome.value)

    def get(self, tenant_id: str, assessment_id: str) -> Decision | None:
        with self._guard, self._reads.connect() as conn:
            row = conn.execute(
                _BY_ID, {"tenant_id": tenant_id, "assessment_id": assessment_id}
            ).first()
        return None if row is None else _decision(row[0], row[1])

    def get_by_event(self, tenant_id: str, event_id: str) -> Decision | None:
        with self._guard, self._reads.connect() as conn:
            row = conn.execute(_BY_EVENT, {"tenant_id": tenant_id, "event_id": event_id}).first()
        return None if row is None else _decision(row[0], row[1])

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
        query = sa.select(_A.c.document, _A.c.outcome).where(_A.c.tenant_id == tenant_id)
        if since is not None:
            query = query.where(_A.c.occurred_at >= since)
        if until is not None:
            query = query.where(_A.c.occurred_at < until)
        query = query.order_by(_A.c.occurred_at, _A.c.assessment_id).limit(limit)
        # A transaction, not `for_reads`: PostgreSQL's server-side cursor needs one.
        with self._guard, self._engine.connect() as conn:
            rows = conn.execution_options(yield_per=500).execute(query)
            for document, outcome in rows:
                yield _decision(document, outcome)


def _assessment_row(decision: Decision) -> dict[str, Any]:
    return {
        "tenant_id": decision.tenant_id,
        "assessment_id": decision.assessment_id,
        "event_id": decision.event_id,
        "event_type": decision.event_type,
        "account_id": decision.account_id,
        "decision": decision.decision.value,
        "score": decision.score,
        "rule_set_version": decision.rule_set_version,
        "occurred_at": decision.occurred_at,
        "decided_at": decision.decided_at,
        "outcome": None if decision.outcome is None else decision.outcome.value,
        "outcome_at": None,
        "document": tables.to_json(decision_to_document(decision)),
    }


def _decision(document: str, outcome: str | None) -> Decision:
    doc = tables.from_json(document)
    doc["outcome"] = outcome
    return decision_from_document(doc)
