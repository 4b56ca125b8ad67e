"""App Attest: attestations and assertions from `SoftAppAttest` (genuine certificates, keys and
signatures under a generated root) and real ones from Apple stored as vectors."""

from __future__ import annotations

import hashlib
import json
from base64 import b64decode, b64encode, urlsafe_b64encode
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import cbor2
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.devices import softattest
from tests.devices.softattest import SoftAppAttest, nonce_extension_value

from payguard.core.errors import ValidationFailed
from payguard.devices import appattest
from payguard.devices.appattest import (
    AAGUID_DEVELOPMENT,
    MAX_OBJECT_BYTES,
    AppAttestConfig,
    AttestedKey,
    verify_assertion,
    verify_attestation,
)
from payguard.devices.interfaces import AttestationKind, DeviceLevel

VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "attestation"
APPLE_ROOT_SHA256 = "1cb9823ba28ba6ad2d33a006941de2ae4f513ef1d4e831b9f7e0fa7b6242c932"
NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
CHALLENGE = b"one-time challenge from payguard"
BODY = b'{"amount":"25.00","currency":"EUR","payee":"P-42","challenge":"c-1"}'


@pytest.fixture
def soft() -> SoftAppAttest:
    return SoftAppAttest(now=NOW)


def attest_and_verify(soft: SoftAppAttest, **overrides: Any) -> tuple[AttestedKey, str]:
    attested = soft.attest(CHALLENGE)
    args: dict[str, Any] = {
        "key_id": attested.key_id,
        "challenge": CHALLENGE,
        "config": soft.config(),
        "now": NOW,
    }
    return verify_attestation(attested.attestation, **(args | overrides)), attested.key_id


def refused(call: Any, *args: Any, field: str = "attestation", **kwargs: Any) -> str:
    with pytest.raises(ValidationFailed) as caught:
        call(*args, **kwargs)
    assert caught.value.field == field
    return caught.value.message


def attestation_refused(soft: SoftAppAttest, attestation: bytes | str, **overrides: Any) -> str:
    args: dict[str, Any] = {"challenge": CHALLENGE, "config": soft.config(), "now": NOW}
    if "key_id" not in overrides:
        args["key_id"] = b64encode(hashlib.sha256(b"unknown").digest()).decode()
    return refused(verify_attestation, attestation, **(args | overrides))


# -- attestation -----------------------------------------------------------------------------


def test_a_genuine_attestation_verifies(soft: SoftAppAttest) -> None:
    key, key_id = attest_and_verify(soft)
    assert key.key_id == key_id
    assert key.public_key == soft.public_key(key_id)
    assert len(key.public_key) == 65 and key.public_key[0] == 4
    assert key.counter == 0
    assert key.receipt.startswith(b"payguard soft App Attest receipt")
    facts = key.facts()
    assert (facts.kind, facts.device_level) == (AttestationKind.APP_ATTEST, DeviceLevel.DEVICE)


@pytest.mark.parametrize("encoding", ["bytes", "base64", "base64url", "wrapped"])
def test_the_attestation_may_come_as_bytes_or_base64(soft: SoftAppAttest, encoding: str) -> None:
    attested = soft.attest(CHALLENGE)
    raw = attested.attestation
    sent: bytes | str = {
        "bytes": raw,
        "base64": attested.b64,
        "base64url": urlsafe_b64encode(raw).decode().rstrip("="),
        "wrapped": "\n".join(attested.b64[i : i + 76] for i in range(0, len(attested.b64), 76)),
    }[encoding]
    key = verify_attestation(
        sent, key_id=attested.key_id, challenge=CHALLENGE, config=soft.config(), now=NOW
    )
    assert key.key_id == attested.key_id


def test_another_challenge_does_not_match_the_nonce(soft: SoftAppAttest) -> None:
    attested = soft.attest(CHALLENGE)
    message = attestation_refused(
        soft, attested.attestation, key_id=attested.key_id, challenge=b"a different challenge"
    )
    assert message == "nonce does not match"


