"""The token service: tokenize, detokenize (by role and declared purpose, audited,
rate-limited), metadata, revocation and crypto-shredding.

Styles (`TokenStyle`, chosen per kind by the tenant's `VaultPolicy`):

- `fpe_deterministic`: format-preserving (`formats.format_for`) under the tenant's
  `fpe:<kind>` data key and `tweak_for(tenant, kind, scope)`. A PAN keeps its last four and
  not its BIN, so the token equals the one `vault/cards.py` gives the same card. The token
  is stored too (no value): for its metadata, scope, expiry, revocation and key version.
- `vault_deterministic`: a random `tok_<kind>_...` token; the value sealed by the keyring
  (`token:<kind>`, or the subject's own key), the token as associated data. A lookup digest,
  HMAC-SHA-256 under the tenant's `index:<kind>` key over (scope, subject, value), finds the
  existing token of a value, so the same value gets the same token.
- `vault_random`: like the above without the digest: every call makes a new token.

Crypto-shredding: a value tokenized with a `subject` is sealed under that subject's own data
key (`subject:<31 hex digits of SHA-256(subject)>`). `shred` destroys those keys and erases
the sealed values and digests of the subject's tokens, so they resolve to nothing, even for
someone holding the database and the KEK. Format-preserving tokens are made under the
tenant's key, so they refuse a `subject`.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import struct
import threading
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from payguard.audit.interfaces import Actor, AuditAction, AuditWriter
from payguard.core.clock import Clock
from payguard.core.errors import StateConflict, ValidationFailed
from payguard.core.ids import is_identifier, is_purpose
from payguard.tenancy.interfaces import Role
from payguard.vault.formats import (
    MaskView,
    PanFormat,
    format_for,
    mask,
    new_vault_token,
    tweak_for,
)
from payguard.vault.formats import (
    detokenize as fpe_detokenize,
)
from payguard.vault.interfaces import (
    DetokenizeDenied,
    DetokenizeRateLimited,
    SealedRecord,
    TokenDomainViolation,
    TokenRecord,
    TokenRefused,
    TokenRepository,
    TokenStyle,
    TokenUnknown,
)
from payguard.vault.keys import Keyring, sealed_version
from payguard.vault.kinds import Kind, canonical
from payguard.vault.policy import PolicySource, StaticPolicies

__all__ = [
    "MAX_TTL",
    "MAX_VALUES",
    "DetokenizeAllowance",
    "Shredded",
    "Token",
    "TokenService",
    "subject_purpose",
]

#: The most values (or tokens) one call takes.
MAX_VALUES = 1000
#: The longest a token may live.
MAX_TTL = timedelta(days=400)
_SCOPE = re.compile(r"(merchant|device|channel):[A-Za-z0-9][A-Za-z0-9._:@+\-]{0,127}")
_TOKEN_MAX = 128
_LOOKUP_LABEL = b"payguard/vault/lookup/v1"
_ADD_TRIES = 3


@dataclass(frozen=True, slots=True)
class Token:
    """A token as tokenize returns it: the token, the value masked (`last4`; None for kinds
    with no masking view), and the token's metadata."""

    token: str
    masked: str | None
    kind: Kind
    style: TokenStyle
    scope: str
    key_version: int
    created_at: datetime
    expires_at: datetime | None
    revoked: bool


@dataclass(frozen=True, slots=True)
class Shredded:
    """What a shred destroyed: the subject's tokens and data-key versions."""

    subject: str
    tokens: int
    key_versions: int


def subject_purpose(subject: str) -> str:
    """The keyring purpose of a subject's own data key: a digest, since a purpose is
    lower-case and short and a subject id need not be."""
    return "subject:" + hashlib.sha256(subject.encode()).hexdigest()[:31]


class DetokenizeAllowance:
    """At most `limit` clear values per `window` per caller (tenant and API key), in this
    process: a sliding window on the injected clock. With several workers each has its
    own window, so a caller gets up to `limit` per worker."""

    def __init__(
        self, clock: Clock, *, limit: int = 5000, window: timedelta = timedelta(minutes=1)
    ):
        self._clock = clock
        self._limit = limit
        self._window = window
        self._lock = threading.Lock()
        self._taken: dict[tuple[str, str], deque[tuple[datetime, int]]] = {}

    @property
    def limit(self) -> int:
        return self._limit

    def take(self, tenant_id: str, caller: str, count: int, limit: int | None = None) -> int | None:
        """Take `count` values from the caller's allowance (`limit`, the tenant policy's, or
        this allowance's own); None if taken, else the seconds until enough is free again
        (nothing is taken then)."""
        limit = self._limit if limit is None else limit
        now = self._clock.now()
        with self._lock:
            taken = self._taken.setdefault((tenant_id, caller), deque())
            while taken and taken[0][0] <= now - self._window:
                taken.popleft()
            used = sum(n for _, n in taken)
            if used + count <= limit:
                taken.append((now, count))
                return None
            if count > limit or not taken:
                return int(self._window.total_seconds())
            free = used + count - limit
            for at, n in taken:
                free -= n
                if free <= 0:
                    return max(1, int((at + self._window - now).total_seconds()) + 1)
            return int(self._window.total_seconds())  # pragma: no cover


