"""Engine URLs, SQLite connection settings, migrations and the schema they build."""

from __future__ import annotations

import os
import stat
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from payguard.adapters.sql import tables
from payguard.adapters.sql.engine import create_sql_engine, for_reads, for_writes, migrate
from payguard.settings import Settings

#: The newest migration.
HEAD = "0012"

ALL_TABLES = {
    "alembic_version",
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
    "entity_state",
    "genuine_apps",
    "list_items",
    "list_versions",
    "lists",
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
    "vault_keys",
    "vault_policies",
    "vault_tokens",
}


def test_sqlite_url_creates_the_directory_and_sets_pragmas(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "dir" / "payguard.db"
    engine = create_sql_engine(f"sqlite:///{path}")
    try:
        with engine.connect() as conn:
            pragma = {
                name: conn.exec_driver_sql(f"PRAGMA {name}").scalar()
                for name in ("journal_mode", "synchronous", "foreign_keys", "busy_timeout")
            }
        assert path.parent.is_dir()
        assert pragma == {
            "journal_mode": "wal",
            "synchronous": 1,  # NORMAL
            "foreign_keys": 1,
            "busy_timeout": 5000,
        }
    finally:
        engine.dispose()


@pytest.mark.parametrize("umask", [0o022, 0o000, 0o200])
def test_sqlite_database_wal_and_shm_are_owner_only_whatever_the_umask(
    tmp_path: Path, umask: int
) -> None:
    path = tmp_path / "private" / "payguard.db"
    previous = os.umask(umask)
    try:
        engine = create_sql_engine(f"sqlite:///{path}")
        try:
            with engine.begin() as conn:
                conn.exec_driver_sql("CREATE TABLE t (x INTEGER)")
                conn.exec_driver_sql("INSERT INTO t VALUES (1)")
            with engine.connect() as conn:
                assert conn.exec_driver_sql("SELECT count(*) FROM t").scalar() == 1
            files = {p.name: stat.S_IMODE(p.stat().st_mode) for p in path.parent.iterdir()}
        finally:
            engine.dispose()
    finally:
        os.umask(previous)
    assert files == {"payguard.db": 0o600, "payguard.db-wal": 0o600, "payguard.db-shm": 0o600}


def test_existing_sqlite_files_are_narrowed_to_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    for name in ("old.db", "old.db-wal", "old.db-shm"):
        (tmp_path / name).touch()
        (tmp_path / name).chmod(0o644)
    engine = create_sql_engine(f"sqlite:///{path}")
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
    finally:
        engine.dispose()
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in tmp_path.iterdir()}
    assert set(modes.values()) == {0o600}, modes


@pytest.mark.parametrize(
    ("query", "level"), [("", 1), ("?synchronous=normal", 1), ("?synchronous=FULL", 2)]
)
def test_sqlite_synchronous_is_normal_unless_the_url_asks_for_full(
    tmp_path: Path, query: str, level: int
) -> None:
    engine = create_sql_engine(f"sqlite:///{tmp_path / 'sync.db'}{query}")
    try:
        assert "synchronous" not in engine.url.query
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == level
    finally:
        engine.dispose()


def test_an_unknown_sqlite_synchronous_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="synchronous='off'"):
        create_sql_engine(f"sqlite:///{tmp_path / 'x.db'}?synchronous=off")


def test_the_sqlite_synchronous_setting_reaches_the_engine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PAYGUARD_SQLITE_SYNCHRONOUS", "full")
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'env.db'}")
    assert settings.database_url.endswith("env.db?synchronous=full")
    engine = create_sql_engine(settings.database_url)
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
    finally:
        engine.dispose()
    postgres = Settings(database_url="postgresql://app@db/payguard", sqlite_synchronous="full")
    assert postgres.database_url == "postgresql://app@db/payguard"


def test_sqlite_begin_is_a_real_transaction(tmp_path: Path) -> None:
    engine = create_sql_engine(f"sqlite:///{tmp_path / 'tx.db'}")
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("CREATE TABLE t (x INTEGER)")
        with pytest.raises(RuntimeError), engine.begin() as conn:
            conn.exec_driver_sql("INSERT INTO t VALUES (1)")
            raise RuntimeError("roll back")
        for flavour in (engine, for_reads(engine), for_writes(engine)):
            with flavour.connect() as conn:
                assert conn.exec_driver_sql("SELECT count(*) FROM t").scalar() == 0
    finally:
        engine.dispose()


def test_in_memory_sqlite_works_for_single_threaded_tools() -> None:
    engine = create_sql_engine("sqlite://")
    try:
        migrate(engine)
        assert _table_names(engine) == ALL_TABLES
    finally:
        engine.dispose()


