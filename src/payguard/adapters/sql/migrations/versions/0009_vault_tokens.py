"""Vault: tokens (`vault_tokens`), one row per (tenant, token), with the sealed value of
vault tokens, the lookup digest of deterministic ones, scope, expiry, revocation, key
version and the subject for crypto-shredding.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision: str | None = "0008"
branch_labels: str | None = None
depends_on: str | None = None


def _utc() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "vault_tokens",
        sa.Column("tenant_id", sa.String, nullable=False),
        sa.Column("token", sa.String, nullable=False),
        sa.Column("kind", sa.String, nullable=False),
        sa.Column("style", sa.String, nullable=False),
        sa.Column("scope", sa.String, nullable=False),
        sa.Column("key_version", sa.Integer, nullable=False),
        sa.Column("sealed", sa.LargeBinary),
        sa.Column("lookup", sa.String),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("expires_at", _utc()),
        sa.Column("revoked_at", _utc()),
        sa.Column("subject_id", sa.String),
        sa.PrimaryKeyConstraint("tenant_id", "token", name="pk_vault_tokens"),
        sa.UniqueConstraint("tenant_id", "lookup", name="uq_vault_tokens_lookup"),
    )
    op.create_index("ix_vault_tokens_subject", "vault_tokens", ["tenant_id", "subject_id"])


def downgrade() -> None:
    op.drop_index("ix_vault_tokens_subject", table_name="vault_tokens")
    op.drop_table("vault_tokens")
