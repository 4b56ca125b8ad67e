"""Passkeys (WebAuthn assertions): over a sign-in ceremony's challenge, or over a payment's
digest when the proof is linked to one."""

from __future__ import annotations

from webauthn.helpers import base64url_to_bytes, bytes_to_base64url

from payguard.audit.interfaces import Actor, AuditAction, AuditWriter
from payguard.auth import passkeys
from payguard.auth.factors import FactorKind, Passed, Proof
from payguard.auth.interfaces import AuthUser, Challenge, Credential, CredentialKind, UserRepository
from payguard.auth.verifiers.verifier import Linking
from payguard.core.bus import AUTH_CLONE_SUSPECTED, EventBus
from payguard.core.clock import Clock
from payguard.core.errors import AuthenticationFailed, FactorRejected, ValidationFailed


class PasskeyVerifier:
    """A sign count that does not move forward is a possible clone: refused, audited and
    published."""

    kind = FactorKind.PASSKEY

    def __init__(
        self,
        users: UserRepository,
        *,
        relying_party: passkeys.RelyingParty,
        audit: AuditWriter,
        bus: EventBus,
        clock: Clock,
    ) -> None:
        self._users = users
        self._relying_party = relying_party
        self._audit = audit
        self._bus = bus
        self._clock = clock

    def check_shape(self, proof: Proof) -> None:
        if proof.credential is None:
            raise ValidationFailed("a passkey factor needs its credential", field="credential")
        passkeys.credential_id_of(proof.credential)

    def verify(
        self,
        user: AuthUser,
        proof: Proof,
        *,
        linking: Linking | None = None,
        login: Challenge | None = None,
    ) -> Passed:
        if proof.credential is None:
            raise ValidationFailed("a passkey factor needs its credential", field="credential")
        if linking is not None:
            expected = linking.webauthn_challenge
        elif login is not None:
            expected = login.nonce
        else:
            raise ValidationFailed(
                "a passkey sign-in needs the challenge_id of its ceremony", field="challenge_id"
            )
        raw_id = passkeys.credential_id_of(proof.credential)
        credential = self._users.find_credential(
            user.tenant_id, CredentialKind.PASSKEY, bytes_to_base64url(raw_id)
        )
        if credential is None or credential.user_id != user.user_id:
            raise FactorRejected("this passkey is not registered for the user")
        try:
            assertion = passkeys.verify_authentication(
                self._relying_party,
                response=proof.credential,
                expected_challenge=expected,
                public_key=base64url_to_bytes(str(credential.data["public_key"])),
                sign_count=credential.counter,
                require_user_verification=False,
            )
        except passkeys.PossibleClone as exc:
            self._clone_suspected(user, credential)
            raise FactorRejected(exc.message) from None
        except FactorRejected:
            raise
        except AuthenticationFailed as exc:  # wrong origin, challenge, RP ID, signature...
            raise FactorRejected(exc.message) from None
        if not self._users.advance_counter(
            user.tenant_id,
            credential.id,
            credential.counter,
            assertion.new_sign_count,
            self._clock.now(),
        ):
            raise FactorRejected("this passkey was used concurrently; try again")
        return Passed(FactorKind.PASSKEY, credential.id, assertion.user_verified)

    def _clone_suspected(self, user: AuthUser, credential: Credential) -> None:
        details = {"user_id": user.user_id, "stored_sign_count": credential.counter}
        target = f"credential:{credential.id}"
        self._audit.denied(
            AuditAction.AUTH_CLONE_SUSPECTED,
            Actor.system(),
            target,
            tenant_id=user.tenant_id,
            details=details,
        )
        self._bus.publish(
            AUTH_CLONE_SUSPECTED,
            {
                "tenant_id": user.tenant_id,
                "user_id": user.user_id,
                "credential_id": credential.id,
            },
        )