def test_postgresql_url_uses_psycopg_and_keeps_options() -> None:
    url = "postgresql://app@db.example:5432/payguard?options=-csearch_path%3Dtenant_a"
    engine = create_sql_engine(url, pool_size=3)
    assert engine.url.drivername == "postgresql+psycopg"
    assert engine.url.query["options"] == "-csearch_path=tenant_a"
    assert engine.url.host == "db.example"
    assert engine.pool.size() == 3  # type: ignore[attr-defined]
    engine.dispose()


def test_unknown_scheme_is_refused() -> None:
    with pytest.raises(ValueError, match="unsupported"):
        create_sql_engine("mysql://localhost/payguard")


def _table_names(engine: sa.Engine) -> set[str]:
    return set(sa.inspect(engine).get_table_names())


def test_sqlite_migrations_run_twice(tmp_path: Path) -> None:
    engine = create_sql_engine(f"sqlite:///{tmp_path / 'twice.db'}")
    try:
        migrate(engine)
        migrate(engine)
        assert _table_names(engine) == ALL_TABLES
        with engine.connect() as conn:
            versions = conn.exec_driver_sql("SELECT version_num FROM alembic_version").all()
        assert versions == [(HEAD,)]
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_postgresql_migrations_run_twice_inside_the_private_schema(
    postgresql_engine: sa.Engine,
) -> None:
    migrate(postgresql_engine)  # the fixture migrated once already
    with postgresql_engine.connect() as conn:
        schema = conn.execute(sa.text("SELECT current_schema()")).scalar_one()
        assert schema.startswith("pgtest_")
        located = set(
            conn.execute(
                sa.text(
                    "SELECT table_schema FROM information_schema.tables "
                    "WHERE table_name = 'alembic_version'"
                )
            ).scalars()
        )
        assert schema in located
        assert "public" not in located
        assert conn.execute(sa.text("SELECT version_num FROM alembic_version")).all() == [(HEAD,)]
    assert _table_names(postgresql_engine) >= ALL_TABLES


@pytest.mark.postgres
def test_postgresql_assessments_are_hash_partitioned(postgresql_engine: sa.Engine) -> None:
    with postgresql_engine.connect() as conn:
        strategy = conn.execute(
            sa.text(
                "SELECT p.partstrat FROM pg_partitioned_table p "
                "JOIN pg_class c ON c.oid = p.partrelid "
                "WHERE c.relname = 'assessments' "
                "AND c.relnamespace = current_schema()::regnamespace"
            )
        ).scalar_one()
        partitions = conn.execute(
            sa.text(
                "SELECT count(*) FROM pg_inherits "
                "WHERE inhparent = (current_schema() || '.assessments')::regclass"
            )
        ).scalar_one()
    assert strategy == "h"
    assert partitions == tables.ASSESSMENT_PARTITIONS


def _not_a_partition(name: str | None, type_: str, parents: object) -> bool:
    return not (type_ == "table" and name is not None and name.startswith("assessments_p"))


def test_tables_module_matches_the_migrated_schema(sql_engine: sa.Engine) -> None:
    with sql_engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "include_name": _not_a_partition}
        )
        differences = compare_metadata(context, tables.metadata)
    assert differences == []


def test_datetimes_come_back_timezone_aware_utc(sql_engine: sa.Engine, tenant: str) -> None:
    nairobi = timezone(timedelta(hours=3))
    written = datetime(2026, 3, 2, 12, 30, 15, 123456, tzinfo=nairobi)
    with sql_engine.begin() as conn:
        conn.execute(
            sa.insert(tables.rule_sets),
            {
                "tenant_id": tenant,
                "version": 1,
                "source": "rules: []",
                "created_at": written,
                "created_by": "test",
            },
        )
    with sql_engine.connect() as conn:
        read = conn.execute(
            sa.select(tables.rule_sets.c.created_at).where(tables.rule_sets.c.tenant_id == tenant)
        ).scalar_one()
    assert read == written
    assert read.tzinfo == UTC
    assert read.hour == 9


def test_naive_datetimes_are_refused(sql_engine: sa.Engine, tenant: str) -> None:
    with pytest.raises(sa.exc.StatementError, match="timezone-aware"), sql_engine.begin() as conn:
        conn.execute(
            sa.insert(tables.rule_sets),
            {
                "tenant_id": tenant,
                "version": 1,
                "source": "",
                "created_at": datetime(2026, 3, 2, 12, 0),
                "created_by": "test",
            },
        )
