"""Driver errors turned into domain errors at the edge of every SQL repository."""

from __future__ import annotations

from types import TracebackType
from typing import Any

import sqlalchemy as sa

from payguard.core.errors import BackendUnavailable, Conflict

#: SQLite primary result codes that mean the database, not the statement, is at fault:
#: BUSY, LOCKED, NOMEM, READONLY, IOERR, CORRUPT, FULL, CANTOPEN, PROTOCOL.
_SQLITE_UNAVAILABLE = frozenset({5, 6, 7, 8, 10, 11, 13, 14, 15})


class StoreErrors:
    """Context manager: a lost or locked database → `BackendUnavailable`; a serialisation
    failure or deadlock (SQLSTATE class 40) → `conflict`, so the caller retries.

    Handles both SQLAlchemy's wrapped errors and the raw driver's (the hot path talks to the
    driver directly). Integrity errors pass through untouched: each repository knows what
    they mean.
    """

    __slots__ = ("_conflict", "_dbapi")

    def __init__(self, engine: sa.Engine, conflict: type[Conflict] = Conflict) -> None:
        self._dbapi: Any = engine.dialect.loaded_dbapi
        self._conflict = conflict

    def __enter__(self) -> None:
        return None

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is None:
            return
        if isinstance(exc, sa.exc.DBAPIError):
            if isinstance(exc, sa.exc.IntegrityError):
                return
            driver_error: BaseException | None = exc.orig
            lost = exc.connection_invalidated or isinstance(
                exc, sa.exc.OperationalError | sa.exc.InterfaceError
            )
        elif isinstance(exc, self._dbapi.Error):
            if isinstance(exc, self._dbapi.IntegrityError):
                return
            driver_error = exc
            lost = isinstance(exc, self._dbapi.OperationalError | self._dbapi.InterfaceError)
        else:
            return
        sqlstate = getattr(driver_error, "sqlstate", None)
        if isinstance(sqlstate, str) and sqlstate.startswith("40"):
            raise self._conflict("a concurrent change got there first; retry") from exc
        sqlite_code = getattr(driver_error, "sqlite_errorcode", None)
        if isinstance(sqlite_code, int):
            lost = (sqlite_code & 0xFF) in _SQLITE_UNAVAILABLE
        if lost:
            raise BackendUnavailable("the relational store did not answer") from exc
