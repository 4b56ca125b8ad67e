"""AES-256-GCM sealing of secrets at rest, such as TOTP secrets.

A sealed secret is `"v1." + urlsafe-base64(nonce (12 bytes) + ciphertext + tag)`. The nonce is
random per seal: with 96-bit random nonces one key stays safe for about 2**32 seals (NIST SP
800-38D), far more secrets than an operator enrols. The associated data (`aad`) binds a sealed
value to where it belongs (tenant, user, credential id), so a sealed secret copied to another
row does not open there.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import os
import pathlib
import secrets

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from payguard.core.errors import AuthenticationFailed

KEY_BYTES = 32
NONCE_BYTES = 12
TAG_BYTES = 16
PREFIX = "v1."


class SecretBox:
    """Seals and opens small secrets with one AES-256-GCM key."""

    def __init__(self, key: bytes) -> None:
        if len(key) != KEY_BYTES:
            raise ValueError(f"a SecretBox key must be {KEY_BYTES} bytes, got {len(key)}")
        self._aead = AESGCM(key)

    def seal(self, plaintext: bytes, *, aad: bytes) -> str:
        """`plaintext` encrypted and authenticated together with `aad`, as printable text."""
        nonce = os.urandom(NONCE_BYTES)
        sealed = nonce + self._aead.encrypt(nonce, plaintext, aad)
        return PREFIX + base64.urlsafe_b64encode(sealed).decode("ascii")

    def open(self, sealed: str, *, aad: bytes) -> bytes:
        """The plaintext of `sealed`; AuthenticationFailed if it was altered, sealed under
        another key or other `aad`, or is not a sealed value at all."""
        failed = AuthenticationFailed("sealed secret does not open")
        if not isinstance(sealed, str) or not sealed.startswith(PREFIX):
            raise failed
        try:
            raw = base64.b64decode(sealed[len(PREFIX) :], altchars=b"-_", validate=True)
        except (binascii.Error, ValueError):
            raise failed from None
        if len(raw) < NONCE_BYTES + TAG_BYTES:
            raise failed
        try:
            return self._aead.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], aad)
        except InvalidTag:
            raise failed from None


def key_from_base64(text: str) -> bytes:
    """A 32-byte key from its base64 text (standard or URL-safe alphabet, padding optional)."""
    cleaned = "".join(text.split())
    if not cleaned:
        raise ValueError("the sealing key is empty")
    cleaned = cleaned.replace("-", "+").replace("_", "/")
    cleaned += "=" * (-len(cleaned) % 4)
    try:
        key = base64.b64decode(cleaned, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("the sealing key is not valid base64") from None
    if len(key) != KEY_BYTES:
        raise ValueError(f"the sealing key must decode to {KEY_BYTES} bytes, got {len(key)}")
    return key


def load_or_create_key(path: pathlib.Path) -> bytes:
    """The key stored (base64) at `path`, made and stored with mode 0600 if there is none.

    The new key is written to a private temporary file first (O_EXCL, 0600) and published with
    `os.link`, which fails if the path exists: a concurrent reader sees either no file or a
    complete one, and when two processes race, both end up with the winner's key.
    """
    with contextlib.suppress(FileNotFoundError):
        return key_from_base64(path.read_text("ascii"))
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_bytes(KEY_BYTES)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(base64.b64encode(key).decode("ascii") + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(temporary, path)
        except FileExistsError:
            return key_from_base64(path.read_text("ascii"))
    finally:
        temporary.unlink(missing_ok=True)
    return key
