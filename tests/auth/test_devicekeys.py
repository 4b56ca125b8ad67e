from __future__ import annotations

import base64
import hashlib
import inspect
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from hypothesis import given, settings
from hypothesis import strategies as st

from payguard.auth.devicekeys import (
    ALGORITHMS,
    BoundDeviceKeys,
    parse_public_key,
    signed_message,
    verify_signature,
)
from payguard.auth.interfaces import Credential, CredentialKind
from payguard.core.errors import ValidationFailed
from payguard.core.replay import NonceLedger
from payguard.devices.interfaces import DeviceKeys, DevicePublicKey

NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
TS = int(NOW.timestamp())
NONCE_VALUE = "n0nce-Value_1234567890"
REQUEST: dict[str, Any] = {
    "method": "post",
    "path": "/v1/payments/p_123/confirm",
    "body": b'{"amount":{"value":"125.00","currency":"KES"}}',
    "timestamp": TS,
    "nonce": NONCE_VALUE,
}

ED_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
P256_KEY = ec.derive_private_key(0x1234567890ABCDEF, ec.SECP256R1())


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def ub64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def ed_public(key: Ed25519PrivateKey = ED_KEY) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def p256_point(key: ec.EllipticCurvePrivateKey = P256_KEY) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )


def p256_der(key: ec.EllipticCurvePrivateKey = P256_KEY) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def sign_ed(message: bytes, key: Ed25519PrivateKey = ED_KEY) -> str:
    return b64(key.sign(message))


def sign_p256_der(message: bytes, key: ec.EllipticCurvePrivateKey = P256_KEY) -> str:
    return b64(key.sign(message, ec.ECDSA(hashes.SHA256())))


def sign_p256_raw(message: bytes, key: ec.EllipticCurvePrivateKey = P256_KEY) -> str:
    r, s = decode_dss_signature(key.sign(message, ec.ECDSA(hashes.SHA256())))
    return ub64(r.to_bytes(32, "big") + s.to_bytes(32, "big"))


SIGNERS: dict[str, tuple[str, str, Callable[[bytes], str]]] = {
    "ed25519": ("ed25519", b64(ed_public()), sign_ed),
    "ed25519-urlsafe-key": ("ed25519", ub64(ed_public()), sign_ed),
    "p256-point-der-sig": ("p256", b64(p256_point()), sign_p256_der),
    "p256-spki-der-sig": ("p256", b64(p256_der()), sign_p256_der),
    "p256-point-raw-sig": ("p256", ub64(p256_point()), sign_p256_raw),
    "p256-spki-raw-sig": ("p256", b64(p256_der()), sign_p256_raw),
}


def test_constants() -> None:
    assert ALGORITHMS == ("ed25519", "p256")


def test_signed_message_layout() -> None:
    message = signed_message(**REQUEST)
    assert message == (
        b"payguard-device-v1\nPOST\n/v1/payments/p_123/confirm\n"
        + hashlib.sha256(REQUEST["body"]).hexdigest().encode()
        + f"\n{TS}\n{NONCE_VALUE}".encode()
    )


def test_signed_message_of_an_empty_body() -> None:
    message = signed_message(method="GET", path="/v1/me", body=b"", timestamp=0, nonce="x" * 16)
    empty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert message == f"payguard-device-v1\nGET\n/v1/me\n{empty}\n0\n{'x' * 16}".encode()


@pytest.mark.parametrize("case", SIGNERS)
def test_signature_verifies(case: str) -> None:
    algorithm, public_key, sign = SIGNERS[case]
    parse_public_key(algorithm, public_key)
    message = signed_message(**REQUEST)
    assert verify_signature(algorithm, public_key, message, sign(message)) is True


TAMPERS = {
    "method": {"method": "PUT"},
    "path": {"path": "/v1/payments/p_124/confirm"},
    "body": {"body": b'{"amount":{"value":"925.00","currency":"KES"}}'},
    "timestamp": {"timestamp": TS + 1},
    "nonce": {"nonce": NONCE_VALUE + "x"},
}


