"""Authentication: users, credentials (TOTP, passkeys, bound devices), recovery codes,
replay nonces, challenges, sessions, brute-force throttles and low-risk exemption counters.

A live credential's `(tenant_id, kind, lookup)` is unique through a partial unique index, so
a revoked passkey or device can be registered again.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None

_LIVE_LOOKUP = "revoked_at IS NULL AND lookup IS NOT NULL"
_PENDING_STEP_UP = "status = 'pending' AND purpose = 'step_up'"


def _utc() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "auth_users",
        sa.Column("tenant_id", sa.String, nullable=False),
        sa.Column("user_id", sa.String, nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("handle", sa.LargeBinary, nullable=False),
        sa.Column("password_hash", sa.String),
        sa.Column("password_changed_at", _utc()),
        sa.PrimaryKeyConstraint("tenant_id", "user_id", name="pk_auth_users"),
    )

    op.create_table(
        "auth_credentials",
        sa.Column("tenant_id", sa.String, nullable=False),
        sa.Column("credential_id", sa.String, nullable=False),
        sa.Column("user_id", sa.String, nullable=False),
        sa.Column("kind", sa.String, nullable=False),
        sa.Column("label", sa.String, nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("lookup", sa.String),
        sa.Column("counter", sa.BigInteger, nullable=False),
        sa.Column("data", sa.Text, nullable=False),
        sa.Column("confirmed", sa.Boolean, nullable=False),
        sa.Column("last_used_at", _utc()),
        sa.Column("revoked_at", _utc()),
        sa.PrimaryKeyConstraint("tenant_id", "credential_id", name="pk_auth_credentials"),
    )
    op.create_index(
        "ix_auth_credentials_tenant_id_user_id", "auth_credentials", ["tenant_id", "user_id"]
    )
    op.create_index(
        "uq_auth_credentials_live_lookup",
        "auth_credentials",
        ["tenant_id", "kind", "lookup"],
        unique=True,
        sqlite_where=sa.text(_LIVE_LOOKUP),
        postgresql_where=sa.text(_LIVE_LOOKUP),
    )

    op.create_table(
        "auth_recovery_codes",
        sa.Column("tenant_id", sa.String, nullable=False),
        sa.Column("user_id", sa.String, nullable=False),
        sa.Column("code_hash", sa.String, nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("used_at", _utc()),
        sa.PrimaryKeyConstraint("tenant_id", "user_id", "code_hash", name="pk_auth_recovery_codes"),
    )

    op.create_table(
        "auth_nonces",
        sa.Column("tenant_id", sa.String, nullable=False),
        sa.Column("scope", sa.String, nullable=False),
        sa.Column("nonce", sa.String, nullable=False),
        sa.Column("expires_at", _utc(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "scope", "nonce", name="pk_auth_nonces"),
    )
    op.create_index("ix_auth_nonces_expires_at", "auth_nonces", ["expires_at"])

    op.create_table(
        "auth_challenges",
        sa.Column("tenant_id", sa.String, nullable=False),
        sa.Column("challenge_id", sa.String, nullable=False),
        sa.Column("user_id", sa.String, nullable=False),
        sa.Column("purpose", sa.String, nullable=False),
        sa.Column("status", sa.String, nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("expires_at", _utc(), nullable=False),
        sa.Column("nonce", sa.LargeBinary, nullable=False),
        sa.Column("level", sa.Integer),
        sa.Column("assessment_id", sa.String),
        sa.Column("binding", sa.Text, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("completed_at", _utc()),
        sa.Column("factors", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "challenge_id", name="pk_auth_challenges"),
    )
    op.create_index(
        "ix_auth_challenges_tenant_id_assessment_id",
        "auth_challenges",
        ["tenant_id", "assessment_id"],
    )
    op.create_index(
        "uq_auth_challenges_pending_step_up",
        "auth_challenges",
        ["tenant_id", "assessment_id"],
        unique=True,
        sqlite_where=sa.text(_PENDING_STEP_UP),
        postgresql_where=sa.text(_PENDING_STEP_UP),
    )

    op.create_table(
        "auth_sessions",
        sa.Column("tenant_id", sa.String, nullable=False),
        sa.Column("session_id", sa.String, nullable=False),
        sa.Column("user_id", sa.String, nullable=False),
        sa.Column("level", sa.Integer, nullable=False),
        sa.Column("token_hash", sa.String, nullable=False),
        sa.Column("refresh_hash", sa.String, nullable=False),
        sa.Column("previous_refresh_hash", sa.String),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("last_seen_at", _utc(), nullable=False),
        sa.Column("idle_expires_at", _utc(), nullable=False),
        sa.Column("absolute_expires_at", _utc(), nullable=False),
        sa.Column("revoked_at", _utc()),
        sa.Column("revoked_reason", sa.String),
        sa.PrimaryKeyConstraint("tenant_id", "session_id", name="pk_auth_sessions"),
    )
    op.create_index(
        "ix_auth_sessions_tenant_id_token_hash",
        "auth_sessions",
        ["tenant_id", "token_hash"],
        unique=True,
    )
    op.create_index(
        "ix_auth_sessions_tenant_id_refresh_hash",
        "auth_sessions",
        ["tenant_id", "refresh_hash"],
        unique=True,
    )
    op.create_index(
        "ix_auth_sessions_tenant_id_previous_refresh_hash",
        "auth_sessions",
        ["tenant_id", "previous_refresh_hash"],
    )
    op.create_index("ix_auth_sessions_tenant_id_user_id", "auth_sessions", ["tenant_id", "user_id"])

    op.create_table(
        "auth_throttles",
        sa.Column("tenant_id", sa.String, nullable=False),
        sa.Column("key", sa.String, nullable=False),
        sa.Column("failures", sa.Integer, nullable=False),
        sa.Column("last_failure_at", _utc()),
        sa.Column("locked_until", _utc()),
        sa.PrimaryKeyConstraint("tenant_id", "key", name="pk_auth_throttles"),
    )

    op.create_table(
        "auth_exemptions",
        sa.Column("tenant_id", sa.String, nullable=False),
        sa.Column("user_id", sa.String, nullable=False),
        sa.Column("count", sa.Integer, nullable=False),
        sa.Column("total_minor", sa.BigInteger, nullable=False),
        sa.Column("currency", sa.String),
        sa.Column("since", _utc()),
        sa.PrimaryKeyConstraint("tenant_id", "user_id", name="pk_auth_exemptions"),
    )


def downgrade() -> None:
    op.drop_table("auth_exemptions")
    op.drop_table("auth_throttles")
    op.drop_index("ix_auth_sessions_tenant_id_user_id", table_name="auth_sessions")
    op.drop_index("ix_auth_sessions_tenant_id_previous_refresh_hash", table_name="auth_sessions")
    op.drop_index("ix_auth_sessions_tenant_id_refresh_hash", table_name="auth_sessions")
    op.drop_index("ix_auth_sessions_tenant_id_token_hash", table_name="auth_sessions")
    op.drop_table("auth_sessions")
    op.drop_index("uq_auth_challenges_pending_step_up", table_name="auth_challenges")
    op.drop_index("ix_auth_challenges_tenant_id_assessment_id", table_name="auth_challenges")
    op.drop_table("auth_challenges")
    op.drop_index("ix_auth_nonces_expires_at", table_name="auth_nonces")
    op.drop_table("auth_nonces")
    op.drop_table("auth_recovery_codes")
    op.drop_index("uq_auth_credentials_live_lookup", table_name="auth_credentials")
    op.drop_index("ix_auth_credentials_tenant_id_user_id", table_name="auth_credentials")
    op.drop_table("auth_credentials")
    op.drop_table("auth_users")
