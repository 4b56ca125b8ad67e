"""What a partner's app does to answer a step-up, for the demo, the tests and anyone writing
a client: the payment digest computed from what the app shows the user, a bound device's
signed answer over it, and the answer's body naming the payment shown. The server never
trusts these; it recomputes both."""

from __future__ import annotations

import base64
import secrets
from collections.abc import Callable, Mapping, Sequence
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


def shown_payment(challenge: Mapping[str, Any]) -> dict[str, Any]:
    """The `amount` and `payee` an answer to a payment's step-up must carry: what the app
    showed the user. Taken here from the challenge's `binding`; a real app sends what is on
    its screen, so a payment changed behind the user's back is refused. Empty for a step-up
    bound to no payment."""
    binding = challenge["binding"]
    shown: dict[str, Any] = {}
    if binding.get("amount") is not None:
        shown["amount"] = {"value": binding["amount"], "currency": binding["currency"]}
    if binding.get("payee") is not None:
        shown["payee"] = binding["payee"]
    return shown


def step_up_answer(
    challenge: Mapping[str, Any], factors: Sequence[Mapping[str, Any]]
) -> dict[str, Any]:
    """The body of `POST /v1/auth/challenges/{id}/verify`: the factors, and the payment shown
    (dynamic linking is not optional: a payment's step-up without it is a 422)."""
    return {"factors": [dict(factor) for factor in factors], **shown_payment(challenge)}


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
