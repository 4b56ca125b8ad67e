"""One settings object; every backend is chosen by URL.

`PAYGUARD_DATABASE_URL`  sqlite:///var/payguard.db | postgresql://...
`PAYGUARD_KV_URL`        memory:// | redis://...
`PAYGUARD_BUS_URL`       memory:// | nats://...
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PAYGUARD_", extra="ignore")

    database_url: str = "sqlite:///var/payguard.db"
    kv_url: str = "memory://"
    bus_url: str = "memory://"
    #: Prefix for every KV key and bus subject, so several deployments share one server.
    namespace: str = "payguard"
    #: Largest request body accepted, in bytes (larger → 413).
    max_body_bytes: int = Field(default=64 * 1024, ge=1024)
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
