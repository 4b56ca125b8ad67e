"""Authentication records in the relational store.

Every compare-and-set of the ports (`advance_counter`, `use_nonce`, `use_recovery_code`,
`count_attempt`, `finish_challenge`, `rotate_session`, `reserve_attempt`) is one conditional
statement: a guarded `UPDATE`, or an `INSERT ... ON CONFLICT` whose `RETURNING` row says
whether it took. PostgreSQL re-checks the guard against the newest row version after waiting
on a concurrent writer's row lock, and SQLite's write lock puts writers in a line, so of two
workers racing for the same TOTP step, nonce, code or refresh token exactly one wins.

Rows and domain objects are separate: `_credential`, `_challenge` and `_session` convert.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from payguard.adapters.sql import tables
from payguard.adapters.sql._errors import StoreErrors
from payguard.adapters.sql.engine import for_reads, for_writes
from payguard.auth.interfaces import (
    AuthUser,
    Challenge,
    ChallengePurpose,
    ChallengeStatus,
    Credential,
    CredentialKind,
    SealedTotpSecret,
    Session,
    Throttle,
)
from payguard.core.errors import Conflict, NotFound

__all__ = ["SqlAuthRepository"]

_U = tables.auth_users
_C = tables.auth_credentials
_R = tables.auth_recovery_codes
_N = tables.auth_nonces
_CH = tables.auth_challenges
_S = tables.auth_sessions
_T = tables.auth_throttles

_USER = (
    _U.c.tenant_id,
    _U.c.user_id,
    _U.c.created_at,
    _U.c.handle,
    _U.c.password_hash,
    _U.c.password_changed_at,
)
_CREDENTIAL = (
    _C.c.tenant_id,
    _C.c.credential_id,
    _C.c.user_id,
    _C.c.kind,
    _C.c.label,
    _C.c.created_at,
    _C.c.lookup,
    _C.c.counter,
    _C.c.data,
    _C.c.confirmed,
    _C.c.last_used_at,
    _C.c.revoked_at,
)
_CHALLENGE = (
    _CH.c.tenant_id,
    _CH.c.challenge_id,
    _CH.c.user_id,
    _CH.c.purpose,
    _CH.c.created_at,
    _CH.c.expires_at,
    _CH.c.nonce,
    _CH.c.status,
    _CH.c.level,
    _CH.c.assessment_id,
    _CH.c.binding,
    _CH.c.attempts,
    _CH.c.completed_at,
    _CH.c.factors,
)
_SESSION = (
    _S.c.tenant_id,
    _S.c.session_id,
    _S.c.user_id,
    _S.c.level,
    _S.c.token_hash,
    _S.c.refresh_hash,
    _S.c.created_at,
    _S.c.last_seen_at,
    _S.c.idle_expires_at,
    _S.c.absolute_expires_at,
    _S.c.revoked_at,
    _S.c.revoked_reason,
    _S.c.previous_refresh_hash,
)
_THROTTLE = (_T.c.failures, _T.c.last_failure_at, _T.c.locked_until)


class SqlAuthRepository:
    """Every port of `payguard.auth.interfaces` on SQL: `UserRepository`,
    `SessionRepository`, `ChallengeRepository`, `ThrottleRepository`, `NonceRepository`
    and `TotpSecretStore`.
    """

    def __init__(self, engine: sa.Engine) -> None:
        self._dialect = engine.dialect.name
        self._reads = for_reads(engine)
        self._writes = for_writes(engine)
        self._guard = StoreErrors(engine)

    # users

    def add_user(self, user: AuthUser) -> None:
        row = {
            "tenant_id": user.tenant_id,
            "user_id": user.user_id,
            "created_at": user.created_at,
            "handle": user.handle,
            "password_hash": user.password_hash,
            "password_changed_at": user.password_changed_at,
        }
        try:
            with self._guard, self._writes.begin() as conn:
                conn.execute(sa.insert(_U), row)
        except sa.exc.IntegrityError as exc:
            raise Conflict(f"user {user.user_id!r} exists") from exc

    def get_user(self, tenant_id: str, user_id: str) -> AuthUser | None:
        query = sa.select(*_USER).where(_U.c.tenant_id == tenant_id, _U.c.user_id == user_id)
        row = self._first(query)
        return None if row is None else _user(row)

    def set_password(
        self, tenant_id: str, user_id: str, password_hash: str, changed_at: datetime
    ) -> None:
        update = (
            sa.update(_U)
            .where(_U.c.tenant_id == tenant_id, _U.c.user_id == user_id)
            .values(password_hash=password_hash, password_changed_at=changed_at)
        )
        if not self._change(update):
            raise NotFound(f"unknown user {user_id!r}")

    # credentials

    def add_credential(self, credential: Credential) -> None:
        row = {
            "tenant_id": credential.tenant_id,
            "credential_id": credential.id,
            "user_id": credential.user_id,
            "kind": credential.kind.value,
            "label": credential.label,
            "created_at": credential.created_at,
            "lookup": credential.lookup,
            "counter": credential.counter,
            "data": tables.to_json(credential.data),
            "confirmed": credential.confirmed,
            "last_used_at": credential.last_used_at,
            "revoked_at": credential.revoked_at,
        }
        try:
            with self._guard, self._writes.begin() as conn:
                conn.execute(sa.insert(_C), row)
        except sa.exc.IntegrityError as exc:
            raise Conflict(
                f"credential {credential.id!r} exists, or a live {credential.kind.value} "
                "credential already has that lookup"
            ) from exc

    def get_credential(self, tenant_id: str, credential_id: str) -> Credential | None:
        query = sa.select(*_CREDENTIAL).where(*_credential_key(tenant_id, credential_id))
        row = self._first(query)
        return None if row is None else _credential(row)

    def find_credential(
        self, tenant_id: str, kind: CredentialKind, lookup: str
    ) -> Credential | None:
        query = sa.select(*_CREDENTIAL).where(
            _C.c.tenant_id == tenant_id,
            _C.c.kind == kind.value,
            _C.c.lookup == lookup,
            _C.c.revoked_at.is_(None),
        )
        row = self._first(query)
        return None if row is None else _credential(row)

    def list_credentials(
        self, tenant_id: str, user_id: str, *, include_revoked: bool = False
    ) -> list[Credential]:
        query = (
            sa.select(*_CREDENTIAL)
            .where(_C.c.tenant_id == tenant_id, _C.c.user_id == user_id)
            .order_by(_C.c.created_at, _C.c.credential_id)
        )
        if not include_revoked:
            query = query.where(_C.c.revoked_at.is_(None))
        with self._guard, self._reads.connect() as conn:
            return [_credential(row) for row in conn.execute(query)]

    def some_totp_credentials(
        self, limit: int, *, secret_prefix: str | None = None
    ) -> list[Credential]:
        """Up to `limit` live TOTP credentials of any tenant (their secrets sealed): what the
        composition root opens at start to tell that the sealing key is still the right one.
        No order, so the scan stops at the first rows found. `secret_prefix`: only secrets
        stored in that format (`v1.`, `kr1.`)."""
        query = (
            sa.select(*_CREDENTIAL)
            .where(_C.c.kind == CredentialKind.TOTP.value, _C.c.revoked_at.is_(None))
            .limit(limit)
        )
        if secret_prefix is not None:
            # The data column is compact JSON text (`tables.to_json`).
            query = query.where(_C.c.data.like(f'%"secret":"{secret_prefix}%'))
        with self._guard, self._reads.connect() as conn:
            return [_credential(row) for row in conn.execute(query)]

    def sealed_totp_secrets(
        self, *, tenant_id: str | None, after: tuple[str, str] | None, limit: int
    ) -> list[SealedTotpSecret]:
        """`TotpSecretStore`: revoked credentials too, so no secret is left under an old key."""
        query = (
            sa.select(_C.c.tenant_id, _C.c.credential_id, _C.c.data)
            .where(_C.c.kind == CredentialKind.TOTP.value)
            .order_by(_C.c.tenant_id, _C.c.credential_id)
            .limit(limit)
        )
        if tenant_id is not None:
            query = query.where(_C.c.tenant_id == tenant_id)
        if after is not None:
            query = query.where(sa.tuple_(_C.c.tenant_id, _C.c.credential_id) > after)
        with self._guard, self._reads.connect() as conn:
            rows = conn.execute(query).all()
        return [
            SealedTotpSecret(tenant, credential_id, str(tables.from_json(data).get("secret")))
            for tenant, credential_id, data in rows
        ]

    def replace_totp_secret(self, tenant_id: str, credential_id: str, old: str, new: str) -> bool:
        """`TotpSecretStore`: one guarded `UPDATE` on the stored data as read, so a
        concurrent change of the row (a new secret, a revocation) is never overwritten."""
        key = (*_credential_key(tenant_id, credential_id), _C.c.kind == CredentialKind.TOTP.value)
        with self._guard, self._writes.begin() as conn:
            stored = conn.execute(sa.select(_C.c.data).where(*key)).scalar_one_or_none()
            if stored is None:
                return False
            data = tables.from_json(stored)
            if data.get("secret") != old:
                return False
            data["secret"] = new
            changed = conn.execute(
                sa.update(_C).where(*key, _C.c.data == stored).values(data=tables.to_json(data))
            )
            return int(changed.rowcount) == 1

    def confirm_credential(self, tenant_id: str, credential_id: str, at: datetime) -> bool:
        """Also stamps `last_used_at`: the first code is what confirms an enrolment."""
        return self._change(
            sa.update(_C)
            .where(
                *_credential_key(tenant_id, credential_id),
                _C.c.confirmed.is_(False),
                _C.c.revoked_at.is_(None),
            )
            .values(confirmed=True, last_used_at=at)
        )

    def advance_counter(
        self, tenant_id: str, credential_id: str, expected: int, new: int, at: datetime
    ) -> bool:
        return self._change(
            sa.update(_C)
            .where(
                *_credential_key(tenant_id, credential_id),
                _C.c.counter == expected,
                _C.c.revoked_at.is_(None),
            )
            .values(counter=new, last_used_at=at)
        )

    def revoke_credential(self, tenant_id: str, credential_id: str, at: datetime) -> bool:
        return self._change(
            sa.update(_C)
            .where(*_credential_key(tenant_id, credential_id), _C.c.revoked_at.is_(None))
            .values(revoked_at=at)
        )

    # recovery codes

    def replace_recovery_codes(
        self, tenant_id: str, user_id: str, code_hashes: Sequence[str], at: datetime
    ) -> None:
        rows = [
            {"tenant_id": tenant_id, "user_id": user_id, "code_hash": code_hash, "created_at": at}
            for code_hash in dict.fromkeys(code_hashes)
        ]
        with self._guard, self._writes.begin() as conn:
            conn.execute(sa.delete(_R).where(_R.c.tenant_id == tenant_id, _R.c.user_id == user_id))
            if rows:
                conn.execute(sa.insert(_R), rows)

    def use_recovery_code(self, tenant_id: str, user_id: str, code_hash: str, at: datetime) -> bool:
        return self._change(
            sa.update(_R)
            .where(
                _R.c.tenant_id == tenant_id,
                _R.c.user_id == user_id,
                _R.c.code_hash == code_hash,
                _R.c.used_at.is_(None),
            )
            .values(used_at=at)
        )

    def count_recovery_codes(self, tenant_id: str, user_id: str) -> int:
        query = sa.select(sa.func.count()).where(
            _R.c.tenant_id == tenant_id, _R.c.user_id == user_id, _R.c.used_at.is_(None)
        )
        with self._guard, self._reads.connect() as conn:
            return int(conn.execute(query).scalar_one())

    # replay defence

    def use_nonce(self, tenant_id: str, scope: str, nonce: str, expires_at: datetime) -> bool:
        """A nonce stays seen until `purge_nonces` forgets it, even past its expiry."""
        insert = (
            tables.dialect_insert(self._dialect, _N)
            .values(tenant_id=tenant_id, scope=scope, nonce=nonce, expires_at=expires_at)
            .on_conflict_do_nothing(index_elements=[_N.c.tenant_id, _N.c.scope, _N.c.nonce])
            .returning(_N.c.nonce)
        )
        with self._guard, self._writes.begin() as conn:
            return conn.execute(insert).first() is not None

    def purge_nonces(self, before: datetime) -> int:
        """Every tenant's: a housekeeping job, not a request, calls it."""
        return self._count(sa.delete(_N).where(_N.c.expires_at < before))

    def purge_challenges(self, before: datetime) -> int:
        return self._count(sa.delete(_CH).where(_CH.c.expires_at < before))

    def purge_sessions(self, before: datetime) -> int:
        return self._count(
            sa.delete(_S).where(sa.or_(_S.c.revoked_at < before, _S.c.absolute_expires_at < before))
        )

    # challenges

    def add_challenge(self, challenge: Challenge) -> None:
        row = {
            "tenant_id": challenge.tenant_id,
            "challenge_id": challenge.id,
            "user_id": challenge.user_id,
            "purpose": challenge.purpose.value,
            "status": challenge.status.value,
            "created_at": challenge.created_at,
            "expires_at": challenge.expires_at,
            "nonce": challenge.nonce,
            "level": challenge.level,
            "assessment_id": challenge.assessment_id,
            "binding": tables.to_json(challenge.binding),
            "attempts": challenge.attempts,
            "completed_at": challenge.completed_at,
            "factors": tables.to_json(list(challenge.factors)),
        }
        try:
            with self._guard, self._writes.begin() as conn:
                conn.execute(sa.insert(_CH), row)
        except sa.exc.IntegrityError as exc:
            raise Conflict(f"challenge {challenge.id!r} exists") from exc

    def get_challenge(self, tenant_id: str, challenge_id: str) -> Challenge | None:
        query = sa.select(*_CHALLENGE).where(*_challenge_key(tenant_id, challenge_id))
        row = self._first(query)
        return None if row is None else _challenge(row)

    def pending_step_up(self, tenant_id: str, assessment_id: str) -> Challenge | None:
        query = (
            sa.select(*_CHALLENGE)
            .where(
                _CH.c.tenant_id == tenant_id,
                _CH.c.assessment_id == assessment_id,
                _CH.c.purpose == ChallengePurpose.STEP_UP.value,
            )
            .order_by(_CH.c.created_at.desc(), _CH.c.challenge_id.desc())
            .limit(1)
        )
        row = self._first(query)
        return None if row is None else _challenge(row)

    def count_attempt(self, tenant_id: str, challenge_id: str, expected_attempts: int) -> bool:
        return self._change(
            sa.update(_CH)
            .where(
                *_challenge_key(tenant_id, challenge_id),
                _CH.c.status == ChallengeStatus.PENDING.value,
                _CH.c.attempts == expected_attempts,
            )
            .values(attempts=_CH.c.attempts + 1)
        )

    def return_attempt(self, tenant_id: str, challenge_id: str, counted_attempts: int) -> bool:
        return self._change(
            sa.update(_CH)
            .where(
                *_challenge_key(tenant_id, challenge_id),
                _CH.c.status == ChallengeStatus.PENDING.value,
                _CH.c.attempts == counted_attempts,
                _CH.c.attempts > 0,
            )
            .values(attempts=_CH.c.attempts - 1)
        )

    def finish_challenge(
        self,
        tenant_id: str,
        challenge_id: str,
        *,
        status: ChallengeStatus,
        at: datetime,
        factors: Sequence[str] = (),
    ) -> bool:
        if status is ChallengeStatus.PENDING:
            raise ValueError("a challenge finishes as passed or failed, not pending")
        return self._change(
            sa.update(_CH)
            .where(
                *_challenge_key(tenant_id, challenge_id),
                _CH.c.status == ChallengeStatus.PENDING.value,
            )
            .values(status=status.value, completed_at=at, factors=tables.to_json(list(factors)))
        )

    # sessions

    def add_session(self, session: Session) -> None:
        row = {
            "tenant_id": session.tenant_id,
            "session_id": session.id,
            "user_id": session.user_id,
            "level": session.level,
            "token_hash": session.token_hash,
            "refresh_hash": session.refresh_hash,
            "created_at": session.created_at,
            "last_seen_at": session.last_seen_at,
            "idle_expires_at": session.idle_expires_at,
            "absolute_expires_at": session.absolute_expires_at,
            "revoked_at": session.revoked_at,
            "revoked_reason": session.revoked_reason,
            "previous_refresh_hash": session.previous_refresh_hash,
        }
        try:
            with self._guard, self._writes.begin() as conn:
                conn.execute(sa.insert(_S), row)
        except sa.exc.IntegrityError as exc:
            raise Conflict(f"session {session.id!r} or one of its token hashes exists") from exc

    def get_session(self, tenant_id: str, session_id: str) -> Session | None:
        return self._session(*_session_key(tenant_id, session_id))

    def find_session(self, tenant_id: str, token_hash: str) -> Session | None:
        return self._session(_S.c.tenant_id == tenant_id, _S.c.token_hash == token_hash)

    def find_session_by_refresh(self, tenant_id: str, refresh_hash: str) -> Session | None:
        """Revoked or not, like `find_session`."""
        return self._session(
            _S.c.tenant_id == tenant_id,
            sa.or_(_S.c.refresh_hash == refresh_hash, _S.c.previous_refresh_hash == refresh_hash),
        )

    def _session(self, *where: sa.ColumnElement[bool]) -> Session | None:
        row = self._first(sa.select(*_SESSION).where(*where))
        return None if row is None else _session(row)

    def touch_session(
        self, tenant_id: str, session_id: str, last_seen_at: datetime, idle_expires_at: datetime
    ) -> None:
        """Never moves `last_seen_at` back: of two requests touching at once, the later wins."""
        self._change(
            sa.update(_S)
            .where(*_session_key(tenant_id, session_id), _S.c.last_seen_at <= last_seen_at)
            .values(last_seen_at=last_seen_at, idle_expires_at=idle_expires_at)
        )

    def rotate_session(
        self,
        tenant_id: str,
        session_id: str,
        *,
        expected_refresh_hash: str,
        token_hash: str,
        refresh_hash: str,
        last_seen_at: datetime,
        idle_expires_at: datetime,
    ) -> bool:
        update = (
            sa.update(_S)
            .where(
                *_session_key(tenant_id, session_id),
                _S.c.refresh_hash == expected_refresh_hash,
                _S.c.revoked_at.is_(None),
            )
            .values(
                token_hash=token_hash,
                refresh_hash=refresh_hash,
                previous_refresh_hash=expected_refresh_hash,
                last_seen_at=last_seen_at,
                idle_expires_at=idle_expires_at,
            )
        )
        try:
            return self._change(update)
        except sa.exc.IntegrityError as exc:
            raise Conflict("another session already has that token hash") from exc

    def revoke_session(self, tenant_id: str, session_id: str, at: datetime, reason: str) -> bool:
        return self._change(
            sa.update(_S)
            .where(*_session_key(tenant_id, session_id), _S.c.revoked_at.is_(None))
            .values(revoked_at=at, revoked_reason=reason)
        )

    def revoke_user_sessions(self, tenant_id: str, user_id: str, at: datetime, reason: str) -> int:
        """Counts every session not yet revoked, expired or not."""
        return self._count(
            sa.update(_S)
            .where(_S.c.tenant_id == tenant_id, _S.c.user_id == user_id, _S.c.revoked_at.is_(None))
            .values(revoked_at=at, revoked_reason=reason)
        )

    def list_sessions(self, tenant_id: str, user_id: str) -> list[Session]:
        query = (
            sa.select(*_SESSION)
            .where(_S.c.tenant_id == tenant_id, _S.c.user_id == user_id)
            .order_by(_S.c.created_at.desc(), _S.c.session_id.desc())
        )
        with self._guard, self._reads.connect() as conn:
            return [_session(row) for row in conn.execute(query)]

    # brute-force throttling

    def get_throttle(self, tenant_id: str, key: str) -> Throttle:
        row = self._first(sa.select(*_THROTTLE).where(*_throttle_key(tenant_id, key)))
        return Throttle(key) if row is None else _throttle(key, row)

    def record_failure(
        self, tenant_id: str, key: str, at: datetime, *, threshold: int, lock_seconds: float
    ) -> Throttle:
        """One upsert: the failure count and the lock move together under the row lock."""
        row = self._count_failure(tenant_id, key, at, threshold, lock_seconds, unlocked=False)
        assert row is not None
        return _throttle(key, row)

    def reserve_attempt(
        self, tenant_id: str, key: str, at: datetime, *, threshold: int, lock_seconds: float
    ) -> Throttle | None:
        """The same upsert, its update guarded by "not locked at `at`": PostgreSQL
        re-checks the guard on the newest row version after waiting on a concurrent
        reservation, SQLite's write lock puts them in a line, so the reservation that
        reaches the threshold locks the key before the next one is judged."""
        row = self._count_failure(tenant_id, key, at, threshold, lock_seconds, unlocked=True)
        return None if row is None else _throttle(key, row)

    def release_attempt(self, tenant_id: str, key: str, *, lock: datetime | None) -> None:
        values: dict[str, Any] = {"failures": _T.c.failures - 1}
        if lock is not None:
            values["locked_until"] = sa.case(
                (_T.c.locked_until == sa.literal(lock, tables.UtcDateTime()), sa.null()),
                else_=_T.c.locked_until,
            )
        self._count(
            sa.update(_T).where(*_throttle_key(tenant_id, key), _T.c.failures > 0).values(values)
        )

    def _count_failure(
        self,
        tenant_id: str,
        key: str,
        at: datetime,
        threshold: int,
        lock_seconds: float,
        *,
        unlocked: bool,
    ) -> Sequence[Any] | None:
        """failures += 1 (and the lock at each multiple of `threshold`) in one upsert; with
        `unlocked`, only if the key is not locked at `at` (None if it is)."""
        if threshold < 1:
            raise ValueError("threshold must be at least 1")
        until = at + timedelta(seconds=lock_seconds)
        failures = _T.c.failures + 1
        insert = tables.dialect_insert(self._dialect, _T).values(
            tenant_id=tenant_id,
            key=key,
            failures=1,
            last_failure_at=at,
            locked_until=until if threshold == 1 else None,
        )
        at_ = sa.literal(at, tables.UtcDateTime())
        upsert = insert.on_conflict_do_update(
            index_elements=[_T.c.tenant_id, _T.c.key],
            set_={
                "failures": failures,
                "last_failure_at": at,
                "locked_until": sa.case(
                    (failures % threshold == 0, sa.literal(until, tables.UtcDateTime())),
                    else_=_T.c.locked_until,
                ),
            },
            where=sa.or_(_T.c.locked_until.is_(None), _T.c.locked_until <= at_)
            if unlocked
            else None,
        ).returning(*_THROTTLE)
        with self._guard, self._writes.begin() as conn:
            return conn.execute(upsert).first()

    def clear_failures(self, tenant_id: str, key: str) -> None:
        self._count(sa.delete(_T).where(*_throttle_key(tenant_id, key)))

    # plumbing

    def _first(self, query: sa.Select[Any]) -> Sequence[Any] | None:
        with self._guard, self._reads.connect() as conn:
            return conn.execute(query).first()

    def _count(self, statement: sa.Update | sa.Delete) -> int:
        """Run one write statement; how many rows it changed."""
        with self._guard, self._writes.begin() as conn:
            return int(conn.execute(statement).rowcount)

    def _change(self, statement: sa.Update) -> bool:
        """Run one guarded update; whether it took."""
        return self._count(statement) == 1