def test_a_certificate_with_a_tampered_nonce_is_refused(soft: SoftAppAttest) -> None:
    attested = soft.attest(CHALLENGE, nonce=hashlib.sha256(b"replayed").digest())
    message = attestation_refused(soft, attested.attestation, key_id=attested.key_id)
    assert message == "nonce does not match"


def test_a_long_nonce_is_parsed_and_refused(soft: SoftAppAttest) -> None:
    attested = soft.attest(CHALLENGE, nonce=b"\x01" * 300)  # long-form DER lengths
    assert attestation_refused(soft, attested.attestation, key_id=attested.key_id) == (
        "nonce does not match"
    )


def test_another_key_id_is_refused(soft: SoftAppAttest) -> None:
    attested = soft.attest(CHALLENGE)
    other = soft.attest(CHALLENGE)
    message = attestation_refused(soft, attested.attestation, key_id=other.key_id)
    assert message == "key id does not match"


def test_a_credential_id_other_than_the_key_id_is_refused(soft: SoftAppAttest) -> None:
    attested = soft.attest(CHALLENGE, credential_id=hashlib.sha256(b"other").digest())
    message = attestation_refused(soft, attested.attestation, key_id=attested.key_id)
    assert message == "key id does not match"


@pytest.mark.parametrize(
    ("key_id", "message"),
    [("", "key id is empty"), ("%%%", "key id is not base64"), ("AAAA", "not a SHA-256")],
)
def test_a_malformed_key_id_names_its_field(soft: SoftAppAttest, key_id: str, message: str) -> None:
    attested = soft.attest(CHALLENGE)
    with pytest.raises(ValidationFailed, match=message) as caught:
        verify_attestation(
            attested.attestation, key_id=key_id, challenge=CHALLENGE, config=soft.config(), now=NOW
        )
    assert caught.value.field == "key_id"


def test_an_attestation_for_another_app_is_refused(soft: SoftAppAttest) -> None:
    attested = soft.attest(CHALLENGE)
    other_app = soft.config(bundle_id="com.example.other")
    message = attestation_refused(
        soft, attested.attestation, key_id=attested.key_id, config=other_app
    )
    assert message == "RP ID does not match"
    forged = soft.attest(CHALLENGE, app_id="SOFTTEAM01.com.fake.wallet")
    assert attestation_refused(soft, forged.attestation, key_id=forged.key_id) == (
        "RP ID does not match"
    )


def test_a_counter_other_than_zero_is_refused(soft: SoftAppAttest) -> None:
    attested = soft.attest(CHALLENGE, counter=1)
    message = attestation_refused(soft, attested.attestation, key_id=attested.key_id)
    assert message == "counter is not 0 at attestation"


def test_a_chain_to_another_root_is_refused(soft: SoftAppAttest) -> None:
    attested = soft.attest(CHALLENGE)
    elsewhere = soft.config(roots=(SoftAppAttest(now=NOW).root_pem,))
    message = attestation_refused(
        soft, attested.attestation, key_id=attested.key_id, config=elsewhere
    )
    assert message == "certificate chain does not verify to a configured root"


def test_a_forged_chain_with_the_same_names_is_refused(soft: SoftAppAttest) -> None:
    attested = soft.attest(CHALLENGE, forged_chain=True)
    message = attestation_refused(soft, attested.attestation, key_id=attested.key_id)
    assert message == "certificate chain does not verify to a configured root"


def test_any_configured_root_may_anchor_the_chain(soft: SoftAppAttest) -> None:
    both = soft.config(roots=(SoftAppAttest(now=NOW).root_pem, soft.root_pem))
    key, _ = attest_and_verify(soft, config=both)
    assert key.counter == 0


