"""`/v1/auth/users/...` end to end: users, passwords, TOTP, recovery codes, passkeys (answered by
the software authenticator), bound devices, revocation, and sessions ending on every change."""

from __future__ import annotations

import base64
import secrets
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import orjson
import pyotp
import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from payguard.auth import devicekeys
from payguard.auth.passwords import PasswordHasher
from payguard.auth.sealing import SecretBox
from payguard.auth.softauthn import SoftAuthenticator

ORIGIN = "http://localhost:8000"
PASSWORD = "correct horse battery staple"
USER = "acct-1"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


# -- helpers -------------------------------------------------------------------------------


@pytest.fixture
def headers(tenant) -> dict[str, str]:
    return tenant()


def make_user(client, headers, user: str = USER, password: str | None = PASSWORD) -> dict:
    body: dict[str, Any] = {"user_id": user}
    if password is not None:
        body["password"] = password
    made = client.post("/v1/auth/users", json=body, headers=headers)
    assert made.status_code == 201, made.text
    return made.json()


def get_user(client, headers, user: str = USER) -> dict:
    found = client.get(f"/v1/auth/users/{user}", headers=headers)
    assert found.status_code == 200, found.text
    return found.json()


def step_of(services) -> int:
    return int(services.clock.now().timestamp()) // 30


def enrol_totp(client, headers, user: str = USER) -> dict:
    enrolled = client.post(f"/v1/auth/users/{user}/totp", json={"label": "phone"}, headers=headers)
    assert enrolled.status_code == 201, enrolled.text
    return enrolled.json()


def confirmed_totp(client, headers, services, user: str = USER) -> pyotp.TOTP:
    enrolled = enrol_totp(client, headers, user)
    otp = pyotp.TOTP(enrolled["secret"])
    credential_id = enrolled["credential"]["credential_id"]
    confirmed = client.post(
        f"/v1/auth/users/{user}/totp/{credential_id}/confirm",
        json={"code": otp.generate_otp(step_of(services))},
        headers=headers,
    )
    assert confirmed.status_code == 200, confirmed.text
    return otp


def verify_totp(client, headers, code: str, user: str = USER):
    return client.post(f"/v1/auth/users/{user}/totp/verify", json={"code": code}, headers=headers)


def register_passkey(client, headers, user: str = USER, **kwargs: Any) -> SoftAuthenticator:
    authenticator = SoftAuthenticator(**kwargs)
    options = client.post(f"/v1/auth/users/{user}/passkeys/options", headers=headers)
    assert options.status_code == 200, options.text
    registered = client.post(
        f"/v1/auth/users/{user}/passkeys",
        json={
            "challenge_id": options.json()["challenge_id"],
            "credential": authenticator.create(options.json()["options"], ORIGIN),
            "label": "laptop",
        },
        headers=headers,
    )
    assert registered.status_code == 201, registered.text
    assert registered.json()["kind"] == "passkey"
    return authenticator


def passkey_sign_in(
    client,
    headers,
    authenticator: SoftAuthenticator,
    user: str = USER,
    origin: str = ORIGIN,
    **get_kwargs: Any,
):
    options = client.post(f"/v1/auth/users/{user}/passkeys/login-options", headers=headers)
    assert options.status_code == 200, options.text
    assertion = authenticator.get(options.json()["options"], origin, **get_kwargs)
    body = {
        "user_id": user,
        "challenge_id": options.json()["challenge_id"],
        "factors": [{"type": "passkey", "credential": assertion}],
    }
    return client.post("/v1/auth/sessions", json=body, headers=headers), body


def password_session(client, headers, user: str = USER, password: str = PASSWORD) -> dict:
    opened = client.post(
        "/v1/auth/sessions",
        json={"user_id": user, "factors": [{"type": "password", "password": password}]},
        headers=headers,
    )
    assert opened.status_code == 201, opened.text
    return opened.json()


def introspect(client, headers, access_token: str) -> dict:
    answer = client.post(
        "/v1/auth/sessions/introspect", json={"access_token": access_token}, headers=headers
    )
    assert answer.status_code == 200, answer.text
    return answer.json()


def audit(client, headers, action: str | None = None) -> list[dict]:
    query = "/v1/audit?limit=200" + (f"&action={action}" if action else "")
    records = client.get(query, headers=headers)
    assert records.status_code == 200, records.text
    return records.json()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def ed25519_public(key: Ed25519PrivateKey) -> str:
    return b64(key.public_key().public_bytes_raw())


def p256_public(key: ec.EllipticCurvePrivateKey) -> str:
    return b64(
        key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
    )


def bind(client, headers, public_key: str, algorithm: str, device_id: str, user: str = USER):
    return client.post(
        f"/v1/auth/users/{user}/devices",
        json={
            "device_id": device_id,
            "algorithm": algorithm,
            "public_key": public_key,
            "label": "phone",
        },
        headers=headers,
    )


Signer = Callable[[bytes], bytes]


def ed25519_signer(key: Ed25519PrivateKey) -> Signer:
    return key.sign


def p256_der_signer(key: ec.EllipticCurvePrivateKey) -> Signer:
    return lambda message: key.sign(message, ec.ECDSA(hashes.SHA256()))


def p256_raw_signer(key: ec.EllipticCurvePrivateKey) -> Signer:
    def sign(message: bytes) -> bytes:
        r, s = decode_dss_signature(key.sign(message, ec.ECDSA(hashes.SHA256())))
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")

    return sign


