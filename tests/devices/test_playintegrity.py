"""Play Integrity: local decryption and verification of integrity tokens minted by
`SoftPlayIntegrity` (genuine JWE(JWS) with generated keys) and of the stored vectors."""

from __future__ import annotations

import json
from base64 import b64encode
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.devices.softattest import SOFT_CERT_DIGEST, SoftPlayIntegrity

from payguard.core.errors import ValidationFailed
from payguard.devices import playintegrity
from payguard.devices.interfaces import AttestationKind, DeviceLevel
from payguard.devices.playintegrity import (
    MAX_TOKEN_CHARS,
    PlayIntegrityKeys,
    PlayIntegrityVerdict,
    verify_play_integrity,
)

VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "attestation"
NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
PACKAGE = "com.example.wallet"
NONCE = "bm9uY2UtZm9yLXRoaXMtcGF5bWVudA"


@pytest.fixture(scope="module")
def soft() -> SoftPlayIntegrity:
    return SoftPlayIntegrity()


def verdict(level: str = "strong", **overrides: Any) -> dict[str, Any]:
    args: dict[str, Any] = {"nonce": NONCE, "package": PACKAGE, "timestamp": NOW}
    return SoftPlayIntegrity.verdict(level, **(args | overrides))


def verify(soft: SoftPlayIntegrity, token: str, **overrides: Any) -> PlayIntegrityVerdict:
    args: dict[str, Any] = {
        "keys": soft.keys,
        "expected_package": PACKAGE,
        "expected_nonce": NONCE,
        "now": NOW,
    }
    return verify_play_integrity(token, **(args | overrides))


def refused(soft: SoftPlayIntegrity, token: str, **overrides: Any) -> str:
    with pytest.raises(ValidationFailed) as caught:
        verify(soft, token, **overrides)
    assert caught.value.field == "attestation"
    message = caught.value.message
    assert NONCE not in message  # messages never quote the token or what it holds
    if len(token.strip()) >= 8:
        assert token not in message
    return message


# -- verdicts --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("level", "expected"),
    [
        ("strong", DeviceLevel.STRONG),
        ("device", DeviceLevel.DEVICE),
        ("basic", DeviceLevel.BASIC),
        ("virtual", DeviceLevel.VIRTUAL),
        ("none", DeviceLevel.NONE),
    ],
)
def test_each_device_level_maps_to_its_facts(
    soft: SoftPlayIntegrity, level: str, expected: DeviceLevel
) -> None:
    checked = verify(soft, soft.token(verdict(level)))
    facts = checked.facts()
    assert facts.kind is AttestationKind.PLAY_INTEGRITY
    assert facts.device_level is expected
    assert (facts.app_recognition, facts.licensing, facts.play_protect) == (
        "PLAY_RECOGNIZED",
        "LICENSED",
        "NO_ISSUES",
    )
    assert facts.app_access_risk == ()


def test_a_verified_verdict_carries_every_field(soft: SoftPlayIntegrity) -> None:
    checked = verify(soft, soft.token(verdict("device")))
    assert checked.request_package == PACKAGE
    assert checked.request_nonce == NONCE
    assert checked.request_hash is None
    assert checked.timestamp == NOW
    assert checked.app_package == PACKAGE
    assert checked.app_cert_digests == (SOFT_CERT_DIGEST,)
    assert checked.app_version == 42
    assert checked.device_recognition == ("MEETS_DEVICE_INTEGRITY", "MEETS_BASIC_INTEGRITY")


def test_the_strongest_label_wins_whatever_the_order(soft: SoftPlayIntegrity) -> None:
    document = verdict("none")
    document["deviceIntegrity"] = {
        "deviceRecognitionVerdict": ["MEETS_BASIC_INTEGRITY", "MEETS_STRONG_INTEGRITY"]
    }
    assert verify(soft, soft.token(document)).facts().device_level is DeviceLevel.STRONG


