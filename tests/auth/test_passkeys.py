"""Passkey ceremonies against real authenticators' responses and the software authenticator.

Real responses (tests/vectors/webauthn, see its README) prove we accept what YubiKeys and
platform authenticators send; the software authenticator makes the negative cases that no
recorded response covers (cloned keys, counters, user verification, payment binding).
"""

from __future__ import annotations

import copy
import json
from base64 import urlsafe_b64decode, urlsafe_b64encode
from pathlib import Path
from typing import Any

import cbor2
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from payguard.auth import passkeys
from payguard.auth.passkeys import (
    CHALLENGE_BYTES,
    NewPasskey,
    PasskeyAssertion,
    PossibleClone,
    RelyingParty,
    UserVerification,
    authentication_options,
    credential_id_of,
    registration_options,
    transaction_challenge,
    verify_authentication,
    verify_registration,
)
from payguard.auth.softauthn import SoftAuthenticator, Tamper
from payguard.core.errors import AuthenticationFailed, ValidationFailed

VECTORS = Path(__file__).parents[1] / "vectors" / "webauthn"


def b64(data: bytes) -> str:
    return urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(text: str) -> bytes:
    return urlsafe_b64decode(text + "=" * (-len(text) % 4))


def load(kind: str) -> list[Any]:
    files = sorted(VECTORS.glob(f"{kind}-*.json"))
    assert files, f"no {kind} vectors in {VECTORS}"
    return [pytest.param(json.loads(f.read_text()), id=f.stem) for f in files]


REGISTRATIONS = load("registration")
AUTHENTICATIONS = load("authentication")


def rp_of(vector: dict[str, Any], **changes: Any) -> RelyingParty:
    expected = vector["expected"]
    fields = {"id": expected["rp_id"], "name": "fixture", "origins": (expected["origin"],)}
    return RelyingParty(**{**fields, **changes})


def verify_real_registration(vector: dict[str, Any], **changes: Any) -> NewPasskey:
    expected = vector["expected"]
    args: dict[str, Any] = {
        "response": vector["response"],
        "expected_challenge": unb64(expected["challenge"]),
        "require_user_verification": False,
    }
    rp = rp_of(vector, **changes.pop("rp", {}))
    return verify_registration(rp, **{**args, **changes})


def verify_real_assertion(vector: dict[str, Any], **changes: Any) -> PasskeyAssertion:
    expected = vector["expected"]
    args: dict[str, Any] = {
        "response": vector["response"],
        "expected_challenge": unb64(expected["challenge"]),
        "public_key": unb64(expected["public_key"]),
        "sign_count": expected["sign_count"],
        "require_user_verification": False,
    }
    rp = rp_of(vector, **changes.pop("rp", {}))
    return verify_authentication(rp, **{**args, **changes})


def with_response_field(vector: dict[str, Any], name: str, value: str) -> dict[str, Any]:
    response = copy.deepcopy(vector["response"])
    response["response"][name] = value
    return response


def flip_last_byte(text: str) -> str:
    data = bytearray(unb64(text))
    data[-1] ^= 0x01
    return b64(bytes(data))


# -- real registrations ----------------------------------------------------------------------


@pytest.mark.parametrize("vector", REGISTRATIONS)
def test_real_registration_verifies(vector: dict[str, Any]) -> None:
    expected = vector["expected"]
    passkey = verify_real_registration(vector, require_user_verification=expected["user_verified"])
    assert passkey == NewPasskey(
        credential_id=unb64(expected["credential_id"]),
        public_key=unb64(expected["public_key"]),
        sign_count=expected["sign_count"],
        aaguid=expected["aaguid"],
        user_verified=expected["user_verified"],
        backed_up=expected["backed_up"],
        device_type=expected["device_type"],
        transports=tuple(vector["response"]["response"].get("transports", ())),
    )


@pytest.mark.parametrize("vector", REGISTRATIONS)
def test_real_registration_accepts_json_text(vector: dict[str, Any]) -> None:
    passkey = verify_real_registration(vector, response=json.dumps(vector["response"]))
    assert passkey.credential_id == unb64(vector["expected"]["credential_id"])