def signed_request(
    sign: Signer,
    services,
    device_id: str,
    *,
    body: bytes = b'{"amount": "12.50"}',
    method: str = "POST",
    path: str = "/api/transfers",
    timestamp: int | None = None,
    nonce: str | None = None,
) -> dict[str, Any]:
    """What the partner's backend forwards: the request as received, and the app's signature."""
    timestamp = int(services.clock.now().timestamp()) if timestamp is None else timestamp
    nonce = nonce or secrets.token_urlsafe(16)
    message = devicekeys.signed_message(
        method=method, path=path, body=body, timestamp=timestamp, nonce=nonce
    )
    return {
        "device_id": device_id,
        "method": method,
        "path": path,
        "body": b64(body),
        "timestamp": timestamp,
        "nonce": nonce,
        "signature": b64(sign(message)),
    }


def verify_device(client, headers, request: dict[str, Any]):
    return client.post("/v1/auth/devices/verify", json=request, headers=headers)


def rejected(response) -> None:
    """A user's factor refused: 401 factor_rejected, and never a challenge to the API key."""
    assert response.status_code == 401, response.text
    assert response.json()["error"]["code"] == "factor_rejected", response.text
    assert "www-authenticate" not in response.headers


# -- users ---------------------------------------------------------------------------------


def test_create_and_get_a_user(client, headers) -> None:
    made = make_user(client, headers)
    assert made["user_id"] == USER and made["has_password"] is True
    assert made["credentials"] == [] and made["recovery_codes_left"] == 0
    assert made["locked_until"] is None
    passwordless = make_user(client, headers, "acct-2", password=None)
    assert passwordless["has_password"] is False


def test_a_duplicate_user_is_409_and_keeps_the_first_password(client, headers) -> None:
    make_user(client, headers)
    again = client.post(
        "/v1/auth/users",
        json={"user_id": USER, "password": "another fine passphrase"},
        headers=headers,
    )
    assert again.status_code == 409 and again.json()["error"]["code"] == "conflict"
    right = client.post(
        f"/v1/auth/users/{USER}/password/verify", json={"password": PASSWORD}, headers=headers
    )
    assert right.status_code == 200


def test_unknown_user_is_404_everywhere(client, headers) -> None:
    missing = "nobody"
    calls = [
        ("GET", f"/v1/auth/users/{missing}", None),
        ("PUT", f"/v1/auth/users/{missing}/password", {"password": PASSWORD}),
        ("POST", f"/v1/auth/users/{missing}/password/verify", {"password": PASSWORD}),
        ("POST", f"/v1/auth/users/{missing}/totp", {"label": "x"}),
        ("POST", f"/v1/auth/users/{missing}/totp/verify", {"code": "123456"}),
        ("POST", f"/v1/auth/users/{missing}/recovery-codes", None),
        ("POST", f"/v1/auth/users/{missing}/passkeys/options", None),
        ("POST", f"/v1/auth/users/{missing}/passkeys/login-options", None),
        ("GET", f"/v1/auth/users/{missing}/sessions", None),
        ("POST", f"/v1/auth/users/{missing}/sessions/revoke", None),
        ("DELETE", f"/v1/auth/users/{missing}/credentials/abc123", None),
    ]
    for method, path, body in calls:
        response = client.request(method, path, json=body, headers=headers)
        assert response.status_code == 404, (method, path, response.text)
        assert response.json()["error"]["code"] == "not_found"
    key = Ed25519PrivateKey.generate()
    assert (
        bind(client, headers, ed25519_public(key), "ed25519", "dev-x", missing).status_code == 404
    )


def test_password_calls_for_an_unknown_user_spend_the_dummy_hash_then_404(
    client, headers, monkeypatch
) -> None:
    calls: list[str] = []
    real = PasswordHasher.verify_dummy

    def spy(hasher: PasswordHasher, password: str) -> None:
        calls.append(password)
        real(hasher, password)

    monkeypatch.setattr(PasswordHasher, "verify_dummy", spy)
    password = {"type": "password", "password": "a guess for nobody"}
    for path, body in [
        ("/v1/auth/users/nobody/password/verify", {"password": "a guess for nobody"}),
        ("/v1/auth/users/nobody/verify", {"factors": [password]}),
        ("/v1/auth/sessions", {"user_id": "nobody", "factors": [password]}),
    ]:
        response = client.post(path, json=body, headers=headers)
        assert response.status_code == 404, (path, response.text)
        assert response.json()["error"]["code"] == "not_found"
    assert calls == ["a guess for nobody"] * 3


def test_a_totp_secret_the_key_cannot_open_is_503_and_counts_no_failure(
    client, headers, services
) -> None:
    make_user(client, headers)
    otp = confirmed_totp(client, headers, services)
    services.clock.advance(timedelta(seconds=30))
    (credential,) = get_user(client, headers)["credentials"]
    with services.engine.begin() as conn:
        row = conn.execute(
            sa.text("SELECT tenant_id FROM auth_credentials WHERE credential_id = :id"),
            {"id": credential["credential_id"]},
        ).scalar_one()
        sealed = SecretBox(secrets.token_bytes(32)).seal(
            b"JBSWY3DPEHPK3PXP",
            aad=f"payguard-totp-v1:{row}:{credential['credential_id']}".encode(),
        )
        conn.execute(
            sa.text("UPDATE auth_credentials SET data = :data WHERE credential_id = :id"),
            {"data": orjson.dumps({"secret": sealed}).decode(), "id": credential["credential_id"]},
        )
    for _ in range(6):  # past the lockout threshold, were they counted
        response = verify_totp(client, headers, otp.generate_otp(step_of(services)))
        assert response.status_code == 503, response.text
        assert response.json()["error"]["code"] == "backend_unavailable"
    user = get_user(client, headers)
    assert user["locked_until"] is None
    assert services.auth.failures(row, USER) == 0


