"""WebAuthn passkey ceremonies: registration, sign-in and payment-bound step-up.

py_webauthn does every attestation and assertion check (client data, RP ID hash, flags,
attestation statements, signatures); this module picks the policy (ES256, EdDSA and RS256,
attestation "none", user verification required by default), maps py_webauthn's errors onto
payguard's tree and adds what WebAuthn leaves to the relying party: sign-count clone detection
and the PSD2 dynamic-linking challenge that binds an assertion to one amount and payee.

Errors:

- `ValidationFailed(field="credential")`: the response is not a WebAuthn credential (not JSON,
  a field missing, bad base64url, undecodable clientDataJSON, authenticatorData or
  attestationObject).
- `AuthenticationFailed`: a well-formed response whose ceremony fails; the message names what
  ("challenge does not match", "origin does not match", "RP ID does not match", "signature does
  not verify", "user verification required", ...).
- `PossibleClone` (an `AuthenticationFailed`): the signature verified but the sign count did
  not increase, so two copies of the credential may exist.
"""

from __future__ import annotations

import hashlib
import json
import re
import struct
from base64 import urlsafe_b64decode
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from cryptography.exceptions import InvalidSignature
from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import (
    bytes_to_base64url,
    decode_credential_public_key,
    parse_attestation_object,
    parse_authentication_credential_json,
    parse_authenticator_data,
    parse_client_data_json,
    parse_registration_credential_json,
)
from webauthn.helpers.cose import COSEAlgorithmIdentifier
from webauthn.helpers.exceptions import (
    InvalidAuthenticationResponse,
    InvalidBackupFlags,
    InvalidJSONStructure,
    InvalidRegistrationResponse,
    WebAuthnException,
)
from webauthn.helpers.structs import (
    AttestationConveyancePreference,
    AuthenticationCredential,
    AuthenticatorData,
    AuthenticatorSelectionCriteria,
    PublicKeyCredentialDescriptor,
    RegistrationCredential,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from payguard.core.errors import AuthenticationFailed, ValidationFailed

__all__ = [
    "CHALLENGE_BYTES",
    "NewPasskey",
    "PasskeyAssertion",
    "PossibleClone",
    "RelyingParty",
    "UserVerification",
    "authentication_options",
    "credential_id_of",
    "registration_options",
    "transaction_challenge",
    "verify_authentication",
    "verify_registration",
]

#: Bytes of randomness in a WebAuthn challenge (the spec asks for at least 16).
CHALLENGE_BYTES = 32

_MIN_CHALLENGE_BYTES = 16
_MAX_CREDENTIAL_ID_BYTES = 1023  # WebAuthn L3 §7.1 step 24
_MAX_USER_HANDLE_BYTES = 64  # WebAuthn L2 §5.4.3
_FIELD = "credential"

#: Algorithms offered at registration and accepted at sign-in, in order of preference.
_ALGORITHMS = [
    COSEAlgorithmIdentifier.ECDSA_SHA_256,
    COSEAlgorithmIdentifier.EDDSA,
    COSEAlgorithmIdentifier.RSASSA_PKCS1_v1_5_SHA_256,
]

_TXN_DOMAIN = b"payguard-txn-v1"

_B64URL = re.compile(r"[A-Za-z0-9_-]*={0,2}")


@dataclass(frozen=True, slots=True)
class RelyingParty:
    """Who the passkeys are for: the RP ID they are scoped to and the origins that may use them."""

    id: str  # RP ID, e.g. "pay.example.com"
    name: str
    origins: tuple[str, ...]  # allowed origins, e.g. ("https://pay.example.com",)


class UserVerification(StrEnum):
    """Whether the authenticator must verify the user (PIN, biometric), not just their presence."""

    REQUIRED = "required"
    PREFERRED = "preferred"
    DISCOURAGED = "discouraged"


@dataclass(frozen=True, slots=True)
class NewPasskey:
    """A verified registration: what to store for the user's new passkey."""

    credential_id: bytes
    public_key: bytes  # COSE public key as py_webauthn returns it
    sign_count: int
    aaguid: str
    user_verified: bool
    backed_up: bool
    device_type: str  # "single_device" | "multi_device"
    transports: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class PasskeyAssertion:
    """A verified sign-in or step-up: which credential, and the sign count to store now."""

    credential_id: bytes
    new_sign_count: int
    user_verified: bool


class PossibleClone(AuthenticationFailed):
    """The assertion verified but its sign count did not increase: the key may have been copied."""


# py_webauthn reports why a ceremony failed only in its message; these are the fixed openings
# of those messages (stable since py_webauthn 1.x), each with the reason payguard reports.
# Prefixes, not substrings: the messages quote attacker-chosen values such as the origin.
_COMMON_REASONS = (
    ("Unexpected client data type", "client data type does not match the ceremony"),
    ("Client data challenge was not expected challenge", "challenge does not match"),
    ("Unexpected client data origin", "origin does not match"),
    ("Unexpected token_binding status", "token binding status is not acceptable"),
    ("Unexpected RP ID hash", "RP ID does not match"),
    ("User was not present", "user presence required"),
    ("User presence was required", "user presence required"),
    ("User verification is required", "user verification required"),
    ("Unexpected credential type", "credential type is not public-key"),
    ("id and raw_id were not equivalent", "credential id and rawId differ"),
)
_ASSERTION_REASONS = (
    *_COMMON_REASONS,
    ("Could not verify authentication signature", "signature does not verify"),
)
_ATTESTATION_REASONS = (
    *_COMMON_REASONS,
    ("Unsupported credential public key alg", "credential algorithm is not allowed"),
    ("Unsupported attestation type", "attestation format is not supported"),
)


def _reason(exc: Exception, table: tuple[tuple[str, str], ...], default: str) -> str:
    message = str(exc)
    for prefix, reason in table:
        if message.startswith(prefix):
            return reason
    return default


# Exceptions py_webauthn lets escape from deep inside a format verifier on hostile input.
_UNEXPECTED = (WebAuthnException, InvalidSignature, ValueError, TypeError, KeyError, IndexError)


# -- options ---------------------------------------------------------------------------------


def _check_challenge(challenge: bytes) -> None:
    if len(challenge) < _MIN_CHALLENGE_BYTES:
        raise ValidationFailed(
            f"a challenge needs at least {_MIN_CHALLENGE_BYTES} random bytes", field="challenge"
        )


def _descriptors(ids: Sequence[bytes]) -> list[PublicKeyCredentialDescriptor]:
    return [PublicKeyCredentialDescriptor(id=bytes(credential_id)) for credential_id in ids]


def registration_options(
    rp: RelyingParty,
    *,
    user_handle: bytes,
    user_name: str,
    display_name: str,
    challenge: bytes,
    exclude: Sequence[bytes] = (),
    user_verification: UserVerification = UserVerification.REQUIRED,
    timeout_ms: int = 300_000,
) -> dict[str, Any]:
    """PublicKeyCredentialCreationOptions as JSON for `navigator.credentials.create()`.

    ES256, EdDSA and RS256 keys; a discoverable (resident) credential preferred so the passkey
    can sign in without a user name; attestation "none", since payguard does not gate on
    authenticator make and a requested attestation adds a consent prompt. `exclude` lists the
    user's existing credential ids so the same authenticator is not registered twice.
    """
    if not 1 <= len(user_handle) <= _MAX_USER_HANDLE_BYTES:
        raise ValidationFailed(
            f"a user handle is 1 to {_MAX_USER_HANDLE_BYTES} bytes", field="user_handle"
        )
    if not user_name:
        raise ValidationFailed("a user name is required", field="user_name")
    _check_challenge(challenge)
    options = generate_registration_options(
        rp_id=rp.id,
        rp_name=rp.name,
        user_id=user_handle,
        user_name=user_name,
        user_display_name=display_name or user_name,
        challenge=challenge,
        timeout=timeout_ms,
        attestation=AttestationConveyancePreference.NONE,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.PREFERRED,
            user_verification=UserVerificationRequirement(user_verification.value),
        ),
        exclude_credentials=_descriptors(exclude),
        supported_pub_key_algs=list(_ALGORITHMS),
    )
    result: dict[str, Any] = json.loads(options_to_json(options))
    return result


