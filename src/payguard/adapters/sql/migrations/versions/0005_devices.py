"""Device health: per-tenant device records (`devices`), their report history
(`device_snapshots`) and genuine apps (`genuine_apps`); the network-wide community lists
(`community_entries`) and their change counter (`community_state`, one row).

`community_entries` has no tenant column by design: every tenant reads the same lists, and
they hold SHA-256 hashes of identifiers only.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision: str | None = "0004"
branch_labels: str | None = None
depends_on: str | None = None


def _utc() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "devices",
        sa.Column("tenant_id", sa.String, nullable=False),
        sa.Column("device_id", sa.String, nullable=False),
        sa.Column("first_seen", _utc(), nullable=False),
        sa.Column("last_seen", _utc(), nullable=False),
        sa.Column("platform", sa.String),
        sa.Column("fingerprint_hash", sa.String),
        sa.Column("accounts", sa.Text, nullable=False),
        sa.Column("health", sa.Text),
        sa.Column("health_at", _utc()),
        sa.Column("attest_key_id", sa.String),
        sa.Column("attest_public_key", sa.LargeBinary),
        sa.Column("attest_counter", sa.BigInteger, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("extra", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "device_id", name="pk_devices"),
    )
    op.create_index(
        "ix_devices_tenant_id_fingerprint_hash", "devices", ["tenant_id", "fingerprint_hash"]
    )

    op.create_table(
        "device_snapshots",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer, "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("tenant_id", sa.String, nullable=False),
        sa.Column("device_id", sa.String, nullable=False),
        sa.Column("at", _utc(), nullable=False),
        sa.Column("score", sa.Integer, nullable=False),
        sa.Column("status", sa.String, nullable=False),
        sa.Column("reasons", sa.Text, nullable=False),
        sa.Column("assurance", sa.String, nullable=False),
        sa.Column("report", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_device_snapshots"),
    )
    op.create_index(
        "ix_device_snapshots_tenant_id_device_id_at_seq",
        "device_snapshots",
        ["tenant_id", "device_id", "at", "seq"],
    )

    op.create_table(
        "genuine_apps",
        sa.Column("tenant_id", sa.String, nullable=False),
        sa.Column("package", sa.String, nullable=False),
        sa.Column("signing_digests", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "package", name="pk_genuine_apps"),
    )

    op.create_table(
        "community_entries",
        sa.Column("kind", sa.String, nullable=False),
        sa.Column("hashed", sa.String, nullable=False),
        sa.Column("source", sa.String, nullable=False),
        sa.Column("confidence", sa.Integer, nullable=False),
        sa.Column("added_at", _utc(), nullable=False),
        sa.Column("expires_at", _utc()),
        sa.Column("note", sa.Text),
        sa.PrimaryKeyConstraint("kind", "hashed", name="pk_community_entries"),
    )
    op.create_index("ix_community_entries_expires_at", "community_entries", ["expires_at"])

    op.create_table(
        "community_state",
        sa.Column("id", sa.Integer, autoincrement=False, nullable=False),
        sa.Column("version", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_community_state"),
    )


def downgrade() -> None:
    op.drop_table("community_state")
    op.drop_index("ix_community_entries_expires_at", table_name="community_entries")
    op.drop_table("community_entries")
    op.drop_table("genuine_apps")
    op.drop_index("ix_device_snapshots_tenant_id_device_id_at_seq", table_name="device_snapshots")
    op.drop_table("device_snapshots")
    op.drop_index("ix_devices_tenant_id_fingerprint_hash", table_name="devices")
    op.drop_table("devices")