@pytest.mark.parametrize("vector", REGISTRATIONS)
def test_real_registration_accepts_any_of_the_rp_origins(vector: dict[str, Any]) -> None:
    origins = ("https://other.example", vector["expected"]["origin"])
    assert verify_real_registration(vector, rp={"origins": origins})


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"rp": {"origins": ("https://pay.example.com",)}}, "origin does not match"),
        ({"rp": {"id": "pay.example.com"}}, "RP ID does not match"),
        ({"expected_challenge": b"\x00" * CHALLENGE_BYTES}, "challenge does not match"),
    ],
    ids=["origin", "rp-id", "challenge"],
)
@pytest.mark.parametrize("vector", REGISTRATIONS)
def test_real_registration_rejects_another_ceremony(
    vector: dict[str, Any], changes: dict[str, Any], reason: str
) -> None:
    with pytest.raises(AuthenticationFailed, match=f"^{reason}$") as caught:
        verify_real_registration(vector, **copy.deepcopy(changes))
    assert not isinstance(caught.value, PossibleClone)


@pytest.mark.parametrize(
    "vector", [v for v in REGISTRATIONS if v.values[0]["attestation_format"] != "none"]
)
def test_real_registration_rejects_a_forged_attestation_signature(vector: dict[str, Any]) -> None:
    attestation = cbor2.loads(unb64(vector["response"]["response"]["attestationObject"]))
    sig = bytearray(attestation["attStmt"]["sig"])
    sig[-1] ^= 0x01
    attestation["attStmt"]["sig"] = bytes(sig)
    forged = with_response_field(vector, "attestationObject", b64(cbor2.dumps(attestation)))
    with pytest.raises(AuthenticationFailed, match=r"^attestation does not verify$"):
        verify_real_registration(vector, response=forged)


@pytest.mark.parametrize(
    "vector", [v for v in REGISTRATIONS if not v.values[0]["expected"]["user_verified"]]
)
def test_real_registration_without_uv_refused_when_uv_required(vector: dict[str, Any]) -> None:
    with pytest.raises(AuthenticationFailed, match=r"^user verification required$"):
        verify_real_registration(vector, require_user_verification=True)


@pytest.mark.parametrize("vector", REGISTRATIONS)
def test_real_registration_response_is_not_an_assertion(vector: dict[str, Any]) -> None:
    with pytest.raises(ValidationFailed) as caught:
        verify_authentication(
            rp_of(vector),
            response=vector["response"],
            expected_challenge=unb64(vector["expected"]["challenge"]),
            public_key=unb64(vector["expected"]["public_key"]),
            sign_count=0,
            require_user_verification=False,
        )
    assert caught.value.field == "credential"


# -- real assertions -------------------------------------------------------------------------


@pytest.mark.parametrize("vector", AUTHENTICATIONS)
def test_real_assertion_verifies(vector: dict[str, Any]) -> None:
    expected = vector["expected"]
    assertion = verify_real_assertion(vector, require_user_verification=expected["user_verified"])
    assert assertion == PasskeyAssertion(
        credential_id=unb64(expected["credential_id"]),
        new_sign_count=expected["new_sign_count"],
        user_verified=expected["user_verified"],
    )
    assert credential_id_of(vector["response"]) == assertion.credential_id
    assert verify_real_assertion(vector, response=json.dumps(vector["response"])) == assertion


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"rp": {"origins": ("https://pay.example.com",)}}, "origin does not match"),
        ({"rp": {"id": "pay.example.com"}}, "RP ID does not match"),
        ({"expected_challenge": b"\x00" * CHALLENGE_BYTES}, "challenge does not match"),
    ],
    ids=["origin", "rp-id", "challenge"],
)
@pytest.mark.parametrize("vector", AUTHENTICATIONS)
def test_real_assertion_rejects_another_ceremony(
    vector: dict[str, Any], changes: dict[str, Any], reason: str
) -> None:
    with pytest.raises(AuthenticationFailed, match=f"^{reason}$") as caught:
        verify_real_assertion(vector, **copy.deepcopy(changes))
    assert not isinstance(caught.value, PossibleClone)