def _framed(*parts: str) -> bytes:
    out = [_LOOKUP_LABEL]
    for part in parts:
        encoded = part.encode()
        out.append(struct.pack(">I", len(encoded)))
        out.append(encoded)
    return b"".join(out)


def _kind(kind: Kind | str) -> Kind:
    try:
        return Kind(kind)
    except ValueError:
        raise ValidationFailed(
            f"unknown kind: one of {', '.join(k.value for k in Kind)}", field="kind"
        ) from None


def _masked(kind: Kind, value: str) -> str | None:
    try:
        return mask(kind, value, MaskView.LAST4)
    except ValidationFailed:
        return None


def _check_values(values: Sequence[str], field: str) -> None:
    if isinstance(values, str) or not isinstance(values, Sequence):
        raise ValidationFailed(f"'{field}' is a list", field=field)
    if not values:
        raise ValidationFailed(f"'{field}' needs at least one item", field=field)
    if len(values) > MAX_VALUES:
        raise ValidationFailed(
            f"at most {MAX_VALUES} {field} per call, not {len(values)}", field=field
        )


class TokenService:
    """Tokens over the keyring and the token store (see the module docstring)."""

    def __init__(
        self,
        repository: TokenRepository,
        keyring: Keyring,
        *,
        audit: AuditWriter,
        clock: Clock,
        policies: PolicySource | None = None,
        allowance: DetokenizeAllowance | None = None,
    ) -> None:
        self._repository = repository
        self._keyring = keyring
        self._audit = audit
        self._clock = clock
        self._policies: PolicySource = policies if policies is not None else StaticPolicies()
        self._allowance = allowance if allowance is not None else DetokenizeAllowance(clock)

    # -- tokenize ---------------------------------------------------------------------------

    def tokenize(
        self,
        tenant_id: str,
        kind: Kind | str,
        values: Sequence[str],
        *,
        actor: Actor,
        style: TokenStyle | str | None = None,
        scope: str = "",
        ttl: timedelta | None = None,
        subject: str | None = None,
    ) -> list[Token]:
        """A token for each value, in order. Every value is checked before anything is
        stored: the first invalid one is a ValidationFailed naming it (`values[3]`)."""
        kind = _kind(kind)
        _check_values(values, "values")
        chosen = self._style(tenant_id, kind, style)
        if scope and (not isinstance(scope, str) or _SCOPE.fullmatch(scope) is None):
            raise ValidationFailed(
                "a scope is merchant:<id>, device:<id> or channel:<id> (letters, digits and "
                ". _ : @ + -, at most 128)",
                field="scope",
            )
        if ttl is not None and not timedelta(0) < ttl <= MAX_TTL:
            raise ValidationFailed(
                f"a token lives 1 second to {MAX_TTL.days} days", field="ttl_seconds"
            )
        if subject is not None:
            if not is_identifier(subject):
                raise ValidationFailed(
                    "a subject id is 1-128 letters, digits and . _ : @ + - (starting with "
                    "a letter or digit)",
                    field="subject",
                )
            if chosen is TokenStyle.FPE_DETERMINISTIC:
                raise ValidationFailed(
                    "format-preserving tokens are made under the tenant's key and cannot be "
                    "crypto-shredded per subject: use style vault_deterministic or vault_random",
                    field="subject",
                )
        clear = [canonical(kind, value, field=f"values[{i}]") for i, value in enumerate(values)]
        now = self._clock.now()
        expires = None if ttl is None else now + ttl
        if chosen is TokenStyle.FPE_DETERMINISTIC:
            records = self._fpe(tenant_id, kind, clear, scope, now, expires)
        else:
            records = self._vault(tenant_id, kind, chosen, clear, scope, now, expires, subject)
        details: dict[str, object] = {
            "kind": kind.value,
            "style": chosen.value,
            "scope": scope,
            "count": len(clear),
        }
        if subject is not None:
            details["subject"] = subject
        self._audit.success(
            AuditAction.TOKEN_CREATE,
            actor,
            f"token:{kind.value}",
            tenant_id=tenant_id,
            details=details,
        )
        return [
            Token(
                token=record.token,
                masked=_masked(kind, value),
                kind=kind,
                style=record.style,
                scope=record.scope,
                key_version=record.key_version,
                created_at=record.created_at,
                expires_at=record.expires_at,
                revoked=record.revoked_at is not None,
            )
            for record, value in zip(records, clear, strict=True)
        ]

    def _style(self, tenant_id: str, kind: Kind, asked: TokenStyle | str | None) -> TokenStyle:
        wanted: TokenStyle | None = None
        if asked is not None:
            try:
                wanted = TokenStyle(asked)
            except ValueError:
                raise ValidationFailed(
                    f"unknown style: one of {', '.join(s.value for s in TokenStyle)}",
                    field="style",
                ) from None
        chosen = self._policies.policy(tenant_id).style_for(kind, wanted)
        if chosen is None:
            raise ValidationFailed(
                f"the vault policy does not allow style {wanted} for {kind.value} values",
                field="style",
            )
        return chosen

    def _fpe(
        self,
        tenant_id: str,
        kind: Kind,
        clear: list[str],
        scope: str,
        now: datetime,
        expires: datetime | None,
    ) -> list[TokenRecord]:
        # keep_last4=True, keep_bin=False: the same token vault/cards.py gives a card.
        fmt = format_for(kind, keep_bin=False, keep_last4=True)
        version, key = self._keyring.data_key(tenant_id, f"fpe:{kind.value}")
        tweak = tweak_for(tenant_id, kind, scope)
        tokens: list[str] = []
        if isinstance(fmt, PanFormat):
            # One pass for the batch (it names a refused value's index itself).
            tokens = fmt.tokenize_batch(clear, key=key, version=version, tweak=tweak)
        else:
            for index, value in enumerate(clear):
                try:
                    tokens.append(fmt.tokenize(value, key=key, version=version, tweak=tweak))
                except ValidationFailed as exc:
                    raise type(exc)(exc.message, field=f"values[{index}]") from None
        fresh = {
            token: TokenRecord(
                tenant_id=tenant_id,
                token=token,
                kind=kind.value,
                style=TokenStyle.FPE_DETERMINISTIC,
                scope=scope,
                key_version=version,
                created_at=now,
                expires_at=expires,
            )
            for token in tokens
        }
        stored = self._add_missing(tenant_id, fresh, by_lookup=False)
        return [stored[token] for token in tokens]

    def _vault(
        self,
        tenant_id: str,
        kind: Kind,
        style: TokenStyle,
        clear: list[str],
        scope: str,
        now: datetime,
        expires: datetime | None,
        subject: str | None,
    ) -> list[TokenRecord]:
        purpose = subject_purpose(subject) if subject is not None else f"token:{kind.value}"

        def record(value: str, lookup: str | None) -> TokenRecord:
            token = new_vault_token(kind)
            sealed = self._keyring.seal(tenant_id, purpose, value.encode(), aad=token.encode())
            return TokenRecord(
                tenant_id=tenant_id,
                token=token,
                kind=kind.value,
                style=style,
                scope=scope,
                key_version=sealed_version(sealed),
                created_at=now,
                sealed=sealed,
                lookup=lookup,
                expires_at=expires,
                subject_id=subject,
            )

        if style is TokenStyle.VAULT_RANDOM:
            records = [record(value, None) for value in clear]
            self._repository.add(records)
            return records
        version, index_key = self._keyring.data_key(tenant_id, f"index:{kind.value}")
        lookups = [
            f"{version}:"
            + hmac.new(
                index_key, _framed(kind.value, scope, subject or "", value), hashlib.sha256
            ).hexdigest()
            for value in clear
        ]
        fresh: dict[str, TokenRecord] = {}
        for value, lookup in zip(clear, lookups, strict=True):
            if lookup not in fresh:
                fresh[lookup] = record(value, lookup)
        stored = self._add_missing(tenant_id, fresh, by_lookup=True)
        return [stored[lookup] for lookup in lookups]

    def _add_missing(
        self, tenant_id: str, fresh: dict[str, TokenRecord], *, by_lookup: bool
    ) -> dict[str, TokenRecord]:
        """`fresh` by key (token or lookup digest), with the stored record wherever one
        exists already; stores the rest. A concurrent writer that stored some first wins."""
        keys = list(fresh)
        for attempt in range(_ADD_TRIES):
            found = (
                self._repository.find(tenant_id, keys)
                if by_lookup
                else self._repository.get(tenant_id, keys)
            )
            missing = [fresh[key] for key in keys if key not in found]
            try:
                self._repository.add(missing)
            except StateConflict:
                if attempt == _ADD_TRIES - 1:
                    raise
                continue
            return {key: found.get(key, fresh[key]) for key in keys}
        raise AssertionError("unreachable")  # pragma: no cover

    # -- detokenize -------------------------------------------------------------------------

    def detokenize(
        self,
        tenant_id: str,
        tokens: Sequence[str],
        *,
        purpose: str,
        role: Role,
        actor: Actor,
        scope: str = "",
    ) -> list[str]:
        """The canonical value behind each token, in order; only if the tenant's policy lets
        `role` detokenize for `purpose`, and each token is live and used in its own scope.
        Every call is audited, allowed or not; one refused token refuses the whole call."""
        _check_values(tokens, "tokens")
        for index, token in enumerate(tokens):
            if not isinstance(token, str) or not 0 < len(token) <= _TOKEN_MAX:
                raise ValidationFailed(
                    f"a token is 1 to {_TOKEN_MAX} characters", field=f"tokens[{index}]"
                )
        if not is_purpose(purpose):
            raise ValidationFailed(
                "a purpose is 1-32 lower-case letters and _, such as fraud_investigation",
                field="purpose",
            )
        if scope and (not isinstance(scope, str) or _SCOPE.fullmatch(scope) is None):
            raise ValidationFailed(
                "a scope is merchant:<id>, device:<id> or channel:<id>", field="scope"
            )
        target = f"token:{tokens[0]}" if len(tokens) == 1 else f"tokens:{len(tokens)}"
        details: dict[str, object] = {
            "purpose": purpose,
            "role": role.value,
            "tokens": list(tokens),
        }
        if scope:
            details["scope"] = scope

        def refuse(reason: str, error: Exception) -> Exception:
            self._audit.denied(
                AuditAction.TOKEN_DETOKENIZE,
                actor,
                target,
                tenant_id=tenant_id,
                details={**details, "reason": reason},
            )
            return error

        policy = self._policies.policy(tenant_id)
        if not policy.may_detokenize(role, purpose):
            raise refuse(
                "policy",
                DetokenizeDenied(
                    f"the vault policy does not let role {role.value!r} detokenize "
                    f"for purpose {purpose!r}"
                ),
            )
        limit = policy.detokenize_rate_per_minute or self._allowance.limit
        wait = self._allowance.take(tenant_id, actor.key_id or actor.name, len(tokens), limit)
        if wait is not None:
            raise refuse(
                "rate_limited",
                DetokenizeRateLimited(
                    f"at most {limit} values per minute per caller: retry in {wait} s",
                    retry_after=wait,
                ),
            )
        records = self._repository.get(tenant_id, list(tokens))
        now = self._clock.now()
        for token in tokens:
            stored = records.get(token)
            if stored is None:
                raise refuse("unknown", TokenUnknown(f"no token {token!r} in this tenant"))
            if stored.revoked_at is not None:
                raise refuse("revoked", TokenRefused(f"token {token!r} was revoked"))
            if stored.expires_at is not None and stored.expires_at <= now:
                raise refuse("expired", TokenRefused(f"token {token!r} has expired"))
            if stored.scope and stored.scope != scope:
                raise refuse(
                    "domain",
                    TokenDomainViolation(
                        f"token {token!r} is bound to another domain than "
                        f"{scope or 'none'!r}: refused"
                    ),
                )
            if stored.style is not TokenStyle.FPE_DETERMINISTIC and stored.sealed is None:
                raise refuse("shredded", TokenRefused(f"token {token!r} resolves to nothing"))
        values = [self._value(records[token]) for token in tokens]
        self._audit.success(
            AuditAction.TOKEN_DETOKENIZE, actor, target, tenant_id=tenant_id, details=details
        )
        return values

    def _value(self, record: TokenRecord) -> str:
        kind = Kind(record.kind)
        if record.style is TokenStyle.FPE_DETERMINISTIC:
            purpose = f"fpe:{kind.value}"
            key = self._keyring.data_key_at(record.tenant_id, purpose, record.key_version)
            value, _ = fpe_detokenize(
                format_for(kind, keep_bin=False, keep_last4=True),
                record.token,
                keys={record.key_version: key},
                tweak=tweak_for(record.tenant_id, kind, record.scope),
                version=record.key_version,
            )
            return value
        purpose = _sealing_purpose(record)
        assert record.sealed is not None  # checked by the caller
        return self._keyring.open(
            record.tenant_id, purpose, record.sealed, aad=record.token.encode()
        ).decode()

    # -- metadata, revoke, shred ------------------------------------------------------------

    def metadata(self, tenant_id: str, token: str) -> TokenRecord:
        """The stored token (kind, style, scope, times, key version, subject); TokenUnknown
        if this tenant has no such token."""
        if not isinstance(token, str) or not 0 < len(token) <= _TOKEN_MAX:
            raise ValidationFailed(f"a token is 1 to {_TOKEN_MAX} characters", field="token")
        found = self._repository.get(tenant_id, [token]).get(token)
        if found is None:
            raise TokenUnknown(f"no token {token!r} in this tenant")
        return found

    def revoke(self, tenant_id: str, token: str, *, actor: Actor) -> TokenRecord:
        """Revoke a token: it no longer detokenizes (audited)."""
        self.metadata(tenant_id, token)
        revoked = self._repository.revoke(tenant_id, token, self._clock.now())
        if revoked is None:  # deleted between the two calls: nothing to revoke
            raise TokenUnknown(f"no token {token!r} in this tenant")
        self._audit.success(AuditAction.TOKEN_REVOKE, actor, f"token:{token}", tenant_id=tenant_id)
        return revoked

    def shred(self, tenant_id: str, subject: str, *, actor: Actor) -> Shredded:
        """Crypto-shred a subject: destroy its data keys, then erase its tokens' sealed
        values and lookup digests (audited). Idempotent."""
        if not is_identifier(subject):
            raise ValidationFailed(
                "a subject id is 1-128 letters, digits and . _ : @ + -", field="subject"
            )
        versions = self._keyring.destroy(tenant_id, subject_purpose(subject))
        tokens = self._repository.forget_subject(tenant_id, subject, self._clock.now())
        self._audit.success(
            AuditAction.TOKEN_SHRED,
            actor,
            f"subject:{subject}",
            tenant_id=tenant_id,
            details={"tokens": tokens, "key_versions": versions},
        )
        return Shredded(subject, tokens, versions)


