"""Sessions: opened at the assurance level the sign-in earned, kept alive by use up to an
absolute expiry, refreshed with single-use refresh tokens, revoked.

Only SHA-256 hashes of the access and refresh tokens are stored. Each level has its own idle
and absolute timeouts (`SessionLimits`); the idle timer restarts on every use but never runs
past the absolute expiry.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from payguard.audit.interfaces import AuditAction, AuditWriter
from payguard.auth.interfaces import Context, Session, SessionRepository
from payguard.auth.policy import SessionLimits
from payguard.core.clock import Clock
from payguard.core.errors import FactorRejected, NotFound
from payguard.core.ids import new_id

#: Why a partner's own revocation ended a session.
REVOKED_BY_PARTNER = "revoked by the partner"
#: Why presenting an already-used refresh token ended a session.
REFRESH_REUSED = "refresh token reused"


@dataclass(frozen=True, slots=True)
class IssuedSession:
    session: Session
    access_token: str
    refresh_token: str


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def idle_until(now: datetime, created: datetime, limits: SessionLimits) -> datetime:
    """When a session used at `now` goes idle: `limits.idle` later, capped at its absolute
    expiry."""
    return min(now + timedelta(seconds=limits.idle), created + timedelta(seconds=limits.absolute))


def _new_tokens() -> tuple[str, str]:
    return "pgs_" + secrets.token_urlsafe(32), "pgr_" + secrets.token_urlsafe(32)


class Sessions:
    """Opens, checks, refreshes and revokes the sessions of every tenant."""

    def __init__(
        self,
        store: SessionRepository,
        *,
        audit: AuditWriter,
        clock: Clock,
        limits: Mapping[int, SessionLimits],
    ) -> None:
        self._store = store
        self._audit = audit
        self._clock = clock
        self._limits = limits

    def open(self, tenant_id: str, user_id: str, level: int, *, context: Context) -> IssuedSession:
        limits = self._limits[level]
        now = self._clock.now()
        access, refresh = _new_tokens()
        session = Session(
            tenant_id=tenant_id,
            id=new_id(),
            user_id=user_id,
            level=level,
            token_hash=token_hash(access),
            refresh_hash=token_hash(refresh),
            created_at=now,
            last_seen_at=now,
            idle_expires_at=idle_until(now, now, limits),
            absolute_expires_at=now + timedelta(seconds=limits.absolute),
        )
        self._store.add_session(session)
        details = {"session_id": session.id, "level": level}
        self._audit.success(
            AuditAction.SESSION_CREATE,
            context.actor,
            f"user:{user_id}",
            tenant_id=tenant_id,
            details=details,
        )
        return IssuedSession(session, access, refresh)

    def refusal(self, session: Session) -> str | None:
        """Why the session no longer works (`revoked`, `idle`, `expired`), or None."""
        now = self._clock.now()
        if session.revoked_at is not None:
            return "revoked"
        if now >= session.absolute_expires_at:
            return "expired"
        if now >= session.idle_expires_at:
            return "idle"
        return None

    def introspect(self, tenant_id: str, access_token: str) -> tuple[Session | None, str | None]:
        """The session behind a token and why it does not work (None: it does, and its idle
        timer restarts)."""
        session = self._store.find_session(tenant_id, token_hash(access_token))
        if session is None:
            return None, "unknown"
        refusal = self.refusal(session)
        if refusal is None:
            now = self._clock.now()
            idle = idle_until(now, session.created_at, self._limits[session.level])
            self._store.touch_session(tenant_id, session.id, now, idle)
            session = self._store.get_session(tenant_id, session.id) or session
        return session, refusal

    def refresh(self, tenant_id: str, refresh_token: str, *, context: Context) -> IssuedSession:
        """New tokens for a live session. A refresh token works once: presenting one that
        was already used revokes the session (it was stolen, or the client is confused)."""
        presented = token_hash(refresh_token)
        session = self._store.find_session_by_refresh(tenant_id, presented)
        if session is None:
            raise FactorRejected("unknown refresh token")
        now = self._clock.now()
        target = f"user:{session.user_id}"
        if session.refresh_hash != presented:
            # An old refresh token: whoever holds the current one, one of the two stole it.
            if self._store.revoke_session(tenant_id, session.id, now, REFRESH_REUSED):
                details = {"session_id": session.id, "reason": REFRESH_REUSED}
                self._audit.success(
                    AuditAction.SESSION_REVOKE,
                    context.actor,
                    target,
                    tenant_id=tenant_id,
                    details=details,
                )
            raise FactorRejected("this refresh token was already used; the session is revoked")
        refusal = self.refusal(session)
        if refusal is not None:
            raise FactorRejected(f"the session is {refusal}")
        access, refresh = _new_tokens()
        idle = idle_until(now, session.created_at, self._limits[session.level])
        if not self._store.rotate_session(
            tenant_id,
            session.id,
            expected_refresh_hash=session.refresh_hash,
            token_hash=token_hash(access),
            refresh_hash=token_hash(refresh),
            last_seen_at=now,
            idle_expires_at=idle,
        ):
            self._store.revoke_session(tenant_id, session.id, now, REFRESH_REUSED)
            raise FactorRejected("this refresh token was already used; the session is revoked")
        self._audit.success(
            AuditAction.SESSION_REFRESH,
            context.actor,
            target,
            tenant_id=tenant_id,
            details={"session_id": session.id},
        )
        rotated = self._store.get_session(tenant_id, session.id)
        assert rotated is not None
        return IssuedSession(rotated, access, refresh)

    def revoke(self, tenant_id: str, session_id: str, *, context: Context) -> None:
        """End one session at the partner's request; `NotFound` unless it is live."""
        session = self._store.get_session(tenant_id, session_id)
        if session is None or not self._store.revoke_session(
            tenant_id, session_id, self._clock.now(), REVOKED_BY_PARTNER
        ):
            raise NotFound(f"no live session {session_id!r}")
        self._audit.success(
            AuditAction.SESSION_REVOKE,
            context.actor,
            f"user:{session.user_id}",
            tenant_id=tenant_id,
            details={"session_id": session_id},
        )

    def revoke_all(self, tenant_id: str, user_id: str, *, context: Context) -> int:
        """End every live session of the user at the partner's request; returns how many."""
        count = self._store.revoke_user_sessions(
            tenant_id, user_id, self._clock.now(), REVOKED_BY_PARTNER
        )
        self._audit.success(
            AuditAction.SESSION_REVOKE,
            context.actor,
            f"user:{user_id}",
            tenant_id=tenant_id,
            details={"sessions": count},
        )
        return count

    def credentials_changed(self, tenant_id: str, user_id: str, reason: str) -> None:
        """End every live session of the user: one of their credentials changed (the change
        itself is what gets audited)."""
        self._store.revoke_user_sessions(tenant_id, user_id, self._clock.now(), reason)

    def of_user(self, tenant_id: str, user_id: str) -> list[Session]:
        """Live and revoked, newest first."""
        return self._store.list_sessions(tenant_id, user_id)

    def purge(self, before: datetime) -> int:
        """Forget every tenant's sessions that ended before `before`; returns how many."""
        return self._store.purge_sessions(before)