@pytest.mark.parametrize("recognition", ["UNRECOGNIZED_VERSION", "UNEVALUATED"])
def test_an_app_play_does_not_recognize_is_reported(
    soft: SoftPlayIntegrity, recognition: str
) -> None:
    checked = verify(soft, soft.token(verdict(app_recognition=recognition)))
    assert checked.facts().app_recognition == recognition
    if recognition == "UNEVALUATED":  # Play leaves the app's details out
        assert (checked.app_package, checked.app_cert_digests, checked.app_version) == (
            None,
            (),
            None,
        )


def test_an_unlicensed_install_is_reported(soft: SoftPlayIntegrity) -> None:
    checked = verify(soft, soft.token(verdict(licensing="UNLICENSED")))
    assert checked.facts().licensing == "UNLICENSED"


def test_play_protect_high_risk_is_reported(soft: SoftPlayIntegrity) -> None:
    checked = verify(soft, soft.token(verdict(play_protect="HIGH_RISK")))
    assert checked.facts().play_protect == "HIGH_RISK"


def test_apps_that_can_control_the_device_are_reported(soft: SoftPlayIntegrity) -> None:
    apps = ("KNOWN_INSTALLED", "UNKNOWN_INSTALLED", "UNKNOWN_CONTROLLING")
    checked = verify(soft, soft.token(verdict(apps_detected=apps)))
    assert checked.facts().app_access_risk == apps


def test_optional_sections_may_be_absent(soft: SoftPlayIntegrity) -> None:
    document = verdict("basic")
    del document["accountDetails"], document["environmentDetails"]
    facts = verify(soft, soft.token(document)).facts()
    assert (facts.licensing, facts.play_protect, facts.app_access_risk) == ("", "", ())


def test_a_standard_request_matches_the_request_hash(soft: SoftPlayIntegrity) -> None:
    request_hash = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
    token = soft.token(verdict(nonce=request_hash, standard=True))
    checked = verify(soft, token, expected_nonce=request_hash)
    assert checked.request_hash == request_hash
    assert checked.request_nonce == request_hash
    assert "nonce does not match" in refused(soft, token, expected_nonce=NONCE)


def test_int64_fields_may_be_json_numbers(soft: SoftPlayIntegrity) -> None:
    document = verdict()
    document["requestDetails"]["timestampMillis"] = int(NOW.timestamp() * 1000)
    document["appIntegrity"]["versionCode"] = 7
    checked = verify(soft, soft.token(document))
    assert (checked.timestamp, checked.app_version) == (NOW, 7)


# -- refusals --------------------------------------------------------------------------------


def test_a_verdict_for_another_package_is_refused(soft: SoftPlayIntegrity) -> None:
    token = soft.token(verdict(package="com.fake.wallet"))
    assert refused(soft, token) == "integrity verdict package does not match"


def test_a_verdict_whose_app_is_another_package_is_refused(soft: SoftPlayIntegrity) -> None:
    document = verdict()
    document["appIntegrity"]["packageName"] = "com.repackaged.wallet"
    assert "package does not match" in refused(soft, soft.token(document))


def test_a_verdict_for_another_nonce_is_refused(soft: SoftPlayIntegrity) -> None:
    token = soft.token(verdict(nonce="c29tZS1vdGhlci1yZXF1ZXN0"))
    assert refused(soft, token) == "integrity verdict nonce does not match"


@pytest.mark.parametrize(
    ("offset", "accepted"),
    [
        (timedelta(seconds=-300), True),
        (timedelta(seconds=-301), False),
        (timedelta(hours=-6), False),
        (timedelta(seconds=60), True),
        (timedelta(seconds=61), False),
        (timedelta(days=2), False),
    ],
    ids=["at-max-age", "just-too-old", "hours-old", "clock-skew", "just-too-new", "future"],
)
def test_a_verdict_must_be_fresh(
    soft: SoftPlayIntegrity, offset: timedelta, accepted: bool
) -> None:
    token = soft.token(verdict(timestamp=NOW + offset))
    if accepted:
        assert verify(soft, token).timestamp == NOW + offset
    else:
        assert refused(soft, token) == "integrity verdict is stale"