@pytest.mark.parametrize("vector", AUTHENTICATIONS)
def test_real_assertion_rejects_a_flipped_signature_byte(vector: dict[str, Any]) -> None:
    signature = vector["response"]["response"]["signature"]
    forged = with_response_field(vector, "signature", flip_last_byte(signature))
    with pytest.raises(AuthenticationFailed, match=r"^signature does not verify$"):
        verify_real_assertion(vector, response=forged)


@pytest.mark.parametrize("vector", AUTHENTICATIONS)
def test_real_assertion_rejects_a_raised_counter(vector: dict[str, Any]) -> None:
    # An attacker who bumps the counter to dodge clone detection breaks the signature.
    data = bytearray(unb64(vector["response"]["response"]["authenticatorData"]))
    data[36] = (data[36] + 1) % 256
    forged = with_response_field(vector, "authenticatorData", b64(bytes(data)))
    with pytest.raises(AuthenticationFailed, match=r"^signature does not verify$"):
        verify_real_assertion(vector, response=forged)


@pytest.mark.parametrize("vector", AUTHENTICATIONS)
def test_real_assertion_rejects_another_credentials_key(vector: dict[str, Any]) -> None:
    others = [v.values[0] for v in AUTHENTICATIONS if v.values[0] is not vector]
    other_key = unb64(others[0]["expected"]["public_key"])
    with pytest.raises(AuthenticationFailed, match=r"^signature does not verify$"):
        verify_real_assertion(vector, public_key=other_key)


@pytest.mark.parametrize("vector", AUTHENTICATIONS)
def test_real_assertion_with_a_stored_count_above_its_own_is_a_clone(
    vector: dict[str, Any],
) -> None:
    with pytest.raises(PossibleClone, match="sign count did not increase"):
        verify_real_assertion(vector, sign_count=vector["expected"]["new_sign_count"] + 1)


@pytest.mark.parametrize("vector", AUTHENTICATIONS)
def test_real_assertion_replayed_after_its_count_was_stored_is_a_clone(
    vector: dict[str, Any],
) -> None:
    first = verify_real_assertion(vector)
    with pytest.raises(PossibleClone):
        verify_real_assertion(vector, sign_count=first.new_sign_count)


@pytest.mark.parametrize("vector", AUTHENTICATIONS)
def test_a_stale_counter_is_only_a_clone_once_the_signature_verifies(
    vector: dict[str, Any],
) -> None:
    signature = vector["response"]["response"]["signature"]
    forged = with_response_field(vector, "signature", flip_last_byte(signature))
    with pytest.raises(AuthenticationFailed) as caught:
        verify_real_assertion(vector, response=forged, sign_count=2**32 - 1)
    assert not isinstance(caught.value, PossibleClone)


def test_real_assertion_without_uv_refused_when_uv_required() -> None:
    (vector,) = [v.values[0] for v in AUTHENTICATIONS if v.id == "authentication-es256-no-uv"]
    assert verify_real_assertion(vector).user_verified is False
    with pytest.raises(AuthenticationFailed, match=r"^user verification required$"):
        verify_real_assertion(vector, require_user_verification=True)


# -- the software authenticator --------------------------------------------------------------

RP = RelyingParty(id="pay.example.com", name="PayGuard", origins=("https://pay.example.com",))
ORIGIN = "https://pay.example.com"
REG_CHALLENGE = b"r" * CHALLENGE_BYTES
AUTH_CHALLENGE = b"a" * CHALLENGE_BYTES


def enrol(authenticator: SoftAuthenticator, **overrides: Any) -> NewPasskey:
    options = registration_options(
        RP,
        user_handle=b"\x07" * 16,
        user_name="alice@example.com",
        display_name="Alice",
        challenge=REG_CHALLENGE,
    )
    response = authenticator.create(options, overrides.pop("origin", ORIGIN), **overrides)
    return verify_registration(
        RP, response=response, expected_challenge=REG_CHALLENGE, require_user_verification=True
    )


