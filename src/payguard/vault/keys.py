"""The keyring: per-tenant, per-purpose data keys under envelope encryption.

A sealed value is bytes: a header (format byte 1, the key version as 4 bytes big-endian),
a random 96-bit nonce, then the AES-256-GCM ciphertext and tag. The associated data binds
the tenant, the purpose and the key version (and any caller `aad`), so a value copied to
another tenant, purpose or version does not open. With random nonces one data key stays
safe for about 2**32 seals (NIST SP 800-38D): rotate well before that.

Unwrapped data keys are cached in process (bounded, least recently used first out); key
metadata (which version is current, which are retired) is cached for `ttl` seconds, and
dropped at once in the process that rotates or retires. No key is ever logged.
"""

from __future__ import annotations

import os
import struct
import threading
from collections import OrderedDict
from collections.abc import Callable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from payguard.audit.interfaces import Actor, AuditAction, AuditWriter
from payguard.core.clock import Clock
from payguard.core.errors import StateConflict, ValidationFailed
from payguard.vault.interfaces import (
    DATA_KEY_BYTES,
    DataKeyRepository,
    KeySource,
    KeyStatus,
    KeyVersion,
    KeyVersionRetired,
    KeyVersionUnknown,
    SealedValueRejected,
    WrappedKey,
    check_purpose,
)

__all__ = ["FORMAT", "Keyring", "sealed_version", "wrap_aad"]

#: The sealed-value format byte.
FORMAT = 1
_HEADER = struct.Struct(">BI")
_NONCE_BYTES = 12
_TAG_BYTES = 16
_MAX_VERSION = 2**32 - 1
#: Tries of a rotation that lost a race with another process's.
_RETRIES = 5


def _framed(label: bytes, *parts: bytes) -> bytes:
    """`label` and each part length-prefixed: no two different tuples frame the same."""
    out = [label]
    for part in parts:
        out.append(struct.pack(">I", len(part)))
        out.append(part)
    return b"".join(out)


def wrap_aad(tenant_id: str, purpose: str, version: int) -> bytes:
    """The associated data a KEK wraps a data key with: tenant, purpose, version."""
    return _framed(
        b"payguard/vault/dek/v1",
        tenant_id.encode(),
        purpose.encode(),
        struct.pack(">I", version),
    )


def _seal_aad(tenant_id: str, purpose: str, version: int, aad: bytes) -> bytes:
    return _framed(
        b"payguard/vault/seal/v1",
        tenant_id.encode(),
        purpose.encode(),
        struct.pack(">I", version),
        aad,
    )


def sealed_version(sealed: bytes) -> int:
    """The key version a sealed value was sealed under; SealedValueRejected if it is not
    a sealed value."""
    if not isinstance(sealed, bytes) or len(sealed) < _HEADER.size + _NONCE_BYTES + _TAG_BYTES:
        raise SealedValueRejected()
    form, version = _HEADER.unpack_from(sealed)
    if form != FORMAT or version < 1:
        raise SealedValueRejected()
    return int(version)


def _check_tenant(tenant_id: str) -> str:
    if not isinstance(tenant_id, str) or not tenant_id or len(tenant_id) > 128:
        raise ValidationFailed("a tenant id of 1 to 128 characters is required", field="tenant")
    return tenant_id