@pytest.mark.parametrize(
    "when",
    [NOW + timedelta(days=3, minutes=1), NOW - timedelta(minutes=10)],
    ids=["expired", "not-yet-valid"],
)
def test_a_chain_outside_its_validity_is_refused(soft: SoftAppAttest, when: datetime) -> None:
    attested = soft.attest(CHALLENGE)
    message = attestation_refused(soft, attested.attestation, key_id=attested.key_id, now=when)
    assert message == "certificate chain does not verify to a configured root"


def test_the_environment_must_match_the_configuration() -> None:
    development = SoftAppAttest(now=NOW, production=False)
    key, _ = attest_and_verify(development)  # its own config says development
    assert key.counter == 0
    attested = development.attest(CHALLENGE)
    message = attestation_refused(
        development,
        attested.attestation,
        key_id=attested.key_id,
        config=development.config(production=True),
    )
    assert message == "AAGUID is not App Attest's production environment"
    production = SoftAppAttest(now=NOW)
    attested = production.attest(CHALLENGE)
    message = attestation_refused(
        production,
        attested.attestation,
        key_id=attested.key_id,
        config=production.config(production=False),
    )
    assert message == "AAGUID is not App Attest's development environment"


def test_a_non_app_attest_aaguid_is_refused(soft: SoftAppAttest) -> None:
    attested = soft.attest(CHALLENGE, aaguid=bytes(16))
    message = attestation_refused(soft, attested.attestation, key_id=attested.key_id)
    assert message.startswith("AAGUID is not")


def _rebuild(attestation: bytes, **changes: Any) -> bytes:
    document = cbor2.loads(attestation)
    statement = dict(document["attStmt"])
    for key in ("x5c", "receipt"):
        if key in changes:
            statement[key] = changes.pop(key)
    document["attStmt"] = statement
    document.update(changes)
    return cbor2.dumps(document)


def test_another_format_is_not_app_attest(soft: SoftAppAttest) -> None:
    attested = soft.attest(CHALLENGE)
    for fmt in ("packed", "none", None):
        rebuilt = _rebuild(attested.attestation, fmt=fmt)
        assert attestation_refused(soft, rebuilt, key_id=attested.key_id) == (
            "not an App Attest attestation"
        )


def test_a_credential_key_other_than_the_certified_one_is_refused(soft: SoftAppAttest) -> None:
    impostor = soft.attest(CHALLENGE)
    impostor_cose = cbor2.loads(impostor.attestation)["authData"][55 + 32 :]
    attested = soft.attest(CHALLENGE, cose_key=impostor_cose)
    message = attestation_refused(soft, attested.attestation, key_id=attested.key_id)
    assert message == "credential public key does not match the certificate"
    attested = soft.attest(CHALLENGE, cose_key=b"\xa1\x01\x02")
    message = attestation_refused(soft, attested.attestation, key_id=attested.key_id)
    assert message == "credential public key does not match the certificate"


@pytest.mark.parametrize(
    ("attestation", "message"),
    [
        (b"", "attestation is empty"),
        ("", "attestation is empty"),
        ("not base64 !", "attestation is not base64"),
        (b"\xff\xff", "attestation is not valid CBOR"),
        (cbor2.dumps([1, 2]), "attestation is not a CBOR map"),
        (cbor2.dumps({"fmt": "apple-appattest"}) + b"\x00", "data after its CBOR object"),
        (b"\xa2\x63fmt\x01\x63fmt\x02", "attestation is not valid CBOR"),  # duplicate keys
        (cbor2.dumps({"fmt": datetime(2026, 1, 1, tzinfo=UTC)}), "not valid CBOR"),  # a tag
        (cbor2.dumps({"fmt": cbor2.CBORTag(9999, b"")}), "not valid CBOR"),
        (b"\xbf\x63fmt\x01\xff", "attestation is not valid CBOR"),  # indefinite length
        (b"\x81" * 100 + b"\x00", "attestation is not valid CBOR"),  # nesting
        (b"\x00" * (MAX_OBJECT_BYTES + 1), f"longer than {MAX_OBJECT_BYTES} bytes"),
        ("A" * (MAX_OBJECT_BYTES * 2), f"longer than {MAX_OBJECT_BYTES} bytes"),
        (cbor2.dumps({"fmt": "apple-appattest"}), "attestation.attStmt is missing"),
        (
            cbor2.dumps({"fmt": "apple-appattest", "attStmt": {"x5c": "x", "receipt": b""}}),
            "attStmt.x5c is missing or malformed",
        ),
        (
            cbor2.dumps({"fmt": "apple-appattest", "attStmt": {"x5c": [], "receipt": b""}}),
            "attestation.authData is missing",
        ),
    ],
)
def test_malformed_attestations_are_refused(
    soft: SoftAppAttest, attestation: bytes | str, message: str
) -> None:
    assert message in attestation_refused(soft, attestation)


