"""Vault: per-tenant vault policies (`vault_policies`), one row per (tenant, version) with
the JSON policy document, when and by whom; the highest version is in force.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision: str | None = "0009"
branch_labels: str | None = None
depends_on: str | None = None


def _utc() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "vault_policies",
        sa.Column("tenant_id", sa.String, nullable=False),
        sa.Column("version", sa.Integer, nullable=False, autoincrement=False),
        sa.Column("document", sa.Text, nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("created_by", sa.String, nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "version", name="pk_vault_policies"),
    )


def downgrade() -> None:
    op.drop_table("vault_policies")