def test_get_lists_credentials_recovery_codes_and_the_lock(client, headers, services) -> None:
    make_user(client, headers)
    confirmed_totp(client, headers, services)
    register_passkey(client, headers)
    assert bind(
        client, headers, ed25519_public(Ed25519PrivateKey.generate()), "ed25519", "dev-1"
    ).status_code == (201)
    codes = client.post(f"/v1/auth/users/{USER}/recovery-codes", headers=headers)
    assert codes.status_code == 201
    user = get_user(client, headers)
    kinds = sorted(c["kind"] for c in user["credentials"])
    assert kinds == ["device", "passkey", "totp"]
    device = next(c for c in user["credentials"] if c["kind"] == "device")
    assert device["device_id"] == "dev-1"
    assert all(c["confirmed"] for c in user["credentials"])
    assert user["recovery_codes_left"] == 10 and user["locked_until"] is None
    # The secrets themselves are never part of a user.
    assert "secret" not in str(user) and "public_key" not in str(user)

    for _ in range(5):
        rejected(
            client.post(
                f"/v1/auth/users/{USER}/password/verify",
                json={"password": "not the password"},
                headers=headers,
            )
        )
    locked = get_user(client, headers)["locked_until"]
    assert locked is not None and locked.startswith("2026-03-02T09:45:00")
    services.clock.advance(timedelta(minutes=15))
    assert get_user(client, headers)["locked_until"] is None


# -- passwords -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("password", "why"),
    [
        ("password123", "common"),
        ("PassWord123", "common"),  # compared case-insensitively
        ("qwertyuiop", "common"),
        ("x" * 7, "at least 8"),
        ("\u00e9" * 7, "at least 8"),
        ("y" * 129, "at most 128"),
        ("Acct-1-Long", "account id"),
    ],
)
def test_set_password_refuses_what_nist_refuses(client, headers, password, why) -> None:
    make_user(client, headers, "acct-1-long", password=None)
    refused = client.put(
        "/v1/auth/users/acct-1-long/password", json={"password": password}, headers=headers
    )
    assert refused.status_code == 422, refused.text
    error = refused.json()["error"]
    assert error["field"] == "password" and why in error["message"]
    assert password not in refused.text
    assert get_user(client, headers, "acct-1-long")["has_password"] is False


def test_passwords_of_8_to_128_characters_and_passphrases_are_accepted(client, headers) -> None:
    make_user(client, headers, password=None)
    passphrase = "the quick brown fox jumps over the lazy dog and keeps on running!"
    assert len(passphrase) == 65
    for password in ("kx7!vq2m", passphrase[:64], "z" * 128):
        accepted = client.put(
            f"/v1/auth/users/{USER}/password", json={"password": password}, headers=headers
        )
        assert accepted.status_code == 204, accepted.text
        assert accepted.content == b""
    assert get_user(client, headers)["has_password"] is True
    right = client.post(
        f"/v1/auth/users/{USER}/password/verify", json={"password": "z" * 128}, headers=headers
    )
    assert right.status_code == 200
    # The previous password stopped working.
    rejected(
        client.post(
            f"/v1/auth/users/{USER}/password/verify",
            json={"password": passphrase[:64]},
            headers=headers,
        )
    )


def test_create_refuses_a_weak_password_and_stores_nothing(client, headers) -> None:
    refused = client.post(
        "/v1/auth/users", json={"user_id": USER, "password": "password123"}, headers=headers
    )
    assert refused.status_code == 422 and refused.json()["error"]["field"] == "password"
    assert client.get(f"/v1/auth/users/{USER}", headers=headers).status_code == 404


def test_verify_password_right_and_wrong(client, headers) -> None:
    make_user(client, headers)
    right = client.post(
        f"/v1/auth/users/{USER}/password/verify", json={"password": PASSWORD}, headers=headers
    )
    assert right.status_code == 200, right.text
    assert right.json() == {"verified": True, "level": 1, "factors": ["password"]}
    wrong = client.post(
        f"/v1/auth/users/{USER}/password/verify",
        json={"password": PASSWORD.upper()},
        headers=headers,
    )
    rejected(wrong)
    # A user without a password fails like a wrong password, not differently.
    make_user(client, headers, "acct-2", password=None)
    rejected(
        client.post(
            "/v1/auth/users/acct-2/password/verify", json={"password": PASSWORD}, headers=headers
        )
    )


def test_the_password_is_normalised_nfkc(client, headers) -> None:
    # U+FB01 LATIN SMALL LIGATURE FI is "fi" under NFKC.
    make_user(client, headers, password="\ufb01nancial statement 2026")
    right = client.post(
        f"/v1/auth/users/{USER}/password/verify",
        json={"password": "financial statement 2026"},
        headers=headers,
    )
    assert right.status_code == 200, right.text


# -- TOTP ----------------------------------------------------------------------------------


