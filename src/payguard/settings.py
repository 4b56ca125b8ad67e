"""One settings object; every backend is chosen by URL.

`PAYGUARD_DATABASE_URL`  sqlite:///var/payguard.db | postgresql://...
`PAYGUARD_KV_URL`        memory:// | redis://...
`PAYGUARD_BUS_URL`       memory:// | nats://...
"""

from __future__ import annotations

from typing import Literal

import sqlalchemy as sa
from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PAYGUARD_", extra="ignore")

    database_url: str = "sqlite:///var/payguard.db"
    #: SQLite commit durability. Unset or `normal`: a commit survives a crash of payguard, but
    #: a power loss or OS crash can lose the last commits. `full`: each commit waits for its
    #: fsync (slower writes). Carried to the engine as `?synchronous=` on a SQLite URL.
    sqlite_synchronous: Literal["normal", "full"] | None = None
    kv_url: str = "memory://"
    bus_url: str = "memory://"
    #: Milliseconds Redis gets to accept a connection and to answer each command (a command
    #: that times out is retried once); beyond that the call fails with 503.
    redis_timeout_ms: int = Field(default=500, ge=10, le=60_000)
    #: Prefix for every KV key and bus subject, so several deployments share one server.
    namespace: str = "payguard"
    #: Largest request body accepted, in bytes (larger → 413).
    max_body_bytes: int = Field(default=64 * 1024, ge=1024)
    #: Largest body of the bulk endpoints (`/v1/privacy/scan`, `/v1/privacy/redact`,
    #: `/v1/privacy/recognizers`, `/v1/sharing/exports`): texts of up to 1 MiB to scan,
    #: records to export. Never below `max_body_bytes`.
    max_bulk_body_bytes: int = Field(default=4 * 1024 * 1024, ge=1024)
    #: Log level for structlog's JSON output.
    log_level: str = "INFO"
    #: Seconds a cached rule set or list snapshot is trusted before re-checking its version.
    cache_ttl_seconds: float = Field(default=2.0, ge=0)
    #: Attempts at an assessment when another worker changed the same entity state meanwhile.
    state_retries: int = Field(default=5, ge=1)
    #: Group commit of concurrent assessments' writes on the API path. Unset: on for
    #: PostgreSQL (a commit waits for a disk flush; measured +49 % throughput), off for SQLite
    #: (a WAL commit is cheap and batching cost more than it saved).
    group_commit: bool | None = None
    #: Processes serving the API on this machine; `payguard serve --workers N` sets it.
    workers: int = Field(default=1, ge=1)
    #: Keep recently used entity states in process in front of the relational store (with
    #: `kv_url=memory://`). Unset: on for a single worker, off for several. A worker's cached
    #: state goes stale whenever another worker decides an event of the same entity; the
    #: version check catches it, but the retry costs a second decision, so with several
    #: workers reading the state fresh is faster (measured: 2 workers, +45 % with it off).
    state_cache: bool | None = None
    #: SQLAlchemy pool size for PostgreSQL.
    db_pool_size: int = Field(default=10, ge=1)
    #: Mount `POST /bench/echo` (the bare JSON echo the benchmark compares against).
    enable_echo: bool = False
    #: Base64 of the 32-byte key that seals TOTP secrets at rest; set it (from your secret
    #: store) when several machines share a database. Unset: a key file (`auth_key_file`,
    #: by default `auth.key` beside the SQLite database, else `var/auth.key`) is created on
    #: first use, readable by this user only.
    auth_key: str | None = None
    auth_key_file: str | None = None
    #: The vault's key-encryption key: where it lives (`file`: a local key file; `pkcs11`:
    #: an HSM) and, for `file`, its path (unset: `vault.key` beside the SQLite database,
    #: else `var/vault.key`), created readable by this user only.
    vault_key_source: Literal["file", "pkcs11"] = "file"
    vault_key_file: str | None = None
    #: With `vault_key_source=pkcs11`: the PKCS#11 module's path, the token's label, the
    #: user PIN, and the label of the AES key on the token that wraps the data keys.
    vault_pkcs11_library: str | None = None
    vault_pkcs11_token: str | None = None
    vault_pkcs11_pin: str | None = None
    vault_pkcs11_key_label: str = "payguard-vault-kek"
    #: WebAuthn relying party: its id (a registrable domain), name and allowed origins.
    webauthn_rp_id: str = "localhost"
    webauthn_rp_name: str = "payguard"
    webauthn_origins: list[str] = ["http://localhost:8000", "https://localhost:8000"]
    #: Consecutive failures of one account before it is locked for `lockout_seconds`
    #: (NIST SP 800-63B asks for at most 100; 5 is the usual banking setting).
    lockout_threshold: int = Field(default=5, ge=1, le=100)
    lockout_seconds: float = Field(default=900, ge=1)
    #: Failures from one IP address, over every account, before the address is locked.
    ip_lockout_threshold: int = Field(default=50, ge=1)
    #: A password check naming an unknown user answers as a wrong password (401, counted
    #: towards a lockout) instead of 404: the partner learns nothing of who exists either.
    auth_conceal_unknown_users: bool = False
    #: Seconds a step-up challenge or WebAuthn ceremony stays open, and wrong answers allowed.
    challenge_ttl_seconds: int = Field(default=300, ge=10, le=3600)
    challenge_max_attempts: int = Field(default=3, ge=1, le=10)
    #: argon2id cost: iterations and memory in KiB (see docs/auth.md for the measured time).
    argon2_time_cost: int = Field(default=3, ge=1)
    argon2_memory_kib: int = Field(default=65536, ge=8192)
    #: Session timeouts per assurance level, in seconds: idle (since the last use) and
    #: absolute (since sign-in). Defaults follow NIST SP 800-63B: AAL1 30 days absolute;
    #: AAL2 12 h absolute, 30 min idle; AAL3 12 h absolute, 15 min idle.
    session_idle_aal1: int = Field(default=30 * 24 * 3600, ge=60)
    session_absolute_aal1: int = Field(default=30 * 24 * 3600, ge=60)
    session_idle_aal2: int = Field(default=30 * 60, ge=60)
    session_absolute_aal2: int = Field(default=12 * 3600, ge=60)
    session_idle_aal3: int = Field(default=15 * 60, ge=60)
    session_absolute_aal3: int = Field(default=12 * 3600, ge=60)
    #: Device health policy YAML (`payguard.devices`); unset: the bundled default.
    device_policy_file: str | None = None
    #: Play Integrity keys per app package, as JSON:
    #: `{"com.example.pay": {"decryption_key": "<base64>", "verification_key": "<base64>"}}`.
    play_integrity_keys: dict[str, dict[str, str]] = {}
    #: Apple App Attest: the app's team and bundle ids, the root certificate(s) as PEM text
    #: or file paths, and production (else development) environment.
    app_attest_team_id: str | None = None
    app_attest_bundle_id: str | None = None
    app_attest_roots: list[str] = []
    app_attest_production: bool = True

    @model_validator(mode="after")
    def _carry_sqlite_synchronous(self) -> Settings:
        if self.sqlite_synchronous is not None and self.database_url.startswith("sqlite"):
            url = sa.make_url(self.database_url)
            url = url.update_query_dict({"synchronous": self.sqlite_synchronous})
            self.database_url = url.render_as_string(hide_password=False)
        return self
