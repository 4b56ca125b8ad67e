"""Examples for the OpenAPI document: a request body for every operation that takes one, and a
value for every path parameter and the common query parameters.

They live here, in one place, rather than on the wire models: `app.py` puts them into the
document when it builds it. Each body example validates against its schema and is accepted by
the API (`tests/api/test_openapi_api.py` posts every one to a fresh app); for a path that names
an object the example cannot know (a challenge, a session, a credential) the answer is a 404.
"""

from __future__ import annotations

from typing import Any

#: An example is OpenAPI's Example Object: `{"summary": ..., "value": ...}`.
Example = dict[str, Any]

_PASSWORD = "Lantern-quietly-92-orchards"  # noqa: S105 - shown in the docs, not a credential
_USER = {"ip": "203.0.113.9", "device_id": "dev-7f3a9c"}
_NONCE = "n0nce-2c9f8e1ab7d34f60"
#: A real Ed25519 public key and a signature made with it (base64), so that the shapes and
#: lengths are the ones the API checks; the signature is of another message, so it fails.
_PUBLIC_KEY = "ZWNzYR9vJcxJMCp/IujqNSi4b54CHKbyx/7A3lWFYMI="
_SIGNATURE = (
    "H4ZftprnYp1O5dK/CvFyFIZjHqJqO2VAXeNI0lU8C2aRoaO/5Cyjo3NgDeqoglUaj5zbmHC29lB6AYkCBYPLAQ=="
)
_DIGEST = "9bf06b5bf3ef93a97cf422d0f3d092a2cc439af2ba9e3bc27e7ec01817b3241b"
_RULES = """\
thresholds:
  challenge: 300
  review: 600
  block: 850
rules:
  - id: blocked_payee
    when: '"blocked_payees" in payee_lists'
    action: block
    score: 1000
    reason: LIST_BLOCKED_PAYEE
    message: The payee is on the block list.
  - id: device_reported_for_fraud
    when: device_fraud_reports > 0
    action: challenge
    score: 350
    reason: DEVICE_REPORTED
    message: This device was involved in confirmed fraud.
    step_up: AAL2
"""
_PAYMENT = {
    "event_id": "evt-20260302-000187",
    "event_type": "payment",
    "occurred_at": "2026-03-02T17:20:00+08:00",
    "account_id": "acct-88412",
    "amount": {"value": "125.50", "currency": "SGD"},
    "payee": {"id": "payee-3391", "name": "Tan Ah Kow"},
    "device": {"id": "dev-7f3a9c", "fingerprint": "fp-3f9c2e"},
    "ip": "203.0.113.9",
    "geo": {"lat": 1.3521, "lon": 103.8198, "country": "SG"},
    "channel": "app",
    "attributes": {"app_version": "5.2.1", "first_transfer_to_payee": True},
}
_PASSWORD_FACTOR = {"type": "password", "password": _PASSWORD}
_TOTP_FACTOR = {"type": "totp", "code": "492039"}


def _one(summary: str, value: Any) -> dict[str, Example]:
    return {"default": {"summary": summary, "value": value}}


