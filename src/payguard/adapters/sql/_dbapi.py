"""Pooled DBAPI connections for the hot path, where SQLAlchemy's per-statement overhead
(about 30 µs) would cost more than SQLite itself.

Statements here are plain SQL written with `?` placeholders; `Dialect.sql` turns them into
the driver's style. Everything else goes through SQLAlchemy Core.
"""

from __future__ import annotations

import contextlib
from types import TracebackType
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine.interfaces import DBAPICursor
from sqlalchemy.pool import PoolProxiedConnection


class RawDialect:
    """What the hot path needs to know about the engine's database."""

    __slots__ = ("dbapi", "is_sqlite")

    def __init__(self, engine: sa.Engine) -> None:
        self.is_sqlite = engine.dialect.name == "sqlite"
        self.dbapi: Any = engine.dialect.loaded_dbapi

    def sql(self, statement: str) -> str:
        """`statement` with `?` placeholders in the driver's paramstyle."""
        return statement if self.is_sqlite else statement.replace("?", "%s")


class RawTransaction:
    """One write transaction on a pooled connection: commit on success, roll back on error.

    On SQLite it begins with `BEGIN IMMEDIATE` (see `engine.for_writes`); psycopg begins
    implicitly. Use a new instance per transaction.
    """

    __slots__ = ("_connection", "_cursor", "_engine", "_sqlite")

    def __init__(self, engine: sa.Engine, dialect: RawDialect) -> None:
        self._engine = engine
        self._sqlite = dialect.is_sqlite

    def __enter__(self) -> DBAPICursor:
        self._connection: PoolProxiedConnection = self._engine.raw_connection()
        try:
            self._cursor = self._connection.cursor()
            if self._sqlite:
                self._cursor.execute("BEGIN IMMEDIATE")
        except BaseException:
            self._connection.close()
            raise
        return self._cursor

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if exc is None:
                self._connection.commit()
            else:
                # The first error is the one to report; the pool discards a broken connection.
                with contextlib.suppress(Exception):
                    self._connection.rollback()
        finally:
            self._cursor.close()
            self._connection.close()


class RawRead:
    """A pooled connection for single-statement reads, outside any transaction."""

    __slots__ = ("_connection", "_cursor", "_engine", "_sqlite")

    def __init__(self, engine: sa.Engine, dialect: RawDialect) -> None:
        self._engine = engine
        self._sqlite = dialect.is_sqlite

    def __enter__(self) -> DBAPICursor:
        self._connection: PoolProxiedConnection = self._engine.raw_connection()
        try:
            if not self._sqlite:
                # One round trip instead of BEGIN, SELECT and the pool's ROLLBACK.
                driver: Any = self._connection.driver_connection
                driver.autocommit = True
            self._cursor = self._connection.cursor()
        except BaseException:
            self._connection.close()
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
            self._connection.close()