def sign_in(
    authenticator: SoftAuthenticator,
    passkey: NewPasskey,
    *,
    stored: int | None = None,
    challenge: bytes = AUTH_CHALLENGE,
    require_user_verification: bool = True,
    **overrides: Any,
) -> PasskeyAssertion:
    options = authentication_options(RP, challenge=challenge, allow=[passkey.credential_id])
    if "signed_challenge" in overrides:  # what the client signs instead of `challenge`
        overrides["challenge"] = overrides.pop("signed_challenge")
    response = authenticator.get(options, overrides.pop("origin", ORIGIN), **overrides)
    return verify_authentication(
        RP,
        response=response,
        expected_challenge=challenge,
        public_key=passkey.public_key,
        sign_count=passkey.sign_count if stored is None else stored,
        require_user_verification=require_user_verification,
    )


KINDS = [
    pytest.param({"algorithm": alg, "attestation": att}, id=f"{alg}-{att}")
    for alg in ("es256", "eddsa")
    for att in ("packed", "none")
]


@pytest.mark.parametrize("kind", KINDS)
def test_soft_passkey_registers_and_signs_in(kind: dict[str, Any]) -> None:
    authenticator = SoftAuthenticator(**kind, sign_count_start=41, backup_eligible=True)
    passkey = enrol(authenticator)
    assert passkey.credential_id == authenticator.credential_id
    assert passkey.public_key == authenticator.cose_public_key
    assert passkey.sign_count == 42
    assert passkey.aaguid == "50a7a07e-5c0f-4a1b-9e2d-736f66746e31"
    assert (passkey.user_verified, passkey.backed_up) == (True, False)
    assert passkey.device_type == "multi_device"
    assert passkey.transports == ("internal", "hybrid")
    assertion = sign_in(authenticator, passkey)
    assert assertion == PasskeyAssertion(authenticator.credential_id, 43, True)


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"origin": "https://pay.example.com.evil.test"}, "origin does not match"),
        ({"rp_id": "evil.test"}, "RP ID does not match"),
        ({"signed_challenge": b"x" * CHALLENGE_BYTES}, "challenge does not match"),
        ({"tamper": Tamper.SIGNATURE}, "signature does not verify"),
        ({"tamper": Tamper.CLIENT_DATA}, "signature does not verify"),
        ({"tamper": Tamper.AUTHENTICATOR_DATA}, "signature does not verify"),
        ({"user_verified": False}, "user verification required"),
        ({"user_present": False}, "user presence required"),
        ({"client_data_type": "webauthn.create"}, "client data type does not match the ceremony"),
    ],
    ids=lambda value: value if isinstance(value, str) else None,
)
@pytest.mark.parametrize("algorithm", ["es256", "eddsa"])
def test_soft_assertion_negatives(algorithm: str, overrides: dict[str, Any], reason: str) -> None:
    authenticator = SoftAuthenticator(algorithm=algorithm)  # type: ignore[arg-type]
    passkey = enrol(authenticator)
    with pytest.raises(AuthenticationFailed, match=f"^{reason}$") as caught:
        sign_in(authenticator, passkey, **overrides)
    assert not isinstance(caught.value, PossibleClone)


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"origin": "https://evil.test"}, "origin does not match"),
        ({"rp_id": "evil.test"}, "RP ID does not match"),
        ({"challenge": b"x" * CHALLENGE_BYTES}, "challenge does not match"),
        ({"tamper": Tamper.SIGNATURE}, "attestation does not verify"),
        ({"tamper": Tamper.CLIENT_DATA}, "attestation does not verify"),
        ({"tamper": Tamper.AUTHENTICATOR_DATA}, "attestation does not verify"),
        ({"user_verified": False}, "user verification required"),
        ({"user_present": False}, "user presence required"),
        ({"client_data_type": "webauthn.get"}, "client data type does not match the ceremony"),
    ],
    ids=lambda value: value if isinstance(value, str) else None,
)
def test_soft_registration_negatives(overrides: dict[str, Any], reason: str) -> None:
    with pytest.raises(AuthenticationFailed, match=f"^{reason}$"):
        enrol(SoftAuthenticator(algorithm="es256", attestation="packed"), **overrides)


