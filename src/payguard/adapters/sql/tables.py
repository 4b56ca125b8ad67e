"""The relational schema as SQLAlchemy Core tables, and the column codecs the stores share.

Every row carries its tenant (`audit_log.tenant_id` is null for tenantless events such as an
unknown API key). Datetimes are stored in UTC and always come back timezone-aware; JSON
columns are text written and read with orjson. On PostgreSQL `assessments` is hash-partitioned
on `tenant_id` (see the migrations); the metadata here is what the stores query.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import Insert as PostgresInsert
from sqlalchemy.dialects.sqlite import Insert as SqliteInsert

__all__ = [
    "ASSESSMENT_PARTITIONS",
    "UtcDateTime",
    "api_keys",
    "assessments",
    "audit_log",
    "auth_challenges",
    "auth_credentials",
    "auth_nonces",
    "auth_recovery_codes",
    "auth_sessions",
    "auth_throttles",
    "auth_users",
    "community_entries",
    "community_state",
    "device_snapshots",
    "devices",
    "dialect_insert",
    "entity_state",
    "from_json",
    "genuine_apps",
    "list_items",
    "list_versions",
    "lists",
    "metadata",
    "model_state",
    "models",
    "rule_sets",
    "sharing_consents",
    "sharing_export_subjects",
    "sharing_exports",
    "sharing_recipients",
    "sharing_requests",
    "shield_recognizers",
    "state_markers",
    "tenants",
    "to_json",
    "vault_keys",
    "vault_policies",
]

#: Hash partitions of `assessments` on PostgreSQL.
ASSESSMENT_PARTITIONS = 8

_JSON_OPTIONS = orjson.OPT_SERIALIZE_NUMPY


def to_json(value: Any) -> str:
    """Serialise a JSON-able value for a text column."""
    return orjson.dumps(value, option=_JSON_OPTIONS).decode()


def from_json(text: str | bytes) -> Any:
    return orjson.loads(text)


class UtcDateTime(sa.types.TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every backend.

    PostgreSQL stores `timestamptz`; SQLite stores naive UTC text (which sorts correctly),
    and the UTC zone is put back on the way out.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("payguard stores timezone-aware datetimes only")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def dialect_insert(dialect_name: str, table: sa.Table) -> PostgresInsert | SqliteInsert:
    """An INSERT with the dialect's `ON CONFLICT` support (both spell it the same way)."""
    if dialect_name == "postgresql":
        return postgresql.insert(table)
    if dialect_name == "sqlite":
        return sqlite.insert(table)
    raise ValueError(f"unsupported dialect {dialect_name!r}")


metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

tenants = sa.Table(
    "tenants",
    metadata,
    sa.Column("tenant_id", sa.String, primary_key=True),
    sa.Column("name", sa.String, nullable=False, unique=True),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("active", sa.Boolean, nullable=False),
)

