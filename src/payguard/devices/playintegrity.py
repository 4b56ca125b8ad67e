"""Google Play Integrity: decrypt and verify an integrity token locally, read its verdict.

The app asks Play for an integrity token and sends it with the request it protects; the
server holds the two keys the Play Console gives the app's developer and decrypts and verifies
the token itself, as Google documents for "decrypt and verify locally" (no call to Google's
`decodeIntegrityToken` on the payment path). The token is a compact JWE (alg `A256KW`, enc
`A256GCM`) whose plaintext is a compact JWS (alg `ES256`) whose payload is the verdict JSON.
jwcrypto does the JOSE work, restricted to exactly those algorithms; this module checks what
the verdict is about: the package, the request's nonce (`nonce` for classic requests,
`requestHash` for standard ones) and the verdict's age.

Errors: every refusal is `ValidationFailed(field="attestation")` and its message says why
("does not decrypt with the configured key", "signature does not verify", "package does not
match", "nonce does not match", "verdict is stale", or what is malformed). Messages never
quote the token or the values inside it.
"""

from __future__ import annotations

import binascii
import hmac
import json
from base64 import b64decode, urlsafe_b64decode
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from jwcrypto import jwe, jwk, jws
from jwcrypto.common import JWException, base64url_encode

from payguard.core.errors import ValidationFailed
from payguard.devices.interfaces import AttestationFacts, AttestationKind, DeviceLevel

__all__ = [
    "MAX_TOKEN_CHARS",
    "PlayIntegrityKeys",
    "PlayIntegrityVerdict",
    "verify_play_integrity",
]

#: Longest integrity token accepted; real ones are a few kilobytes.
MAX_TOKEN_CHARS = 64 * 1024

_FIELD = "attestation"
_KEY_WRAP = "A256KW"
_CONTENT_ENCRYPTION = "A256GCM"
_SIGNATURE = "ES256"
#: How far a verdict's timestamp may be ahead of our clock (Google's and ours drift apart).
_MAX_FUTURE = timedelta(seconds=60)

#: deviceRecognitionVerdict labels, strongest first.
_DEVICE_LEVELS = (
    ("MEETS_STRONG_INTEGRITY", DeviceLevel.STRONG),
    ("MEETS_DEVICE_INTEGRITY", DeviceLevel.DEVICE),
    ("MEETS_BASIC_INTEGRITY", DeviceLevel.BASIC),
    ("MEETS_VIRTUAL_INTEGRITY", DeviceLevel.VIRTUAL),
)


def _refuse(message: str) -> ValidationFailed:
    return ValidationFailed(message, field=_FIELD)