def test_registration_refuses_an_algorithm_the_rp_did_not_offer() -> None:
    class ES384Key(SoftAuthenticator):
        @property
        def cose_public_key(self) -> bytes:
            key = cbor2.loads(super().cose_public_key)
            key[3] = -35  # ES384: not offered, and py_webauthn would otherwise accept it
            return bytes(cbor2.dumps(key, canonical=True))

    with pytest.raises(AuthenticationFailed, match=r"^credential algorithm is not allowed$"):
        enrol(ES384Key(attestation="none"))


def test_assertion_refuses_a_stored_key_of_an_unknown_algorithm() -> None:
    authenticator = SoftAuthenticator()
    passkey = enrol(authenticator)
    key = cbor2.loads(passkey.public_key)
    key[3] = -35
    odd = NewPasskey(**{**_fields(passkey), "public_key": cbor2.dumps(key)})
    with pytest.raises(AuthenticationFailed, match=r"^public key algorithm is not supported$"):
        sign_in(authenticator, odd)
    garbage = NewPasskey(**{**_fields(passkey), "public_key": b"\xff\x00"})
    with pytest.raises(AuthenticationFailed, match=r"^stored public key is malformed$"):
        sign_in(authenticator, garbage)


def _fields(passkey: NewPasskey) -> dict[str, Any]:
    return {name: getattr(passkey, name) for name in NewPasskey.__slots__}


def test_replayed_soft_assertion_is_a_clone() -> None:
    authenticator = SoftAuthenticator()
    passkey = enrol(authenticator)
    options = authentication_options(RP, challenge=AUTH_CHALLENGE)
    response = authenticator.get(options, ORIGIN)
    check: dict[str, Any] = {
        "response": response,
        "expected_challenge": AUTH_CHALLENGE,
        "public_key": passkey.public_key,
        "require_user_verification": True,
    }
    first = verify_authentication(RP, sign_count=passkey.sign_count, **check)
    with pytest.raises(PossibleClone, match=r"^sign count did not increase"):
        verify_authentication(RP, sign_count=first.new_sign_count, **check)


def test_cloned_authenticator_falling_behind_is_a_clone() -> None:
    original = SoftAuthenticator(sign_count_start=10)
    passkey = enrol(original)
    stolen = original.clone()
    count = sign_in(original, passkey).new_sign_count
    count = sign_in(original, passkey, stored=count).new_sign_count
    with pytest.raises(PossibleClone):
        sign_in(stolen, passkey, stored=count)  # the copy reports 12 after 12 was stored


def test_counter_going_backwards_is_a_clone() -> None:
    authenticator = SoftAuthenticator(sign_count_start=100)
    passkey = enrol(authenticator)
    with pytest.raises(PossibleClone):
        sign_in(authenticator, passkey, sign_count=5)  # the authenticator reports 5 after 101


def test_authenticator_that_always_reports_zero_is_accepted() -> None:
    authenticator = SoftAuthenticator(counter_step=0, backup_eligible=True, backed_up=True)
    passkey = enrol(authenticator)
    assert (passkey.sign_count, passkey.backed_up, passkey.device_type) == (
        0,
        True,
        "multi_device",
    )
    for _ in range(3):
        assert sign_in(authenticator, passkey, stored=0).new_sign_count == 0


def test_counter_starting_from_zero_after_a_zero_registration_is_accepted() -> None:
    authenticator = SoftAuthenticator(counter_step=0)
    passkey = enrol(authenticator)
    authenticator.counter_step = 1
    assert sign_in(authenticator, passkey, stored=0).new_sign_count == 1


