"""Data Shield: tenants' own recognizers (`shield_recognizers`), one row per (tenant,
version) with the YAML source as the partner gave it, when and by whom; the highest version
is in force.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision: str | None = "0011"
branch_labels: str | None = None
depends_on: str | None = None


def _utc() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "shield_recognizers",
        sa.Column("tenant_id", sa.String, nullable=False),
        sa.Column("version", sa.Integer, nullable=False, autoincrement=False),
        sa.Column("document", sa.Text, nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("created_by", sa.String, nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "version", name="pk_shield_recognizers"),
    )


def downgrade() -> None:
    op.drop_table("shield_recognizers")