class TokenSealedValues:
    """The vault-style tokens' sealed values as the keyring's `SealedValues`: what `payguard
    keys rewrap` re-seals under the current key version and `keys status` counts. A token's
    purpose is `token:<kind>`, or its subject's own `subject:...` key. Format-preserving
    tokens hold no sealed value: their key version is in the token itself, and a rotation
    gives a value a new token instead."""

    name = "vault tokens"

    def __init__(self, repository: TokenRepository, keyring: Keyring) -> None:
        self._repository = repository
        self._keyring = keyring

    def covers(self, purpose: str) -> bool:
        return purpose.startswith(("token:", "subject:"))

    def records(
        self,
        *,
        tenant_id: str | None = None,
        purpose: str | None = None,
        after: tuple[str, str] | None = None,
        limit: int = 500,
    ) -> list[SealedRecord]:
        found: list[SealedRecord] = []
        while len(found) < limit:
            page = self._repository.sealed(tenant_id=tenant_id, after=after, limit=limit)
            for record in page:
                assert record.sealed is not None  # the store lists only sealed ones
                own = _sealing_purpose(record)
                if purpose is None or own == purpose:
                    found.append(
                        SealedRecord(
                            record.tenant_id,
                            own,
                            record.token,
                            sealed_version(record.sealed),
                            record.sealed.hex(),
                        )
                    )
            if len(page) < limit:
                break
            after = (page[-1].tenant_id, page[-1].token)
        return found[:limit]

    def reseal(self, record: SealedRecord) -> bool:
        old = bytes.fromhex(record.stored)
        aad = record.id.encode()
        value = self._keyring.open(record.tenant_id, record.purpose, old, aad=aad)
        new = self._keyring.seal(record.tenant_id, record.purpose, value, aad=aad)
        return self._repository.replace_sealed(
            record.tenant_id, record.id, old, new, sealed_version(new)
        )


def _sealing_purpose(record: TokenRecord) -> str:
    """The keyring purpose a vault token's value is sealed under."""
    if record.subject_id is not None:
        return subject_purpose(record.subject_id)
    return f"token:{record.kind}"
