"""What a partner's app does to answer a step-up, for the demo, the tests and anyone writing
a client: the payment digest computed from what the app shows the user, and a bound
device's signed answer over it. The server never trusts these; it recomputes both."""

from __future__ import annotations

import base64
import secrets
from collections.abc import Callable, Mapping
from typing import Any

from webauthn.helpers import base64url_to_bytes

from payguard.auth import devicekeys, passkeys


def step_up_digest(challenge: Mapping[str, Any]) -> bytes:
    """The payment digest of a step-up challenge as `POST /v1/auth/challenges` returns it:
    the WebAuthn challenge a passkey signs, and the body a bound device signs."""
    binding = challenge["binding"]
    return passkeys.transaction_challenge(
        nonce=base64url_to_bytes(str(challenge["nonce"])),
        challenge_id=str(challenge["challenge_id"]),
        amount=binding["amount"],
        currency=binding["currency"],
        payee=binding["payee"],
    )


def device_factor(
    challenge: Mapping[str, Any],
    *,
    device_id: str,
    sign: Callable[[bytes], bytes],
    timestamp: int,
    nonce: str | None = None,
) -> dict[str, Any]:
    """A `device` factor answering `challenge`: `sign` signs with the bound device's private
    key (Ed25519, or P-256 ECDSA-SHA256)."""
    nonce = nonce or secrets.token_urlsafe(16)
    message = devicekeys.signed_message(
        method="POST",
        path=f"/v1/auth/challenges/{challenge['challenge_id']}/verify",
        body=step_up_digest(challenge),
        timestamp=timestamp,
        nonce=nonce,
    )
    return {
        "type": "device",
        "device_id": device_id,
        "signature": base64.b64encode(sign(message)).decode(),
        "timestamp": timestamp,
        "nonce": nonce,
    }