def test_totp_enrolment_gives_secret_uri_and_qr_codes(client, headers) -> None:
    make_user(client, headers)
    enrolled = enrol_totp(client, headers)
    assert len(base64.b32decode(enrolled["secret"])) == 20  # 160 bits
    uri = enrolled["otpauth_uri"]
    assert uri.startswith("otpauth://totp/") and f"secret={enrolled['secret']}" in uri
    assert "issuer=payguard" in uri
    assert enrolled["qr_svg"].lstrip().startswith(("<?xml", "<svg"))
    png = base64.b64decode(enrolled["qr_png_base64"], validate=True)
    assert png.startswith(PNG_SIGNATURE)
    credential = enrolled["credential"]
    assert credential["kind"] == "totp" and credential["label"] == "phone"
    assert credential["confirmed"] is False and credential["last_used_at"] is None
    listed = get_user(client, headers)["credentials"]
    assert [c["confirmed"] for c in listed] == [False]


def test_an_unconfirmed_totp_verifies_nothing(client, headers, services) -> None:
    make_user(client, headers)
    enrolled = enrol_totp(client, headers)
    code = pyotp.TOTP(enrolled["secret"]).generate_otp(step_of(services))
    rejected(verify_totp(client, headers, code))
    # A wrong first code does not confirm it.
    credential_id = enrolled["credential"]["credential_id"]
    wrong = "000000" if code != "000000" else "111111"
    rejected(
        client.post(
            f"/v1/auth/users/{USER}/totp/{credential_id}/confirm",
            json={"code": wrong},
            headers=headers,
        )
    )
    assert get_user(client, headers)["credentials"][0]["confirmed"] is False


def test_totp_confirm_then_codes_work_once_within_one_step_of_drift(
    client, headers, services
) -> None:
    make_user(client, headers)
    enrolled = enrol_totp(client, headers)
    otp = pyotp.TOTP(enrolled["secret"])
    credential_id = enrolled["credential"]["credential_id"]
    start = step_of(services)
    confirm_path = f"/v1/auth/users/{USER}/totp/{credential_id}/confirm"
    confirmed = client.post(confirm_path, json={"code": otp.generate_otp(start)}, headers=headers)
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()["confirmed"] is True and confirmed.json()["last_used_at"]
    again = client.post(confirm_path, json={"code": otp.generate_otp(start)}, headers=headers)
    assert again.status_code == 409

    # The confirming code cannot be used again.
    rejected(verify_totp(client, headers, otp.generate_otp(start)))

    # Two steps later, the code of the previous step (one step of drift) works, once.
    services.clock.advance(timedelta(seconds=60))
    previous = otp.generate_otp(start + 1)
    accepted = verify_totp(client, headers, previous)
    assert accepted.status_code == 200, accepted.text
    assert accepted.json() == {"verified": True, "level": 1, "factors": ["totp"]}
    rejected(verify_totp(client, headers, previous))
    # Having used step start+1, the current step still works.
    assert verify_totp(client, headers, otp.generate_otp(start + 2)).status_code == 200

    # Much later: a code from two steps back is outside the window; one step back is not.
    services.clock.advance(timedelta(seconds=90))  # now start + 5
    rejected(verify_totp(client, headers, otp.generate_otp(start + 3)))
    assert verify_totp(client, headers, otp.generate_otp(start + 4)).status_code == 200
    # Having used start+4, the older start+3 stays refused even though it is in the window now.
    services.clock.advance(timedelta(seconds=-30))  # back to start + 4
    rejected(verify_totp(client, headers, otp.generate_otp(start + 3)))
    # A code for the next step (clock drift the other way) works too.
    assert verify_totp(client, headers, otp.generate_otp(start + 5)).status_code == 200


@pytest.mark.parametrize("code", ["", "12345", "1234567", "12345a", "١٢٣٤٥٦", " 123456"])
def test_malformed_totp_codes_are_refused(client, headers, services, code) -> None:
    make_user(client, headers, password=None)
    confirmed_totp(client, headers, services)
    response = verify_totp(client, headers, code)
    assert response.status_code in (401, 422), response.text
    if response.status_code == 401:
        rejected(response)


# -- recovery codes ------------------------------------------------------------------------


def test_recovery_codes_work_once_and_a_new_set_replaces_the_old(client, headers) -> None:
    make_user(client, headers, password=None)
    issued = client.post(f"/v1/auth/users/{USER}/recovery-codes", headers=headers)
    assert issued.status_code == 201, issued.text
    codes = issued.json()["codes"]
    assert len(codes) == 10 and len(set(codes)) == 10
    assert all(len(c) == 14 and c.count("-") == 2 for c in codes)
    path = f"/v1/auth/users/{USER}/recovery-codes/verify"
    for index, code in enumerate(codes[:9]):
        used = client.post(path, json={"code": code}, headers=headers)
        assert used.status_code == 200, used.text
        assert used.json() == {"verified": True, "level": 1, "factors": ["recovery_code"]}
        rejected(client.post(path, json={"code": code}, headers=headers))
        assert get_user(client, headers)["recovery_codes_left"] == 9 - index
    # As the user may type it: upper case, spaces instead of dashes.
    typed = codes[9].upper().replace("-", " ")
    assert client.post(path, json={"code": typed}, headers=headers).status_code == 200
    assert get_user(client, headers)["recovery_codes_left"] == 0

    old = client.post(f"/v1/auth/users/{USER}/recovery-codes", headers=headers).json()["codes"]
    new = client.post(f"/v1/auth/users/{USER}/recovery-codes", headers=headers).json()["codes"]
    assert not set(old) & set(new)
    rejected(client.post(path, json={"code": old[0]}, headers=headers))
    assert client.post(path, json={"code": new[0]}, headers=headers).status_code == 200
    assert get_user(client, headers)["recovery_codes_left"] == 9