#: Request body examples by (method, path template), named as OpenAPI's `examples` map.
BODIES: dict[tuple[str, str], dict[str, Example]] = {
    ("post", "/v1/assessments"): {
        "payment": {"summary": "A payment from the app", "value": _PAYMENT},
        "login": {
            "summary": "A login (no amount)",
            "value": {
                "event_id": "evt-20260302-000188",
                "event_type": "login",
                "occurred_at": "2026-03-02T09:15:00Z",
                "account_id": "acct-88412",
                "device": {"id": "dev-7f3a9c"},
                "ip": "2001:db8::17",
                "channel": "app",
            },
        },
    },
    ("post", "/v1/assessments/{assessment_id}/outcome"): _one(
        "The payment was reported as fraud", {"outcome": "fraud", "note": "customer call 4471"}
    ),
    ("put", "/v1/rules"): _one("Two rules and the thresholds", {"source": _RULES}),
    ("post", "/v1/rules/backtest"): _one(
        "Replay March's events through a candidate rule set",
        {
            "source": _RULES,
            "since": "2026-03-01T00:00:00Z",
            "until": "2026-03-31T23:59:59Z",
            "limit": 10000,
        },
    ),
    ("put", "/v1/lists/{name}/items"): _one(
        "Block two payees for 90 days",
        {
            "kind": "payee",
            "items": ["payee-9931", "payee-9932"],
            "expires_at": "2026-06-01T00:00:00Z",
            "note": "mule accounts, case 2291",
        },
    ),
    ("delete", "/v1/lists/{name}/items"): _one("Unblock a payee", {"items": ["payee-9931"]}),
    ("put", "/v1/models/shadow"): {
        "start": {"summary": "Run version 2 in shadow mode", "value": {"version": 2}},
        "stop": {"summary": "Stop shadowing", "value": {"version": None}},
    },
    ("post", "/v1/auth/users"): _one(
        "A user with a password", {"user_id": "user-1001", "password": _PASSWORD}
    ),
    ("put", "/v1/auth/users/{user_id}/password"): _one(
        "Set a new password", {"password": _PASSWORD}
    ),
    ("post", "/v1/auth/users/{user_id}/password/verify"): _one(
        "Check a password typed at sign-in", {"password": _PASSWORD, **_USER}
    ),
    ("post", "/v1/auth/users/{user_id}/verify"): _one(
        "Check a password and a TOTP code together",
        {"factors": [_PASSWORD_FACTOR, _TOTP_FACTOR], **_USER},
    ),
    ("post", "/v1/auth/users/{user_id}/totp"): _one(
        "Enrol an authenticator app", {"label": "Authenticator on Pixel 8"}
    ),
    ("post", "/v1/auth/users/{user_id}/totp/{credential_id}/confirm"): _one(
        "The first code the app shows", {"code": "492039"}
    ),
    ("post", "/v1/auth/users/{user_id}/totp/verify"): _one(
        "A code from the app", {"code": "492039", **_USER}
    ),
    ("post", "/v1/auth/users/{user_id}/recovery-codes/verify"): _one(
        "A recovery code", {"code": "k7rq-2mzp-x9ab", **_USER}
    ),
    ("post", "/v1/auth/users/{user_id}/passkeys"): _one(
        "The browser's answer to navigator.credentials.create (PublicKeyCredential.toJSON())",
        {
            "challenge_id": "2f1c7a9e5b3d4c8f9a0b1c2d3e4f5a6b",
            "credential": {
                "id": "Ht3kQ2u8Rz6h1Qm0X4yA9w",
                "rawId": "Ht3kQ2u8Rz6h1Qm0X4yA9w",
                "type": "public-key",
                "response": {
                    "clientDataJSON": "eyJ0eXBlIjoid2ViYXV0aG4uY3JlYXRlIn0",
                    "attestationObject": "o2NmbXRkbm9uZWdhdHRTdG10oGhhdXRoRGF0YVg",
                    "transports": ["internal"],
                },
                "clientExtensionResults": {},
            },
            "label": "MacBook Touch ID",
        },
    ),
    ("post", "/v1/auth/users/{user_id}/devices"): _one(
        "Bind the app's Ed25519 key to the user",
        {
            "device_id": "dev-7f3a9c",
            "algorithm": "ed25519",
            "public_key": _PUBLIC_KEY,
            "label": "Pixel 8",
        },
    ),
    ("post", "/v1/auth/devices/verify"): _one(
        "A request the app signed, as your backend received it",
        {
            "device_id": "dev-7f3a9c",
            "method": "POST",
            "path": "/transfers",
            "body": "eyJhbW91bnQiOiIxMjUuNTAifQ==",
            "timestamp": 1772443200,
            "nonce": _NONCE,
            "signature": _SIGNATURE,
            "ip": "203.0.113.9",
        },
    ),
    ("post", "/v1/auth/sessions"): _one(
        "Sign in with a password",
        {"user_id": "user-1001", "factors": [_PASSWORD_FACTOR], **_USER},
    ),
    ("post", "/v1/auth/sessions/introspect"): _one(
        "Is this access token live?", {"access_token": "pga_5rZ2mQ8wXk3LhT9vNc4bJ7yD1eF6gH0a"}
    ),
    ("post", "/v1/auth/sessions/refresh"): _one(
        "Trade a refresh token for a new pair",
        {"refresh_token": "pgr_8Jd3nW5qLx2ZkV7mTc9bR4yH6fG1sA0e"},
    ),
    ("post", "/v1/auth/challenges"): _one(
        "Step up the user for a challenged payment",
        {"assessment_id": "0031fca7ef0d3dafae9f8978370ab5fc"},
    ),
    ("post", "/v1/auth/challenges/{challenge_id}/verify"): _one(
        "A TOTP code for the payment shown to the user",
        {
            "factors": [_TOTP_FACTOR],
            "amount": {"value": "125.50", "currency": "SGD"},
            "payee": "payee-3391",
            **_USER,
        },
    ),
    ("post", "/v1/devices/{device_id}/reports"): _one(
        "An unsigned posture report from an Android app",
        {
            "nonce": _NONCE,
            "reported_at": "2026-03-02T09:29:00Z",
            "account_id": "acct-88412",
            "fingerprint": "fp-3f9c2e",
            "posture": {
                "platform": "android",
                "os_version": "14",
                "security_patch": "2026-02-01",
                "rooted": False,
                "emulator": False,
                "screen_lock": True,
                "app_package": "com.example.wallet",
                "app_signing_digest": _DIGEST,
                "app_version": "5.2.1",
            },
        },
    ),
    ("put", "/v1/devices/apps"): _one(
        "Your wallet app and its signing certificate's SHA-256",
        {"apps": [{"package": "com.example.wallet", "signing_digests": [_DIGEST]}]},
    ),
    ("post", "/v1/devices/community"): _one(
        "Share a device seen in confirmed fraud",
        {
            "entries": [
                {
                    "kind": "device_fingerprint",
                    "identifier": "fp-3f9c2e",
                    "confidence": 90,
                    "expires_at": "2026-09-01T00:00:00Z",
                    "note": "account takeover, case 2291",
                }
            ]
        },
    ),
    ("post", "/v1/devices/community/remove"): _one(
        "Withdraw a shared entry", {"kind": "device_fingerprint", "hashed": [_DIGEST]}
    ),
    ("post", "/v1/devices/community/lookup"): _one(
        "Is this device on the network's list?",
        {"kind": "device_fingerprint", "identifiers": ["fp-3f9c2e"]},
    ),
    ("post", "/v1/tokens"): {
        "card": {
            "summary": "A card number, format-preserving (the last four kept)",
            "value": {"kind": "pan", "value": "4111 1111 1111 1111"},
        },
        "batch": {
            "summary": "Two emails of one customer, bound to a merchant for a day",
            "value": {
                "kind": "email",
                "values": ["ann@example.com", "ann.tan@example.org"],
                "scope": "merchant:m-2231",
                "ttl_seconds": 86400,
                "subject": "cust-88412",
            },
        },
    },
    ("post", "/v1/tokens/detokenize"): _one(
        "The card behind a token, for a dispute",
        {"tokens": ["tok_email_7q3m2k5x9d4h6j8n2b4c6v8z1a"], "purpose": "dispute"},
    ),
    ("post", "/v1/tokens/shred"): _one(
        "Erase a customer's tokenized values (right to erasure)", {"subject": "cust-88412"}
    ),
    ("put", "/v1/vault/policy"): _one(
        "Random email tokens; analysts may detokenize for disputes too",
        {
            "styles": {
                "email": {"default": "vault_random", "allowed": ["vault_random"]},
                "pan": {
                    "default": "fpe_deterministic",
                    "allowed": ["fpe_deterministic", "vault_deterministic"],
                },
            },
            "detokenize": {
                "admin": ["dispute", "fraud_investigation", "customer_support"],
                "analyst": ["dispute", "fraud_investigation"],
            },
            "detokenize_rate_per_minute": 2000,
        },
    ),
    ("post", "/v1/sharing/recipients"): _one(
        "An insurer that must only see groups of at least 5 alike on age band and postcode",
        {
            "id": "insurer-ax",
            "name": "AX Insurance claims desk",
            "min_k": 5,
            "quasi_identifiers": ["birth_date", "postcode"],
        },
    ),
    ("post", "/v1/sharing/requests"): _one(
        "Claims review: the email tokenized, birth date to the year, postcode shortened",
        {
            "id": "claims-review",
            "recipient": "insurer-ax",
            "purpose": "claims_review",
            "fields": {
                "email": "tokenize",
                "birth_date": "generalize",
                "postcode": "generalize",
                "claim_total": "raw",
            },
            "retention_days": 90,
            "legal_basis": "consent",
        },
    ),
    ("post", "/v1/sharing/consents"): _one(
        "A customer agreed in the app, for a year",
        {
            "subject_id": "cust-88412",
            "request_id": "claims-review",
            "expires_at": "2027-03-02T00:00:00Z",
        },
    ),
    ("post", "/v1/sharing/exports"): _one(
        "Records for the claims review (only subjects with a live consent leave)",
        {
            "request_id": "claims-review",
            "records": [
                {
                    "subject_id": "cust-88413",
                    "email": "lee@example.com",
                    "birth_date": "1984-07-19",
                    "postcode": "018956",
                    "claim_total": 1250,
                    "phone": "+6591234567",
                },
                {
                    "subject_id": "cust-88414",
                    "email": "mei@example.org",
                    "birth_date": "1990-02-03",
                    "postcode": "018957",
                    "claim_total": 310,
                },
            ],
        },
    ),
    ("post", "/v1/privacy/scan"): {
        "text": {
            "summary": "Find personal data in a support ticket",
            "value": {
                "text": "Customer Jane Tan (jane.tan@example.com, +65 9123 4567) says card "
                "4111 1111 1111 1111 was charged twice.",
            },
        },
        "document": {
            "summary": "Only cards and phones in a JSON record, phones surer than 0.8",
            "value": {
                "document": {"customer": {"phone": "13800138000"}, "note": "paid by card"},
                "entities": ["card", "phone"],
                "thresholds": {"phone": 0.8},
            },
        },
    },
    ("put", "/v1/privacy/recognizers"): _one(
        "Member numbers (MBR- and 8 digits), surer near the word member",
        {
            "yaml": "recognizers:\n"
            "  - name: member_id\n"
            "    entity: custom\n"
            "    patterns:\n"
            '      - regex: "MBR-[0-9]{8}"\n'
            "        score: 0.6\n"
            "    context:\n"
            "      words: [member, membership]\n"
        },
    ),
    ("post", "/v1/privacy/redact"): {
        "text": {
            "summary": "Redact a ticket with the default policy",
            "value": {
                "text": "Card 4111 1111 1111 1111, email jane.tan@example.com, born 1987-03-04",
            },
        },
        "document": {
            "summary": "Hash emails and generalise birth dates in a JSON record",
            "value": {
                "document": {"email": "jane.tan@example.com", "dob": "born 1987-03-04"},
                "policy": {"entities": {"email": "hash", "date_of_birth": "generalize"}},
            },
        },
    },
}