@dataclass(frozen=True, slots=True)
class PlayIntegrityKeys:
    """The app's response encryption keys from the Play Console (Play Integrity API settings)."""

    decryption_key: bytes  # 32-byte AES key that unwraps the token's content key
    verification_key: str  # PEM of the EC P-256 public key that verifies the verdict's JWS

    def __post_init__(self) -> None:
        if len(self.decryption_key) != 32:
            raise ValueError("decryption key is not 32 bytes (AES-256)")
        _load_verification_key(self.verification_key.encode("ascii", "replace"))

    @classmethod
    def from_base64(
        cls, decryption_key_b64: str, verification_key_b64_der_or_pem: str
    ) -> PlayIntegrityKeys:
        """The keys as the Play Console shows them: both base64, the verification key as DER
        SubjectPublicKeyInfo (PEM is accepted too). Raises ValueError naming the bad key."""
        try:
            decryption_key = b64decode("".join(decryption_key_b64.split()), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ValueError("decryption key is not base64") from exc
        if len(decryption_key) != 32:
            raise ValueError("decryption key is not 32 bytes (AES-256)")
        text = verification_key_b64_der_or_pem.strip()
        if text.startswith("-----BEGIN"):
            public_key = _load_verification_key(text.encode("ascii", "replace"))
        else:
            try:
                der = b64decode("".join(text.split()), validate=True)
            except (binascii.Error, ValueError) as exc:
                raise ValueError("verification key is not base64") from exc
            public_key = _load_verification_key(der)
        pem = public_key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return cls(decryption_key=decryption_key, verification_key=pem.decode("ascii"))


def _load_verification_key(data: bytes) -> ec.EllipticCurvePublicKey:
    try:
        if data.lstrip().startswith(b"-----BEGIN"):
            key = serialization.load_pem_public_key(data)
        else:
            key = serialization.load_der_public_key(data)
    except (ValueError, TypeError) as exc:
        raise ValueError("verification key is not an X.509 public key") from exc
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
        raise ValueError("verification key is not an EC P-256 public key")
    return key


@dataclass(frozen=True, slots=True)
class PlayIntegrityVerdict:
    """A decrypted, verified integrity verdict, its checked request details included."""

    request_package: str
    #: The value matched against the expected nonce: `nonce` (classic) or `requestHash`.
    request_nonce: str
    #: `requestHash` for a standard request; None for a classic one.
    request_hash: str | None
    timestamp: datetime
    #: PLAY_RECOGNIZED | UNRECOGNIZED_VERSION | UNEVALUATED.
    app_recognition: str
    app_package: str | None
    #: base64url SHA-256 digests of the app's signing certificates, as Play reports them.
    app_cert_digests: tuple[str, ...]
    app_version: int | None
    #: MEETS_*_INTEGRITY labels; empty when the device meets none.
    device_recognition: tuple[str, ...]
    #: LICENSED | UNLICENSED | UNEVALUATED; "" when the verdict has no account details.
    licensing: str
    #: NO_ISSUES | NO_DATA | POSSIBLE_RISK | MEDIUM_RISK | HIGH_RISK | UNEVALUATED; "" if absent.
    play_protect: str
    #: appsDetected: KNOWN_INSTALLED, UNKNOWN_CAPTURING, UNKNOWN_CONTROLLING, ...
    app_access_risk: tuple[str, ...]

    @property
    def device_level(self) -> DeviceLevel:
        """The strongest device label present."""
        for label, level in _DEVICE_LEVELS:
            if label in self.device_recognition:
                return level
        return DeviceLevel.NONE

    def facts(self) -> AttestationFacts:
        """The verdict reduced to what the health policy reads."""
        return AttestationFacts(
            kind=AttestationKind.PLAY_INTEGRITY,
            device_level=self.device_level,
            app_recognition=self.app_recognition,
            licensing=self.licensing,
            play_protect=self.play_protect,
            app_access_risk=self.app_access_risk,
        )


# -- JOSE ------------------------------------------------------------------------------------


def _b64url_json(segment: str) -> Any:
    try:
        raw = urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
        return json.loads(raw)
    except (binascii.Error, ValueError):
        return None


def _decrypt(token: str, keys: PlayIntegrityKeys) -> str:
    """The compact JWS inside the token's JWE."""
    parts = token.split(".")
    if len(parts) != 5:
        raise _refuse("integrity token is not a compact JWE")
    header = _b64url_json(parts[0])
    if not isinstance(header, dict):
        raise _refuse("integrity token is not a compact JWE")
    # Play encrypts with exactly these; anything else (compression included) is not Play's.
    if (
        header.get("alg") != _KEY_WRAP
        or header.get("enc") != _CONTENT_ENCRYPTION
        or "zip" in header
    ):
        raise _refuse("integrity token is not encrypted with A256KW and A256GCM")
    key = jwk.JWK(kty="oct", k=base64url_encode(keys.decryption_key))
    envelope = jwe.JWE()
    envelope.allowed_algs = [_KEY_WRAP, _CONTENT_ENCRYPTION]
    try:
        envelope.deserialize(token, key=key)
        plaintext = envelope.payload
    except (JWException, ValueError, TypeError) as exc:
        raise _refuse("integrity token does not decrypt with the configured key") from exc
    if not isinstance(plaintext, bytes):
        raise _refuse("integrity token does not hold a signed verdict")
    try:
        return plaintext.decode("ascii")
    except UnicodeDecodeError as exc:
        raise _refuse("integrity token does not hold a signed verdict") from exc


def _verify_signature(compact_jws: str, keys: PlayIntegrityKeys) -> bytes:
    """The verdict JSON, once its ES256 signature verifies with the verification key."""
    parts = compact_jws.split(".")
    if len(parts) != 3:
        raise _refuse("integrity token does not hold a signed verdict")
    header = _b64url_json(parts[0])
    if not isinstance(header, dict) or header.get("alg") != _SIGNATURE:
        raise _refuse("integrity token verdict is not signed with ES256")
    key = jwk.JWK.from_pem(keys.verification_key.encode("ascii"))
    signed = jws.JWS()
    signed.allowed_algs = [_SIGNATURE]
    try:
        signed.deserialize(compact_jws, key=key)
        payload = signed.payload
    except jws.InvalidJWSSignature as exc:
        raise _refuse("integrity token signature does not verify") from exc
    except (JWException, ValueError, TypeError) as exc:
        raise _refuse("integrity token does not hold a signed verdict") from exc
    if not isinstance(payload, bytes):
        raise _refuse("integrity token does not hold a signed verdict")
    return payload


# -- verdict ---------------------------------------------------------------------------------


def _section(document: Mapping[str, Any], name: str, *, required: bool) -> Mapping[str, Any]:
    value = document.get(name)
    if value is None and not required:
        return {}
    if not isinstance(value, Mapping):
        raise _refuse(f"verdict is malformed: {name} is missing or not an object")
    return value


def _text(section: Mapping[str, Any], name: str, where: str, *, required: bool) -> str | None:
    value = section.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or (required and not value):
        raise _refuse(f"verdict is malformed: {where}.{name} is not a string")
    return value


def _labels(section: Mapping[str, Any], name: str, where: str) -> tuple[str, ...]:
    value = section.get(name)
    if value is None:
        return ()
    if not isinstance(value, Sequence) or isinstance(value, str | bytes):
        raise _refuse(f"verdict is malformed: {where}.{name} is not a list")
    if not all(isinstance(item, str) for item in value):
        raise _refuse(f"verdict is malformed: {where}.{name} is not a list of strings")
    return tuple(value)


def _int64(value: object, where: str) -> int:
    """An int64 the verdict may write either as a JSON number or, as protobuf JSON does, a
    string of digits."""
    if isinstance(value, bool):
        raise _refuse(f"verdict is malformed: {where} is not an integer")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 19:
        return int(value)
    raise _refuse(f"verdict is malformed: {where} is not an integer")


def _parse_verdict(payload: bytes) -> PlayIntegrityVerdict:
    try:
        document = json.loads(payload)
    except ValueError as exc:
        raise _refuse("verdict is malformed: not JSON") from exc
    if not isinstance(document, Mapping):
        raise _refuse("verdict is malformed: not a JSON object")

    request = _section(document, "requestDetails", required=True)
    package = _text(request, "requestPackageName", "requestDetails", required=True)
    nonce = _text(request, "nonce", "requestDetails", required=False)
    request_hash = _text(request, "requestHash", "requestDetails", required=False)
    if nonce is None and request_hash is None:
        raise _refuse("verdict is malformed: requestDetails has neither nonce nor requestHash")
    millis = _int64(request.get("timestampMillis"), "requestDetails.timestampMillis")
    try:
        timestamp = datetime.fromtimestamp(millis / 1000, tz=UTC)
    except (OverflowError, ValueError, OSError) as exc:
        raise _refuse(
            "verdict is malformed: requestDetails.timestampMillis is out of range"
        ) from exc

    app = _section(document, "appIntegrity", required=True)
    version = app.get("versionCode")
    device = _section(document, "deviceIntegrity", required=True)
    account = _section(document, "accountDetails", required=False)
    environment = _section(document, "environmentDetails", required=False)
    access_risk = environment.get("appAccessRiskVerdict")
    if access_risk is not None and not isinstance(access_risk, Mapping):
        raise _refuse("verdict is malformed: environmentDetails.appAccessRiskVerdict")

    assert package is not None  # required=True
    return PlayIntegrityVerdict(
        request_package=package,
        request_nonce=request_hash if request_hash is not None else nonce or "",
        request_hash=request_hash,
        timestamp=timestamp,
        app_recognition=_text(app, "appRecognitionVerdict", "appIntegrity", required=True) or "",
        app_package=_text(app, "packageName", "appIntegrity", required=False),
        app_cert_digests=_labels(app, "certificateSha256Digest", "appIntegrity"),
        app_version=None if version is None else _int64(version, "appIntegrity.versionCode"),
        device_recognition=_labels(device, "deviceRecognitionVerdict", "deviceIntegrity"),
        licensing=_text(account, "appLicensingVerdict", "accountDetails", required=False) or "",
        play_protect=(
            _text(environment, "playProtectVerdict", "environmentDetails", required=False) or ""
        ),
        app_access_risk=_labels(
            access_risk or {}, "appsDetected", "environmentDetails.appAccessRiskVerdict"
        ),
    )


def verify_play_integrity(
    token: str,
    *,
    keys: PlayIntegrityKeys,
    expected_package: str,
    expected_nonce: str,
    now: datetime,
    max_age_seconds: int = 300,
) -> PlayIntegrityVerdict:
    """Decrypt and verify an integrity token and check it answers this request.

    `expected_nonce` is the nonce (classic request) or request hash (standard request) the
    server gave the app for this request, as the app passed it to Play. The caller consumes it
    so a token cannot be replayed. The verdict's labels are returned, not judged: the health
    policy decides what a missing MEETS_DEVICE_INTEGRITY costs.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    if not isinstance(token, str) or not token.strip():
        raise _refuse("integrity token is empty")
    if len(token) > MAX_TOKEN_CHARS:
        raise _refuse(f"integrity token is longer than {MAX_TOKEN_CHARS} characters")
    verdict = _parse_verdict(_verify_signature(_decrypt(token.strip(), keys), keys))

    packages_match = hmac.compare_digest(
        verdict.request_package.encode("utf-8"), expected_package.encode("utf-8")
    )
    if not packages_match or (
        verdict.app_package is not None and verdict.app_package != expected_package
    ):
        raise _refuse("integrity verdict package does not match")
    if not hmac.compare_digest(
        verdict.request_nonce.encode("utf-8"), expected_nonce.encode("utf-8")
    ):
        raise _refuse("integrity verdict nonce does not match")
    age = now - verdict.timestamp
    if age > timedelta(seconds=max_age_seconds) or -age > _MAX_FUTURE:
        raise _refuse("integrity verdict is stale")
    return verdict
