"""Device binding: a bound device proves possession of its key by signing each request.

The device signs `signed_message(...)`: a fixed context line, the method, the path, the
SHA-256 of the body, a Unix timestamp and a single-use nonce, one per line. The timestamp
must be within `MAX_SKEW_SECONDS` of the server clock and the caller must refuse a nonce it
has seen within that window (`payguard.core.replay`), so a captured request cannot be
replayed.

Keys: Ed25519 (32 raw bytes) or P-256 (an uncompressed SEC1 point, 65 bytes, or DER
SubjectPublicKeyInfo), base64 in either alphabet. Signatures: Ed25519's 64 bytes; for P-256,
ECDSA with SHA-256 as DER (what Android Keystore and Apple's Secure Enclave produce) or raw
r||s (64 bytes, what WebCrypto produces).

`BoundDeviceKeys` offers the keys bound here to the device capability, through its
`payguard.devices.interfaces.DeviceKeys` port.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from datetime import datetime
from typing import Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from payguard.auth.interfaces import Credential, CredentialKind
from payguard.core.errors import ValidationFailed
from payguard.core.replay import NonceLedger
from payguard.devices.interfaces import DevicePublicKey

__all__ = [
    "ALGORITHMS",
    "BoundDeviceKeys",
    "DeviceCredentials",
    "parse_public_key",
    "signed_message",
    "verify_signature",
]

ALGORITHMS = ("ed25519", "p256")
CONTEXT = "payguard-device-v1"

_MAX_ENCODED = 1024  # far above any key or signature here; bounds the decoding work


def _b64decode(text: str) -> bytes:
    """Base64 in the standard or URL-safe alphabet, padding optional; ValueError otherwise."""
    if not isinstance(text, str) or len(text) > _MAX_ENCODED:
        raise ValueError("not base64")
    cleaned = text.strip().replace("-", "+").replace("_", "/")
    cleaned += "=" * (-len(cleaned) % 4)
    try:
        return base64.b64decode(cleaned, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("not base64") from None


def _load(algorithm: str, public_key: str) -> Ed25519PublicKey | ec.EllipticCurvePublicKey:
    if algorithm not in ALGORITHMS:
        raise ValidationFailed(
            f"algorithm must be one of {', '.join(ALGORITHMS)}", field="algorithm"
        )
    try:
        raw = _b64decode(public_key)
    except ValueError:
        raise ValidationFailed("public_key must be base64", field="public_key") from None
    if algorithm == "ed25519":
        if len(raw) != 32:
            raise ValidationFailed(
                f"an ed25519 public_key is 32 bytes, got {len(raw)}", field="public_key"
            )
        return Ed25519PublicKey.from_public_bytes(raw)
    if len(raw) == 65 and raw[0] == 0x04:
        try:
            return ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), raw)
        except ValueError:
            raise ValidationFailed(
                "the p256 public_key is not a point on the P-256 curve", field="public_key"
            ) from None
    try:
        loaded = serialization.load_der_public_key(raw)
    except (ValueError, TypeError):
        raise ValidationFailed(
            "a p256 public_key is an uncompressed SEC1 point (65 bytes) or DER "
            "SubjectPublicKeyInfo",
            field="public_key",
        ) from None
    if not isinstance(loaded, ec.EllipticCurvePublicKey) or loaded.curve.name != "secp256r1":
        raise ValidationFailed("the DER public_key is not a P-256 key", field="public_key")
    return loaded


def parse_public_key(algorithm: str, public_key: str) -> None:
    """Refuse an unknown algorithm or a public key that is not a valid key of it."""
    _load(algorithm, public_key)


def signed_message(*, method: str, path: str, body: bytes, timestamp: int, nonce: str) -> bytes:
    """The bytes a device signs for one request."""
    lines = (
        CONTEXT,
        method.upper(),
        path,
        hashlib.sha256(body).hexdigest(),
        str(timestamp),
        nonce,
    )
    return "\n".join(lines).encode("utf-8")


def verify_signature(algorithm: str, public_key: str, message: bytes, signature: str) -> bool:
    """Whether `signature` (base64) is the key's signature of `message`.

    False for a wrong, altered or malformed signature; ValidationFailed only when the
    algorithm or key itself is invalid (refused at enrolment, so never for a stored key).
    """
    key = _load(algorithm, public_key)
    try:
        raw = _b64decode(signature)
    except ValueError:
        return False
    try:
        if isinstance(key, Ed25519PublicKey):
            if len(raw) != 64:
                return False
            key.verify(raw, message)
            return True
        return _verify_p256(key, raw, message)
    except (InvalidSignature, ValueError):
        return False


def _verify_p256(key: ec.EllipticCurvePublicKey, raw: bytes, message: bytes) -> bool:
    candidates = []
    if raw[:1] == b"\x30":
        candidates.append(raw)
    if len(raw) == 64:
        r, s = int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")
        if r > 0 and s > 0:
            candidates.append(encode_dss_signature(r, s))
    for der in candidates:
        try:
            key.verify(der, message, ec.ECDSA(hashes.SHA256()))
            return True
        except (InvalidSignature, ValueError):
            continue
    return False


class DeviceCredentials(Protocol):
    """Where bound device keys are kept: auth's users-and-factors store."""

    def find_credential(
        self, tenant_id: str, kind: CredentialKind, lookup: str, /
    ) -> Credential | None:
        """The live (not revoked) credential of `kind` with that `lookup`."""
        ...


class BoundDeviceKeys:
    """The device capability's `DeviceKeys` port on auth's device binding: the key a user
    bound to a device (a `CredentialKind.DEVICE` credential looked up by the device id),
    checked as every signed device request is, and auth's nonce ledger."""

    def __init__(self, credentials: DeviceCredentials, nonces: NonceLedger) -> None:
        self._credentials = credentials
        self._nonces = nonces

    def bound_key(self, tenant_id: str, device_id: str) -> DevicePublicKey | None:
        credential = self._credentials.find_credential(tenant_id, CredentialKind.DEVICE, device_id)
        if credential is None:
            return None
        return DevicePublicKey(
            algorithm=str(credential.data["algorithm"]),
            public_key=str(credential.data["public_key"]),
        )

    def verify(
        self,
        key: DevicePublicKey,
        *,
        method: str,
        path: str,
        body: bytes,
        timestamp: int,
        nonce: str,
        signature: str,
    ) -> bool:
        message = signed_message(
            method=method, path=path, body=body, timestamp=timestamp, nonce=nonce
        )
        return verify_signature(key.algorithm, key.public_key, message, signature)

    def use_nonce(self, tenant_id: str, scope: str, nonce: str, expires_at: datetime) -> bool:
        return self._nonces.use_nonce(tenant_id, scope, nonce, expires_at)
