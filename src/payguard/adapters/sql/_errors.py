"""Driver errors turned into domain errors at the edge of every SQL repository."""

from __future__ import annotations

from types import TracebackType

import sqlalchemy as sa

from payguard.core.errors import BackendUnavailable, Conflict


class StoreErrors:
    """Context manager: a lost or locked database → `BackendUnavailable`; a serialisation
    failure or deadlock (SQLSTATE class 40) → `conflict` so the caller retries.

    Integrity errors pass through untouched; each repository knows what they mean.
    """

    __slots__ = ("_conflict",)

    def __init__(self, conflict: type[Conflict] = Conflict) -> None:
        self._conflict = conflict

    def __enter__(self) -> None:
        return None

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if not isinstance(exc, sa.exc.DBAPIError) or isinstance(exc, sa.exc.IntegrityError):
            return
        sqlstate = getattr(exc.orig, "sqlstate", None)
        if isinstance(sqlstate, str) and sqlstate.startswith("40"):
            raise self._conflict("a concurrent change got there first; retry") from exc
        if exc.connection_invalidated or isinstance(
            exc, sa.exc.OperationalError | sa.exc.InterfaceError
        ):
            raise BackendUnavailable("the relational store did not answer") from exc
