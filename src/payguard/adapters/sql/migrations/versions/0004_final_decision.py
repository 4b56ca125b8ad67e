"""Assessments: the final decision of a challenged assessment (`allow` once the step-up
passed, `block` once it failed) and when it was settled.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    # On PostgreSQL `assessments` is partitioned; ADD COLUMN on the parent reaches every
    # partition.
    op.add_column("assessments", sa.Column("final_decision", sa.String, nullable=True))
    op.add_column("assessments", sa.Column("final_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.drop_column("assessments", "final_at")
    op.drop_column("assessments", "final_decision")