def test_uv_not_required_accepts_presence_only() -> None:
    authenticator = SoftAuthenticator(user_verified=False)
    options = registration_options(
        RP,
        user_handle=b"\x01",
        user_name="bob",
        display_name="",
        challenge=REG_CHALLENGE,
        user_verification=UserVerification.DISCOURAGED,
    )
    passkey = verify_registration(
        RP,
        response=authenticator.create(options, ORIGIN),
        expected_challenge=REG_CHALLENGE,
        require_user_verification=False,
    )
    assert passkey.user_verified is False
    assertion = sign_in(authenticator, passkey, require_user_verification=False)
    assert assertion.user_verified is False
    with pytest.raises(AuthenticationFailed, match=r"^user verification required$"):
        sign_in(authenticator, passkey, stored=assertion.new_sign_count)


# -- malformed input -------------------------------------------------------------------------


def _soft_assertion() -> tuple[dict[str, Any], NewPasskey]:
    authenticator = SoftAuthenticator()
    passkey = enrol(authenticator)
    options = authentication_options(RP, challenge=AUTH_CHALLENGE)
    return authenticator.get(options, ORIGIN), passkey


def _break(response: dict[str, Any], path: tuple[str, ...], value: Any) -> dict[str, Any]:
    broken = copy.deepcopy(response)
    target = broken
    for key in path[:-1]:
        target = target[key]
    if value is KeyError:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return broken


MALFORMED_ASSERTIONS = [
    pytest.param(lambda r: "{not json", id="not-json"),
    pytest.param(lambda r: "[1, 2]", id="json-array"),
    pytest.param(lambda r: _break(r, ("response",), KeyError), id="no-response"),
    pytest.param(lambda r: _break(r, ("rawId",), KeyError), id="no-raw-id"),
    pytest.param(lambda r: _break(r, ("response", "signature"), KeyError), id="no-signature"),
    pytest.param(lambda r: _break(r, ("response", "signature"), 7), id="signature-not-text"),
    pytest.param(lambda r: _break(r, ("type",), "password"), id="wrong-type"),
    pytest.param(lambda r: _break(r, ("id",), "AAAA"), id="id-not-raw-id"),
    pytest.param(lambda r: _break(r, ("rawId",), "A"), id="bad-base64"),
    pytest.param(lambda r: _break(r, ("response", "clientDataJSON"), b64(b"[]")), id="cdj-array"),
    pytest.param(lambda r: _break(r, ("response", "clientDataJSON"), "!!!!"), id="cdj-garbage"),
    pytest.param(
        lambda r: _break(r, ("response", "authenticatorData"), b64(b"\x00" * 10)),
        id="auth-data-short",
    ),
]


@pytest.mark.parametrize("mangle", MALFORMED_ASSERTIONS)
def test_malformed_assertion_is_a_validation_error(mangle: Any) -> None:
    response, passkey = _soft_assertion()
    with pytest.raises(ValidationFailed) as caught:
        verify_authentication(
            RP,
            response=mangle(response),
            expected_challenge=AUTH_CHALLENGE,
            public_key=passkey.public_key,
            sign_count=passkey.sign_count,
            require_user_verification=True,
        )
    assert caught.value.field == "credential"


@pytest.mark.parametrize(
    "mangle",
    [
        pytest.param(lambda r: "nope", id="not-json"),
        pytest.param(lambda r: _break(r, ("response", "attestationObject"), KeyError), id="no-ao"),
        pytest.param(
            lambda r: _break(r, ("response", "attestationObject"), b64(b"\xff\xff")),
            id="ao-not-cbor",
        ),
        pytest.param(
            lambda r: _break(r, ("response", "attestationObject"), b64(cbor2.dumps([1]))),
            id="ao-not-a-map",
        ),
        pytest.param(lambda r: _break(r, ("response", "clientDataJSON"), b64(b"{}")), id="cdj"),
    ],
)
def test_malformed_registration_is_a_validation_error(mangle: Any) -> None:
    options = registration_options(
        RP, user_handle=b"\x01", user_name="a", display_name="a", challenge=REG_CHALLENGE
    )
    response = SoftAuthenticator().create(options, ORIGIN)
    with pytest.raises(ValidationFailed) as caught:
        verify_registration(
            RP,
            response=mangle(response),
            expected_challenge=REG_CHALLENGE,
            require_user_verification=True,
        )
    assert caught.value.field == "credential"


