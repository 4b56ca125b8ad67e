"""Bound devices: a signature by the device's key over one request (method, path, body hash,
timestamp, nonce), fresh and never seen before.

Without a linked payment the device signs a sign-in: `POST /v1/auth/sessions` over the user
id. Nonces are remembered until no signature carrying them could still be fresh.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from payguard.auth import devicekeys
from payguard.auth.factors import FactorKind, Passed, Proof
from payguard.auth.interfaces import (
    AuthUser,
    Challenge,
    CredentialKind,
    NonceRepository,
    UserRepository,
)
from payguard.auth.verifiers.verifier import Linking
from payguard.core.clock import Clock
from payguard.core.errors import FactorRejected, ValidationFailed
from payguard.core.replay import MAX_SKEW_SECONDS, check_freshness, check_nonce

#: One signed-request check in this many also purges expired nonces (every tenant's).
PURGE_EVERY = 1000


class DeviceVerifier:
    """Refuses a stale timestamp, a wrong signature and a replayed nonce; a rejected
    signature does not use up its nonce."""

    kind = FactorKind.DEVICE

    def __init__(self, users: UserRepository, *, nonces: NonceRepository, clock: Clock) -> None:
        self._users = users
        self._nonces = nonces
        self._clock = clock

    def check_shape(self, proof: Proof) -> None:
        _signed(proof)

    def verify(
        self,
        user: AuthUser,
        proof: Proof,
        *,
        linking: Linking | None = None,
        login: Challenge | None = None,
    ) -> Passed:
        device_id, signature, timestamp, nonce = _signed(proof)
        credential = self._users.find_credential(user.tenant_id, CredentialKind.DEVICE, device_id)
        if credential is None or credential.user_id != user.user_id:
            raise FactorRejected("this device is not bound to the user")
        now = self._clock.now()
        try:
            check_freshness(timestamp, now=now)
        except Exception as exc:
            raise FactorRejected(str(exc)) from None
        if linking is None:
            method, path, body = "POST", "/v1/auth/sessions", user.user_id.encode()
        else:
            method, path, body = linking.device_method, linking.device_path, linking.device_body
        message = devicekeys.signed_message(
            method=method, path=path, body=body, timestamp=timestamp, nonce=nonce
        )
        if not devicekeys.verify_signature(
            str(credential.data["algorithm"]),
            str(credential.data["public_key"]),
            message,
            signature,
        ):
            raise FactorRejected("the device signature does not verify")
        if not self._fresh_nonce(user.tenant_id, device_id, nonce, now):
            raise FactorRejected("this signed request was already used (replayed nonce)")
        self._users.advance_counter(
            user.tenant_id, credential.id, credential.counter, credential.counter + 1, now
        )
        return Passed(FactorKind.DEVICE, credential.id)

    def _fresh_nonce(self, tenant_id: str, device_id: str, nonce: str, now: datetime) -> bool:
        # About one call in PURGE_EVERY also forgets the expired nonces, so the table stays
        # small without a job.
        expires = now + timedelta(seconds=2 * MAX_SKEW_SECONDS)
        if secrets.randbelow(PURGE_EVERY) == 0:
            self._nonces.purge_nonces(now)
        return self._nonces.use_nonce(tenant_id, f"device:{device_id}", nonce, expires)


def _signed(proof: Proof) -> tuple[str, str, int, str]:
    """The device id, signature, timestamp and nonce of a well-formed device proof."""
    if not proof.device_id or proof.signature is None or proof.timestamp is None:
        raise ValidationFailed(
            "a device factor needs device_id, signature, timestamp and nonce",
            field="device_id" if not proof.device_id else "signature",
        )
    nonce = proof.nonce or ""
    check_nonce(nonce)
    return proof.device_id, proof.signature, proof.timestamp, nonce
