"""Software Play Integrity and App Attest: test doubles that mint genuine platform attestations.

They are not mocks. Each holds real keys and produces the exact bytes the platform produces,
so whatever verifies their output verifies the platform's too:

- `SoftPlayIntegrity` holds what Google holds for an app (an AES-256 key and an EC P-256
  signing key) and mints integrity tokens as Play does for "decrypt and verify locally": the
  verdict JSON in Google's documented shape, signed as a compact JWS (ES256), encrypted as a
  compact JWE (A256KW, A256GCM). `keys` is what the Play Console would show the developer.
- `SoftAppAttest` plays Apple's App Attest service and a device's Secure Enclave: a test root
  CA and intermediate (P-384, like Apple's), and per `attest()` a fresh P-256 key and a
  credential certificate carrying the nonce extension, an authData laid out byte for byte like
  Apple's, and the CBOR attestation object; `assert_()` signs assertions with a counter that
  grows. `root_pem` goes into `AppAttestConfig.roots`.

Every field a server checks can be overridden per call (nonce, RP ID, counter, AAGUID,
credential id, the issuing CA), for negative tests. The receipt is opaque test bytes, not
Apple's signed receipt. Nothing here is trusted anywhere in the service path: the test roots
are generated per instance and only tests configure them, which is why it lives under
`tests/` (import it as `tests.devices.softattest`).
"""

from __future__ import annotations

import hashlib
import json
import os
from base64 import b64encode, urlsafe_b64encode
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import cbor2
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from jwcrypto import jwe, jwk, jws
from jwcrypto.common import base64url_encode

from payguard.devices.appattest import (
    AAGUID_DEVELOPMENT,
    AAGUID_PRODUCTION,
    NONCE_EXTENSION_OID,
    AppAttestConfig,
)
from payguard.devices.playintegrity import PlayIntegrityKeys

__all__ = [
    "SOFT_CERT_DIGEST",
    "SoftAppAttest",
    "SoftAttestation",
    "SoftPlayIntegrity",
    "nonce_extension_value",
]

#: The signing-certificate digest soft verdicts report for the app (base64url SHA-256, as Play).
SOFT_CERT_DIGEST = (
    urlsafe_b64encode(hashlib.sha256(b"payguard soft app signing certificate").digest())
    .rstrip(b"=")
    .decode("ascii")
)

_LEVEL_LABELS: dict[str, tuple[str, ...]] = {
    "strong": ("MEETS_STRONG_INTEGRITY", "MEETS_DEVICE_INTEGRITY", "MEETS_BASIC_INTEGRITY"),
    "device": ("MEETS_DEVICE_INTEGRITY", "MEETS_BASIC_INTEGRITY"),
    "basic": ("MEETS_BASIC_INTEGRITY",),
    "virtual": ("MEETS_VIRTUAL_INTEGRITY",),
    "none": (),
}


# -- Play Integrity --------------------------------------------------------------------------