@pytest.mark.parametrize("case", SIGNERS)
@pytest.mark.parametrize("field", TAMPERS)
def test_tampered_request_fails(case: str, field: str) -> None:
    algorithm, public_key, sign = SIGNERS[case]
    signature = sign(signed_message(**REQUEST))
    tampered = signed_message(**(REQUEST | TAMPERS[field]))
    assert verify_signature(algorithm, public_key, tampered, signature) is False


def test_method_case_does_not_matter() -> None:
    message = signed_message(**REQUEST)
    assert message == signed_message(**(REQUEST | {"method": "POST"}))


@pytest.mark.parametrize("case", SIGNERS)
def test_wrong_key_fails(case: str) -> None:
    algorithm, public_key, _ = SIGNERS[case]
    message = signed_message(**REQUEST)
    if algorithm == "ed25519":
        other = Ed25519PrivateKey.from_private_bytes(bytes(range(1, 33)))
        signature = sign_ed(message, other)
    else:
        other_p = ec.derive_private_key(0xFEDCBA987654321, ec.SECP256R1())
        signature = sign_p256_der(message, other_p)
    assert verify_signature(algorithm, public_key, message, signature) is False


def test_a_signature_of_one_algorithm_does_not_pass_as_the_other() -> None:
    message = signed_message(**REQUEST)
    assert verify_signature("p256", b64(p256_point()), message, sign_ed(message)) is False
    raw_p256 = sign_p256_raw(message)
    assert verify_signature("ed25519", b64(ed_public()), message, raw_p256) is False


@pytest.mark.parametrize(
    "signature",
    [
        "",
        "!!!!",
        "not base64 at all",
        b64(b"\x00" * 64),
        b64(b"\xff" * 64),
        b64(b"\x30\x06\x02\x01\x01\x02\x01\x01"),
        b64(b"\x30" + b"\x00" * 70),
        b64(b"\x00" * 63),
        b64(b"\x00" * 65),
        b64(b"\x30\x45") + "A" * 2000,
    ],
)
@pytest.mark.parametrize("case", ["ed25519", "p256-point-der-sig"])
def test_malformed_signatures_are_false_not_errors(case: str, signature: str) -> None:
    algorithm, public_key, _ = SIGNERS[case]
    assert verify_signature(algorithm, public_key, signed_message(**REQUEST), signature) is False


def test_p256_high_s_and_zero_r_raw_forms_do_not_crash() -> None:
    n = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
    for r, s in [(0, 1), (1, 0), (n, 1), (2**256 - 1, 2**256 - 1)]:
        raw = r.to_bytes(32, "big") + s.to_bytes(32, "big")
        assert verify_signature("p256", b64(p256_point()), b"m", b64(raw)) is False


@settings(max_examples=50, deadline=None)
@given(body=st.binary(max_size=4096), timestamp=st.integers(0, 2**40))
def test_round_trip_over_bodies(body: bytes, timestamp: int) -> None:
    request = REQUEST | {"body": body, "timestamp": timestamp}
    message = signed_message(**request)
    for algorithm, public_key, sign in SIGNERS.values():
        assert verify_signature(algorithm, public_key, message, sign(message))
    changed = signed_message(**(request | {"body": body + b"\x00"}))
    assert not verify_signature("ed25519", b64(ed_public()), changed, sign_ed(message))


# Key validation ---------------------------------------------------------------------------------


def test_unknown_algorithm() -> None:
    for algorithm in ("rsa", "ES256", "", "Ed25519"):
        with pytest.raises(ValidationFailed) as raised:
            parse_public_key(algorithm, b64(ed_public()))
        assert raised.value.field == "algorithm"
        assert "ed25519, p256" in raised.value.message


def _rsa_der() -> bytes:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _p384_der() -> bytes:
    key = ec.derive_private_key(12345, ec.SECP384R1())
    return key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


@pytest.mark.parametrize(
    ("algorithm", "public_key", "words"),
    [
        ("ed25519", "", "32 bytes, got 0"),
        ("ed25519", "***", "base64"),
        ("ed25519", b64(b"\x01" * 31), "32 bytes, got 31"),
        ("ed25519", b64(p256_point()), "32 bytes, got 65"),
        ("p256", b64(ed_public()), "SEC1"),
        ("p256", b64(b"\x04" + b"\x01" * 64), "not a point"),
        ("p256", b64(p256_point()[:-1]), "SEC1"),
        ("p256", b64(b"\x02" + p256_point()[1:33]), "SEC1"),  # compressed points are refused
        ("p256", b64(_p384_der()), "not a P-256 key"),
        ("p256", b64(_rsa_der()), "not a P-256 key"),
        ("p256", "A" * 5000, "base64"),
    ],
)
def test_invalid_public_keys(algorithm: str, public_key: str, words: str) -> None:
    with pytest.raises(ValidationFailed) as raised:
        parse_public_key(algorithm, public_key)
    assert raised.value.field == "public_key"
    assert words in raised.value.message


