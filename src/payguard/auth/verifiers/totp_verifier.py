"""TOTP codes (RFC 6238) against the user's confirmed authenticator apps, whose secrets are
sealed at rest; each time step is accepted once per app."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import structlog

from payguard.auth import totp
from payguard.auth.factors import FactorKind, Passed, Proof
from payguard.auth.interfaces import AuthUser, Challenge, Credential, CredentialKind, UserRepository
from payguard.auth.sealing import SecretBox
from payguard.auth.verifiers.verifier import Linking
from payguard.core.clock import Clock
from payguard.core.errors import AuthenticationFailed, BackendUnavailable, FactorRejected

log = structlog.get_logger(__name__)


class TotpSecrets:
    """Seals a TOTP secret for its credential, and matches codes against a sealed one.

    The associated data names the tenant and credential, so a sealed secret copied to
    another row does not open there.
    """

    def __init__(self, box: SecretBox | Callable[[], SecretBox], clock: Clock) -> None:
        # A callable is called on first use: the sealing key is read (or created) only by
        # a deployment that uses TOTP.
        self._source = box
        self._box: SecretBox | None = box if isinstance(box, SecretBox) else None
        self._clock = clock

    def seal(self, tenant_id: str, credential_id: str, secret: str) -> str:
        return self._sealer.seal(secret.encode(), aad=_aad(tenant_id, credential_id))

    def match(self, credential: Credential, code: str) -> int | None:
        """The time step `code` is valid for now, if later than the last accepted one.

        `BackendUnavailable` if the secret does not open: not the user's fault, so it is not
        counted against them.
        """
        try:
            secret = self._sealer.open(
                str(credential.data["secret"]), aad=_aad(credential.tenant_id, credential.id)
            ).decode()
        except AuthenticationFailed:
            # The sealing key changed (PAYGUARD_AUTH_KEY) or the row was altered. Logged
            # without the sealed value.
            log.error("auth.totp_secret_unopenable", credential_id=credential.id)
            raise BackendUnavailable(
                "a TOTP secret cannot be opened with the configured sealing key"
            ) from None
        last = credential.counter if credential.counter >= 0 else None
        return totp.match_step(secret, code, at=self._clock.now(), last_step=last)

    def check_key(self, sealed: Sequence[Credential]) -> None:
        """`check_sealing_key` with this deployment's key (not read when nothing is sealed)."""
        if sealed:
            check_sealing_key(self._sealer, sealed)

    @property
    def _sealer(self) -> SecretBox:
        if self._box is None:
            source = self._source
            assert callable(source)
            self._box = source()
        return self._box


def check_sealing_key(box: SecretBox, sealed: Sequence[Credential]) -> None:
    """Refuse (`BackendUnavailable`) a key that opens none of the `sealed` TOTP credentials
    stored: they were sealed under another key, and going on would fail every TOTP check.
    One altered row does not count while another opens. Nothing secret is logged."""
    if not sealed:
        return
    for credential in sealed:
        try:
            box.open(
                str(credential.data.get("secret")), aad=_aad(credential.tenant_id, credential.id)
            )
        except AuthenticationFailed:
            continue
        return
    log.error("auth.sealing_key_mismatch", checked=len(sealed))
    raise BackendUnavailable(
        "the TOTP sealing key (PAYGUARD_AUTH_KEY or the key file) opens none of the stored "
        "TOTP secrets: they were sealed under another key; restore that key"
    )


def _aad(tenant_id: str, credential_id: str) -> bytes:
    return f"payguard-totp-v1:{tenant_id}:{credential_id}".encode()


class TotpVerifier:
    """A code passes with the first confirmed app it matches, spending that time step."""

    kind = FactorKind.TOTP

    def __init__(self, users: UserRepository, *, secrets: TotpSecrets, clock: Clock) -> None:
        self._users = users
        self._secrets = secrets
        self._clock = clock

    def check_shape(self, proof: Proof) -> None:
        """Any text is matched against the window."""

    def verify(
        self,
        user: AuthUser,
        proof: Proof,
        *,
        linking: Linking | None = None,
        login: Challenge | None = None,
    ) -> Passed:
        code = proof.secret or ""
        unopenable: BackendUnavailable | None = None
        opened = 0
        for credential in self._users.list_credentials(user.tenant_id, user.user_id):
            if credential.kind != CredentialKind.TOTP or not credential.confirmed:
                continue
            try:
                step = self._secrets.match(credential, code)
            except BackendUnavailable as exc:
                unopenable = exc  # logged; the user's other TOTP apps still count
                continue
            opened += 1
            if step is None:
                continue
            if self._users.advance_counter(
                user.tenant_id, credential.id, credential.counter, step, self._clock.now()
            ):
                return Passed(FactorKind.TOTP, credential.id)
            raise FactorRejected("this code was already used")
        if unopenable is not None and not opened:
            # No app could be checked at all: the server's fault, never counted as a failure
            # (a changed sealing key must not lock users out).
            raise unopenable
        raise FactorRejected("the code does not match or was already used")