class SoftPlayIntegrity:
    """Google's side of Play Integrity for one app: its response encryption keys.

    Pass `decryption_key` or `signing_key` to share one with another instance (a token signed
    by a different key but encrypted with the configured one, or the reverse).
    """

    def __init__(
        self,
        *,
        decryption_key: bytes | None = None,
        signing_key: ec.EllipticCurvePrivateKey | None = None,
    ) -> None:
        self.decryption_key = decryption_key if decryption_key is not None else os.urandom(32)
        if len(self.decryption_key) != 32:
            raise ValueError("a Play Integrity decryption key is 32 bytes")
        self.signing_key = signing_key or ec.generate_private_key(ec.SECP256R1())

    @property
    def keys(self) -> PlayIntegrityKeys:
        """What the server configures (the Play Console's two keys)."""
        pem = self.signing_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return PlayIntegrityKeys(decryption_key=self.decryption_key, verification_key=pem.decode())

    @property
    def console_keys(self) -> tuple[str, str]:
        """The two keys as the Play Console shows them: base64 AES key, base64 DER public key."""
        der = self.signing_key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return b64encode(self.decryption_key).decode(), b64encode(der).decode()

    def token(self, verdict: Mapping[str, Any]) -> str:
        """An integrity token for `verdict`: JWE(A256KW, A256GCM) of JWS(ES256) of its JSON."""
        return self.seal(self.sign(json.dumps(verdict, separators=(",", ":")).encode("utf-8")))

    def sign(self, payload: bytes) -> str:
        """`payload` as a compact JWS signed with ES256 by this instance's signing key."""
        signed = jws.JWS(payload)
        signed.add_signature(
            jwk.JWK.from_pyca(self.signing_key), alg="ES256", protected={"alg": "ES256"}
        )
        compact: str = signed.serialize(compact=True)
        return compact

    def seal(self, plaintext: str | bytes, *, header: Mapping[str, Any] | None = None) -> str:
        """`plaintext` as a compact JWE under the decryption key (A256KW, A256GCM unless
        `header` says otherwise)."""
        if isinstance(plaintext, str):
            plaintext = plaintext.encode("utf-8")
        protected = dict(header or {"alg": "A256KW", "enc": "A256GCM"})
        envelope = jwe.JWE(plaintext, protected=json.dumps(protected))
        envelope.add_recipient(jwk.JWK(kty="oct", k=base64url_encode(self.decryption_key)))
        token: str = envelope.serialize(compact=True)
        return token

    @staticmethod
    def verdict(
        level: str,
        *,
        nonce: str,
        package: str,
        timestamp: datetime,
        app_recognition: str = "PLAY_RECOGNIZED",
        licensing: str = "LICENSED",
        play_protect: str = "NO_ISSUES",
        apps_detected: Sequence[str] = (),
        standard: bool = False,
    ) -> dict[str, Any]:
        """A verdict in Google's documented shape for a device level ("strong", "device",
        "basic", "virtual", "none"); `standard` puts the nonce in `requestHash`, as a standard
        request's verdict does. int64 values are strings, as in Google's JSON."""
        if level not in _LEVEL_LABELS:
            raise ValueError(f"unknown device level {level!r}")
        request: dict[str, Any] = {"requestPackageName": package}
        request["requestHash" if standard else "nonce"] = nonce
        request["timestampMillis"] = str(int(timestamp.timestamp() * 1000))
        app: dict[str, Any] = {"appRecognitionVerdict": app_recognition}
        if app_recognition != "UNEVALUATED":  # Play leaves out what it did not evaluate
            app |= {
                "packageName": package,
                "certificateSha256Digest": [SOFT_CERT_DIGEST],
                "versionCode": "42",
            }
        labels = _LEVEL_LABELS[level]
        device: dict[str, Any] = {"deviceRecognitionVerdict": list(labels)} if labels else {}
        return {
            "requestDetails": request,
            "appIntegrity": app,
            "deviceIntegrity": device,
            "accountDetails": {"appLicensingVerdict": licensing},
            "environmentDetails": {
                "playProtectVerdict": play_protect,
                "appAccessRiskVerdict": {"appsDetected": list(apps_detected)},
            },
        }


# -- App Attest ------------------------------------------------------------------------------


def _der(tag: int, content: bytes) -> bytes:
    size = len(content)
    if size < 0x80:
        return bytes([tag, size]) + content
    length = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(length)]) + length + content


def nonce_extension_value(nonce: bytes) -> bytes:
    """DER of Apple's nonce extension: SEQUENCE { [1] EXPLICIT OCTET STRING nonce }."""
    return _der(0x30, _der(0xA1, _der(0x04, nonce)))


def _name(common_name: str, unit: str | None = None) -> x509.Name:
    attributes = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if unit is not None:
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, unit))
    attributes += [
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Payguard Test Double"),
        x509.NameAttribute(NameOID.STATE_OR_PROVINCE_NAME, "California"),
    ]
    return x509.Name(attributes)


_CA_KEY_USAGE = x509.KeyUsage(
    digital_signature=False,
    content_commitment=False,
    key_encipherment=False,
    data_encipherment=False,
    key_agreement=False,
    key_cert_sign=True,
    crl_sign=True,
    encipher_only=False,
    decipher_only=False,
)
# Apple's credential certificates carry digitalSignature, nonRepudiation, keyEncipherment and
# dataEncipherment (0xF0).
_CREDENTIAL_KEY_USAGE = x509.KeyUsage(
    digital_signature=True,
    content_commitment=True,
    key_encipherment=True,
    data_encipherment=True,
    key_agreement=False,
    key_cert_sign=False,
    crl_sign=False,
    encipher_only=False,
    decipher_only=False,
)