def authentication_options(
    rp: RelyingParty,
    *,
    challenge: bytes,
    allow: Sequence[bytes] = (),
    user_verification: UserVerification = UserVerification.REQUIRED,
    timeout_ms: int = 300_000,
) -> dict[str, Any]:
    """PublicKeyCredentialRequestOptions as JSON for `navigator.credentials.get()`.

    An empty `allow` lets the user pick any discoverable passkey for this RP (username-less
    sign-in); a step-up for a known user lists that user's credential ids.
    """
    _check_challenge(challenge)
    options = generate_authentication_options(
        rp_id=rp.id,
        challenge=challenge,
        timeout=timeout_ms,
        allow_credentials=_descriptors(allow),
        user_verification=UserVerificationRequirement(user_verification.value),
    )
    result: dict[str, Any] = json.loads(options_to_json(options))
    return result


# -- parsing ---------------------------------------------------------------------------------


def _malformed(message: str) -> ValidationFailed:
    return ValidationFailed(message, field=_FIELD)


def _as_json_object(response: Mapping[str, Any] | str) -> dict[str, Any]:
    """The response as the plain dict py_webauthn's parsers insist on."""
    if isinstance(response, str | bytes):
        try:
            loaded = json.loads(response)
        except ValueError as exc:
            raise _malformed("credential is not JSON") from exc
    else:
        loaded = response
    if not isinstance(loaded, Mapping):
        raise _malformed("credential is not a JSON object")
    document = dict(loaded)
    inner = document.get("response")
    if isinstance(inner, Mapping):
        document["response"] = dict(inner)
    return document


