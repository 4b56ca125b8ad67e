"""Initial schema: tenants, API keys, audit log, assessments, entity state, lists, rule sets.

On PostgreSQL `assessments` is declaratively partitioned, HASH on tenant_id, 8 partitions.

Revision ID: 0001
Revises:
Create Date: 2026-03-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None

_PARTITIONS = 8


def _utc() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "tenants",
        sa.Column("tenant_id", sa.String, nullable=False),
        sa.Column("name", sa.String, nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", name="pk_tenants"),
        sa.UniqueConstraint("name", name="uq_tenants_name"),
    )
    op.create_table(
        "api_keys",
        sa.Column("key_id", sa.String, nullable=False),
        sa.Column("tenant_id", sa.String, nullable=False),
        sa.Column("role", sa.String, nullable=False),
        sa.Column("secret_hash", sa.String, nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("expires_at", _utc()),
        sa.Column("revoked_at", _utc()),
        sa.PrimaryKeyConstraint("key_id", name="pk_api_keys"),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.tenant_id"], name="fk_api_keys_tenant_id_tenants"
        ),
    )
    op.create_index("ix_api_keys_tenant_id", "api_keys", ["tenant_id"])

    op.create_table(
        "audit_log",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer, "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("record_id", sa.String, nullable=False),
        sa.Column("at", _utc(), nullable=False),
        sa.Column("tenant_id", sa.String),
        sa.Column("actor", sa.String, nullable=False),
        sa.Column("action", sa.String, nullable=False),
        sa.Column("target", sa.String, nullable=False),
        sa.Column("outcome", sa.String, nullable=False),
        sa.Column("source_ip", sa.String),
        sa.Column("details", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_audit_log"),
        sa.UniqueConstraint("record_id", name="uq_audit_log_record_id"),
    )
    op.create_index("ix_audit_log_tenant_id_at_seq", "audit_log", ["tenant_id", "at", "seq"])
    op.create_index(
        "ix_audit_log_tenant_id_action_at_seq", "audit_log", ["tenant_id", "action", "at", "seq"]
    )

    # `postgresql_partition_by` only renders on PostgreSQL; SQLite gets a plain table.
    op.create_table(
        "assessments",
        sa.Column("tenant_id", sa.String, nullable=False),
        sa.Column("assessment_id", sa.String, nullable=False),
        sa.Column("event_id", sa.String, nullable=False),
        sa.Column("event_type", sa.String, nullable=False),
        sa.Column("account_id", sa.String, nullable=False),
        sa.Column("decision", sa.String, nullable=False),
        sa.Column("score", sa.Integer, nullable=False),
        sa.Column("rule_set_version", sa.Integer, nullable=False),
        sa.Column("occurred_at", _utc(), nullable=False),
        sa.Column("decided_at", _utc(), nullable=False),
        sa.Column("outcome", sa.String),
        sa.Column("outcome_at", _utc()),
        sa.Column("document", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "assessment_id", name="pk_assessments"),
        sa.UniqueConstraint("tenant_id", "event_id", name="uq_assessments_tenant_id_event_id"),
        postgresql_partition_by="HASH (tenant_id)",
    )
    if op.get_bind().dialect.name == "postgresql":
        for remainder in range(_PARTITIONS):
            op.execute(
                f"CREATE TABLE assessments_p{remainder} PARTITION OF assessments "
                f"FOR VALUES WITH (MODULUS {_PARTITIONS}, REMAINDER {remainder})"
            )
    op.create_index(
        "ix_assessments_tenant_id_occurred_at", "assessments", ["tenant_id", "occurred_at"]
    )

    op.create_table(
        "entity_state",
        sa.Column("tenant_id", sa.String, nullable=False),
        sa.Column("key", sa.String, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("data", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "key", name="pk_entity_state"),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "state_markers",
        sa.Column("tenant_id", sa.String, nullable=False),
        sa.Column("marker", sa.String, nullable=False),
        sa.Column("applied_at", _utc(), server_default=sa.func.now()),
        sa.PrimaryKeyConstraint("tenant_id", "marker", name="pk_state_markers"),
        sqlite_with_rowid=False,
    )

    op.create_table(
        "lists",
        sa.Column("tenant_id", sa.String, nullable=False),
        sa.Column("list_name", sa.String, nullable=False),
        sa.Column("kind", sa.String, nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "list_name", name="pk_lists"),
    )
    op.create_table(
        "list_items",
        sa.Column("tenant_id", sa.String, nullable=False),
        sa.Column("list_name", sa.String, nullable=False),
        sa.Column("value", sa.String, nullable=False),
        sa.Column("kind", sa.String, nullable=False),
        sa.Column("added_at", _utc(), nullable=False),
        sa.Column("expires_at", _utc()),
        sa.Column("note", sa.Text),
        sa.PrimaryKeyConstraint("tenant_id", "list_name", "value", name="pk_list_items"),
    )
    op.create_index(
        "ix_list_items_tenant_id_kind_value", "list_items", ["tenant_id", "kind", "value"]
    )
    op.create_table(
        "list_versions",
        sa.Column("tenant_id", sa.String, nullable=False),
        sa.Column("version", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", name="pk_list_versions"),
    )

    op.create_table(
        "rule_sets",
        sa.Column("tenant_id", sa.String, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("created_by", sa.String, nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "version", name="pk_rule_sets"),
    )


def downgrade() -> None:
    for table in (
        "rule_sets",
        "list_versions",
        "list_items",
        "lists",
        "state_markers",
        "entity_state",
        "assessments",
        "audit_log",
        "api_keys",
        "tenants",
    ):
        op.drop_table(table)
