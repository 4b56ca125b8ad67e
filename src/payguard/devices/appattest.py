"""Apple App Attest: verify a key's attestation once, then the assertions it signs.

Follows Apple's "Validating apps that connect to your server"
(https://developer.apple.com/documentation/devicecheck/validating_apps_that_connect_to_your_server).
An attestation is a CBOR object `{fmt: "apple-appattest", attStmt: {x5c, receipt}, authData}`:
the credential certificate chains to Apple's App Attestation Root CA and carries, in extension
1.2.840.113635.100.8.2, the nonce SHA-256(authData || SHA-256(challenge)); its key is the key
the app generated, whose SHA-256 is the key id; authData names the app (SHA-256 of
`<team id>.<bundle id>`), a counter of 0 and the environment (production or development).
Every later request carries an assertion `{signature, authenticatorData}`: an ECDSA P-256
signature over SHA-256(authenticatorData || SHA-256(client data)) with the attested key and a
counter that only grows.

The chain is validated by `cryptography.x509.verification` to the configured roots at the
caller's time: the CA/Browser Forum profile for the CA certificates (Apple's root and
intermediate meet it) and, for the credential certificate, which is not a web certificate
(no authority key identifier, no extended key usage, Apple's own extensions), only "not a CA"
and "may sign". Apple's real chain passes this policy (see the stored vector).

Errors: every refusal is `ValidationFailed` with `field="attestation"` or `field="assertion"`
("certificate chain does not verify to a configured root", "nonce does not match", "key id
does not match", "RP ID does not match", "counter did not increase", "signature does not
verify", "not an App Attest attestation", or what is malformed); a malformed `key_id` or
stored `public_key` names that field.
"""

from __future__ import annotations

import binascii
import hashlib
import hmac
import io
from base64 import b64decode, b64encode
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

import cbor2
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.verification import (
    Criticality,
    ExtensionPolicy,
    Policy,
    PolicyBuilder,
    Store,
    VerificationError,
)

from payguard.core.errors import ValidationFailed
from payguard.devices.interfaces import AttestationFacts, AttestationKind, DeviceLevel

__all__ = [
    "AAGUID_DEVELOPMENT",
    "AAGUID_PRODUCTION",
    "MAX_OBJECT_BYTES",
    "NONCE_EXTENSION_OID",
    "AppAttestConfig",
    "AttestedKey",
    "verify_assertion",
    "verify_attestation",
]

#: The credential certificate's extension holding the attestation nonce.
NONCE_EXTENSION_OID = x509.ObjectIdentifier("1.2.840.113635.100.8.2")
#: authData's AAGUID for keys attested in Apple's production environment...
AAGUID_PRODUCTION = b"appattest" + b"\x00" * 7
#: ...and in its development environment (apps signed with a development profile).
AAGUID_DEVELOPMENT = b"appattestdevelop"
#: Largest attestation or assertion accepted (a real attestation is about 5.5 kB).
MAX_OBJECT_BYTES = 64 * 1024

_FORMAT = "apple-appattest"
_RP_ID_HASH = slice(0, 32)
_COUNTER = slice(33, 37)
_AAGUID = slice(37, 53)
_CREDENTIAL_ID_LENGTH = slice(53, 55)
_ATTESTED_HEADER_BYTES = 55
_ASSERTION_HEADER_BYTES = 37

# Apple's objects carry no CBOR tags: cbor2's built-in tag decoders (dates, big numbers,
# regular expressions, MIME, sets...) are switched off and every other tag refused.
# fmt: off
_BUILTIN_TAGS = (
    *range(6),
    21, 22, 23, 24, 25, 28, 29, 30, 35, 36, 37, 52, 54, 100, 256, 258, 260, 261,
    1004, 43000, 55799,
)
# fmt: on


def _no_tag(*_: object) -> Any:
    raise ValueError("CBOR tags are not allowed here")


_NO_SEMANTIC_TAGS = dict.fromkeys(_BUILTIN_TAGS, _no_tag)


@dataclass(frozen=True, slots=True)
class AppAttestConfig:
    """Which app the keys are for and which roots its attestations chain to."""

    team_id: str
    bundle_id: str
    #: PEM root certificates: Apple App Attestation Root CA in production, test roots in tests.
    roots: tuple[str, ...]
    #: Production keys report AAGUID "appattest" + 7 NUL bytes, development ones
    #: "appattestdevelop"; only the configured environment's keys are accepted.
    production: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "roots", tuple(self.roots))  # a list would not hash
        if not self.team_id or not self.bundle_id:
            raise ValueError("App Attest needs a team id and a bundle id")
        if not self.roots:
            raise ValueError("App Attest needs at least one root certificate")
        _store(self.roots)  # refuse unreadable roots at configuration time

    @property
    def app_id(self) -> str:
        return f"{self.team_id}.{self.bundle_id}"

    @property
    def aaguid(self) -> bytes:
        return AAGUID_PRODUCTION if self.production else AAGUID_DEVELOPMENT