api_keys = sa.Table(
    "api_keys",
    metadata,
    sa.Column("key_id", sa.String, primary_key=True),
    sa.Column("tenant_id", sa.String, sa.ForeignKey("tenants.tenant_id"), nullable=False),
    sa.Column("role", sa.String, nullable=False),
    sa.Column("secret_hash", sa.String, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("expires_at", UtcDateTime),
    sa.Column("revoked_at", UtcDateTime),
    sa.Index(None, "tenant_id"),
)

audit_log = sa.Table(
    "audit_log",
    metadata,
    # Insertion order breaks ties between records stamped with the same instant.
    sa.Column(
        "seq",
        sa.BigInteger().with_variant(sa.Integer, "sqlite"),
        primary_key=True,
        autoincrement=True,
    ),
    sa.Column("record_id", sa.String, nullable=False, unique=True),
    sa.Column("at", UtcDateTime, nullable=False),
    sa.Column("tenant_id", sa.String),
    sa.Column("actor", sa.String, nullable=False),
    sa.Column("action", sa.String, nullable=False),
    sa.Column("target", sa.String, nullable=False),
    sa.Column("outcome", sa.String, nullable=False),
    sa.Column("source_ip", sa.String),
    sa.Column("details", sa.Text, nullable=False),
    sa.Index(None, "tenant_id", "at", "seq"),
    sa.Index(None, "tenant_id", "action", "at", "seq"),
)

#: The predicate of the partial decision index; a search names it to use the index.
NOT_ALLOWED = "decision <> 'allow'"

assessments = sa.Table(
    "assessments",
    metadata,
    sa.Column("tenant_id", sa.String, primary_key=True),
    sa.Column("assessment_id", sa.String, primary_key=True),
    sa.Column("event_id", sa.String, nullable=False),
    sa.Column("event_type", sa.String, nullable=False),
    sa.Column("account_id", sa.String, nullable=False),
    sa.Column("decision", sa.String, nullable=False),
    sa.Column("score", sa.Integer, nullable=False),
    sa.Column("rule_set_version", sa.Integer, nullable=False),
    sa.Column("occurred_at", UtcDateTime, nullable=False),
    sa.Column("decided_at", UtcDateTime, nullable=False),
    sa.Column("outcome", sa.String),
    sa.Column("outcome_at", UtcDateTime),
    # `decision_to_document` as orjson text: the whole decision, the columns are for queries.
    sa.Column("document", sa.Text, nullable=False),
    # The settled decision of a challenged assessment (migration 0004).
    sa.Column("final_decision", sa.String),
    sa.Column("final_at", UtcDateTime),
    # Migration 0007: the digest of the canonical event (`core.events.event_digest`; NULL
    # on older rows), and the columns `search` filters on.
    sa.Column("request_digest", sa.String),
    sa.Column("device_id", sa.String),
    sa.Column("payee_id", sa.String),
    # The reason codes as " code1 code2 ", searched for " code ".
    sa.Column("reason_codes", sa.Text),
    sa.UniqueConstraint("tenant_id", "event_id"),
    # Keyset indexes for `search` (newest first: scanned backwards) and `iter_decisions`.
    sa.Index(None, "tenant_id", "occurred_at", "assessment_id"),
    sa.Index(None, "tenant_id", "account_id", "occurred_at", "assessment_id"),
    sa.Index(None, "tenant_id", "device_id", "occurred_at", "assessment_id"),
    sa.Index(None, "tenant_id", "payee_id", "occurred_at", "assessment_id"),
    # Only the decisions that are not `allow` (a few percent): an `allow` search reads the
    # time index, and most writes skip this index altogether.
    sa.Index(
        None,
        "tenant_id",
        "decision",
        "occurred_at",
        "assessment_id",
        sqlite_where=sa.text(NOT_ALLOWED),
        postgresql_where=sa.text(NOT_ALLOWED),
    ),
    postgresql_partition_by="HASH (tenant_id)",
)

entity_state = sa.Table(
    "entity_state",
    metadata,
    sa.Column("tenant_id", sa.String, primary_key=True),
    sa.Column("key", sa.String, primary_key=True),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("data", sa.Text, nullable=False),
    sqlite_with_rowid=False,
)

state_markers = sa.Table(
    "state_markers",
    metadata,
    sa.Column("tenant_id", sa.String, primary_key=True),
    sa.Column("marker", sa.String, primary_key=True),
    # For pruning old markers; the stores never read it.
    sa.Column("applied_at", sa.DateTime(timezone=True), server_default=sa.func.now()),
    sqlite_with_rowid=False,
)

lists = sa.Table(
    "lists",
    metadata,
    sa.Column("tenant_id", sa.String, primary_key=True),
    sa.Column("list_name", sa.String, primary_key=True),
    # Fixed by the list's first item.
    sa.Column("kind", sa.String, nullable=False),
)

list_items = sa.Table(
    "list_items",
    metadata,
    sa.Column("tenant_id", sa.String, primary_key=True),
    sa.Column("list_name", sa.String, primary_key=True),
    sa.Column("value", sa.String, primary_key=True),
    sa.Column("kind", sa.String, nullable=False),
    sa.Column("added_at", UtcDateTime, nullable=False),
    sa.Column("expires_at", UtcDateTime),
    sa.Column("note", sa.Text),
    sa.Index(None, "tenant_id", "kind", "value"),
)

list_versions = sa.Table(
    "list_versions",
    metadata,
    sa.Column("tenant_id", sa.String, primary_key=True),
    sa.Column("version", sa.BigInteger, nullable=False),
)

rule_sets = sa.Table(
    "rule_sets",
    metadata,
    sa.Column("tenant_id", sa.String, primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("source", sa.Text, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("created_by", sa.String, nullable=False),
)

models = sa.Table(
    "models",
    metadata,
    sa.Column("tenant_id", sa.String, primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("status", sa.String, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("created_by", sa.String, nullable=False),
    sa.Column("trained_at", UtcDateTime, nullable=False),
    sa.Column("data_hash", sa.String, nullable=False),
    # JSON text: the vector layout, the evaluation, the training parameters, the drift bins.
    sa.Column("columns", sa.Text, nullable=False),
    sa.Column("metrics", sa.Text, nullable=False),
    sa.Column("params", sa.Text, nullable=False),
    sa.Column("reference", sa.Text, nullable=False),
    sa.Column("onnx", sa.LargeBinary, nullable=False),
    sa.Column("booster", sa.Text, nullable=False),
    sa.Index(None, "tenant_id", "status"),
)

#: One change counter per tenant for `models`, bumped with every change (the serving poll).
model_state = sa.Table(
    "model_state",
    metadata,
    sa.Column("tenant_id", sa.String, primary_key=True),
    sa.Column("version", sa.BigInteger, nullable=False),
)

# Authentication (migration 0003). Every row is a tenant's; the stores filter on tenant_id.

auth_users = sa.Table(
    "auth_users",
    metadata,
    sa.Column("tenant_id", sa.String, primary_key=True),
    sa.Column("user_id", sa.String, primary_key=True),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("handle", sa.LargeBinary, nullable=False),
    sa.Column("password_hash", sa.String),
    sa.Column("password_changed_at", UtcDateTime),
)

#: Only a live credential holds its lookup: a revoked passkey or device may be registered again.
_LIVE_LOOKUP = sa.text("revoked_at IS NULL AND lookup IS NOT NULL")
_PENDING_STEP_UP = sa.text("status = 'pending' AND purpose = 'step_up'")

auth_credentials = sa.Table(
    "auth_credentials",
    metadata,
    sa.Column("tenant_id", sa.String, primary_key=True),
    sa.Column("credential_id", sa.String, primary_key=True),
    sa.Column("user_id", sa.String, nullable=False),
    sa.Column("kind", sa.String, nullable=False),
    sa.Column("label", sa.String, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("lookup", sa.String),
    sa.Column("counter", sa.BigInteger, nullable=False),
    # JSON text: the kind-specific public data (a TOTP's sealed secret, a passkey's COSE key).
    sa.Column("data", sa.Text, nullable=False),
    sa.Column("confirmed", sa.Boolean, nullable=False),
    sa.Column("last_used_at", UtcDateTime),
    sa.Column("revoked_at", UtcDateTime),
    sa.Index(None, "tenant_id", "user_id"),
    sa.Index(
        "uq_auth_credentials_live_lookup",
        "tenant_id",
        "kind",
        "lookup",
        unique=True,
        sqlite_where=_LIVE_LOOKUP,
        postgresql_where=_LIVE_LOOKUP,
    ),
)

auth_recovery_codes = sa.Table(
    "auth_recovery_codes",
    metadata,
    sa.Column("tenant_id", sa.String, primary_key=True),
    sa.Column("user_id", sa.String, primary_key=True),
    sa.Column("code_hash", sa.String, primary_key=True),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("used_at", UtcDateTime),
)

auth_nonces = sa.Table(
    "auth_nonces",
    metadata,
    sa.Column("tenant_id", sa.String, primary_key=True),
    sa.Column("scope", sa.String, primary_key=True),
    sa.Column("nonce", sa.String, primary_key=True),
    sa.Column("expires_at", UtcDateTime, nullable=False),
    # For purging expired nonces across tenants.
    sa.Index(None, "expires_at"),
)

auth_challenges = sa.Table(
    "auth_challenges",
    metadata,
    sa.Column("tenant_id", sa.String, primary_key=True),
    sa.Column("challenge_id", sa.String, primary_key=True),
    sa.Column("user_id", sa.String, nullable=False),
    sa.Column("purpose", sa.String, nullable=False),
    sa.Column("status", sa.String, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("expires_at", UtcDateTime, nullable=False),
    sa.Column("nonce", sa.LargeBinary, nullable=False),
    sa.Column("level", sa.Integer),
    sa.Column("assessment_id", sa.String),
    # JSON text: the payment the proof is bound to; the factors that passed it (a list).
    sa.Column("binding", sa.Text, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("completed_at", UtcDateTime),
    sa.Column("factors", sa.Text, nullable=False),
    sa.Index(None, "tenant_id", "assessment_id"),
    # At most one pending step-up per assessment: two concurrent opens cannot double the
    # attempts an attacker gets.
    sa.Index(
        "uq_auth_challenges_pending_step_up",
        "tenant_id",
        "assessment_id",
        unique=True,
        sqlite_where=_PENDING_STEP_UP,
        postgresql_where=_PENDING_STEP_UP,
    ),
)

auth_sessions = sa.Table(
    "auth_sessions",
    metadata,
    sa.Column("tenant_id", sa.String, primary_key=True),
    sa.Column("session_id", sa.String, primary_key=True),
    sa.Column("user_id", sa.String, nullable=False),
    sa.Column("level", sa.Integer, nullable=False),
    # SHA-256 hex of the access and refresh tokens; the tokens themselves are never stored.
    sa.Column("token_hash", sa.String, nullable=False),
    sa.Column("refresh_hash", sa.String, nullable=False),
    # The refresh token it replaced: presenting that one again means it was stolen.
    sa.Column("previous_refresh_hash", sa.String),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("last_seen_at", UtcDateTime, nullable=False),
    sa.Column("idle_expires_at", UtcDateTime, nullable=False),
    sa.Column("absolute_expires_at", UtcDateTime, nullable=False),
    sa.Column("revoked_at", UtcDateTime),
    sa.Column("revoked_reason", sa.String),
    sa.Index(None, "tenant_id", "token_hash", unique=True),
    sa.Index(None, "tenant_id", "refresh_hash", unique=True),
    sa.Index(None, "tenant_id", "previous_refresh_hash"),
    sa.Index(None, "tenant_id", "user_id"),
)

auth_throttles = sa.Table(
    "auth_throttles",
    metadata,
    sa.Column("tenant_id", sa.String, primary_key=True),
    sa.Column("key", sa.String, primary_key=True),
    sa.Column("failures", sa.Integer, nullable=False),
    sa.Column("last_failure_at", UtcDateTime),
    sa.Column("locked_until", UtcDateTime),
)

# Device health (migration 0005). Devices, snapshots and genuine apps are a tenant's; the
# community lists are network-wide and have no tenant column.

devices = sa.Table(
    "devices",
    metadata,
    sa.Column("tenant_id", sa.String, primary_key=True),
    sa.Column("device_id", sa.String, primary_key=True),
    sa.Column("first_seen", UtcDateTime, nullable=False),
    sa.Column("last_seen", UtcDateTime, nullable=False),
    sa.Column("platform", sa.String),
    sa.Column("fingerprint_hash", sa.String),
    # JSON text: the accounts (a list); the last judgement (`Health` with its signals).
    sa.Column("accounts", sa.Text, nullable=False),
    sa.Column("health", sa.Text),
    sa.Column("health_at", UtcDateTime),
    sa.Column("attest_key_id", sa.String),
    sa.Column("attest_public_key", sa.LargeBinary),
    sa.Column("attest_counter", sa.BigInteger, nullable=False),
    # Compare-and-set guard: every save stores version + 1.
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("extra", sa.Text, nullable=False),
    sa.Index(None, "tenant_id", "fingerprint_hash"),
)

device_snapshots = sa.Table(
    "device_snapshots",
    metadata,
    # Insertion order breaks ties between snapshots stamped with the same instant.
    sa.Column(
        "seq",
        sa.BigInteger().with_variant(sa.Integer, "sqlite"),
        primary_key=True,
        autoincrement=True,
    ),
    sa.Column("tenant_id", sa.String, nullable=False),
    sa.Column("device_id", sa.String, nullable=False),
    sa.Column("at", UtcDateTime, nullable=False),
    sa.Column("score", sa.Integer, nullable=False),
    sa.Column("status", sa.String, nullable=False),
    # JSON text: the reason codes (a list); the posture report as the app sent it.
    sa.Column("reasons", sa.Text, nullable=False),
    sa.Column("assurance", sa.String, nullable=False),
    sa.Column("report", sa.Text, nullable=False),
    sa.Index(None, "tenant_id", "device_id", "at", "seq"),
)

genuine_apps = sa.Table(
    "genuine_apps",
    metadata,
    sa.Column("tenant_id", sa.String, primary_key=True),
    sa.Column("package", sa.String, primary_key=True),
    # JSON text: the signing-certificate digests (a list of SHA-256 hex).
    sa.Column("signing_digests", sa.Text, nullable=False),
)

community_entries = sa.Table(
    "community_entries",
    metadata,
    sa.Column("kind", sa.String, primary_key=True),
    sa.Column("hashed", sa.String, primary_key=True),
    sa.Column("source", sa.String, nullable=False),
    sa.Column("confidence", sa.Integer, nullable=False),
    sa.Column("added_at", UtcDateTime, nullable=False),
    sa.Column("expires_at", UtcDateTime),
    sa.Column("note", sa.Text),
    # For purging expired entries.
    sa.Index(None, "expires_at"),
)

#: The community lists' change counter: one row (`id` 1), bumped with every change.
community_state = sa.Table(
    "community_state",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("version", sa.BigInteger, nullable=False),
)

#: The vault's data keys, one row per (tenant, purpose, version), each wrapped by the KEK
#: `kek_id` names; never deleted: a retired version keeps its row with `retired_at` set.
vault_keys = sa.Table(
    "vault_keys",
    metadata,
    sa.Column("tenant_id", sa.String, primary_key=True),
    sa.Column("purpose", sa.String, primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("kek_id", sa.String, nullable=False),
    sa.Column("wrapped", sa.LargeBinary, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("retired_at", UtcDateTime),
)

#: The vault's tokens, one row per (tenant, token). `sealed` holds a vault token's value
#: sealed by the keyring (null for format-preserving tokens and once crypto-shredded);
#: `lookup` the hex HMAC digest that finds a deterministic vault token from its value.
vault_tokens = sa.Table(
    "vault_tokens",
    metadata,
    sa.Column("tenant_id", sa.String, primary_key=True),
    sa.Column("token", sa.String, primary_key=True),
    sa.Column("kind", sa.String, nullable=False),
    sa.Column("style", sa.String, nullable=False),
    sa.Column("scope", sa.String, nullable=False),
    sa.Column("key_version", sa.Integer, nullable=False),
    sa.Column("sealed", sa.LargeBinary),
    sa.Column("lookup", sa.String),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("expires_at", UtcDateTime),
    sa.Column("revoked_at", UtcDateTime),
    sa.Column("subject_id", sa.String),
    # One token per value for deterministic vault tokens (several nulls are allowed).
    sa.UniqueConstraint("tenant_id", "lookup", name="uq_vault_tokens_lookup"),
    # For crypto-shredding a subject.
    sa.Index("ix_vault_tokens_subject", "tenant_id", "subject_id"),
)


def _versioned_documents(name: str) -> sa.Table:
    """A table of per-tenant documents kept as versions 1, 2, 3... (the highest in force),
    each validated before it was stored (`_versioned.VersionedDocuments`)."""
    return sa.Table(
        name,
        metadata,
        sa.Column("tenant_id", sa.String, primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("document", sa.Text, nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("created_by", sa.String, nullable=False),
    )


#: Tenants' vault policies: `document` is the JSON policy document.
vault_policies = _versioned_documents("vault_policies")

#: Tenants' own Data Shield recognizers: `document` is the YAML source as the partner gave it.
shield_recognizers = _versioned_documents("shield_recognizers")

#: Governed data sharing (`payguard.sharing`): recipients, data requests, consents, and
#: exports with the subjects each carried (never a value). JSON text: `quasi_identifiers` a
#: list of field names, `fields` an object of field name to method.
sharing_recipients = sa.Table(
    "sharing_recipients",
    metadata,
    sa.Column("tenant_id", sa.String, primary_key=True),
    sa.Column("id", sa.String, primary_key=True),
    sa.Column("name", sa.String, nullable=False),
    sa.Column("min_k", sa.Integer, nullable=False),
    sa.Column("quasi_identifiers", sa.Text, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("created_by", sa.String, nullable=False),
)

sharing_requests = sa.Table(
    "sharing_requests",
    metadata,
    sa.Column("tenant_id", sa.String, primary_key=True),
    sa.Column("id", sa.String, primary_key=True),
    sa.Column("recipient_id", sa.String, nullable=False),
    sa.Column("purpose", sa.String, nullable=False),
    sa.Column("fields", sa.Text, nullable=False),
    sa.Column("retention_days", sa.Integer, nullable=False),
    sa.Column("legal_basis", sa.String, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("created_by", sa.String, nullable=False),
    sa.Column("closed_at", UtcDateTime),
)

#: One consent per (tenant, subject, request); a new one replaces the last.
sharing_consents = sa.Table(
    "sharing_consents",
    metadata,
    sa.Column("tenant_id", sa.String, primary_key=True),
    sa.Column("subject_id", sa.String, primary_key=True),
    sa.Column("request_id", sa.String, primary_key=True),
    sa.Column("given_at", UtcDateTime, nullable=False),
    sa.Column("expires_at", UtcDateTime, nullable=False),
    sa.Column("recorded_by", sa.String, nullable=False),
    sa.Column("revoked_at", UtcDateTime),
    sa.Index("ix_sharing_consents_request", "tenant_id", "request_id"),
)

sharing_exports = sa.Table(
    "sharing_exports",
    metadata,
    sa.Column("tenant_id", sa.String, primary_key=True),
    sa.Column("id", sa.String, primary_key=True),
    sa.Column("request_id", sa.String, nullable=False),
    sa.Column("recipient_id", sa.String, nullable=False),
    sa.Column("purpose", sa.String, nullable=False),
    sa.Column("fields", sa.Text, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("created_by", sa.String, nullable=False),
    sa.Column("records", sa.Integer, nullable=False),
    sa.Column("dropped", sa.Integer, nullable=False),
    sa.Column("k", sa.Integer),
    sa.Column("retain_until", UtcDateTime, nullable=False),
)

#: The subjects each export carried, until the request's retention ends (`payguard purge`).
sharing_export_subjects = sa.Table(
    "sharing_export_subjects",
    metadata,
    sa.Column("tenant_id", sa.String, primary_key=True),
    sa.Column("export_id", sa.String, primary_key=True),
    sa.Column("subject_id", sa.String, primary_key=True),
    sa.Column("retain_until", UtcDateTime, nullable=False),
    sa.Index("ix_sharing_export_subjects_subject", "tenant_id", "subject_id"),
    sa.Index("ix_sharing_export_subjects_retain_until", "retain_until"),
)