def _strict_b64url(value: object) -> bytes:
    if not isinstance(value, str) or not value or _B64URL.fullmatch(value) is None:
        raise _malformed("credential id is not base64url")
    unpadded = value.rstrip("=")
    if len(unpadded) % 4 == 1:
        raise _malformed("credential id is not base64url")
    try:
        return urlsafe_b64decode(unpadded + "=" * (-len(unpadded) % 4))
    except ValueError as exc:
        raise _malformed("credential id is not base64url") from exc


def credential_id_of(response: Mapping[str, Any] | str) -> bytes:
    """The raw credential id a registration or assertion response names (its `rawId`).

    Read before verification to find the stored passkey whose public key verifies the response.
    """
    document = _as_json_object(response)
    raw = document.get("rawId", document.get("id"))
    credential_id = _strict_b64url(raw)
    if "id" in document and _strict_b64url(document["id"]) != credential_id:
        raise _malformed("credential id and rawId differ")
    if len(credential_id) > _MAX_CREDENTIAL_ID_BYTES:
        raise _malformed(f"credential id is longer than {_MAX_CREDENTIAL_ID_BYTES} bytes")
    return credential_id


def _parse_registration(response: Mapping[str, Any] | str) -> RegistrationCredential:
    document = _as_json_object(response)
    try:
        credential = parse_registration_credential_json(document)
    except InvalidJSONStructure as exc:  # its messages name the missing or mistyped member
        raise _malformed(f"not a registration response: {exc}") from exc
    except (WebAuthnException, ValueError, TypeError) as exc:
        raise _malformed("a credential member is not base64url") from exc
    if bytes_to_base64url(credential.raw_id) != credential.id:
        raise _malformed("credential id and rawId differ")
    try:
        parse_client_data_json(credential.response.client_data_json)
    except Exception as exc:
        raise _malformed("clientDataJSON is malformed") from exc
    try:
        parse_attestation_object(credential.response.attestation_object)
    except Exception as exc:
        raise _malformed("attestationObject is malformed") from exc
    return credential


def _parse_assertion(
    response: Mapping[str, Any] | str,
) -> tuple[AuthenticationCredential, AuthenticatorData]:
    document = _as_json_object(response)
    try:
        credential = parse_authentication_credential_json(document)
    except InvalidJSONStructure as exc:  # its messages name the missing or mistyped member
        raise _malformed(f"not an authentication response: {exc}") from exc
    except (WebAuthnException, ValueError, TypeError) as exc:
        raise _malformed("a credential member is not base64url") from exc
    if bytes_to_base64url(credential.raw_id) != credential.id:
        raise _malformed("credential id and rawId differ")
    try:
        parse_client_data_json(credential.response.client_data_json)
    except Exception as exc:
        raise _malformed("clientDataJSON is malformed") from exc
    try:
        authenticator_data = parse_authenticator_data(credential.response.authenticator_data)
    except Exception as exc:
        raise _malformed("authenticatorData is malformed") from exc
    return credential, authenticator_data


# -- ceremonies ------------------------------------------------------------------------------


def verify_registration(
    rp: RelyingParty,
    *,
    response: Mapping[str, Any] | str,
    expected_challenge: bytes,
    require_user_verification: bool,
) -> NewPasskey:
    """Verify a `navigator.credentials.create()` response and return the passkey to store.

    The caller still checks that `credential_id` is not already registered (to anyone) and
    consumes the challenge so the response cannot be replayed.
    """
    credential = _parse_registration(response)
    try:
        verified = verify_registration_response(
            credential=credential,
            expected_challenge=expected_challenge,
            expected_rp_id=rp.id,
            expected_origin=list(rp.origins),
            require_user_verification=require_user_verification,
            supported_pub_key_algs=list(_ALGORITHMS),
        )
    except InvalidRegistrationResponse as exc:
        reason = _reason(exc, _ATTESTATION_REASONS, "attestation does not verify")
        raise AuthenticationFailed(reason) from exc
    except InvalidBackupFlags as exc:
        raise AuthenticationFailed("backup flags are inconsistent") from exc
    except _UNEXPECTED as exc:
        raise AuthenticationFailed("attestation does not verify") from exc
    if verified.credential_id != credential.raw_id:
        raise AuthenticationFailed("credential id does not match the attested credential")
    if len(verified.credential_id) > _MAX_CREDENTIAL_ID_BYTES:
        raise AuthenticationFailed(f"credential id is longer than {_MAX_CREDENTIAL_ID_BYTES} bytes")
    transports = credential.response.transports or []
    return NewPasskey(
        credential_id=verified.credential_id,
        public_key=verified.credential_public_key,
        sign_count=verified.sign_count,
        aaguid=verified.aaguid,
        user_verified=verified.user_verified,
        backed_up=verified.credential_backed_up,
        device_type=verified.credential_device_type.value,
        transports=tuple(transport.value for transport in transports),
    )


