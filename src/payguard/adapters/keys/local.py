"""`LocalKeyFile`: the embedded default key source, a 32-byte KEK in a file readable by this
user only.

The file holds the key as base64 text and is created with mode 0600 on first use (written to
a private temporary file, O_EXCL, then published with `os.link`, which fails if the path
exists, so two racing processes end up with the same key). A key file that the group or
others can read is refused, and so is a missing one once data keys are stored: a new key
would silently orphan every stored value.

The KEK wraps data keys with AES-256-GCM: `nonce (12 bytes) + ciphertext + tag`, bound to
the associated data the keyring gives (tenant, purpose, version). Its id, `local:` and 16
hex digits of an HMAC-SHA-256 of a fixed label under the KEK, tells which file wrapped a
data key without saying anything about the key.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import hmac
import os
import secrets
import stat
import threading
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from payguard.vault.interfaces import DATA_KEY_BYTES, KeySourceUnavailable

__all__ = ["LocalKeyFile"]

_NONCE_BYTES = 12


class LocalKeyFile:
    """A KEK in a local file. `create`: make the file if it is missing (a fresh install);
    else a missing file is refused. The file is read on first use, or at once by `check`."""

    def __init__(self, path: Path, *, create: bool) -> None:
        self._path = Path(path)
        self._create = create
        self._lock = threading.Lock()
        self._kek: AESGCM | None = None
        self._id: str | None = None

    def check(self) -> None:
        """Read (or create) the key file now, so a bad one stops the start."""
        self._load()

    def key_id(self) -> str:
        return self._load()[1]

    def wrap(self, key_id: str, plaintext: bytes, aad: bytes) -> bytes:
        kek = self._kek_for(key_id)
        nonce = os.urandom(_NONCE_BYTES)
        return nonce + kek.encrypt(nonce, plaintext, aad)

    def unwrap(self, key_id: str, wrapped: bytes, aad: bytes) -> bytes:
        kek = self._kek_for(key_id)
        try:
            return kek.decrypt(wrapped[:_NONCE_BYTES], wrapped[_NONCE_BYTES:], aad)
        except InvalidTag:
            raise KeySourceUnavailable(
                f"a data key wrapped under {key_id} does not open with the key file "
                f"{self._path}: it was altered or stored for another tenant, purpose or version"
            ) from None

    def describe(self) -> str:
        return f"key file {self._path}"

    def _kek_for(self, key_id: str) -> AESGCM:
        kek, own_id = self._load()
        if key_id != own_id:
            raise KeySourceUnavailable(
                f"data keys were wrapped under {key_id} but the key file {self._path} holds "
                f"{own_id}: restore the key file these keys were made with"
            )
        return kek

    def _load(self) -> tuple[AESGCM, str]:
        with self._lock:
            if self._kek is None or self._id is None:
                raw = self._read_or_create()
                self._kek = AESGCM(raw)
                check = hmac.new(raw, b"payguard vault key id", hashlib.sha256).hexdigest()
                self._id = f"local:{check[:16]}"
            return self._kek, self._id

    def _read_or_create(self) -> bytes:
        with contextlib.suppress(FileNotFoundError):
            return self._read()
        if not self._create:
            raise KeySourceUnavailable(
                f"data keys are stored but the vault key file {self._path} is missing: "
                "restore it from your backup (a new key would not open them)"
            )
        self._path.parent.mkdir(parents=True, exist_ok=True)
        key = secrets.token_bytes(DATA_KEY_BYTES)
        temporary = self._path.with_name(f".{self._path.name}.{secrets.token_hex(8)}.tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w", encoding="ascii") as handle:
                handle.write(base64.b64encode(key).decode("ascii") + "\n")
                handle.flush()
                os.fsync(handle.fileno())
            try:
                os.link(temporary, self._path)
            except FileExistsError:
                return self._read()
        finally:
            temporary.unlink(missing_ok=True)
        return key

    def _read(self) -> bytes:
        fd = os.open(self._path, os.O_RDONLY)
        with os.fdopen(fd, "rb") as handle:
            mode = os.fstat(handle.fileno()).st_mode
            if mode & (stat.S_IRWXG | stat.S_IRWXO):
                raise KeySourceUnavailable(
                    f"the vault key file {self._path} is open to other users "
                    f"(mode {stat.S_IMODE(mode):04o}): run `chmod 600 {self._path}`"
                )
            text = handle.read(256)
        try:
            key = base64.b64decode(b"".join(text.split()), validate=True)
        except (binascii.Error, ValueError):
            raise KeySourceUnavailable(
                f"the vault key file {self._path} does not hold base64 text"
            ) from None
        if len(key) != DATA_KEY_BYTES:
            raise KeySourceUnavailable(
                f"the vault key file {self._path} must hold a {DATA_KEY_BYTES}-byte key"
            )
        return key