def test_max_age_is_configurable(soft: SoftPlayIntegrity) -> None:
    token = soft.token(verdict(timestamp=NOW - timedelta(minutes=10)))
    assert verify(soft, token, max_age_seconds=900).timestamp == NOW - timedelta(minutes=10)
    assert refused(soft, token, max_age_seconds=60) == "integrity verdict is stale"


def test_a_token_signed_with_another_key_is_refused(soft: SoftPlayIntegrity) -> None:
    impostor = SoftPlayIntegrity(decryption_key=soft.decryption_key)
    token = impostor.token(verdict())
    assert refused(soft, token) == "integrity token signature does not verify"


def test_a_token_encrypted_with_another_key_is_refused(soft: SoftPlayIntegrity) -> None:
    other = SoftPlayIntegrity(signing_key=soft.signing_key)
    message = refused(soft, other.token(verdict()))
    assert message == "integrity token does not decrypt with the configured key"


@pytest.mark.parametrize("part", [1, 2, 3, 4], ids=["wrapped-key", "iv", "ciphertext", "tag"])
def test_a_tampered_token_does_not_decrypt(soft: SoftPlayIntegrity, part: int) -> None:
    parts = soft.token(verdict()).split(".")
    segment = parts[part]
    parts[part] = ("B" if segment[0] == "A" else "A") + segment[1:]
    message = refused(soft, ".".join(parts))
    assert message == "integrity token does not decrypt with the configured key"


def test_a_tampered_header_does_not_decrypt(soft: SoftPlayIntegrity) -> None:
    parts = soft.token(verdict()).split(".")
    header = json.dumps({"enc": "A256GCM", "alg": "A256KW"}).encode()
    parts[0] = b64encode(header).decode().rstrip("=").replace("+", "-").replace("/", "_")
    assert "does not decrypt with the configured key" in refused(soft, ".".join(parts))


@pytest.mark.parametrize(
    "header",
    [
        {"alg": "dir", "enc": "A256GCM"},
        {"alg": "A256KW", "enc": "A256CBC-HS512"},
        {"alg": "A256KW", "enc": "A256GCM", "zip": "DEF"},
    ],
    ids=["direct", "cbc", "compressed"],
)
def test_only_plays_encryption_is_accepted(soft: SoftPlayIntegrity, header: dict[str, str]) -> None:
    token = soft.seal(soft.sign(json.dumps(verdict()).encode()), header=header)
    assert refused(soft, token) == "integrity token is not encrypted with A256KW and A256GCM"


@pytest.mark.parametrize(
    "garbage",
    ["", "   ", "not-a-token", "a.b.c", "a.b.c.d.e", "e30.e30.e30.e30.e30", "...."],
)
def test_garbage_is_refused(soft: SoftPlayIntegrity, garbage: str) -> None:
    message = refused(soft, garbage)
    assert message in {
        "integrity token is empty",
        "integrity token is not a compact JWE",
        "integrity token is not encrypted with A256KW and A256GCM",
    }


def test_an_oversized_token_is_refused_before_any_work(soft: SoftPlayIntegrity) -> None:
    message = refused(soft, "a" * (MAX_TOKEN_CHARS + 1))
    assert message == f"integrity token is longer than {MAX_TOKEN_CHARS} characters"


def test_an_unsigned_verdict_is_refused(soft: SoftPlayIntegrity) -> None:
    message = refused(soft, soft.seal(json.dumps(verdict())))
    assert message == "integrity token does not hold a signed verdict"