def _credential_key(tenant_id: str, credential_id: str) -> tuple[sa.ColumnElement[bool], ...]:
    return _C.c.tenant_id == tenant_id, _C.c.credential_id == credential_id


def _challenge_key(tenant_id: str, challenge_id: str) -> tuple[sa.ColumnElement[bool], ...]:
    return _CH.c.tenant_id == tenant_id, _CH.c.challenge_id == challenge_id


def _session_key(tenant_id: str, session_id: str) -> tuple[sa.ColumnElement[bool], ...]:
    return _S.c.tenant_id == tenant_id, _S.c.session_id == session_id


def _throttle_key(tenant_id: str, key: str) -> tuple[sa.ColumnElement[bool], ...]:
    return _T.c.tenant_id == tenant_id, _T.c.key == key


def _user(row: Sequence[Any]) -> AuthUser:
    tenant_id, user_id, created_at, handle, password_hash, password_changed_at = row
    return AuthUser(
        tenant_id=tenant_id,
        user_id=user_id,
        created_at=created_at,
        handle=bytes(handle),
        password_hash=password_hash,
        password_changed_at=password_changed_at,
    )


def _credential(row: Sequence[Any]) -> Credential:
    (
        tenant_id,
        credential_id,
        user_id,
        kind,
        label,
        created_at,
        lookup,
        counter,
        data,
        confirmed,
        last_used_at,
        revoked_at,
    ) = row
    return Credential(
        tenant_id=tenant_id,
        id=credential_id,
        user_id=user_id,
        kind=CredentialKind(kind),
        label=label,
        created_at=created_at,
        lookup=lookup,
        counter=int(counter),
        data=tables.from_json(data),
        confirmed=bool(confirmed),
        last_used_at=last_used_at,
        revoked_at=revoked_at,
    )