# -- passkeys ------------------------------------------------------------------------------


def test_passkey_registration_options_name_the_relying_party(client, headers) -> None:
    make_user(client, headers, password=None)
    options = client.post(f"/v1/auth/users/{USER}/passkeys/options", headers=headers)
    assert options.status_code == 200, options.text
    body = options.json()
    assert body["challenge_id"] and body["expires_at"] == "2026-03-02T09:35:00Z"
    public = body["options"]
    assert public["rp"]["id"] == "localhost"
    assert public["user"]["name"] == USER
    assert len(base64.urlsafe_b64decode(public["challenge"] + "==")) == 32
    assert public["excludeCredentials"] == []


def test_passkey_register_then_sign_in_at_aal2(client, headers) -> None:
    make_user(client, headers, password=None)
    authenticator = register_passkey(client, headers)
    # Registering the same authenticator again: the options exclude it, and forcing it anyway
    # (a client ignoring the exclude list) is a conflict.
    options = client.post(f"/v1/auth/users/{USER}/passkeys/options", headers=headers).json()
    excluded = [d["id"] for d in options["options"]["excludeCredentials"]]
    raw_id = base64.urlsafe_b64encode(authenticator.credential_id).rstrip(b"=").decode()
    assert excluded == [raw_id]
    with pytest.raises(ValueError, match="InvalidStateError"):
        authenticator.create(options["options"], ORIGIN)
    forced = {**options["options"], "excludeCredentials": []}
    again = client.post(
        f"/v1/auth/users/{USER}/passkeys",
        json={
            "challenge_id": options["challenge_id"],
            "credential": authenticator.create(forced, ORIGIN),
        },
        headers=headers,
    )
    assert again.status_code == 409, again.text
    assert len(get_user(client, headers)["credentials"]) == 1

    signed_in, _ = passkey_sign_in(client, headers, authenticator)
    assert signed_in.status_code == 201, signed_in.text
    session = signed_in.json()
    assert session["level"] == 2 and session["user_id"] == USER
    assert session["access_token"].startswith("pgs_")
    assert introspect(client, headers, session["access_token"])["active"] is True


def test_a_passkey_registration_ceremony_works_once(client, headers) -> None:
    make_user(client, headers, password=None)
    options = client.post(f"/v1/auth/users/{USER}/passkeys/options", headers=headers).json()
    first = SoftAuthenticator()
    done = client.post(
        f"/v1/auth/users/{USER}/passkeys",
        json={
            "challenge_id": options["challenge_id"],
            "credential": first.create(options["options"], ORIGIN),
        },
        headers=headers,
    )
    assert done.status_code == 201
    second = SoftAuthenticator()
    reused = client.post(
        f"/v1/auth/users/{USER}/passkeys",
        json={
            "challenge_id": options["challenge_id"],
            "credential": second.create(options["options"], ORIGIN),
        },
        headers=headers,
    )
    assert reused.status_code == 409, reused.text
    assert len(get_user(client, headers)["credentials"]) == 1


def test_a_passkey_registration_from_another_origin_is_refused(client, headers) -> None:
    make_user(client, headers, password=None)
    options = client.post(f"/v1/auth/users/{USER}/passkeys/options", headers=headers).json()
    phished = SoftAuthenticator().create(options["options"], "https://evil.example")
    refused = client.post(
        f"/v1/auth/users/{USER}/passkeys",
        json={"challenge_id": options["challenge_id"], "credential": phished},
        headers=headers,
    )
    rejected(refused)
    assert get_user(client, headers)["credentials"] == []


def test_a_passkey_from_the_wrong_origin_is_refused(client, headers) -> None:
    make_user(client, headers, password=None)
    authenticator = register_passkey(client, headers)
    refused, _ = passkey_sign_in(client, headers, authenticator, origin="https://evil.example")
    assert refused.status_code == 401, refused.text
    assert client.get(f"/v1/auth/users/{USER}/sessions", headers=headers).json()["sessions"] == []


def test_a_wrong_origin_passkey_is_a_counted_factor_failure(client, headers) -> None:
    make_user(client, headers, password=None)
    authenticator = register_passkey(client, headers)
    refused, _ = passkey_sign_in(client, headers, authenticator, origin="https://evil.example")
    rejected(refused)
    failures = audit(client, headers, "auth:failure")
    assert [r["details"]["factor"] for r in failures] == ["passkey"]


def test_a_replayed_passkey_assertion_is_refused(client, headers) -> None:
    make_user(client, headers, password=None)
    authenticator = register_passkey(client, headers)
    signed_in, body = passkey_sign_in(client, headers, authenticator)
    assert signed_in.status_code == 201
    # The same request again: its ceremony is used up.
    replayed = client.post("/v1/auth/sessions", json=body, headers=headers)
    assert replayed.status_code == 409, replayed.text
    # The same assertion against a fresh ceremony: the challenge does not match.
    fresh = client.post(f"/v1/auth/users/{USER}/passkeys/login-options", headers=headers).json()
    moved = client.post(
        "/v1/auth/sessions", json={**body, "challenge_id": fresh["challenge_id"]}, headers=headers
    )
    assert moved.status_code == 401, moved.text
    sessions = client.get(f"/v1/auth/users/{USER}/sessions", headers=headers).json()["sessions"]
    assert len(sessions) == 1