def test_a_verdict_signed_with_another_algorithm_is_refused(soft: SoftPlayIntegrity) -> None:
    compact = soft.sign(json.dumps(verdict()).encode())
    header = b64encode(b'{"alg":"HS256"}').decode().rstrip("=")
    forged = ".".join([header, *compact.split(".")[1:]])
    assert refused(soft, soft.seal(forged)) == "integrity token verdict is not signed with ES256"


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"not json", "not JSON"),
        (b"[1, 2]", "not a JSON object"),
        (b"{}", "requestDetails is missing"),
        (b'{"requestDetails": {"requestPackageName": "com.example.wallet"}}', "neither nonce"),
    ],
)
def test_a_malformed_verdict_is_refused(
    soft: SoftPlayIntegrity, payload: bytes, reason: str
) -> None:
    message = refused(soft, soft.seal(soft.sign(payload)))
    assert message.startswith("verdict is malformed") and reason in message


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("requestDetails", "timestampMillis"), "yesterday"),
        (("requestDetails", "timestampMillis"), None),
        (("requestDetails", "timestampMillis"), True),
        (("requestDetails", "timestampMillis"), "99999999999999999999"),
        (("requestDetails", "nonce"), 12),
        (("requestDetails", "requestPackageName"), ""),
        (("appIntegrity", "appRecognitionVerdict"), None),
        (("appIntegrity", "certificateSha256Digest"), "abc"),
        (("appIntegrity", "versionCode"), "4.2"),
        (("deviceIntegrity", "deviceRecognitionVerdict"), "MEETS_STRONG_INTEGRITY"),
        (("deviceIntegrity", "deviceRecognitionVerdict"), [1]),
        (("accountDetails", "appLicensingVerdict"), ["LICENSED"]),
        (("environmentDetails", "appAccessRiskVerdict"), ["UNKNOWN_CONTROLLING"]),
    ],
)
def test_a_malformed_field_is_refused(
    soft: SoftPlayIntegrity, path: tuple[str, str], value: object
) -> None:
    document = verdict()
    document[path[0]][path[1]] = value
    assert refused(soft, soft.token(document)).startswith("verdict is malformed")


def test_a_missing_section_is_refused(soft: SoftPlayIntegrity) -> None:
    document = verdict()
    del document["deviceIntegrity"]
    assert "deviceIntegrity is missing" in refused(soft, soft.token(document))


def test_now_must_be_timezone_aware(soft: SoftPlayIntegrity) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        verify(soft, soft.token(verdict()), now=NOW.replace(tzinfo=None))


# -- keys ------------------------------------------------------------------------------------


def test_keys_load_as_the_play_console_shows_them(soft: SoftPlayIntegrity) -> None:
    decryption_key, verification_key = soft.console_keys
    assert PlayIntegrityKeys.from_base64(decryption_key, verification_key) == soft.keys
    pem = soft.keys.verification_key
    assert PlayIntegrityKeys.from_base64(decryption_key, pem) == soft.keys
    wrapped = "\n".join(verification_key[i : i + 64] for i in range(0, len(verification_key), 64))
    assert PlayIntegrityKeys.from_base64(decryption_key, wrapped) == soft.keys


def _der(key: Any) -> str:
    return b64encode(
        key.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    ).decode()


@pytest.mark.parametrize(
    ("decryption_key", "verification_key", "message"),
    [
        ("not base64!", None, "decryption key is not base64"),
        (b64encode(b"short").decode(), None, "decryption key is not 32 bytes"),
        (None, "%%%", "verification key is not base64"),
        (None, b64encode(b"garbage").decode(), "verification key is not an X.509 public key"),
        (None, "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----", "not an X.509"),
        (
            None,
            _der(rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()),
            "not an EC P-256 public key",
        ),
        (
            None,
            _der(ec.generate_private_key(ec.SECP384R1()).public_key()),
            "not an EC P-256 public key",
        ),
    ],
    ids=["aes-not-b64", "aes-short", "ec-not-b64", "ec-garbage", "ec-bad-pem", "rsa", "p384"],
)
def test_bad_keys_are_refused_naming_which(
    soft: SoftPlayIntegrity, decryption_key: str | None, verification_key: str | None, message: str
) -> None:
    good_decryption, good_verification = soft.console_keys
    with pytest.raises(ValueError, match=message):
        PlayIntegrityKeys.from_base64(
            decryption_key or good_decryption, verification_key or good_verification
        )


def test_keys_built_directly_are_checked(soft: SoftPlayIntegrity) -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        PlayIntegrityKeys(decryption_key=b"x" * 16, verification_key=soft.keys.verification_key)
    with pytest.raises(ValueError, match="verification key"):
        PlayIntegrityKeys(decryption_key=b"x" * 32, verification_key="not a pem")