class _Authority:
    """A root and an intermediate like Apple's App Attestation Root CA and CA 1."""

    def __init__(self, now: datetime) -> None:
        self.root_key = ec.generate_private_key(ec.SECP384R1())
        self.key = ec.generate_private_key(ec.SECP384R1())
        root_name = _name("Payguard Soft App Attestation Root CA")
        self.name = _name("Payguard Soft App Attestation CA 1")
        root_ski = x509.SubjectKeyIdentifier.from_public_key(self.root_key.public_key())
        self.root = (
            x509.CertificateBuilder()
            .subject_name(root_name)
            .issuer_name(root_name)
            .public_key(self.root_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=365 * 25))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(root_ski, critical=False)
            .add_extension(_CA_KEY_USAGE, critical=True)
            .sign(self.root_key, hashes.SHA384())
        )
        self.certificate = (
            x509.CertificateBuilder()
            .subject_name(self.name)
            .issuer_name(root_name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=365 * 10))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(root_ski),
                critical=False,
            )
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(self.key.public_key()), critical=False
            )
            .add_extension(_CA_KEY_USAGE, critical=True)
            .sign(self.root_key, hashes.SHA384())
        )


@dataclass(frozen=True, slots=True)
class SoftAttestation:
    """What the app sends after `attestKey`: the attestation object and its key id."""

    attestation: bytes  # CBOR attestation object
    key_id: str  # base64 of SHA-256 of the public key point, as DCAppAttestService reports it
    public_key: bytes  # uncompressed P-256 point
    challenge: bytes  # the challenge it was made for

    @property
    def b64(self) -> str:
        """The attestation object in base64, as apps usually send it."""
        return b64encode(self.attestation).decode("ascii")