def test_malformed_statements_are_refused(soft: SoftAppAttest) -> None:
    attested = soft.attest(CHALLENGE)
    document = cbor2.loads(attested.attestation)
    leaf, intermediate = document["attStmt"]["x5c"]
    cases = [
        (_rebuild(attested.attestation, x5c=[]), "attStmt.x5c is missing or malformed"),
        (_rebuild(attested.attestation, x5c=[b"junk"]), "something other than a certificate"),
        (_rebuild(attested.attestation, x5c=[leaf, "x"]), "attStmt.x5c is missing or malformed"),
        (_rebuild(attested.attestation, x5c=[leaf] * 5), "attStmt.x5c is missing or malformed"),
        (_rebuild(attested.attestation, receipt=None), "attStmt.receipt is missing"),
        (_rebuild(attested.attestation, authData=b"\x00" * 40), "nonce does not match"),
        (
            _rebuild(attested.attestation, x5c=[leaf]),
            "certificate chain does not verify to a configured root",
        ),
        (
            _rebuild(attested.attestation, x5c=[intermediate, leaf]),
            "certificate chain does not verify to a configured root",
        ),
    ]
    for attestation, message in cases:
        assert message in attestation_refused(soft, attestation, key_id=attested.key_id)


def test_a_short_auth_data_is_refused_once_the_nonce_matches(soft: SoftAppAttest) -> None:
    short = b"\x00" * 40
    nonce = hashlib.sha256(short + hashlib.sha256(CHALLENGE).digest()).digest()
    attested = soft.attest(CHALLENGE, nonce=nonce)
    rebuilt = _rebuild(attested.attestation, authData=short)
    assert attestation_refused(soft, rebuilt, key_id=attested.key_id) == "authData is too short"


def test_now_must_be_timezone_aware(soft: SoftAppAttest) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        attest_and_verify(soft, now=NOW.replace(tzinfo=None))


def test_the_nonce_extension_is_apples_der() -> None:
    nonce = bytes(range(32))
    assert nonce_extension_value(nonce) == b"\x30\x24\xa1\x22\x04\x20" + nonce
    long = nonce_extension_value(b"\x07" * 200)
    assert long[:2] == b"\x30\x81" and long[3:5] == b"\xa1\x81"


# -- configuration ---------------------------------------------------------------------------


def test_the_configuration_is_checked(soft: SoftAppAttest) -> None:
    assert soft.config().app_id == "SOFTTEAM01.com.example.wallet"
    with pytest.raises(ValueError, match="team id"):
        AppAttestConfig(team_id="", bundle_id="b", roots=(soft.root_pem,))
    with pytest.raises(ValueError, match="at least one root"):
        AppAttestConfig(team_id="T", bundle_id="b", roots=())
    with pytest.raises(ValueError, match="not a PEM certificate"):
        AppAttestConfig(team_id="T", bundle_id="b", roots=("not a certificate",))
    listed = AppAttestConfig(team_id="T", bundle_id="b", roots=[soft.root_pem])  # type: ignore[arg-type]
    assert listed.roots == (soft.root_pem,)
    assert AppAttestConfig(team_id="T", bundle_id="b", roots=(soft.root_pem,)).aaguid == (
        b"appattest" + b"\x00" * 7
    )
    assert soft.config(production=False).aaguid == AAGUID_DEVELOPMENT


