"""Engines for the relational store, and its schema migrations.

`sqlite:///path` is the embedded default (WAL, one file under `./var/`); `postgresql://...` is
the store at scale (psycopg 3). Migrations ship inside the package and run programmatically,
so no `alembic.ini` is needed at runtime.

On SQLite, payguard takes transaction control away from the `sqlite3` module (which only
begins a transaction before DML) and emits `BEGIN` itself, so reads and writes in one
`engine.begin()` block are one transaction. Repositories pick how that transaction begins:
`for_writes` takes the write lock up front (`BEGIN IMMEDIATE`) so a read-then-write waits on
`busy_timeout` instead of failing, and `for_reads` runs single-statement reads without a
transaction at all.

The SQLite database file is created readable by its owner only (0600), whatever the umask, and
its `-wal` and `-shm` companions are held to the same mode. Commits use `synchronous=NORMAL`
(durable against a crash of the application, not of the machine: a power loss can take the
last commits back); `?synchronous=full` on the URL (`PAYGUARD_SQLITE_SYNCHRONOUS=full`) makes
each commit wait for its fsync.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import structlog
from alembic import command
from alembic.config import Config

__all__ = ["create_sql_engine", "for_reads", "for_writes", "migrate"]

log = structlog.get_logger(__name__)

_MIGRATIONS = Path(__file__).resolve().with_name("migrations")

#: Execution option read by the SQLite `begin` hook: "DEFERRED", "IMMEDIATE" or "NONE".
_SQLITE_BEGIN = "payguard_sqlite_begin"

#: One migration at a time per schema, across every process that shares the server.
_MIGRATION_LOCK = sa.text(
    "SELECT pg_advisory_xact_lock(hashtext('payguard.migrate.' || coalesce(current_schema(), '')))"
)

_SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA foreign_keys=ON",
    "PRAGMA busy_timeout=5000",
    # Checkpoints run on the WalCheckpointer thread, not inside a writer's commit: an
    # automatic checkpoint fsyncs the database and put ~10 ms stalls on the hot path.
    "PRAGMA wal_autocheckpoint=0",
)

#: `synchronous` levels a SQLite URL may ask for with `?synchronous=`; NORMAL by default.
SQLITE_SYNCHRONOUS = ("NORMAL", "FULL")

#: Mode of the SQLite database file and its `-wal` and `-shm` files: the owner's only.
SQLITE_FILE_MODE = 0o600

#: Seconds between background WAL checkpoints.
CHECKPOINT_INTERVAL = 0.5


def create_sql_engine(url: str, *, pool_size: int = 10) -> sa.Engine:
    """An engine for `sqlite:///path` or `postgresql://...` (psycopg 3), ready for payguard."""
    parsed = sa.make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return _sqlite_engine(parsed, pool_size=pool_size)
    if backend in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
        return sa.create_engine(
            parsed,
            pool_size=pool_size,
            max_overflow=pool_size,
            pool_recycle=1800,
        )
    raise ValueError(f"unsupported database URL scheme {parsed.drivername!r}")


def _sqlite_engine(url: sa.URL, *, pool_size: int) -> sa.Engine:
    synchronous = str(url.query.get("synchronous", "NORMAL")).upper()
    if synchronous not in SQLITE_SYNCHRONOUS:
        raise ValueError(f"unsupported SQLite synchronous={synchronous.lower()!r}")
    url = url.difference_update_query(["synchronous"])
    pragmas = (*_SQLITE_PRAGMAS, f"PRAGMA synchronous={synchronous}")
    database = url.database
    url = url.set(drivername="sqlite+pysqlite")
    connect_args = {"check_same_thread": False}
    files: tuple[Path, ...] = ()
    if not database or database == ":memory:":
        # One shared connection, or every checkout would see its own empty database:
        # for single-threaded tests and tools only.
        engine = sa.create_engine(url, poolclass=sa.StaticPool, connect_args=connect_args)
    else:
        if not database.startswith("file:"):
            path = Path(database).expanduser()
            path.parent.mkdir(parents=True, exist_ok=True)
            _create_private(path)
            files = (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm"))
        engine = sa.create_engine(
            url, pool_size=pool_size, max_overflow=pool_size, connect_args=connect_args
        )

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Hand transaction control to the `begin` hook below.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            for pragma in pragmas:
                cursor.execute(pragma)
            # SQLite gives the -wal and -shm files the database file's mode when it makes them;
            # this holds any already there to it too, whatever the umask or their past.
            for file in files:
                _restrict(file)
        finally:
            cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        mode = conn.get_execution_options().get(_SQLITE_BEGIN, "DEFERRED")
        if mode != "NONE":
            conn.connection.driver_connection.execute(f"BEGIN {mode}")  # type: ignore[union-attr]

    if database and database != ":memory:":
        checkpointer = WalCheckpointer(engine)
        checkpointer.start()

        @sa.event.listens_for(engine, "engine_disposed")
        def _on_dispose(_engine: sa.Engine) -> None:
            checkpointer.stop()

    return engine


def _create_private(path: Path) -> None:
    """Create the database file empty with `SQLITE_FILE_MODE` before SQLite opens it, so it is
    never readable by others, not even for a moment; an existing file is held to that mode."""
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, SQLITE_FILE_MODE)
    except FileExistsError:
        _restrict(path)
    else:
        os.close(descriptor)
        os.chmod(path, SQLITE_FILE_MODE)  # a umask can narrow it (0400 under 0200): make it exact


def _restrict(path: Path) -> None:
    try:
        if path.stat().st_mode & 0o777 != SQLITE_FILE_MODE:
            os.chmod(path, SQLITE_FILE_MODE)
    except FileNotFoundError:
        # Not made yet, or removed when the last connection closed: SQLite makes it again
        # with the database file's mode.
        pass
    except OSError:
        log.warning("sqlite.chmod_failed", path=str(path), exc_info=True)


class WalCheckpointer(threading.Thread):
    """Moves the WAL into the database file every `CHECKPOINT_INTERVAL` seconds.

    A PASSIVE checkpoint never blocks writers or readers; it copies what it can and leaves
    the rest for the next round. Stops when the engine is disposed.
    """

    def __init__(self, engine: sa.Engine) -> None:
        super().__init__(name="payguard-sqlite-checkpoint", daemon=True)
        self._engine = engine
        self._stop_event = threading.Event()

    def stop(self) -> None:
        self._stop_event.set()

    def run(self) -> None:
        while not self._stop_event.wait(CHECKPOINT_INTERVAL):
            try:
                with self._engine.connect() as conn:
                    driver = conn.connection.driver_connection
                    assert driver is not None
                    driver.execute("PRAGMA wal_checkpoint(PASSIVE)")
            except Exception:
                log.warning("sqlite.checkpoint_failed", exc_info=True)


def for_writes(engine: sa.Engine) -> sa.Engine:
    """The engine to use for read-modify-write transactions.

    On SQLite the transaction takes the write lock when it begins, so two writers queue on
    `busy_timeout` instead of one failing when it upgrades a read lock.
    """
    if engine.dialect.name == "sqlite":
        return engine.execution_options(**{_SQLITE_BEGIN: "IMMEDIATE"})
    return engine


def for_reads(engine: sa.Engine) -> sa.Engine:
    """The engine to use for single-statement reads: no transaction around the statement.

    Saves the BEGIN and ROLLBACK round trips on PostgreSQL and the BEGIN on SQLite. Do not
    use it for server-side cursors or for several statements that must see one snapshot.
    """
    if engine.dialect.name == "sqlite":
        return engine.execution_options(**{_SQLITE_BEGIN: "NONE"})
    return engine.execution_options(isolation_level="AUTOCOMMIT")


def migrate(engine: sa.Engine) -> None:
    """Bring the schema to the newest migration (`alembic upgrade head`); safe to repeat.

    Tables and Alembic's version table land in the connection's first `search_path` schema
    on PostgreSQL. Concurrent callers (several workers starting at once) are serialised by
    an advisory lock on PostgreSQL and by the write lock on SQLite.
    """
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS).replace("%", "%%"))
    with for_writes(engine).connect() as conn, conn.begin():
        if conn.dialect.name == "postgresql":
            conn.execute(_MIGRATION_LOCK)
        config.attributes["connection"] = conn
        command.upgrade(config, "head")