def test_credential_id_of_reads_raw_id() -> None:
    response, passkey = _soft_assertion()
    assert credential_id_of(response) == passkey.credential_id
    assert credential_id_of(json.dumps(response)) == passkey.credential_id
    assert credential_id_of({"rawId": b64(b"\x01\x02\x03")}) == b"\x01\x02\x03"
    assert credential_id_of({"id": b64(b"\x01\x02\x03")}) == b"\x01\x02\x03"


@pytest.mark.parametrize(
    "response",
    [
        "not json",
        "[]",
        {},
        {"rawId": 12},
        {"rawId": ""},
        {"rawId": "ab+/"},
        {"rawId": "a"},
        {"rawId": "AQID", "id": "AQIE"},
        {"rawId": b64(b"\x00" * 1024)},
    ],
    ids=["text", "array", "empty", "number", "blank", "not-url-safe", "bad-length", "ids-differ",
         "too-long"],
)  # fmt: skip
def test_credential_id_of_refuses_malformed(response: Any) -> None:
    with pytest.raises(ValidationFailed) as caught:
        credential_id_of(response)
    assert caught.value.field == "credential"


# -- options ---------------------------------------------------------------------------------


def test_registration_options() -> None:
    options = registration_options(
        RP,
        user_handle=b"\x07" * 16,
        user_name="alice@example.com",
        display_name="Alice",
        challenge=REG_CHALLENGE,
        exclude=[b"\x01\x02", b"\x03"],
        timeout_ms=120_000,
    )
    assert options["rp"] == {"id": "pay.example.com", "name": "PayGuard"}
    assert options["user"] == {
        "id": b64(b"\x07" * 16),
        "name": "alice@example.com",
        "displayName": "Alice",
    }
    assert unb64(options["challenge"]) == REG_CHALLENGE
    assert [p["alg"] for p in options["pubKeyCredParams"]] == [-7, -8, -257]
    assert options["attestation"] == "none"
    assert options["authenticatorSelection"]["residentKey"] == "preferred"
    assert options["authenticatorSelection"]["userVerification"] == "required"
    assert [unb64(c["id"]) for c in options["excludeCredentials"]] == [b"\x01\x02", b"\x03"]
    assert options["timeout"] == 120_000
    json.dumps(options)


def test_authentication_options() -> None:
    options = authentication_options(
        RP,
        challenge=AUTH_CHALLENGE,
        allow=[b"\x01"],
        user_verification=UserVerification.PREFERRED,
    )
    assert options["rpId"] == "pay.example.com"
    assert unb64(options["challenge"]) == AUTH_CHALLENGE
    assert [unb64(c["id"]) for c in options["allowCredentials"]] == [b"\x01"]
    assert options["userVerification"] == "preferred"
    assert authentication_options(RP, challenge=AUTH_CHALLENGE)["allowCredentials"] == []


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"challenge": b"short"}, "challenge"),
        ({"user_handle": b""}, "user_handle"),
        ({"user_handle": b"\x00" * 65}, "user_handle"),
        ({"user_name": ""}, "user_name"),
    ],
)
def test_registration_options_refuse_bad_input(kwargs: dict[str, Any], field: str) -> None:
    args: dict[str, Any] = {
        "user_handle": b"\x01",
        "user_name": "a",
        "display_name": "a",
        "challenge": REG_CHALLENGE,
    }
    with pytest.raises(ValidationFailed) as caught:
        registration_options(RP, **{**args, **kwargs})
    assert caught.value.field == field


def test_soft_authenticator_honours_exclude_and_allow_lists() -> None:
    authenticator = SoftAuthenticator()
    passkey = enrol(authenticator)
    excluded = registration_options(
        RP,
        user_handle=b"\x01",
        user_name="a",
        display_name="a",
        challenge=REG_CHALLENGE,
        exclude=[passkey.credential_id],
    )
    with pytest.raises(ValueError, match="InvalidStateError"):
        authenticator.create(excluded, ORIGIN)
    with pytest.raises(ValueError, match="NotAllowedError"):
        authenticator.get(
            authentication_options(RP, challenge=AUTH_CHALLENGE, allow=[b"x"]), ORIGIN
        )