def test_a_cloned_authenticator_is_refused_and_audited(client, headers) -> None:
    make_user(client, headers, password=None)
    authenticator = register_passkey(client, headers)
    clone = authenticator.clone()  # the attacker copies the key and its counter (1)
    signed_in, _ = passkey_sign_in(client, headers, authenticator)  # the owner: counter 2
    assert signed_in.status_code == 201, signed_in.text
    cloned, _ = passkey_sign_in(client, headers, clone)  # the clone: counter 2 again
    rejected(cloned)
    assert "clone" in cloned.json()["error"]["message"]
    records = audit(client, headers, "auth:clone_suspected")
    assert len(records) == 1
    assert records[0]["details"]["user_id"] == USER
    assert records[0]["outcome"] == "denied"
    credential_id = get_user(client, headers)["credentials"][0]["credential_id"]
    assert records[0]["target"] == f"credential:{credential_id}"
    # The failure also counts against the account.
    assert [r["details"]["factor"] for r in audit(client, headers, "auth:failure")] == ["passkey"]
    # The genuine authenticator, whose counter is ahead, still works.
    again, _ = passkey_sign_in(client, headers, authenticator)
    assert again.status_code == 201


def test_a_passkey_of_another_user_is_refused(client, headers) -> None:
    make_user(client, headers, password=None)
    make_user(client, headers, "acct-2", password=None)
    theirs = register_passkey(client, headers, "acct-2")
    options = client.post(f"/v1/auth/users/{USER}/passkeys/login-options", headers=headers).json()
    assert options["options"].get("allowCredentials", []) == []
    assertion = theirs.get(options["options"], ORIGIN)
    refused = client.post(
        "/v1/auth/sessions",
        json={
            "user_id": USER,
            "challenge_id": options["challenge_id"],
            "factors": [{"type": "passkey", "credential": assertion}],
        },
        headers=headers,
    )
    rejected(refused)


def test_a_passkey_without_user_verification_earns_aal1(client, headers) -> None:
    make_user(client, headers, password=None)
    authenticator = register_passkey(client, headers)
    signed_in, _ = passkey_sign_in(client, headers, authenticator, user_verified=False)
    assert signed_in.status_code == 201, signed_in.text
    assert signed_in.json()["level"] == 1


def test_a_passkey_login_ceremony_expires(client, headers, services) -> None:
    make_user(client, headers, password=None)
    authenticator = register_passkey(client, headers)
    options = client.post(f"/v1/auth/users/{USER}/passkeys/login-options", headers=headers).json()
    services.clock.advance(timedelta(seconds=301))
    late = client.post(
        "/v1/auth/sessions",
        json={
            "user_id": USER,
            "challenge_id": options["challenge_id"],
            "factors": [
                {"type": "passkey", "credential": authenticator.get(options["options"], ORIGIN)}
            ],
        },
        headers=headers,
    )
    assert late.status_code == 409 and "expired" in late.json()["error"]["message"]


# -- bound devices -------------------------------------------------------------------------


def test_bind_ed25519_and_p256_devices_and_verify_their_requests(client, headers, services) -> None:
    make_user(client, headers, password=None)
    ed_key = Ed25519PrivateKey.generate()
    p_key = ec.generate_private_key(ec.SECP256R1())
    bound_ed = bind(client, headers, ed25519_public(ed_key), "ed25519", "dev-ed")
    assert bound_ed.status_code == 201, bound_ed.text
    assert bound_ed.json()["kind"] == "device" and bound_ed.json()["device_id"] == "dev-ed"
    bound_p = bind(client, headers, p256_public(p_key), "p256", "dev-p256")
    assert bound_p.status_code == 201, bound_p.text
    # A P-256 key as DER SubjectPublicKeyInfo, URL-safe base64 without padding, also binds.
    spki = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    urlsafe = base64.urlsafe_b64encode(spki).rstrip(b"=").decode()
    assert bind(client, headers, urlsafe, "p256", "dev-spki").status_code == 201

    for device_id, sign in [
        ("dev-ed", ed25519_signer(ed_key)),
        ("dev-p256", p256_der_signer(p_key)),
        ("dev-p256", p256_raw_signer(p_key)),  # WebCrypto's r||s
    ]:
        verified = verify_device(client, headers, signed_request(sign, services, device_id))
        assert verified.status_code == 200, verified.text
        assert verified.json() == {"verified": True, "user_id": USER, "device_id": device_id}
    # Another device's key does not sign for this one.
    rejected(
        verify_device(client, headers, signed_request(ed25519_signer(ed_key), services, "dev-p256"))
    )