#: Path and query parameter examples, by parameter name.
PARAMETERS: dict[str, Any] = {
    "assessment_id": "0031fca7ef0d3dafae9f8978370ab5fc",
    "user_id": "user-1001",
    "credential_id": "8c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f",
    "session_id": "5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b",
    "challenge_id": "2f1c7a9e5b3d4c8f9a0b1c2d3e4f5a6b",
    "device_id": "dev-7f3a9c",
    "token": "tok_email_7q3m2k5x9d4h6j8n2b4c6v8z1a",
    "name": "blocked_payees",
    "request_id": "claims-review",
    "subject_id": "cust-88412",
    "version": 1,
    "limit": 100,
    "days": 7,
    "action": "rules:update",
    # the search of decisions (GET /v1/assessments)
    "from": "2026-03-01T00:00:00Z",
    "to": "2026-03-02T23:59:59Z",
    "decision": ["challenge", "block"],
    "account_id": "acct-88412",
    "payee": "payee-3391",
    "reason": "DEVICE_REPORTED",
    "score_min": 300,
    "score_max": 1000,
}


def add_examples(document: dict[str, Any]) -> None:
    """Put the examples into an OpenAPI document (in place)."""
    for path, operations in document.get("paths", {}).items():
        for method, operation in operations.items():
            if not isinstance(operation, dict):
                continue
            for parameter in operation.get("parameters", ()):
                if parameter.get("name") in PARAMETERS and "example" not in parameter:
                    parameter["example"] = PARAMETERS[parameter["name"]]
            examples = BODIES.get((method, path))
            media = operation.get("requestBody", {}).get("content", {}).get("application/json")
            if examples is not None and media is not None:
                media["examples"] = examples