# -- assertions ------------------------------------------------------------------------------


def assertion_refused(soft: SoftAppAttest, assertion: bytes | str, **overrides: Any) -> str:
    args: dict[str, Any] = {
        "client_data": BODY,
        "public_key": overrides.pop("public_key"),
        "stored_counter": 0,
        "config": soft.config(),
    }
    return refused(verify_assertion, assertion, field="assertion", **(args | overrides))


def test_assertions_verify_with_a_growing_counter(soft: SoftAppAttest) -> None:
    key, key_id = attest_and_verify(soft)
    stored = key.counter
    for body in (BODY, b"second request", b""):
        counter = verify_assertion(
            soft.assert_(body, key_id),
            client_data=body,
            public_key=key.public_key,
            stored_counter=stored,
            config=soft.config(),
        )
        assert counter == stored + 1
        stored = counter
    sent = b64encode(soft.assert_(BODY, key_id)).decode()  # base64 text works too
    assert (
        verify_assertion(
            sent,
            client_data=BODY,
            public_key=key.public_key,
            stored_counter=stored,
            config=soft.config(),
        )
        == stored + 1
    )


def test_counters_may_jump_forward(soft: SoftAppAttest) -> None:
    key, key_id = attest_and_verify(soft)
    assertion = soft.assert_(BODY, key_id, counter=1000)
    assert (
        verify_assertion(
            assertion,
            client_data=BODY,
            public_key=key.public_key,
            stored_counter=3,
            config=soft.config(),
        )
        == 1000
    )


def test_a_replayed_assertion_is_refused(soft: SoftAppAttest) -> None:
    key, key_id = attest_and_verify(soft)
    assertion = soft.assert_(BODY, key_id)
    stored = verify_assertion(
        assertion,
        client_data=BODY,
        public_key=key.public_key,
        stored_counter=0,
        config=soft.config(),
    )
    message = assertion_refused(soft, assertion, public_key=key.public_key, stored_counter=stored)
    assert message == "counter did not increase"


def test_a_lower_counter_is_refused(soft: SoftAppAttest) -> None:
    key, key_id = attest_and_verify(soft)
    assertion = soft.assert_(BODY, key_id, counter=3)
    message = assertion_refused(soft, assertion, public_key=key.public_key, stored_counter=5)
    assert message == "counter did not increase"


def test_an_assertion_by_another_key_is_refused(soft: SoftAppAttest) -> None:
    key, _ = attest_and_verify(soft)
    _, other_key_id = attest_and_verify(soft)
    assertion = soft.assert_(BODY, other_key_id)
    message = assertion_refused(soft, assertion, public_key=key.public_key)
    assert message == "signature does not verify"


def test_tampered_client_data_is_refused(soft: SoftAppAttest) -> None:
    key, key_id = attest_and_verify(soft)
    assertion = soft.assert_(BODY, key_id)
    tampered = BODY.replace(b"25.00", b"2500.00")
    message = assertion_refused(soft, assertion, public_key=key.public_key, client_data=tampered)
    assert message == "signature does not verify"


def test_tampered_authenticator_data_is_refused(soft: SoftAppAttest) -> None:
    key, key_id = attest_and_verify(soft)
    document = cbor2.loads(soft.assert_(BODY, key_id))
    data = document["authenticatorData"]
    document["authenticatorData"] = data[:33] + (10_000).to_bytes(4, "big")
    message = assertion_refused(soft, cbor2.dumps(document), public_key=key.public_key)
    assert message == "signature does not verify"


def test_an_assertion_for_another_app_is_refused(soft: SoftAppAttest) -> None:
    key, key_id = attest_and_verify(soft)
    assertion = soft.assert_(BODY, key_id, app_id="SOFTTEAM01.com.fake.wallet")
    assert assertion_refused(soft, assertion, public_key=key.public_key) == "RP ID does not match"
    genuine = soft.assert_(BODY, key_id)
    message = assertion_refused(
        soft, genuine, public_key=key.public_key, config=soft.config(bundle_id="com.other")
    )
    assert message == "RP ID does not match"