@pytest.mark.parametrize(
    ("algorithm", "public_key"),
    [
        ("ed25519", b64(b"\x01" * 31)),
        ("ed25519", b64(b"\x01" * 33)),
        ("ed25519", "not base64!"),
        ("p256", b64(b"\x04" + b"\x01" * 64)),  # not a point on the curve
        ("p256", b64(b"\x02" + b"\x01" * 32)),  # compressed points are not accepted
        ("p256", b64(b"\x30\x03\x02\x01\x01")),  # DER, but not a public key
        ("p256", "ed25519-der"),
        ("p256", b64(b"")),
    ],
)
def test_a_bad_public_key_is_422_and_binds_nothing(client, headers, algorithm, public_key) -> None:
    make_user(client, headers, password=None)
    if public_key == "ed25519-der":
        public_key = b64(
            Ed25519PrivateKey.generate()
            .public_key()
            .public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
    refused = bind(client, headers, public_key, algorithm, "dev-1")
    assert refused.status_code == 422, refused.text
    assert refused.json()["error"]["field"] == "public_key"
    assert get_user(client, headers)["credentials"] == []


def test_an_unknown_algorithm_is_422(client, headers) -> None:
    make_user(client, headers, password=None)
    key = ed25519_public(Ed25519PrivateKey.generate())
    refused = bind(client, headers, key, "rsa", "dev-1")
    assert refused.status_code == 422 and refused.json()["error"]["field"] == "algorithm"


def test_a_device_binds_once(client, headers) -> None:
    make_user(client, headers, password=None)
    make_user(client, headers, "acct-2", password=None)
    first = bind(client, headers, ed25519_public(Ed25519PrivateKey.generate()), "ed25519", "dev-1")
    assert first.status_code == 201
    again = bind(client, headers, ed25519_public(Ed25519PrivateKey.generate()), "ed25519", "dev-1")
    assert again.status_code == 409, again.text
    # Nor can another user of the tenant take the device over.
    other = bind(
        client, headers, ed25519_public(Ed25519PrivateKey.generate()), "ed25519", "dev-1", "acct-2"
    )
    assert other.status_code == 409, other.text
    assert get_user(client, headers, "acct-2")["credentials"] == []


def test_signed_requests_are_refused_when_replayed_stale_tampered_or_unknown(
    client, headers, services
) -> None:
    make_user(client, headers, password=None)
    key = Ed25519PrivateKey.generate()
    assert bind(client, headers, ed25519_public(key), "ed25519", "dev-1").status_code == 201
    sign = ed25519_signer(key)

    request = signed_request(sign, services, "dev-1")
    assert verify_device(client, headers, request).status_code == 200
    replayed = verify_device(client, headers, request)
    rejected(replayed)
    assert "replayed" in replayed.json()["error"]["message"]

    now = int(services.clock.now().timestamp())
    stale = verify_device(
        client, headers, signed_request(sign, services, "dev-1", timestamp=now - 600)
    )
    rejected(stale)
    assert "stale" in stale.json()["error"]["message"]
    future = signed_request(sign, services, "dev-1", timestamp=now + 600)
    rejected(verify_device(client, headers, future))
    # Within the allowed skew (5 minutes) either way, a request verifies.
    for skew in (-299, 299):
        skewed = signed_request(sign, services, "dev-1", timestamp=now + skew)
        assert verify_device(client, headers, skewed).status_code == 200

    unknown = verify_device(client, headers, signed_request(sign, services, "dev-unknown"))
    rejected(unknown)


def test_a_tampered_signed_request_is_refused(client, headers, services) -> None:
    """Each refusal counts against the account: four here, one short of the lock."""
    make_user(client, headers, password=None)
    key = Ed25519PrivateKey.generate()
    assert bind(client, headers, ed25519_public(key), "ed25519", "dev-1").status_code == 201
    sign = ed25519_signer(key)
    tampered = signed_request(sign, services, "dev-1")
    tampered["body"] = b64(b'{"amount": "99999.00"}')
    rejected(verify_device(client, headers, tampered))
    for member, value in [("path", "/api/other"), ("method", "PUT")]:
        changed = {**signed_request(sign, services, "dev-1"), member: value}
        rejected(verify_device(client, headers, changed))
    # A nonce the attacker picks anew does not help either: the signature covers it.
    renonced = {**signed_request(sign, services, "dev-1"), "nonce": secrets.token_urlsafe(16)}
    rejected(verify_device(client, headers, renonced))
    assert len(audit(client, headers, "auth:failure")) == 4
    assert (
        verify_device(client, headers, signed_request(sign, services, "dev-1")).status_code == 200
    )


def test_a_replayed_nonce_is_refused_even_when_freshly_signed(client, headers, services) -> None:
    """Nonces are remembered per device: a new signature over a used nonce is refused too."""
    make_user(client, headers, password=None)
    key = Ed25519PrivateKey.generate()
    assert bind(client, headers, ed25519_public(key), "ed25519", "dev-1").status_code == 201
    nonce = secrets.token_urlsafe(16)
    first = signed_request(ed25519_signer(key), services, "dev-1", nonce=nonce)
    assert verify_device(client, headers, first).status_code == 200
    services.clock.advance(timedelta(seconds=5))
    second = signed_request(
        ed25519_signer(key), services, "dev-1", nonce=nonce, body=b"another body"
    )
    rejected(verify_device(client, headers, second))


def test_a_device_signature_signs_a_session_in(client, headers, services) -> None:
    make_user(client, headers)
    key = Ed25519PrivateKey.generate()
    assert bind(client, headers, ed25519_public(key), "ed25519", "dev-1").status_code == 201
    request = signed_request(
        ed25519_signer(key), services, "dev-1", path="/v1/auth/sessions", body=USER.encode()
    )
    factor = {
        "type": "device",
        "device_id": "dev-1",
        "signature": request["signature"],
        "timestamp": request["timestamp"],
        "nonce": request["nonce"],
    }
    signed_in = client.post(
        "/v1/auth/sessions",
        json={"user_id": USER, "factors": [{"type": "password", "password": PASSWORD}, factor]},
        headers=headers,
    )
    assert signed_in.status_code == 201, signed_in.text
    assert signed_in.json()["level"] == 2


# -- revocation ----------------------------------------------------------------------------


def test_a_revoked_credential_no_longer_verifies(client, headers, services) -> None:
    make_user(client, headers, password=None)
    key = Ed25519PrivateKey.generate()
    device = bind(client, headers, ed25519_public(key), "ed25519", "dev-1").json()
    otp = confirmed_totp(client, headers, services)
    authenticator = register_passkey(client, headers)
    credentials = {c["kind"]: c["credential_id"] for c in get_user(client, headers)["credentials"]}
    assert credentials["device"] == device["credential_id"]

    for kind, credential_id in credentials.items():
        path = f"/v1/auth/users/{USER}/credentials/{credential_id}"
        revoked = client.delete(path, headers=headers)
        assert revoked.status_code == 204, (kind, revoked.text)
        assert client.delete(path, headers=headers).status_code == 404
    assert get_user(client, headers)["credentials"] == []

    services.clock.advance(timedelta(seconds=30))
    rejected(verify_device(client, headers, signed_request(ed25519_signer(key), services, "dev-1")))
    rejected(verify_totp(client, headers, otp.generate_otp(step_of(services))))
    signed_in, _ = passkey_sign_in(client, headers, authenticator)
    rejected(signed_in)
    # A revoked device's id can be bound again, with a new key.
    assert bind(
        client, headers, ed25519_public(Ed25519PrivateKey.generate()), "ed25519", "dev-1"
    ).status_code == (201)
    revocations = audit(client, headers, "auth:credential_revoke")
    assert sorted(r["details"]["kind"] for r in revocations) == ["device", "passkey", "totp"]


def test_a_credential_is_revoked_only_through_its_own_user(client, headers) -> None:
    make_user(client, headers, password=None)
    make_user(client, headers, "acct-2", password=None)
    device = bind(client, headers, ed25519_public(Ed25519PrivateKey.generate()), "ed25519", "dev-1")
    credential_id = device.json()["credential_id"]
    other = client.delete(f"/v1/auth/users/acct-2/credentials/{credential_id}", headers=headers)
    assert other.status_code == 404
    assert len(get_user(client, headers)["credentials"]) == 1


def _change_password(client, headers, services) -> None:
    changed = client.put(
        f"/v1/auth/users/{USER}/password",
        json={"password": "a brand new passphrase"},
        headers=headers,
    )
    assert changed.status_code == 204


def _confirm_totp(client, headers, services) -> None:
    confirmed_totp(client, headers, services)


def _bind_device(client, headers, services) -> None:
    key = ed25519_public(Ed25519PrivateKey.generate())
    assert bind(client, headers, key, "ed25519", "dev-9").status_code == 201


def _add_passkey(client, headers, services) -> None:
    register_passkey(client, headers)


def _new_recovery_codes(client, headers, services) -> None:
    assert client.post(f"/v1/auth/users/{USER}/recovery-codes", headers=headers).status_code == 201


def _revoke_credential(client, headers, services) -> None:
    credential_id = get_user(client, headers)["credentials"][0]["credential_id"]
    path = f"/v1/auth/users/{USER}/credentials/{credential_id}"
    assert client.delete(path, headers=headers).status_code == 204


@pytest.mark.parametrize(
    "change",
    [
        _change_password,
        _confirm_totp,
        _bind_device,
        _add_passkey,
        _new_recovery_codes,
        _revoke_credential,
    ],
)
def test_every_credential_change_revokes_the_users_sessions(
    client, headers, services, change
) -> None:
    make_user(client, headers)
    make_user(client, headers, "acct-2")
    if change is _revoke_credential:
        _bind_device(client, headers, services)
    session = password_session(client, headers)
    bystander = password_session(client, headers, "acct-2")
    assert introspect(client, headers, session["access_token"])["active"] is True

    change(client, headers, services)

    answer = introspect(client, headers, session["access_token"])
    assert answer["active"] is False and answer["reason"] == "revoked"
    assert answer["session"]["revoked_reason"]
    # Another user's session is untouched.
    assert introspect(client, headers, bystander["access_token"])["active"] is True
    # The refresh token of the revoked session does not bring it back.
    refreshed = client.post(
        "/v1/auth/sessions/refresh",
        json={"refresh_token": session["refresh_token"]},
        headers=headers,
    )
    rejected(refreshed)


def test_enrolling_an_unconfirmed_totp_leaves_sessions_alone(client, headers) -> None:
    make_user(client, headers)
    session = password_session(client, headers)
    enrol_totp(client, headers)
    assert introspect(client, headers, session["access_token"])["active"] is True


def test_credential_changes_are_audited_without_secrets(client, headers, services) -> None:
    make_user(client, headers)
    otp = confirmed_totp(client, headers, services)
    key = Ed25519PrivateKey.generate()
    assert bind(client, headers, ed25519_public(key), "ed25519", "dev-1").status_code == 201
    actions = [r["action"] for r in audit(client, headers)]
    for action in (
        "auth:user_create",
        "auth:credential_add",
        "auth:credential_confirm",
    ):
        assert action in actions
    text = str(audit(client, headers))
    assert PASSWORD not in text and otp.secret not in text
    assert ed25519_public(key) not in text