class Keyring:
    """Seals and opens values, and hands out FPE keys, under per-tenant versioned data keys;
    rotates and retires versions (audited)."""

    def __init__(
        self,
        repository: DataKeyRepository,
        source: KeySource,
        *,
        audit: AuditWriter,
        clock: Clock,
        ttl: float = 5.0,
        cache_size: int = 1024,
        random: Callable[[int], bytes] = os.urandom,
    ) -> None:
        self._repository = repository
        self._source = source
        self._audit = audit
        self._clock = clock
        self._ttl = ttl
        self._cache_size = cache_size
        self._random = random
        self._lock = threading.Lock()
        self._keys: OrderedDict[tuple[str, str, int], bytes] = OrderedDict()
        self._meta: dict[tuple[str, str, int], tuple[float, KeyVersion]] = {}
        self._current: dict[tuple[str, str], tuple[float, int]] = {}

    @property
    def source(self) -> KeySource:
        return self._source

    def fresh_version(self, tenant_id: str, purpose: str) -> int | None:
        """The pair's current version if this process holds it fresh (read within `ttl`), else
        None: a check cheap enough for a hot path's own cache, with no store access. The names
        are not checked here; they were when the version was first read."""
        cached = self._current.get((tenant_id, purpose))
        if cached is not None and self._clock.now().timestamp() - cached[0] < self._ttl:
            return cached[1]
        return None

    # -- sealing ----------------------------------------------------------------------------

    def seal(self, tenant_id: str, purpose: str, plaintext: bytes, aad: bytes = b"") -> bytes:
        """`plaintext` encrypted under the pair's current data key (made on first use)."""
        version, dek = self._current_key(tenant_id, purpose)
        nonce = self._random(_NONCE_BYTES)
        body = AESGCM(dek).encrypt(nonce, plaintext, _seal_aad(tenant_id, purpose, version, aad))
        return _HEADER.pack(FORMAT, version) + nonce + body

    def open(self, tenant_id: str, purpose: str, sealed: bytes, aad: bytes = b"") -> bytes:
        """The plaintext of `sealed`: SealedValueRejected if it does not open here,
        KeyVersionRetired if its key version was retired."""
        _check_tenant(tenant_id)
        check_purpose(purpose)
        version = sealed_version(sealed)
        try:
            dek = self.data_key_at(tenant_id, purpose, version)
        except KeyVersionUnknown:
            raise SealedValueRejected() from None
        start = _HEADER.size
        nonce = sealed[start : start + _NONCE_BYTES]
        try:
            return AESGCM(dek).decrypt(
                nonce, sealed[start + _NONCE_BYTES :], _seal_aad(tenant_id, purpose, version, aad)
            )
        except InvalidTag:
            raise SealedValueRejected() from None

    # -- data keys --------------------------------------------------------------------------

    def data_key(self, tenant_id: str, purpose: str) -> tuple[int, bytes]:
        """The pair's current version and its data key (made on first use): the key new
        writes use, such as the FF1 key for `fpe:pan`."""
        return self._current_key(tenant_id, purpose)

    def data_key_at(self, tenant_id: str, purpose: str, version: int) -> bytes:
        """The data key of one version: KeyVersionUnknown if there is none,
        KeyVersionRetired if it was retired."""
        _check_tenant(tenant_id)
        check_purpose(purpose)
        meta = self._version(tenant_id, purpose, version)
        if meta.retired:
            raise KeyVersionRetired(
                f"key version {version} of {purpose!r} was retired: values under it no longer open"
            )
        return self._dek(tenant_id, purpose, version)

    def _current_key(self, tenant_id: str, purpose: str) -> tuple[int, bytes]:
        _check_tenant(tenant_id)
        check_purpose(purpose)
        now = self._clock.now().timestamp()
        with self._lock:
            cached = self._current.get((tenant_id, purpose))
        if cached is not None and now - cached[0] < self._ttl:
            version = cached[1]
        else:
            stored = self._repository.current(tenant_id, purpose)
            if stored is None:
                stored = self._first_key(tenant_id, purpose)
            version = stored.key.version
            self._remember(stored.key, now)
            with self._lock:
                self._current[(tenant_id, purpose)] = (now, version)
        return version, self._dek(tenant_id, purpose, version)

    def _first_key(self, tenant_id: str, purpose: str) -> WrappedKey:
        try:
            return self._new_version(tenant_id, purpose, 1)
        except StateConflict:  # another process made it first: use theirs
            stored = self._repository.current(tenant_id, purpose)
            if stored is None:
                raise
            return stored

    def _new_version(self, tenant_id: str, purpose: str, version: int) -> WrappedKey:
        if version > _MAX_VERSION:
            raise ValidationFailed("no key versions left for this purpose", field="version")
        dek = self._random(DATA_KEY_BYTES)
        kek_id = self._source.key_id()
        wrapped = self._source.wrap(kek_id, dek, wrap_aad(tenant_id, purpose, version))
        stored = WrappedKey(
            KeyVersion(tenant_id, purpose, version, kek_id, self._clock.now()), wrapped
        )
        self._repository.add(stored)
        return stored

    def _version(self, tenant_id: str, purpose: str, version: int) -> KeyVersion:
        now = self._clock.now().timestamp()
        with self._lock:
            cached = self._meta.get((tenant_id, purpose, version))
        if cached is not None and now - cached[0] < self._ttl:
            return cached[1]
        stored = self._repository.get(tenant_id, purpose, version)
        if stored is None:
            raise KeyVersionUnknown(f"no key version {version} of {purpose!r} for this tenant")
        self._remember(stored.key, now)
        return stored.key

    def _remember(self, key: KeyVersion, now: float) -> None:
        with self._lock:
            self._meta[(key.tenant_id, key.purpose, key.version)] = (now, key)
            if len(self._meta) > self._cache_size:
                self._meta.pop(next(iter(self._meta)))

    def _dek(self, tenant_id: str, purpose: str, version: int) -> bytes:
        slot = (tenant_id, purpose, version)
        with self._lock:
            dek = self._keys.get(slot)
            if dek is not None:
                self._keys.move_to_end(slot)
        if dek is not None:
            return dek
        stored = self._repository.get(tenant_id, purpose, version)
        if stored is None:
            raise KeyVersionUnknown(f"no key version {version} of {purpose!r} for this tenant")
        plain = self._source.unwrap(
            stored.key.kek_id, stored.wrapped, wrap_aad(tenant_id, purpose, version)
        )
        with self._lock:
            self._keys[slot] = plain
            while len(self._keys) > self._cache_size:
                self._keys.popitem(last=False)
        return plain

    def forget(self) -> None:
        """Drop every cached key and key state (they are read again on next use)."""
        with self._lock:
            self._keys.clear()
            self._meta.clear()
            self._current.clear()

    # -- rotation and retirement ------------------------------------------------------------

    def rotate(
        self, *, actor: Actor, tenant_id: str | None = None, purpose: str | None = None
    ) -> list[KeyVersion]:
        """A new version for every matching (tenant, purpose) pair that has keys, or for the
        one pair named in full (its first if it has none); new writes use it at once here and
        within `ttl` seconds in other processes. Older versions still open."""
        if tenant_id is not None:
            _check_tenant(tenant_id)
        if purpose is not None:
            check_purpose(purpose)
        pairs = self._pairs(tenant_id, purpose)
        if not pairs and tenant_id is not None and purpose is not None:
            pairs = [(tenant_id, purpose)]
        made: list[KeyVersion] = []
        for tenant, use in pairs:
            key = self._rotate_one(tenant, use)
            made.append(key)
            self._audit.success(
                AuditAction.KEY_ROTATE,
                actor,
                f"key:{use}",
                tenant_id=tenant,
                details={"version": key.version, "kek": key.kek_id},
            )
        return made

    def _rotate_one(self, tenant_id: str, purpose: str) -> KeyVersion:
        for attempt in range(_RETRIES):
            current = self._repository.current(tenant_id, purpose)
            version = 1 if current is None else current.key.version + 1
            try:
                stored = self._new_version(tenant_id, purpose, version)
            except StateConflict:
                if attempt == _RETRIES - 1:
                    raise
                continue
            now = self._clock.now().timestamp()
            self._remember(stored.key, now)
            with self._lock:
                self._current[(tenant_id, purpose)] = (now, version)
            return stored.key
        raise AssertionError("unreachable")  # pragma: no cover

    def retire(
        self,
        *,
        below: int,
        actor: Actor,
        tenant_id: str | None = None,
        purpose: str | None = None,
    ) -> list[KeyVersion]:
        """Retire every version below `below` of the matching pairs: values under them are
        refused from then on. A pair's current version is never retired: `below` above it
        is refused before anything changes (rotate first)."""
        if isinstance(below, bool) or not isinstance(below, int) or below < 2:
            raise ValidationFailed("'below' must be a key version of 2 or more", field="below")
        if tenant_id is not None:
            _check_tenant(tenant_id)
        if purpose is not None:
            check_purpose(purpose)
        versions = self._repository.versions(tenant_id=tenant_id, purpose=purpose)
        currents: dict[tuple[str, str], int] = {}
        for key in versions:
            pair = (key.tenant_id, key.purpose)
            currents[pair] = max(currents.get(pair, 0), key.version)
        short = sorted(f"{use} (current {v})" for (_, use), v in currents.items() if v < below)
        if short:
            raise ValidationFailed(
                f"retiring below {below} would retire a current key version: "
                f"rotate first: {', '.join(short)}",
                field="below",
            )
        at = self._clock.now()
        retired: list[KeyVersion] = []
        for tenant, use in sorted(currents):
            marked = self._repository.retire(tenant, use, below, at)
            with self._lock:
                for version in marked:
                    self._meta.pop((tenant, use, version), None)
                    self._keys.pop((tenant, use, version), None)
            if not marked:
                continue
            self._audit.success(
                AuditAction.KEY_RETIRE,
                actor,
                f"key:{use}",
                tenant_id=tenant,
                details={"below": below, "versions": marked},
            )
            retired.extend(
                key
                for key in versions
                if key.tenant_id == tenant and key.purpose == use and key.version in marked
            )
        return retired

    def status(
        self, *, tenant_id: str | None = None, purpose: str | None = None
    ) -> list[KeyStatus]:
        """Every key version matching the filters, whether it is current, and whether it
        is retired. How many values each protects is counted once tokens are stored
        (`protects` is None until then)."""
        versions = self._repository.versions(tenant_id=tenant_id, purpose=purpose)
        currents: dict[tuple[str, str], int] = {}
        for key in versions:
            pair = (key.tenant_id, key.purpose)
            currents[pair] = max(currents.get(pair, 0), key.version)
        return [
            KeyStatus(key, current=currents[(key.tenant_id, key.purpose)] == key.version)
            for key in versions
        ]

    def destroy(self, tenant_id: str, purpose: str) -> int:
        """Delete every version of a per-subject pair (`subject:<digest>`) and forget it in
        this process: values sealed under it never open again (crypto-shredding). How many
        versions were destroyed. Other processes forget it within the cache TTL."""
        _check_tenant(tenant_id)
        if not check_purpose(purpose).startswith("subject:"):
            raise ValidationFailed("only per-subject keys are destroyed", field="purpose")
        deleted = self._repository.delete(tenant_id, purpose)
        with self._lock:
            self._current.pop((tenant_id, purpose), None)
            for slot in [s for s in self._keys if s[:2] == (tenant_id, purpose)]:
                del self._keys[slot]
            for slot in [s for s in self._meta if s[:2] == (tenant_id, purpose)]:
                del self._meta[slot]
        return deleted

    def _pairs(self, tenant_id: str | None, purpose: str | None) -> list[tuple[str, str]]:
        versions = self._repository.versions(tenant_id=tenant_id, purpose=purpose)
        return sorted({(key.tenant_id, key.purpose) for key in versions})
