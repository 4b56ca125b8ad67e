"""Assessments: the request digest behind idempotency, and the columns and indexes that
`GET /v1/assessments` searches by.

- `request_digest`: SHA-256 of the canonical event (`core.events.event_digest`); a repeated
  event_id with another digest is refused (409 `idempotency_mismatch`). Rows written before
  this revision keep NULL and replay as before.
- `device_id`, `payee_id`: copied out of the event for the filters; filled in here for
  existing rows from their stored document.
- `reason_codes`: the decision's reason codes as `" code1 code2 "`, searched for
  `" code "` (case-sensitive) along one tenant's time index.
- Keyset indexes `(tenant_id, <filter>, occurred_at, assessment_id)`, newest first by a
  backward scan. `(tenant_id, occurred_at, assessment_id)` replaces `(tenant_id,
  occurred_at)`, which it covers. The decision index is partial: only rows whose decision
  is not `allow` (a few percent), so most writes skip it. On PostgreSQL `assessments` is
  partitioned: an index created on the parent is created on every partition.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision: str | None = "0006"
branch_labels: str | None = None
depends_on: str | None = None

_KEYSET = ("occurred_at", "assessment_id")
_FILTERS = ("account_id", "device_id", "payee_id")
#: Only decisions other than `allow` are indexed by decision (a few percent of the rows).
_NOT_ALLOWED = "decision <> 'allow'"

_BACKFILL = {
    "sqlite": (
        "UPDATE assessments SET "
        "device_id = json_extract(document, '$.event.device.id'), "
        "payee_id = json_extract(document, '$.event.payee.id'), "
        "reason_codes = COALESCE((SELECT ' ' || group_concat(json_extract(r.value, '$.code'), "
        "' ') || ' ' FROM json_each(document, '$.reasons') AS r), '')"
    ),
    "postgresql": (
        "UPDATE assessments SET "
        "device_id = document::jsonb #>> '{event,device,id}', "
        "payee_id = document::jsonb #>> '{event,payee,id}', "
        "reason_codes = COALESCE((SELECT ' ' || string_agg(r ->> 'code', ' ') || ' ' "
        "FROM jsonb_array_elements(document::jsonb -> 'reasons') AS r), '')"
    ),
}


def upgrade() -> None:
    op.add_column("assessments", sa.Column("request_digest", sa.String, nullable=True))
    op.add_column("assessments", sa.Column("device_id", sa.String, nullable=True))
    op.add_column("assessments", sa.Column("payee_id", sa.String, nullable=True))
    op.add_column("assessments", sa.Column("reason_codes", sa.Text, nullable=True))
    backfill = _BACKFILL.get(op.get_bind().dialect.name)
    if backfill is not None:
        op.execute(backfill)
    op.drop_index("ix_assessments_tenant_id_occurred_at", table_name="assessments")
    op.create_index(
        "ix_assessments_tenant_id_occurred_at_assessment_id",
        "assessments",
        ["tenant_id", *_KEYSET],
    )
    for column in _FILTERS:
        op.create_index(
            f"ix_assessments_tenant_id_{column}_occurred_at_assessment_id",
            "assessments",
            ["tenant_id", column, *_KEYSET],
        )
    op.create_index(
        "ix_assessments_tenant_id_decision_occurred_at_assessment_id",
        "assessments",
        ["tenant_id", "decision", *_KEYSET],
        sqlite_where=sa.text(_NOT_ALLOWED),
        postgresql_where=sa.text(_NOT_ALLOWED),
    )


def downgrade() -> None:
    for column in ("decision", *reversed(_FILTERS)):
        op.drop_index(
            f"ix_assessments_tenant_id_{column}_occurred_at_assessment_id", table_name="assessments"
        )
    op.drop_index("ix_assessments_tenant_id_occurred_at_assessment_id", table_name="assessments")
    op.create_index(
        "ix_assessments_tenant_id_occurred_at", "assessments", ["tenant_id", "occurred_at"]
    )
    for column in ("reason_codes", "payee_id", "device_id", "request_digest"):
        op.drop_column("assessments", column)
