"""Pooled DBAPI connections for the hot path, where SQLAlchemy's per-statement overhead
(about 30 µs) would cost more than SQLite itself.

Statements here are plain SQL written with `?` placeholders; `Dialect.sql` turns them into
the driver's style. Everything else goes through SQLAlchemy Core.
"""

from __future__ import annotations

import contextlib
import threading
from types import TracebackType
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine.interfaces import DBAPICursor
from sqlalchemy.pool import PoolProxiedConnection


class RawDialect:
    """What the hot path needs to know about the engine's database, and its connections.

    On SQLite each thread keeps one driver connection for good instead of checking one out
    of the pool per statement: the pool's checkout and reset cost ~60 µs, more than the
    statements. SQLite connections run in autocommit between transactions, so a kept
    connection never holds a transaction open. PostgreSQL connections go back to the pool.
    """

    __slots__ = ("_local", "dbapi", "is_sqlite")

    def __init__(self, engine: sa.Engine) -> None:
        self.is_sqlite = engine.dialect.name == "sqlite"
        self.dbapi: Any = engine.dialect.loaded_dbapi
        self._local = threading.local()

    def checkout(self, engine: sa.Engine) -> PoolProxiedConnection:
        if not self.is_sqlite:
            return engine.raw_connection()
        connection: PoolProxiedConnection | None = getattr(self._local, "connection", None)
        if connection is None:
            connection = engine.raw_connection()
            self._local.connection = connection
        return connection

    def checkin(self, connection: PoolProxiedConnection, *, broken: bool = False) -> None:
        if not self.is_sqlite:
            connection.close()
        elif broken:
            self._local.connection = None
            with contextlib.suppress(Exception):
                connection.invalidate()

    def sql(self, statement: str) -> str:
        """`statement` with `?` placeholders in the driver's paramstyle."""
        return statement if self.is_sqlite else statement.replace("?", "%s")


class RawTransaction:
    """One write transaction on a pooled connection: commit on success, roll back on error.

    On SQLite it begins with `BEGIN IMMEDIATE` (see `engine.for_writes`); psycopg begins
    implicitly. Use a new instance per transaction.
    """

    __slots__ = ("_connection", "_cursor", "_dialect", "_engine", "_sqlite")

    def __init__(self, engine: sa.Engine, dialect: RawDialect) -> None:
        self._engine = engine
        self._dialect = dialect
        self._sqlite = dialect.is_sqlite

    def __enter__(self) -> DBAPICursor:
        self._connection: PoolProxiedConnection = self._dialect.checkout(self._engine)
        try:
            self._cursor = self._connection.cursor()
            if self._sqlite:
                self._cursor.execute("BEGIN IMMEDIATE")
        except BaseException:
            self._dialect.checkin(self._connection, broken=True)
            raise
        return self._cursor

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        broken = False
        try:
            if exc is None:
                self._connection.commit()
            else:
                # The first error is the one to report; a connection that cannot even roll
                # back is discarded.
                try:
                    self._connection.rollback()
                except Exception:
                    broken = True
        except BaseException:
            broken = True
            with contextlib.suppress(Exception):
                self._connection.rollback()
            raise
        finally:
            self._cursor.close()
            self._dialect.checkin(self._connection, broken=broken)


class RawRead:
    """A connection for single-statement reads, outside any transaction."""

    __slots__ = ("_connection", "_cursor", "_dialect", "_engine", "_sqlite")

    def __init__(self, engine: sa.Engine, dialect: RawDialect) -> None:
        self._engine = engine
        self._dialect = dialect
        self._sqlite = dialect.is_sqlite

    def __enter__(self) -> DBAPICursor:
        self._connection: PoolProxiedConnection = self._dialect.checkout(self._engine)
        try:
            if not self._sqlite:
                # One round trip instead of BEGIN, SELECT and the pool's ROLLBACK.
                driver: Any = self._connection.driver_connection
                driver.autocommit = True
            self._cursor = self._connection.cursor()
        except BaseException:
            self._dialect.checkin(self._connection, broken=True)
            raise
        return self._cursor

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            self._cursor.close()
            if not self._sqlite:
                driver: Any = self._connection.driver_connection
                driver.autocommit = False
        finally:
            self._dialect.checkin(self._connection)