@dataclass(frozen=True, slots=True)
class AttestedKey:
    """A verified App Attest key: what to store for the device's later assertions."""

    key_id: str  # base64 (standard, padded) of SHA-256 of the public key point
    public_key: bytes  # uncompressed P-256 point (65 bytes)
    counter: int  # 0 after attestation
    receipt: bytes  # Apple's receipt, for the fraud-metric service

    def facts(self) -> AttestationFacts:
        """What the health policy reads: a key App Attest vouches for lives on a genuine Apple
        device running the genuine app."""
        return AttestationFacts(kind=AttestationKind.APP_ATTEST, device_level=DeviceLevel.DEVICE)


# -- decoding --------------------------------------------------------------------------------


def _decode_base64(text: str, *, what: str, field: str) -> bytes:
    """Standard or URL-safe base64, padding optional, whitespace ignored."""
    cleaned = "".join(text.split()).translate(str.maketrans("-_", "+/"))
    try:
        return b64decode(cleaned + "=" * (-len(cleaned) % 4), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValidationFailed(f"{what} is not base64", field=field) from exc


def _object_bytes(value: bytes | str, *, what: str, field: str) -> bytes:
    if isinstance(value, str):
        if len(value) > MAX_OBJECT_BYTES * 2:  # base64 with room for line breaks
            raise ValidationFailed(f"{what} is longer than {MAX_OBJECT_BYTES} bytes", field=field)
        value = _decode_base64(value, what=what, field=field)
    if not isinstance(value, bytes | bytearray) or not value:
        raise ValidationFailed(f"{what} is empty", field=field)
    if len(value) > MAX_OBJECT_BYTES:
        raise ValidationFailed(f"{what} is longer than {MAX_OBJECT_BYTES} bytes", field=field)
    return bytes(value)


def _cbor_map(data: bytes, *, what: str, field: str) -> Mapping[Any, Any]:
    """One definite-length CBOR map with no tags, no duplicate keys, nothing after it."""
    stream = io.BytesIO(data)
    try:
        decoded = cbor2.CBORDecoder(
            stream,
            tag_hook=_no_tag,
            semantic_decoders=_NO_SEMANTIC_TAGS,
            max_depth=16,
            allow_indefinite=False,
            allow_duplicate_keys=False,
        ).decode()
    except Exception as exc:  # cbor2 raises several types on hostile input
        raise ValidationFailed(f"{what} is not valid CBOR", field=field) from exc
    if stream.tell() != len(data):
        raise ValidationFailed(f"{what} has data after its CBOR object", field=field)
    if not isinstance(decoded, Mapping):
        raise ValidationFailed(f"{what} is not a CBOR map", field=field)
    return decoded


def _member(document: Mapping[Any, Any], key: str, kind: type, where: str, field: str) -> Any:
    value = document.get(key)
    if not isinstance(value, kind):
        raise ValidationFailed(f"{where}.{key} is missing or malformed", field=field)
    return value


def _key_id_bytes(key_id: str) -> bytes:
    if not isinstance(key_id, str) or not key_id:
        raise ValidationFailed("key id is empty", field="key_id")
    raw = _decode_base64(key_id, what="key id", field="key_id")
    if len(raw) != 32:
        raise ValidationFailed("key id is not a SHA-256 digest", field="key_id")
    return raw


def _der_element(data: bytes) -> tuple[int, bytes, bytes]:
    """One DER element: its tag, its content and what follows it."""
    if len(data) < 2:
        raise ValueError("truncated")
    tag, length, offset = data[0], data[1], 2
    if length & 0x80:
        count = length & 0x7F
        if not 1 <= count <= 3 or len(data) < 2 + count or data[2] == 0:
            raise ValueError("bad length")
        length, offset = int.from_bytes(data[2 : 2 + count], "big"), 2 + count
        if length < 0x80:
            raise ValueError("non-minimal length")
    if len(data) < offset + length:
        raise ValueError("truncated")
    return tag, data[offset : offset + length], data[offset + length :]


def _attested_nonce(certificate: x509.Certificate) -> bytes:
    """The nonce in the credential certificate: SEQUENCE { [1] EXPLICIT OCTET STRING }."""
    try:
        extension = certificate.extensions.get_extension_for_oid(NONCE_EXTENSION_OID)
    except x509.ExtensionNotFound as exc:
        raise ValidationFailed(
            "credential certificate carries no App Attest nonce", field="attestation"
        ) from exc
    value = extension.value
    try:
        if not isinstance(value, x509.UnrecognizedExtension):
            raise ValueError("unexpected extension type")
        tag, sequence, rest = _der_element(value.value)
        if tag != 0x30 or rest:
            raise ValueError("not a SEQUENCE")
        found: list[bytes] = []
        while sequence:
            tag, content, sequence = _der_element(sequence)
            if tag == 0xA1:
                inner_tag, nonce, trailing = _der_element(content)
                if inner_tag != 0x04 or trailing:
                    raise ValueError("[1] is not an OCTET STRING")
                found.append(nonce)
        if len(found) != 1:
            raise ValueError("no single [1] element")
    except ValueError as exc:
        raise ValidationFailed(
            "credential certificate's App Attest nonce is malformed", field="attestation"
        ) from exc
    return found[0]


# -- certificate chain -----------------------------------------------------------------------


@lru_cache(maxsize=16)
def _store(roots: tuple[str, ...]) -> Store:
    certificates: list[x509.Certificate] = []
    for pem in roots:
        try:
            certificates.extend(x509.load_pem_x509_certificates(pem.encode("ascii")))
        except (ValueError, UnicodeEncodeError) as exc:
            raise ValueError("an App Attest root is not a PEM certificate") from exc
    return Store(certificates)


def _not_a_ca(_policy: Policy, _cert: x509.Certificate, value: x509.BasicConstraints) -> None:
    if value.ca:
        raise ValueError("the credential certificate is a CA")


def _may_sign(_policy: Policy, _cert: x509.Certificate, value: x509.KeyUsage) -> None:
    if not value.digital_signature:
        raise ValueError("the credential certificate's key may not sign")


_CREDENTIAL_POLICY = (
    ExtensionPolicy.permit_all()
    .require_present(x509.BasicConstraints, Criticality.AGNOSTIC, _not_a_ca)
    .require_present(x509.KeyUsage, Criticality.AGNOSTIC, _may_sign)
)


def _verify_chain(x5c: list[Any], roots: tuple[str, ...], now: datetime) -> x509.Certificate:
    """The credential certificate, once x5c chains from it to one of `roots` at `now`."""
    if not x5c or len(x5c) > 4 or not all(isinstance(der, bytes) for der in x5c):
        raise ValidationFailed("attStmt.x5c is missing or malformed", field="attestation")
    try:
        certificates = [x509.load_der_x509_certificate(der) for der in x5c]
    except ValueError as exc:
        raise ValidationFailed(
            "attStmt.x5c holds something other than a certificate", field="attestation"
        ) from exc
    verifier = (
        PolicyBuilder()
        .store(_store(roots))
        .time(now)
        .extension_policies(
            ca_policy=ExtensionPolicy.webpki_defaults_ca(), ee_policy=_CREDENTIAL_POLICY
        )
        .build_client_verifier()
    )
    try:
        verifier.verify(certificates[0], certificates[1:])
    except VerificationError as exc:
        raise ValidationFailed(
            "certificate chain does not verify to a configured root", field="attestation"
        ) from exc
    return certificates[0]


def _public_point(certificate: x509.Certificate) -> bytes:
    key = certificate.public_key()
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
        raise ValidationFailed("credential key is not an EC P-256 key", field="attestation")
    return key.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )


def _cose_point(cose: bytes) -> bytes | None:
    """The uncompressed point of an EC2 P-256 COSE key, None if it is not one."""
    try:
        key = _cbor_map(cose, what="credential public key", field="attestation")
    except ValidationFailed:
        return None
    x, y = key.get(-2), key.get(-3)
    if key.get(1) != 2 or key.get(-1) != 1 or not isinstance(x, bytes) or not isinstance(y, bytes):
        return None
    if len(x) != 32 or len(y) != 32:
        return None
    return b"\x04" + x + y


# -- ceremonies ------------------------------------------------------------------------------


def verify_attestation(
    attestation: bytes | str,
    *,
    key_id: str,
    challenge: bytes,
    config: AppAttestConfig,
    now: datetime,
) -> AttestedKey:
    """Verify an App Attest attestation object (bytes or base64) for the key `key_id`.

    `challenge` is the one-time challenge the server gave the app for this attestation; the
    caller consumes it so the attestation cannot be replayed, and stores the returned key
    with the device.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    field = "attestation"
    expected_key_id = _key_id_bytes(key_id)
    document = _cbor_map(
        _object_bytes(attestation, what="attestation", field=field),
        what="attestation",
        field=field,
    )
    if document.get("fmt") != _FORMAT:
        raise ValidationFailed("not an App Attest attestation", field=field)
    statement = _member(document, "attStmt", Mapping, "attestation", field)
    x5c = _member(statement, "x5c", list, "attStmt", field)
    receipt = _member(statement, "receipt", bytes, "attStmt", field)
    auth_data = _member(document, "authData", bytes, "attestation", field)

    # Apple's steps 1-9, in Apple's order.
    credential_certificate = _verify_chain(x5c, config.roots, now)
    client_data_hash = hashlib.sha256(challenge).digest()
    nonce = hashlib.sha256(auth_data + client_data_hash).digest()
    if not hmac.compare_digest(_attested_nonce(credential_certificate), nonce):
        raise ValidationFailed("nonce does not match", field=field)
    public_key = _public_point(credential_certificate)
    if not hmac.compare_digest(hashlib.sha256(public_key).digest(), expected_key_id):
        raise ValidationFailed("key id does not match", field=field)
    if len(auth_data) < _ATTESTED_HEADER_BYTES:
        raise ValidationFailed("authData is too short", field=field)
    rp_id_hash = hashlib.sha256(config.app_id.encode("utf-8")).digest()
    if not hmac.compare_digest(auth_data[_RP_ID_HASH], rp_id_hash):
        raise ValidationFailed("RP ID does not match", field=field)
    if int.from_bytes(auth_data[_COUNTER], "big") != 0:
        raise ValidationFailed("counter is not 0 at attestation", field=field)
    if auth_data[_AAGUID] != config.aaguid:
        environment = "production" if config.production else "development"
        raise ValidationFailed(f"AAGUID is not App Attest's {environment} environment", field=field)
    length = int.from_bytes(auth_data[_CREDENTIAL_ID_LENGTH], "big")
    credential_id = auth_data[_ATTESTED_HEADER_BYTES : _ATTESTED_HEADER_BYTES + length]
    if not hmac.compare_digest(credential_id, expected_key_id):
        raise ValidationFailed("key id does not match", field=field)
    # Not one of Apple's steps, but what WebAuthn asks of attested credential data.
    cose = auth_data[_ATTESTED_HEADER_BYTES + length :]
    if _cose_point(cose) != public_key:
        raise ValidationFailed("credential public key does not match the certificate", field=field)
    return AttestedKey(
        key_id=b64encode(expected_key_id).decode("ascii"),
        public_key=public_key,
        counter=0,
        receipt=receipt,
    )


def verify_assertion(
    assertion: bytes | str,
    *,
    client_data: bytes,
    public_key: bytes,
    stored_counter: int,
    config: AppAttestConfig,
) -> int:
    """Verify an App Attest assertion (bytes or base64) over `client_data`; the new counter.

    `client_data` is the request as the app signed it, and embeds the server's one-time
    challenge, which the caller checks and consumes. `public_key` and `stored_counter` are what
    was stored for the key; the caller stores the returned counter with a compare-and-set so
    two concurrent assertions cannot both pass.
    """
    field = "assertion"
    try:
        key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), public_key)
    except (ValueError, TypeError) as exc:
        raise ValidationFailed("stored key is not a P-256 point", field="public_key") from exc
    document = _cbor_map(
        _object_bytes(assertion, what="assertion", field=field), what="assertion", field=field
    )
    signature = _member(document, "signature", bytes, "assertion", field)
    authenticator_data = _member(document, "authenticatorData", bytes, "assertion", field)
    if len(authenticator_data) < _ASSERTION_HEADER_BYTES:
        raise ValidationFailed("authenticatorData is too short", field=field)

    client_data_hash = hashlib.sha256(client_data).digest()
    nonce = hashlib.sha256(authenticator_data + client_data_hash).digest()
    try:
        key.verify(signature, nonce, ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, ValueError) as exc:
        raise ValidationFailed("signature does not verify", field=field) from exc
    rp_id_hash = hashlib.sha256(config.app_id.encode("utf-8")).digest()
    if not hmac.compare_digest(authenticator_data[_RP_ID_HASH], rp_id_hash):
        raise ValidationFailed("RP ID does not match", field=field)
    counter = int.from_bytes(authenticator_data[_COUNTER], "big")
    if counter <= stored_counter:
        raise ValidationFailed("counter did not increase", field=field)
    return counter