@pytest.mark.parametrize(
    ("assertion", "message"),
    [
        (b"", "assertion is empty"),
        ("@@@", "assertion is not base64"),
        (b"\x00", "assertion is not a CBOR map"),
        (cbor2.dumps({"signature": b"x"}), "assertion.authenticatorData is missing"),
        (cbor2.dumps({"authenticatorData": b"x" * 37}), "assertion.signature is missing"),
        (
            cbor2.dumps({"signature": b"x", "authenticatorData": b"x" * 36}),
            "authenticatorData is too short",
        ),
        (
            cbor2.dumps({"signature": b"not DER", "authenticatorData": b"x" * 37}),
            "signature does not verify",
        ),
    ],
)
def test_malformed_assertions_are_refused(
    soft: SoftAppAttest, assertion: bytes | str, message: str
) -> None:
    key, _ = attest_and_verify(soft)
    assert message in assertion_refused(soft, assertion, public_key=key.public_key)


@pytest.mark.parametrize("public_key", [b"", b"\x04" + bytes(64), b"\x02" * 33 + b"\x00"])
def test_a_malformed_stored_key_names_its_field(soft: SoftAppAttest, public_key: bytes) -> None:
    _, key_id = attest_and_verify(soft)
    with pytest.raises(ValidationFailed) as caught:
        verify_assertion(
            soft.assert_(BODY, key_id),
            client_data=BODY,
            public_key=public_key,
            stored_counter=0,
            config=soft.config(),
        )
    assert caught.value.field == "public_key"


# -- stored vectors --------------------------------------------------------------------------