# -- stored vectors --------------------------------------------------------------------------


def _vectors() -> list[Any]:
    paths = sorted(VECTORS.glob("*play-integrity*.json"))
    assert paths, "no stored Play Integrity vectors"
    return [pytest.param(json.loads(path.read_text()), id=path.stem) for path in paths]


@pytest.mark.parametrize("vector", _vectors())
def test_stored_vectors_verify_at_their_recorded_time(vector: dict[str, Any]) -> None:
    keys = PlayIntegrityKeys.from_base64(
        vector["keys"]["decryption_key"], vector["keys"]["verification_key"]
    )
    checked = verify_play_integrity(
        vector["token"],
        keys=keys,
        expected_package=vector["expected_package"],
        expected_nonce=vector["expected_nonce"],
        now=datetime.fromisoformat(vector["now"]),
    )
    facts = checked.facts()
    expected = vector["expected"]["facts"]
    assert facts.device_level.value == expected["device_level"]
    assert facts.app_recognition == expected["app_recognition"]
    assert facts.licensing == expected["licensing"]
    assert facts.play_protect == expected["play_protect"]
    assert list(facts.app_access_risk) == expected["app_access_risk"]
    request = vector["expected"]["verdict"]["requestDetails"]
    assert checked.request_hash == request.get("requestHash")
    assert int(checked.timestamp.timestamp() * 1000) == int(request["timestampMillis"])


@pytest.mark.parametrize("vector", _vectors())
def test_stored_vectors_are_refused_later_or_elsewhere(vector: dict[str, Any]) -> None:
    keys = PlayIntegrityKeys.from_base64(
        vector["keys"]["decryption_key"], vector["keys"]["verification_key"]
    )
    args: dict[str, Any] = {
        "keys": keys,
        "expected_package": vector["expected_package"],
        "expected_nonce": vector["expected_nonce"],
        "now": datetime.fromisoformat(vector["now"]),
    }
    with pytest.raises(ValidationFailed, match="stale"):
        verify_play_integrity(vector["token"], **(args | {"now": args["now"] + timedelta(days=1)}))
    with pytest.raises(ValidationFailed, match="package does not match"):
        verify_play_integrity(vector["token"], **(args | {"expected_package": "com.other"}))
    other = SoftPlayIntegrity().keys
    with pytest.raises(ValidationFailed, match="does not decrypt"):
        verify_play_integrity(vector["token"], **(args | {"keys": other}))


# -- properties ------------------------------------------------------------------------------

_NONCES = st.text(
    alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_",
    min_size=16,
    max_size=500,
)


@settings(max_examples=25, deadline=None)
@given(
    nonce=_NONCES,
    package=st.from_regex(r"[a-z][a-z0-9_]{0,10}(\.[a-z][a-z0-9_]{0,10}){1,4}", fullmatch=True),
    standard=st.booleans(),
    level=st.sampled_from(["strong", "device", "basic", "virtual", "none"]),
)
def test_any_request_round_trips(nonce: str, package: str, standard: bool, level: str) -> None:
    soft = SoftPlayIntegrity()
    document = SoftPlayIntegrity.verdict(
        level, nonce=nonce, package=package, timestamp=NOW, standard=standard
    )
    checked = verify_play_integrity(
        soft.token(document),
        keys=soft.keys,
        expected_package=package,
        expected_nonce=nonce,
        now=NOW,
    )
    assert (checked.request_package, checked.request_nonce) == (package, nonce)


@settings(max_examples=200, deadline=None)
@given(
    token=st.text(max_size=300) | st.from_regex(r"[A-Za-z0-9_-]{0,40}(\.[A-Za-z0-9_-]{0,40}){4}")
)
def test_hostile_tokens_are_only_ever_refused(soft: SoftPlayIntegrity, token: str) -> None:
    with pytest.raises(ValidationFailed):
        verify(soft, token)


def test_public_names() -> None:
    assert sorted(playintegrity.__all__) == [
        "MAX_TOKEN_CHARS",
        "PlayIntegrityKeys",
        "PlayIntegrityVerdict",
        "verify_play_integrity",
    ]
