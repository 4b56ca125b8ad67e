"""A software WebAuthn authenticator: a test double that answers real ceremonies.

It is not a mock. `SoftAuthenticator` holds a genuine ES256 (P-256) or EdDSA (Ed25519) key
and produces the exact bytes a browser and a FIDO2 authenticator would, per WebAuthn Level 2:

- `clientDataJSON` in the spec's serialization order (type, challenge, origin, crossOrigin);
- `authenticatorData`: SHA-256 of the RP ID, the flags (UP, UV, BE, BS, AT), a big-endian
  signature counter and, when registering, the attested credential data (AAGUID, credential id
  length and id, COSE public key);
- a CBOR attestation object with "packed" self-attestation or "none" attestation;
- signatures over `authenticatorData || SHA-256(clientDataJSON)`.

So whatever verifies its responses verifies real authenticators' responses too. Every field a
relying party checks can be overridden per call (origin, RP ID, challenge, sign count, flags)
and a response can be tampered with after signing, for negative tests. It lives in `src/` so
the benchmarks can use it; nothing in the service path imports it.
"""

from __future__ import annotations

import copy
import hashlib
import json
import secrets
import struct
from collections.abc import Mapping, Sequence
from enum import StrEnum
from typing import Any, Literal
from urllib.parse import urlsplit

import cbor2
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from webauthn.helpers import base64url_to_bytes, bytes_to_base64url

__all__ = ["SOFT_AAGUID", "SoftAuthenticator", "Tamper"]

#: The AAGUID this authenticator reports unless told otherwise ("softauthn" in a v4-shaped id).
SOFT_AAGUID = bytes.fromhex("50a7a07e5c0f4a1b9e2d736f66746e31")

_ALG = {"es256": -7, "eddsa": -8}
_FLAG_UP = 0x01
_FLAG_UV = 0x04
_FLAG_BE = 0x08
_FLAG_BS = 0x10
_FLAG_AT = 0x40


class Tamper(StrEnum):
    """A change made to a response after it was signed, so its signature no longer covers it."""

    SIGNATURE = "signature"  # flip one bit of the assertion (or packed attestation) signature
    CLIENT_DATA = "client_data"  # add a member to clientDataJSON (every checked field intact)
    AUTHENTICATOR_DATA = "authenticator_data"  # change the sign count in authenticatorData


def _extend_client_data(client_data: bytes) -> bytes:
    return client_data[:-1] + b',"tampered":true}'


def _flip_bit(data: bytes, index: int) -> bytes:
    out = bytearray(data)
    out[index] ^= 0x01
    return bytes(out)


