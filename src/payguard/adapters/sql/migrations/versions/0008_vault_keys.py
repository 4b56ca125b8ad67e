"""Vault: per-tenant data keys (`vault_keys`), one row per (tenant, purpose, version), each
stored wrapped by a key-encryption key; retired versions keep their row.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision: str | None = "0007"
branch_labels: str | None = None
depends_on: str | None = None


def _utc() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "vault_keys",
        sa.Column("tenant_id", sa.String, nullable=False),
        sa.Column("purpose", sa.String, nullable=False),
        sa.Column("version", sa.Integer, nullable=False, autoincrement=False),
        sa.Column("kek_id", sa.String, nullable=False),
        sa.Column("wrapped", sa.LargeBinary, nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("retired_at", _utc()),
        sa.PrimaryKeyConstraint("tenant_id", "purpose", "version", name="pk_vault_keys"),
    )


def downgrade() -> None:
    op.drop_table("vault_keys")