class SoftAppAttest:
    """Apple's App Attest service and one device's Secure Enclave, for one app.

    `now` dates the test CA (valid from a day before it); each `attest()` dates its credential
    certificate from its own `now` (default: the instance's) for `credential_validity`.
    """

    def __init__(
        self,
        *,
        team_id: str = "SOFTTEAM01",
        bundle_id: str = "com.example.wallet",
        production: bool = True,
        now: datetime | None = None,
        credential_validity: timedelta = timedelta(days=3),
    ) -> None:
        self.team_id = team_id
        self.bundle_id = bundle_id
        self.production = production
        self.now = now if now is not None else datetime.now(UTC)
        self.credential_validity = credential_validity
        self._authority = _Authority(self.now)
        self._forger: _Authority | None = None
        self._keys: dict[str, ec.EllipticCurvePrivateKey] = {}
        self._counters: dict[str, int] = {}

    @property
    def app_id(self) -> str:
        return f"{self.team_id}.{self.bundle_id}"

    @property
    def root_pem(self) -> str:
        """The test root certificate, for `AppAttestConfig.roots`."""
        return self._authority.root.public_bytes(serialization.Encoding.PEM).decode("ascii")

    def config(self, **overrides: Any) -> AppAttestConfig:
        """The `AppAttestConfig` a server would use for this app and this test root."""
        settings: dict[str, Any] = {
            "team_id": self.team_id,
            "bundle_id": self.bundle_id,
            "roots": (self.root_pem,),
            "production": self.production,
        }
        return AppAttestConfig(**(settings | overrides))

    def public_key(self, key_id: str) -> bytes:
        """The uncompressed point of an attested key."""
        return (
            self._keys[key_id]
            .public_key()
            .public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
        )

    def counter(self, key_id: str) -> int:
        return self._counters[key_id]

    # -- attestation ------------------------------------------------------------------------

    def _credential_certificate(
        self,
        key: ec.EllipticCurvePrivateKey,
        key_hash: bytes,
        nonce: bytes,
        now: datetime,
        *,
        forged: bool,
    ) -> tuple[x509.Certificate, x509.Certificate]:
        """The credential certificate and the intermediate that issued it."""
        authority = self._authority
        if forged:  # a CA with the same names as ours but its own keys
            authority = self._forger = self._forger or _Authority(self.now)
        leaf = (
            x509.CertificateBuilder()
            .subject_name(_name(key_hash.hex(), "AAA Certification"))
            .issuer_name(authority.name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + self.credential_validity)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_CREDENTIAL_KEY_USAGE, critical=True)
            .add_extension(
                x509.UnrecognizedExtension(NONCE_EXTENSION_OID, nonce_extension_value(nonce)),
                critical=False,
            )
            .sign(authority.key, hashes.SHA256())
        )
        return leaf, authority.certificate

    def attest(
        self,
        challenge: bytes,
        *,
        now: datetime | None = None,
        nonce: bytes | None = None,
        app_id: str | None = None,
        counter: int = 0,
        aaguid: bytes | None = None,
        credential_id: bytes | None = None,
        cose_key: bytes | None = None,
        forged_chain: bool = False,
    ) -> SoftAttestation:
        """Generate a key and attest it for `challenge`, as `DCAppAttestService.attestKey`.

        Overrides for negative tests: `nonce` (what the credential certificate carries instead
        of the genuine nonce), `app_id` (whose SHA-256 becomes the RP ID hash), `counter`,
        `aaguid`, `credential_id` (instead of the key id), `cose_key` (the credential public key
        authData carries instead of the attested one), `forged_chain` (issued by another CA
        with the same names as this instance's, so only the signatures differ).
        """
        key = ec.generate_private_key(ec.SECP256R1())
        point = key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        key_hash = hashlib.sha256(point).digest()
        key_id = b64encode(key_hash).decode("ascii")
        credential = key_hash if credential_id is None else credential_id
        numbers = key.public_key().public_numbers()
        x, y = numbers.x.to_bytes(32, "big"), numbers.y.to_bytes(32, "big")
        if cose_key is None:  # EC2, ES256, P-256
            cose_key = cbor2.dumps({1: 2, 3: -7, -1: 1, -2: x, -3: y}, canonical=True)
        if aaguid is None:
            aaguid = AAGUID_PRODUCTION if self.production else AAGUID_DEVELOPMENT
        auth_data = (
            hashlib.sha256((app_id or self.app_id).encode("utf-8")).digest()
            + bytes([0x40])  # AT: attested credential data included
            + counter.to_bytes(4, "big")
            + aaguid
            + len(credential).to_bytes(2, "big")
            + credential
            + cose_key
        )
        genuine_nonce = hashlib.sha256(auth_data + hashlib.sha256(challenge).digest()).digest()
        leaf, intermediate = self._credential_certificate(
            key,
            key_hash,
            genuine_nonce if nonce is None else nonce,
            now or self.now,
            forged=forged_chain,
        )
        statement = {
            "x5c": [
                leaf.public_bytes(serialization.Encoding.DER),
                intermediate.public_bytes(serialization.Encoding.DER),
            ],
            "receipt": b"payguard soft App Attest receipt (test double, not signed by Apple)",
        }
        attestation = cbor2.dumps(
            {"fmt": "apple-appattest", "attStmt": statement, "authData": auth_data},
            canonical=True,
        )
        self._keys[key_id] = key
        self._counters[key_id] = 0
        return SoftAttestation(
            attestation=attestation, key_id=key_id, public_key=point, challenge=challenge
        )

    # -- assertion --------------------------------------------------------------------------

    def assert_(
        self,
        client_data: bytes,
        key_id: str,
        *,
        counter: int | None = None,
        app_id: str | None = None,
    ) -> bytes:
        """Sign `client_data` with an attested key, as `DCAppAttestService.generateAssertion`.

        The key's counter grows by one per assertion; `counter` sets it instead (and it goes on
        from there), `app_id` replaces the app whose SHA-256 is the RP ID hash.
        """
        key = self._keys[key_id]
        self._counters[key_id] = self._counters[key_id] + 1 if counter is None else counter
        authenticator_data = (
            hashlib.sha256((app_id or self.app_id).encode("utf-8")).digest()
            + bytes([0x40])
            + self._counters[key_id].to_bytes(4, "big")
        )
        nonce = hashlib.sha256(authenticator_data + hashlib.sha256(client_data).digest()).digest()
        signature = key.sign(nonce, ec.ECDSA(hashes.SHA256()))
        return cbor2.dumps(
            {"signature": signature, "authenticatorData": authenticator_data}, canonical=True
        )