def _challenge(row: Sequence[Any]) -> Challenge:
    (
        tenant_id,
        challenge_id,
        user_id,
        purpose,
        created_at,
        expires_at,
        nonce,
        status,
        level,
        assessment_id,
        binding,
        attempts,
        completed_at,
        factors,
    ) = row
    return Challenge(
        tenant_id=tenant_id,
        id=challenge_id,
        user_id=user_id,
        purpose=ChallengePurpose(purpose),
        created_at=created_at,
        expires_at=expires_at,
        nonce=bytes(nonce),
        status=ChallengeStatus(status),
        level=None if level is None else int(level),
        assessment_id=assessment_id,
        binding=tables.from_json(binding),
        attempts=int(attempts),
        completed_at=completed_at,
        factors=tuple(tables.from_json(factors)),
    )


def _session(row: Sequence[Any]) -> Session:
    (
        tenant_id,
        session_id,
        user_id,
        level,
        token_hash,
        refresh_hash,
        created_at,
        last_seen_at,
        idle_expires_at,
        absolute_expires_at,
        revoked_at,
        revoked_reason,
        previous_refresh_hash,
    ) = row
    return Session(
        tenant_id=tenant_id,
        id=session_id,
        user_id=user_id,
        level=int(level),
        token_hash=token_hash,
        refresh_hash=refresh_hash,
        created_at=created_at,
        last_seen_at=last_seen_at,
        idle_expires_at=idle_expires_at,
        absolute_expires_at=absolute_expires_at,
        revoked_at=revoked_at,
        revoked_reason=revoked_reason,
        previous_refresh_hash=previous_refresh_hash,
    )


def _throttle(key: str, row: Sequence[Any]) -> Throttle:
    failures, last_failure_at, locked_until = row
    return Throttle(
        key=key, failures=int(failures), last_failure_at=last_failure_at, locked_until=locked_until
    )
