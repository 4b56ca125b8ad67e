"""Model registry: `models` (versions with their blobs and status) and `model_state` (the
per-tenant change counter the serving workers poll).

Revision ID: 0002
Revises: 0001
Create Date: 2026-03-09
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None


def _utc() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "models",
        sa.Column("tenant_id", sa.String, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("status", sa.String, nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("created_by", sa.String, nullable=False),
        sa.Column("trained_at", _utc(), nullable=False),
        sa.Column("data_hash", sa.String, nullable=False),
        sa.Column("columns", sa.Text, nullable=False),
        sa.Column("metrics", sa.Text, nullable=False),
        sa.Column("params", sa.Text, nullable=False),
        sa.Column("reference", sa.Text, nullable=False),
        sa.Column("onnx", sa.LargeBinary, nullable=False),
        sa.Column("booster", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "version", name="pk_models"),
    )
    op.create_index("ix_models_tenant_id_status", "models", ["tenant_id", "status"])
    op.create_table(
        "model_state",
        sa.Column("tenant_id", sa.String, nullable=False),
        sa.Column("version", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", name="pk_model_state"),
    )


def downgrade() -> None:
    op.drop_table("model_state")
    op.drop_index("ix_models_tenant_id_status", table_name="models")
    op.drop_table("models")