def _load(name: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((VECTORS / name).read_text())
    return document


def _config(vector: dict[str, Any], **overrides: Any) -> AppAttestConfig:
    settings_ = dict(vector["config"])
    settings_["roots"] = tuple(settings_["roots"])
    return AppAttestConfig(**(settings_ | overrides))


def _vectors() -> list[Any]:
    paths = sorted(VECTORS.glob("*app-attest*.json"))
    assert len(paths) >= 4, "stored App Attest vectors are missing"
    return [pytest.param(_load(path.name), id=path.stem) for path in paths]


@pytest.mark.parametrize("vector", _vectors())
def test_stored_vectors_verify_at_their_recorded_time(vector: dict[str, Any]) -> None:
    config = _config(vector)
    if vector["kind"] == "app_attest":
        key = verify_attestation(
            vector["attestation"],
            key_id=vector["key_id"],
            challenge=b64decode(vector["challenge"]),
            config=config,
            now=datetime.fromisoformat(vector["now"]),
        )
        expected = vector["expected"]
        assert key.key_id == vector["key_id"]
        assert key.public_key == b64decode(expected["public_key"])
        assert key.counter == expected["counter"]
        if "receipt" in expected:
            assert key.receipt == b64decode(expected["receipt"])
        public_key = key.public_key
    else:
        public_key = b64decode(vector["public_key"])
    for step in vector["assertions"]:
        counter = verify_assertion(
            step["assertion"],
            client_data=b64decode(step["client_data"]),
            public_key=public_key,
            stored_counter=step["stored_counter"],
            config=config,
        )
        assert counter == step["expected"]["counter"]


@pytest.mark.parametrize("vector", [v for v in _vectors() if v.values[0]["kind"] == "app_attest"])
def test_stored_attestations_are_refused_when_anything_differs(vector: dict[str, Any]) -> None:
    now = datetime.fromisoformat(vector["now"])
    args: dict[str, Any] = {
        "key_id": vector["key_id"],
        "challenge": b64decode(vector["challenge"]),
        "config": _config(vector),
        "now": now,
    }
    cases = [
        ({"challenge": b"wrong"}, "nonce does not match"),
        ({"now": now + timedelta(days=400)}, "certificate chain does not verify"),
        (
            {"config": _config(vector, roots=(SoftAppAttest(now=now).root_pem,))},
            "certificate chain",
        ),
        ({"config": _config(vector, bundle_id="com.other")}, "RP ID does not match"),
        ({"config": _config(vector, production=not vector["config"]["production"])}, "AAGUID"),
        ({"key_id": b64encode(bytes(32)).decode()}, "key id does not match"),
    ]
    for overrides, message in cases:
        with pytest.raises(ValidationFailed, match=message):
            verify_attestation(vector["attestation"], **(args | overrides))


def test_the_real_vectors_use_apples_published_root() -> None:
    for name in ("apple-app-attest-development.json", "apple-app-attest-production.json"):
        (pem,) = _load(name)["config"]["roots"]
        root = x509.load_pem_x509_certificate(pem.encode())
        der = root.public_bytes(serialization.Encoding.DER)
        assert hashlib.sha256(der).hexdigest() == APPLE_ROOT_SHA256
        assert "Apple App Attestation Root CA" in root.subject.rfc4514_string()


def test_a_real_assertion_is_refused_when_replayed_or_altered() -> None:
    vector = _load("apple-app-attest-assertion-development.json")
    (step,) = vector["assertions"]
    args: dict[str, Any] = {
        "client_data": b64decode(step["client_data"]),
        "public_key": b64decode(vector["public_key"]),
        "stored_counter": 0,
        "config": _config(vector),
    }
    with pytest.raises(ValidationFailed, match="counter did not increase"):
        verify_assertion(step["assertion"], **(args | {"stored_counter": 1}))
    with pytest.raises(ValidationFailed, match="signature does not verify"):
        verify_assertion(step["assertion"], **(args | {"client_data": b"{}"}))


# -- properties ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def shared() -> SoftAppAttest:
    return SoftAppAttest(now=NOW)


@settings(max_examples=20, deadline=None)
@given(challenge=st.binary(max_size=256), client_data=st.binary(max_size=512))
def test_any_challenge_and_request_round_trip(
    shared: SoftAppAttest, challenge: bytes, client_data: bytes
) -> None:
    attested = shared.attest(challenge)
    key = verify_attestation(
        attested.b64, key_id=attested.key_id, challenge=challenge, config=shared.config(), now=NOW
    )
    counter = verify_assertion(
        shared.assert_(client_data, attested.key_id),
        client_data=client_data,
        public_key=key.public_key,
        stored_counter=key.counter,
        config=shared.config(),
    )
    assert counter == 1


_SOME_POINT = (
    ec.generate_private_key(ec.SECP256R1())
    .public_key()
    .public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
)


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=600) | st.text(max_size=300))
def test_hostile_input_is_only_ever_refused(shared: SoftAppAttest, data: bytes | str) -> None:
    key_id = b64encode(hashlib.sha256(b"k").digest()).decode()
    with pytest.raises(ValidationFailed):
        verify_attestation(data, key_id=key_id, challenge=b"c", config=shared.config(), now=NOW)
    with pytest.raises(ValidationFailed):
        verify_assertion(
            data, client_data=b"c", public_key=_SOME_POINT, stored_counter=0, config=shared.config()
        )


def test_public_names() -> None:
    assert sorted(appattest.__all__) == sorted(
        [
            "AAGUID_DEVELOPMENT",
            "AAGUID_PRODUCTION",
            "MAX_OBJECT_BYTES",
            "NONCE_EXTENSION_OID",
            "AppAttestConfig",
            "AttestedKey",
            "verify_assertion",
            "verify_attestation",
        ]
    )


def test_soft_public_names() -> None:
    assert sorted(softattest.__all__) == sorted(
        [
            "SOFT_CERT_DIGEST",
            "SoftAppAttest",
            "SoftAttestation",
            "SoftPlayIntegrity",
            "nonce_extension_value",
        ]
    )