def test_verify_with_an_invalid_key_raises_validation_failed() -> None:
    with pytest.raises(ValidationFailed):
        verify_signature("p256", b64(b"\x04" + b"\x01" * 64), b"m", b64(b"\x00" * 64))


# The devices' port on device binding -------------------------------------------------------------


class Credentials:
    """Auth's credential lookup, in memory."""

    def __init__(self, *credentials: Credential) -> None:
        self._found = {(c.tenant_id, c.kind, c.lookup): c for c in credentials}

    def find_credential(
        self, tenant_id: str, kind: CredentialKind, lookup: str
    ) -> Credential | None:
        return self._found.get((tenant_id, kind, lookup))


class Nonces:
    """A nonce ledger, in memory."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str, str, datetime]] = []

    def use_nonce(self, tenant_id: str, scope: str, nonce: str, expires_at: datetime) -> bool:
        if any(seen[:3] == (tenant_id, scope, nonce) for seen in self.seen):
            return False
        self.seen.append((tenant_id, scope, nonce, expires_at))
        return True


def credential(kind: CredentialKind, lookup: str, algorithm: str, public_key: str) -> Credential:
    return Credential(
        tenant_id="t1",
        id=f"{kind.value}-{lookup}",
        user_id="acct-1",
        kind=kind,
        label="phone",
        created_at=NOW,
        lookup=lookup,
        data={"algorithm": algorithm, "public_key": public_key},
    )


def test_bound_device_keys_is_the_devices_port() -> None:
    members = {
        name
        for port in (DeviceKeys, NonceLedger)
        for name in vars(port)
        if not name.startswith("_")
    }
    assert members == {"bound_key", "verify", "use_nonce"}
    for name in members:
        assert inspect.signature(getattr(BoundDeviceKeys, name)) == inspect.signature(
            getattr(DeviceKeys, name)
        )


def test_the_bound_key_is_the_devices_own_device_credential() -> None:
    public_key = b64(ed_public())
    keys = BoundDeviceKeys(
        Credentials(
            credential(CredentialKind.DEVICE, "dev-1", "ed25519", public_key),
            credential(CredentialKind.PASSKEY, "dev-2", "ed25519", public_key),
        ),
        Nonces(),
    )
    assert keys.bound_key("t1", "dev-1") == DevicePublicKey("ed25519", public_key)
    assert keys.bound_key("t1", "dev-2") is None  # a passkey is not a device key
    assert keys.bound_key("t1", "dev-3") is None
    assert keys.bound_key("t2", "dev-1") is None


@pytest.mark.parametrize("case", SIGNERS)
def test_bound_device_keys_verify_the_signed_request(case: str) -> None:
    algorithm, public_key, sign = SIGNERS[case]
    keys = BoundDeviceKeys(Credentials(), Nonces())
    key = DevicePublicKey(algorithm, public_key)
    signature = sign(signed_message(**REQUEST))
    assert keys.verify(key, **REQUEST, signature=signature) is True
    for change in TAMPERS.values():
        assert keys.verify(key, **(REQUEST | change), signature=signature) is False


def test_bound_device_keys_use_the_nonce_ledger() -> None:
    nonces = Nonces()
    keys = BoundDeviceKeys(Credentials(), nonces)
    expires = NOW + timedelta(minutes=10)
    assert keys.use_nonce("t1", "device-report:dev-1", NONCE_VALUE, expires) is True
    assert keys.use_nonce("t1", "device-report:dev-1", NONCE_VALUE, expires) is False
    assert keys.use_nonce("t2", "device-report:dev-1", NONCE_VALUE, expires) is True
    assert nonces.seen[0] == ("t1", "device-report:dev-1", NONCE_VALUE, expires)
