"""Low-risk exemption counters move into the account's entity state (written with the
decision under one compare-and-set), so the `auth_exemptions` table goes.

Counters kept in the table are not carried over: after the upgrade every account starts
afresh, as after a strong authentication.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision: str | None = "0005"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.drop_table("auth_exemptions")


def downgrade() -> None:
    op.create_table(
        "auth_exemptions",
        sa.Column("tenant_id", sa.String, nullable=False),
        sa.Column("user_id", sa.String, nullable=False),
        sa.Column("count", sa.Integer, nullable=False),
        sa.Column("total_minor", sa.BigInteger, nullable=False),
        sa.Column("currency", sa.String),
        sa.Column("since", sa.DateTime(timezone=True)),
        sa.PrimaryKeyConstraint("tenant_id", "user_id", name="pk_auth_exemptions"),
    )