class SoftAuthenticator:
    """One discoverable WebAuthn credential held in memory, usable from tests and benchmarks.

    `sign_count_start` is the counter before the first signature; every signature adds
    `counter_step` (0 models authenticators that always report 0, as many passkey providers do).
    """

    def __init__(
        self,
        *,
        algorithm: Literal["es256", "eddsa"] = "es256",
        sign_count_start: int = 0,
        counter_step: int = 1,
        user_verified: bool = True,
        backup_eligible: bool = False,
        backed_up: bool = False,
        attestation: Literal["packed", "none"] = "packed",
        aaguid: bytes = SOFT_AAGUID,
        credential_id: bytes | None = None,
        transports: Sequence[str] = ("internal", "hybrid"),
    ) -> None:
        if algorithm not in _ALG:
            raise ValueError(f"unsupported algorithm {algorithm!r}")
        if len(aaguid) != 16:
            raise ValueError("an AAGUID is 16 bytes")
        self.algorithm = algorithm
        self.alg = _ALG[algorithm]
        self._key: ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey = (
            ec.generate_private_key(ec.SECP256R1())
            if algorithm == "es256"
            else ed25519.Ed25519PrivateKey.generate()
        )
        self.sign_count = sign_count_start
        self.counter_step = counter_step
        self.user_verified = user_verified
        self.backup_eligible = backup_eligible
        self.backed_up = backed_up
        self.attestation = attestation
        self.aaguid = aaguid
        self.credential_id = credential_id if credential_id is not None else secrets.token_bytes(32)
        self.transports = tuple(transports)
        self.user_handle: bytes | None = None
        self.rp_id: str | None = None

    # -- keys -------------------------------------------------------------------------------

    @property
    def cose_public_key(self) -> bytes:
        """The credential public key as a CTAP2-canonical COSE_Key."""
        public = self._key.public_key()
        if isinstance(public, ec.EllipticCurvePublicKey):
            numbers = public.public_numbers()
            cose: dict[int, Any] = {
                1: 2,  # kty: EC2
                3: -7,  # alg: ES256
                -1: 1,  # crv: P-256
                -2: numbers.x.to_bytes(32, "big"),
                -3: numbers.y.to_bytes(32, "big"),
            }
        else:
            raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
            cose = {1: 1, 3: -8, -1: 6, -2: raw}  # kty: OKP, alg: EdDSA, crv: Ed25519
        return cbor2.dumps(cose, canonical=True)

    @property
    def spki_public_key(self) -> bytes:
        """The credential public key as DER SubjectPublicKeyInfo (L3's `getPublicKey()`)."""
        return self._key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def _sign(self, data: bytes) -> bytes:
        if isinstance(self._key, ec.EllipticCurvePrivateKey):
            return self._key.sign(data, ec.ECDSA(hashes.SHA256()))
        return self._key.sign(data)

    def clone(self) -> SoftAuthenticator:
        """A copy with the same key and counter: what an attacker who extracted the key holds."""
        twin = copy.copy(self)
        twin.transports = tuple(self.transports)
        return twin

    # -- building blocks --------------------------------------------------------------------

    def _next_count(self, override: int | None) -> int:
        if override is not None:
            self.sign_count = override
        else:
            self.sign_count += self.counter_step
        return self.sign_count

    def _flags(self, *, user_present: bool, user_verified: bool, attested: bool) -> int:
        flags = 0
        if user_present:
            flags |= _FLAG_UP
        if user_verified:
            flags |= _FLAG_UV
        if self.backup_eligible:
            flags |= _FLAG_BE
        if self.backed_up:
            flags |= _FLAG_BS
        if attested:
            flags |= _FLAG_AT
        return flags

    @staticmethod
    def client_data_json(
        *, type_: str, challenge: bytes, origin: str, cross_origin: bool = False
    ) -> bytes:
        """CollectedClientData serialized as WebAuthn L2 §5.8.1.1 requires (member order fixed)."""
        members = {
            "type": type_,
            "challenge": bytes_to_base64url(challenge),
            "origin": origin,
            "crossOrigin": cross_origin,
        }
        return json.dumps(members, separators=(",", ":"), ensure_ascii=False).encode("utf-8")

    def authenticator_data(
        self,
        *,
        rp_id: str,
        sign_count: int,
        user_present: bool = True,
        user_verified: bool = True,
        attested: bool = False,
    ) -> bytes:
        """authenticatorData (WebAuthn L2 §6.1): rpIdHash, flags, signCount [, attested data]."""
        flags = self._flags(
            user_present=user_present, user_verified=user_verified, attested=attested
        )
        data = hashlib.sha256(rp_id.encode("utf-8")).digest()
        data += struct.pack(">BI", flags, sign_count)
        if attested:
            data += self.aaguid
            data += struct.pack(">H", len(self.credential_id)) + self.credential_id
            data += self.cose_public_key
        return data

    @staticmethod
    def _rp_id_of(options: Mapping[str, Any], origin: str, key: str) -> str:
        rp_id = options.get("rp", {}).get("id") if key == "rp" else options.get("rpId")
        if isinstance(rp_id, str) and rp_id:
            return rp_id
        return urlsplit(origin).hostname or ""

    @staticmethod
    def _listed_ids(descriptors: Any) -> set[bytes]:
        return {base64url_to_bytes(d["id"]) for d in descriptors or () if isinstance(d, Mapping)}

    # -- ceremonies -------------------------------------------------------------------------

    def create(
        self,
        options: Mapping[str, Any],
        origin: str,
        *,
        rp_id: str | None = None,
        challenge: bytes | None = None,
        sign_count: int | None = None,
        user_present: bool = True,
        user_verified: bool | None = None,
        client_data_type: str = "webauthn.create",
        tamper: Tamper | str | None = None,
    ) -> dict[str, Any]:
        """Answer `navigator.credentials.create()` with a RegistrationResponseJSON dict.

        `options` is the PublicKeyCredentialCreationOptions JSON the relying party produced;
        keyword arguments override what a genuine client would have put in the response.
        """
        params = options.get("pubKeyCredParams") or []
        if params and self.alg not in {p.get("alg") for p in params}:
            raise ValueError("NotSupportedError: the relying party does not accept this algorithm")
        if self.credential_id in self._listed_ids(options.get("excludeCredentials")):
            raise ValueError("InvalidStateError: this credential is excluded")
        rp = rp_id if rp_id is not None else self._rp_id_of(options, origin, "rp")
        user_id = options.get("user", {}).get("id")
        self.user_handle = base64url_to_bytes(user_id) if isinstance(user_id, str) else None
        self.rp_id = rp

        client_data = self.client_data_json(
            type_=client_data_type,
            challenge=challenge
            if challenge is not None
            else base64url_to_bytes(options["challenge"]),
            origin=origin,
        )
        auth_data = self.authenticator_data(
            rp_id=rp,
            sign_count=self._next_count(sign_count),
            user_present=user_present,
            user_verified=self.user_verified if user_verified is None else user_verified,
            attested=True,
        )
        if self.attestation == "packed":
            # Self attestation (WebAuthn L2 §8.2): no x5c, signed with the credential key.
            sig = self._sign(auth_data + hashlib.sha256(client_data).digest())
            if tamper == Tamper.SIGNATURE:
                sig = _flip_bit(sig, len(sig) - 1)
            att_stmt: dict[str, Any] = {"alg": self.alg, "sig": sig}
        else:
            att_stmt = {}
        if tamper == Tamper.CLIENT_DATA:
            client_data = _extend_client_data(client_data)
        if tamper == Tamper.AUTHENTICATOR_DATA:
            auth_data = auth_data[:36] + _flip_bit(auth_data[36:37], 0) + auth_data[37:]
        attestation_object = cbor2.dumps(
            {"fmt": self.attestation, "attStmt": att_stmt, "authData": auth_data}, canonical=True
        )
        raw_id = bytes_to_base64url(self.credential_id)
        return {
            "id": raw_id,
            "rawId": raw_id,
            "type": "public-key",
            "authenticatorAttachment": "platform",
            "clientExtensionResults": {},
            "response": {
                "clientDataJSON": bytes_to_base64url(client_data),
                "attestationObject": bytes_to_base64url(attestation_object),
                "transports": list(self.transports),
                "authenticatorData": bytes_to_base64url(auth_data),
                "publicKey": bytes_to_base64url(self.spki_public_key),
                "publicKeyAlgorithm": self.alg,
            },
        }

    def get(
        self,
        options: Mapping[str, Any],
        origin: str,
        *,
        rp_id: str | None = None,
        challenge: bytes | None = None,
        sign_count: int | None = None,
        user_present: bool = True,
        user_verified: bool | None = None,
        client_data_type: str = "webauthn.get",
        tamper: Tamper | str | None = None,
    ) -> dict[str, Any]:
        """Answer `navigator.credentials.get()` with an AuthenticationResponseJSON dict.

        `options` is the PublicKeyCredentialRequestOptions JSON the relying party produced.
        """
        allowed = self._listed_ids(options.get("allowCredentials"))
        if allowed and self.credential_id not in allowed:
            raise ValueError("NotAllowedError: this credential is not in allowCredentials")
        rp = rp_id if rp_id is not None else self._rp_id_of(options, origin, "rpId")
        client_data = self.client_data_json(
            type_=client_data_type,
            challenge=challenge
            if challenge is not None
            else base64url_to_bytes(options["challenge"]),
            origin=origin,
        )
        auth_data = self.authenticator_data(
            rp_id=rp,
            sign_count=self._next_count(sign_count),
            user_present=user_present,
            user_verified=self.user_verified if user_verified is None else user_verified,
        )
        signature = self._sign(auth_data + hashlib.sha256(client_data).digest())
        if tamper == Tamper.SIGNATURE:
            signature = _flip_bit(signature, len(signature) - 1)
        elif tamper == Tamper.CLIENT_DATA:
            client_data = _extend_client_data(client_data)
        elif tamper == Tamper.AUTHENTICATOR_DATA:
            bumped = struct.pack(">I", (self.sign_count + 1000) & 0xFFFFFFFF)
            auth_data = auth_data[:33] + bumped + auth_data[37:]
        response: dict[str, Any] = {
            "clientDataJSON": bytes_to_base64url(client_data),
            "authenticatorData": bytes_to_base64url(auth_data),
            "signature": bytes_to_base64url(signature),
        }
        if self.user_handle is not None:
            response["userHandle"] = bytes_to_base64url(self.user_handle)
        raw_id = bytes_to_base64url(self.credential_id)
        return {
            "id": raw_id,
            "rawId": raw_id,
            "type": "public-key",
            "authenticatorAttachment": "platform",
            "clientExtensionResults": {},
            "response": response,
        }