# -- dynamic linking -------------------------------------------------------------------------

NONCE = b"n" * CHALLENGE_BYTES
PAYMENT = {
    "nonce": NONCE,
    "challenge_id": "ch_1",
    "amount": "125.00",
    "currency": "EUR",
    "payee": "DE89370400440532013000",
}


def test_transaction_challenge_is_a_deterministic_sha256() -> None:
    challenge = transaction_challenge(**PAYMENT)
    assert len(challenge) == 32 == CHALLENGE_BYTES
    assert transaction_challenge(**PAYMENT) == challenge


@pytest.mark.parametrize(
    "change",
    [
        {"amount": "125.01"},
        {"amount": "125.0"},
        {"currency": "USD"},
        {"payee": "DE89370400440532013001"},
        {"challenge_id": "ch_2"},
        {"nonce": b"m" * CHALLENGE_BYTES},
        {"amount": None},
        {"amount": ""},
        {"payee": None},
        {"currency": None},
    ],
)
def test_transaction_challenge_binds_every_field(change: dict[str, Any]) -> None:
    assert transaction_challenge(**{**PAYMENT, **change}) != transaction_challenge(**PAYMENT)


def test_transaction_challenge_none_and_empty_differ() -> None:
    blank = {**PAYMENT, "amount": None, "currency": None, "payee": None}
    assert transaction_challenge(**blank) != transaction_challenge(**{**blank, "payee": ""})


def test_transaction_challenge_field_boundaries_are_unambiguous() -> None:
    one = transaction_challenge(**{**PAYMENT, "amount": "1", "currency": "0EUR"})
    other = transaction_challenge(**{**PAYMENT, "amount": "10", "currency": "EUR"})
    assert one != other


def test_transaction_challenge_needs_a_real_nonce() -> None:
    with pytest.raises(ValidationFailed) as caught:
        transaction_challenge(**{**PAYMENT, "nonce": b"short"})
    assert caught.value.field == "nonce"


_TEXT = st.none() | st.text(max_size=8)


@given(
    a=st.tuples(st.text(max_size=8), _TEXT, _TEXT, _TEXT),
    b=st.tuples(st.text(max_size=8), _TEXT, _TEXT, _TEXT),
)
def test_transaction_challenge_differs_whenever_the_payment_does(
    a: tuple[str, str | None, str | None, str | None],
    b: tuple[str, str | None, str | None, str | None],
) -> None:
    assume(a != b)
    fields = ("challenge_id", "amount", "currency", "payee")
    assert transaction_challenge(nonce=NONCE, **dict(zip(fields, a, strict=True))) != (
        transaction_challenge(nonce=NONCE, **dict(zip(fields, b, strict=True)))
    )


def test_assertion_for_one_payment_does_not_authorise_another() -> None:
    authenticator = SoftAuthenticator()
    passkey = enrol(authenticator)
    agreed = transaction_challenge(**PAYMENT)
    options = authentication_options(RP, challenge=agreed, allow=[passkey.credential_id])
    response = authenticator.get(options, ORIGIN)
    check: dict[str, Any] = {
        "response": response,
        "public_key": passkey.public_key,
        "sign_count": passkey.sign_count,
        "require_user_verification": True,
    }
    for change in ({"amount": "9125.00"}, {"payee": "GB29NWBK60161331926819"}, {"currency": "USD"}):
        other = transaction_challenge(**{**PAYMENT, **change})
        with pytest.raises(AuthenticationFailed, match=r"^challenge does not match$"):
            verify_authentication(RP, expected_challenge=other, **check)
    assert verify_authentication(RP, expected_challenge=agreed, **check).user_verified


# -- module ----------------------------------------------------------------------------------


def test_public_names() -> None:
    assert sorted(passkeys.__all__) == sorted(
        [
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
    )
    assert all(hasattr(passkeys, name) for name in passkeys.__all__)
    assert issubclass(PossibleClone, AuthenticationFailed)
