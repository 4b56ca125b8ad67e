"""Sharing: recipients, data requests, consents, and exports with the subjects each carried
(`sharing_recipients`, `sharing_requests`, `sharing_consents`, `sharing_exports`,
`sharing_export_subjects`); never a shared value.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision: str | None = "0010"
branch_labels: str | None = None
depends_on: str | None = None


def _utc() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "sharing_recipients",
        sa.Column("tenant_id", sa.String, nullable=False),
        sa.Column("id", sa.String, nullable=False),
        sa.Column("name", sa.String, nullable=False),
        sa.Column("min_k", sa.Integer, nullable=False),
        sa.Column("quasi_identifiers", sa.Text, nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("created_by", sa.String, nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "id", name="pk_sharing_recipients"),
    )
    op.create_table(
        "sharing_requests",
        sa.Column("tenant_id", sa.String, nullable=False),
        sa.Column("id", sa.String, nullable=False),
        sa.Column("recipient_id", sa.String, nullable=False),
        sa.Column("purpose", sa.String, nullable=False),
        sa.Column("fields", sa.Text, nullable=False),
        sa.Column("retention_days", sa.Integer, nullable=False),
        sa.Column("legal_basis", sa.String, nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("created_by", sa.String, nullable=False),
        sa.Column("closed_at", _utc()),
        sa.PrimaryKeyConstraint("tenant_id", "id", name="pk_sharing_requests"),
    )
    op.create_table(
        "sharing_consents",
        sa.Column("tenant_id", sa.String, nullable=False),
        sa.Column("subject_id", sa.String, nullable=False),
        sa.Column("request_id", sa.String, nullable=False),
        sa.Column("given_at", _utc(), nullable=False),
        sa.Column("expires_at", _utc(), nullable=False),
        sa.Column("recorded_by", sa.String, nullable=False),
        sa.Column("revoked_at", _utc()),
        sa.PrimaryKeyConstraint(
            "tenant_id", "subject_id", "request_id", name="pk_sharing_consents"
        ),
    )
    op.create_index("ix_sharing_consents_request", "sharing_consents", ["tenant_id", "request_id"])
    op.create_table(
        "sharing_exports",
        sa.Column("tenant_id", sa.String, nullable=False),
        sa.Column("id", sa.String, nullable=False),
        sa.Column("request_id", sa.String, nullable=False),
        sa.Column("recipient_id", sa.String, nullable=False),
        sa.Column("purpose", sa.String, nullable=False),
        sa.Column("fields", sa.Text, nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("created_by", sa.String, nullable=False),
        sa.Column("records", sa.Integer, nullable=False),
        sa.Column("dropped", sa.Integer, nullable=False),
        sa.Column("k", sa.Integer),
        sa.Column("retain_until", _utc(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "id", name="pk_sharing_exports"),
    )
    op.create_table(
        "sharing_export_subjects",
        sa.Column("tenant_id", sa.String, nullable=False),
        sa.Column("export_id", sa.String, nullable=False),
        sa.Column("subject_id", sa.String, nullable=False),
        sa.Column("retain_until", _utc(), nullable=False),
        sa.PrimaryKeyConstraint(
            "tenant_id", "export_id", "subject_id", name="pk_sharing_export_subjects"
        ),
    )
    op.create_index(
        "ix_sharing_export_subjects_subject",
        "sharing_export_subjects",
        ["tenant_id", "subject_id"],
    )
    op.create_index(
        "ix_sharing_export_subjects_retain_until", "sharing_export_subjects", ["retain_until"]
    )


def downgrade() -> None:
    op.drop_table("sharing_export_subjects")
    op.drop_table("sharing_exports")
    op.drop_table("sharing_consents")
    op.drop_table("sharing_requests")
    op.drop_table("sharing_recipients")
