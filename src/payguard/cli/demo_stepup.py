"""The demo's users answering step-ups, as a partner's app would.

A legitimate customer challenged for the first time gets an auth user, a passkey (the
software authenticator, genuine WebAuthn) and a bound Ed25519 device key; from then on each
challenge is answered over the HTTP API with a passkey assertion over the payment's digest,
plus the device's signature when AAL3 is asked for. A fraudster holding only the stolen
password cannot: it tries three wrong codes, the challenge fails and the payment is blocked
(and each failure counts against the account in the engine).
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from payguard.auth.client import device_factor, step_up_answer
from payguard.auth.softauthn import SoftAuthenticator

#: The origin of the partner's app the demo's passkeys are made for (a default WebAuthn
#: origin of `Settings`).
APP_ORIGIN = "http://localhost:8000"


@dataclass
class _User:
    authenticator: SoftAuthenticator
    device_id: str
    key: Ed25519PrivateKey


@dataclass
class StepUps:
    """Enrols challenged customers on first use and answers their challenges."""

    client: httpx.Client
    #: The time the app's device signs its factor at (injectable, as the server's clock is).
    now: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    users: dict[str, _User] = field(default_factory=dict)
    passed: int = 0
    failed: int = 0
    errors: int = 0

    def answer(self, body: dict[str, Any], *, account: str, legit: bool) -> str | None:
        """Step up the challenged assessment `body` of `account`; returns its final
        decision (None when it could not be answered, e.g. a locked account)."""
        opened = self.client.post(
            "/v1/auth/challenges", json={"assessment_id": body["assessment_id"]}
        )
        if opened.status_code == 404 and legit:
            self._enrol(account)
            opened = self.client.post(
                "/v1/auth/challenges", json={"assessment_id": body["assessment_id"]}
            )
        if opened.status_code != 201:
            # A fraudster on an account never enrolled cannot step up at all.
            self.failed += int(not legit)
            self.errors += int(legit)
            return None
        challenge = opened.json()
        if legit and account in self.users:
            final = self._prove(challenge, self.users[account])
        else:
            final = self._guess(challenge)
        self.passed += int(final == "allow")
        self.failed += int(final == "block")
        return final

    def _enrol(self, account: str) -> None:
        if account in self.users:
            return
        created = self.client.post("/v1/auth/users", json={"user_id": account})
        if created.status_code not in (201, 409):
            return
        authenticator = SoftAuthenticator(algorithm="es256", user_verified=True)
        options = self.client.post(f"/v1/auth/users/{account}/passkeys/options").json()
        self.client.post(
            f"/v1/auth/users/{account}/passkeys",
            json={
                "challenge_id": options["challenge_id"],
                "credential": authenticator.create(options["options"], APP_ORIGIN),
                "label": "demo phone",
            },
        )
        key = Ed25519PrivateKey.generate()
        device_id = f"demo-key-{secrets.token_hex(6)}"
        self.client.post(
            f"/v1/auth/users/{account}/devices",
            json={
                "device_id": device_id,
                "algorithm": "ed25519",
                "public_key": base64.b64encode(key.public_key().public_bytes_raw()).decode(),
            },
        )
        self.users[account] = _User(authenticator, device_id, key)

    def _prove(self, challenge: dict[str, Any], user: _User) -> str | None:
        factors: list[dict[str, Any]] = [
            {
                "type": "passkey",
                "credential": user.authenticator.get(challenge["options"]["passkey"], APP_ORIGIN),
            }
        ]
        if challenge["level_required"] == "AAL3":
            factors.append(self._signed(challenge, user))
        answered = self.client.post(
            f"/v1/auth/challenges/{challenge['challenge_id']}/verify",
            json=step_up_answer(challenge, factors),
        )
        return answered.json().get("final") if answered.status_code == 200 else None

    def _signed(self, challenge: dict[str, Any], user: _User) -> dict[str, Any]:
        return device_factor(
            challenge,
            device_id=user.device_id,
            sign=user.key.sign,
            timestamp=int(self.now().timestamp()),
        )

    def _guess(self, challenge: dict[str, Any]) -> str | None:
        final = None
        for _ in range(challenge["attempts_left"]):
            code = f"{secrets.randbelow(10**6):06d}"
            answered = self.client.post(
                f"/v1/auth/challenges/{challenge['challenge_id']}/verify",
                json=step_up_answer(challenge, [{"type": "totp", "code": code}]),
            )
            if answered.status_code != 200:
                break
            final = answered.json().get("final")
            if final is not None:
                break
        return final