def _check_stored_key(public_key: bytes) -> None:
    try:
        decoded = decode_credential_public_key(public_key)
    except _UNEXPECTED as exc:
        raise AuthenticationFailed("stored public key is malformed") from exc
    if decoded.alg not in _ALGORITHMS:
        raise AuthenticationFailed("public key algorithm is not supported")


def verify_authentication(
    rp: RelyingParty,
    *,
    response: Mapping[str, Any] | str,
    expected_challenge: bytes,
    public_key: bytes,
    sign_count: int,
    require_user_verification: bool,
) -> PasskeyAssertion:
    """Verify a `navigator.credentials.get()` response against the stored passkey.

    `public_key` and `sign_count` are what was stored for `credential_id_of(response)`. The
    caller stores `new_sign_count` with a compare-and-set so two concurrent assertions cannot
    both pass. Raises `PossibleClone` when the signature is good but the counter did not move
    forward; authenticators that always report 0 (most synced passkeys) are accepted. The
    caller also checks that the credential belongs to the user being authenticated (a step-up
    lists only that user's credentials in `allow`, but the client is not bound by that list).
    """
    credential, authenticator_data = _parse_assertion(response)
    _check_stored_key(public_key)
    try:
        # Stored count 0 turns py_webauthn's own counter check off: it runs before the
        # signature check, and a clone must only be flagged on a response that really verifies.
        verified = verify_authentication_response(
            credential=credential,
            expected_challenge=expected_challenge,
            expected_rp_id=rp.id,
            expected_origin=list(rp.origins),
            credential_public_key=public_key,
            credential_current_sign_count=0,
            require_user_verification=require_user_verification,
        )
    except InvalidAuthenticationResponse as exc:
        reason = _reason(exc, _ASSERTION_REASONS, "assertion does not verify")
        raise AuthenticationFailed(reason) from exc
    except InvalidBackupFlags as exc:
        raise AuthenticationFailed("backup flags are inconsistent") from exc
    except _UNEXPECTED as exc:
        raise AuthenticationFailed("assertion does not verify") from exc
    new_sign_count = authenticator_data.sign_count
    if (sign_count > 0 or new_sign_count > 0) and new_sign_count <= sign_count:
        raise PossibleClone("sign count did not increase: possible cloned authenticator")
    return PasskeyAssertion(
        credential_id=verified.credential_id,
        new_sign_count=new_sign_count,
        user_verified=verified.user_verified,
    )


# -- dynamic linking -------------------------------------------------------------------------


def _field(value: bytes | str | None) -> bytes:
    # Absent (0x00) and present (0x01 + 4-byte length + bytes) never collide, so None != "".
    if value is None:
        return b"\x00"
    data = value.encode("utf-8") if isinstance(value, str) else value
    return b"\x01" + struct.pack(">I", len(data)) + data


def transaction_challenge(
    *,
    nonce: bytes,
    challenge_id: str,
    amount: str | None,
    currency: str | None,
    payee: str | None,
) -> bytes:
    """The WebAuthn challenge for a payment step-up: SHA-256 over the payment it authorises.

    PSD2 dynamic linking (RTS Art. 5): the authentication code must be specific to the amount
    and payee the payer agreed to. The challenge is a hash of a length-prefixed encoding of a
    domain tag, a fresh nonce, the challenge id, amount, currency and payee, so an assertion
    over it verifies only against that exact payment. Pass the amount as the same canonical
    string the payer was shown (e.g. "12.50"); "12.5" is a different payment here.
    """
    if len(nonce) < _MIN_CHALLENGE_BYTES:
        raise ValidationFailed(
            f"a transaction nonce needs at least {_MIN_CHALLENGE_BYTES} random bytes",
            field="nonce",
        )
    encoded = b"".join(
        _field(part) for part in (_TXN_DOMAIN, nonce, challenge_id, amount, currency, payee)
    )
    return hashlib.sha256(encoded).digest()
