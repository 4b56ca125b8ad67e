"""TOTP codes (RFC 6238) against the user's confirmed authenticator apps, whose secrets are
sealed at rest; each time step is accepted once per app.

A secret is sealed by the vault's keyring (`SecretSealer`, purpose `seal:totp`) and stored as
`"kr1." + urlsafe-base64(sealed)`; the keyring's header names the key version, so `payguard
keys rotate` and `rewrap` move it like every other sealed value. Secrets sealed before that,
by a `SecretBox` under PAYGUARD_AUTH_KEY or the auth key file (`"v1."`), still open with that
key until `payguard keys rewrap` re-seals them on the keyring.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence

import structlog

from payguard.auth import totp
from payguard.auth.factors import FactorKind, Passed, Proof
from payguard.auth.interfaces import (
    AuthUser,
    Challenge,
    Credential,
    CredentialKind,
    SecretSealer,
    TotpSecretStore,
    UserRepository,
)
from payguard.auth.sealing import PREFIX as LEGACY_PREFIX
from payguard.auth.sealing import SecretBox
from payguard.auth.verifiers.verifier import Linking
from payguard.core.clock import Clock
from payguard.core.errors import AuthenticationFailed, BackendUnavailable, FactorRejected
from payguard.vault.interfaces import (
    KeySourceUnavailable,
    KeyVersionRetired,
    SealedRecord,
    SealedValueRejected,
)

log = structlog.get_logger(__name__)

#: The keyring purpose TOTP secrets are sealed for.
PURPOSE = "seal:totp"
#: The stored form of a secret sealed by the keyring.
KEYRING_PREFIX = "kr1."
#: How a sealed secret with no key version (the legacy `SecretBox` format) is counted.
LEGACY_VERSION = 0


class TotpSecrets:
    """Seals a TOTP secret for its credential, and matches codes against a sealed one.

    The associated data names the tenant and credential, so a sealed secret copied to
    another row does not open there. `legacy` opens secrets sealed before the keyring
    (None: no legacy key is configured, so they do not open).
    """

    def __init__(
        self,
        sealer: SecretSealer | SecretBox,
        clock: Clock,
        *,
        legacy: SecretBox | None = None,
    ) -> None:
        # A SecretBox alone seals in the legacy format (a deployment without the vault).
        self._legacy: SecretBox | None
        if isinstance(sealer, SecretBox):
            self._sealer: SecretSealer | None = None
            self._legacy = sealer
        else:
            self._sealer = sealer
            self._legacy = legacy
        self._clock = clock

    def seal(self, tenant_id: str, credential_id: str, secret: str) -> str:
        aad = _aad(tenant_id, credential_id)
        if self._sealer is None:
            assert self._legacy is not None
            return self._legacy.seal(secret.encode(), aad=aad)
        sealed = self._sealer.seal(tenant_id, PURPOSE, secret.encode(), aad)
        return KEYRING_PREFIX + base64.urlsafe_b64encode(sealed).decode("ascii")

    def open(self, tenant_id: str, credential_id: str, sealed: str) -> bytes:
        """The secret inside `sealed`, in either format; AuthenticationFailed if it does not
        open (altered, sealed under another key or for another row, a retired key version,
        the key unavailable). Nothing secret is logged."""
        aad = _aad(tenant_id, credential_id)
        if isinstance(sealed, str) and sealed.startswith(LEGACY_PREFIX):
            if self._legacy is None:
                raise AuthenticationFailed("no legacy TOTP sealing key is configured")
            return self._legacy.open(sealed, aad=aad)
        if self._sealer is None:
            raise AuthenticationFailed("sealed secret does not open")
        try:
            return self._sealer.open(tenant_id, PURPOSE, _keyring_bytes(sealed), aad)
        except KeyVersionRetired:
            log.error("auth.totp_secret_key_retired", credential_id=credential_id)
            raise AuthenticationFailed("sealed secret's key version was retired") from None
        except (SealedValueRejected, KeySourceUnavailable):
            raise AuthenticationFailed("sealed secret does not open") from None

    def reseal(self, tenant_id: str, credential_id: str, sealed: str) -> str:
        """`sealed` (either format) opened and sealed afresh under the keyring's current key
        version; SealedValueRejected if it does not open."""
        try:
            secret = self.open(tenant_id, credential_id, sealed)
        except AuthenticationFailed:
            raise SealedValueRejected("a TOTP secret does not open") from None
        return self.seal(tenant_id, credential_id, secret.decode())

    def match(self, credential: Credential, code: str) -> int | None:
        """The time step `code` is valid for now, if later than the last accepted one.

        `BackendUnavailable` if the secret does not open: not the user's fault, so it is not
        counted against them.
        """
        try:
            secret = self.open(
                credential.tenant_id, credential.id, str(credential.data["secret"])
            ).decode()
        except AuthenticationFailed:
            # The sealing key changed (the vault's KEK, PAYGUARD_AUTH_KEY), its version was
            # retired, or the row was altered. Logged without the sealed value.
            log.error("auth.totp_secret_unopenable", credential_id=credential.id)
            raise BackendUnavailable(
                "a TOTP secret cannot be opened with the configured sealing key"
            ) from None
        last = credential.counter if credential.counter >= 0 else None
        return totp.match_step(secret, code, at=self._clock.now(), last_step=last)

    def check_key(self, sealed: Sequence[Credential]) -> None:
        """Refuse (`BackendUnavailable`) keys that open none of the `sealed` TOTP
        credentials, per format: the legacy key against the legacy secrets, the keyring
        against its own. A secret under a retired key version counts as opened (the key is
        the right one; the version is refused by choice). One altered row does not count
        while another opens. Nothing secret is logged."""
        legacy = [c for c in sealed if str(c.data.get("secret")).startswith(LEGACY_PREFIX)]
        keyring = [c for c in sealed if c not in legacy]
        if legacy and not any(self._opens(c) for c in legacy):
            log.error("auth.sealing_key_mismatch", checked=len(legacy), sealed_by="auth key")
            raise BackendUnavailable(
                "the TOTP sealing key (PAYGUARD_AUTH_KEY or the key file) opens none of the "
                "stored TOTP secrets: they were sealed under another key; restore that key"
            )
        if keyring and not any(self._opens(c) for c in keyring):
            log.error("auth.sealing_key_mismatch", checked=len(keyring), sealed_by="keyring")
            raise BackendUnavailable(
                "the vault's keys open none of the stored TOTP secrets: they were sealed "
                "under another key-encryption key; restore that key"
            )

    def _opens(self, credential: Credential) -> bool:
        stored = str(credential.data.get("secret"))
        if not stored.startswith(LEGACY_PREFIX) and self._sealer is not None:
            try:
                self._sealer.open(
                    credential.tenant_id,
                    PURPOSE,
                    _keyring_bytes(stored),
                    _aad(credential.tenant_id, credential.id),
                )
            except KeyVersionRetired:
                return True
            except (SealedValueRejected, KeySourceUnavailable):
                return False
            return True
        try:
            self.open(credential.tenant_id, credential.id, stored)
        except AuthenticationFailed:
            return False
        return True


def sealed_version(sealed: str) -> int:
    """The keyring key version a stored TOTP secret is sealed under; `LEGACY_VERSION` for
    the legacy format and for anything that is not a sealed secret (it does not rewrap)."""
    try:
        raw = _keyring_bytes(sealed)
    except SealedValueRejected:
        return LEGACY_VERSION
    if len(raw) < 5 or raw[0] != 1:
        return LEGACY_VERSION
    return int.from_bytes(raw[1:5], "big")


def _keyring_bytes(sealed: str) -> bytes:
    if not isinstance(sealed, str) or not sealed.startswith(KEYRING_PREFIX):
        raise SealedValueRejected()
    try:
        return base64.b64decode(sealed[len(KEYRING_PREFIX) :], altchars=b"-_", validate=True)
    except (binascii.Error, ValueError):
        raise SealedValueRejected() from None


def _aad(tenant_id: str, credential_id: str) -> bytes:
    return f"payguard-totp-v1:{tenant_id}:{credential_id}".encode()


class TotpSealedValues:
    """Every stored TOTP secret as the vault's `SealedValues`: listed with its key version
    (`LEGACY_VERSION` for the legacy format), re-sealed on the keyring by compare-and-set."""

    name = "totp secrets"

    def __init__(self, store: TotpSecretStore, secrets: TotpSecrets) -> None:
        self._store = store
        self._secrets = secrets

    def covers(self, purpose: str) -> bool:
        return purpose == PURPOSE

    def records(
        self,
        *,
        tenant_id: str | None = None,
        purpose: str | None = None,
        after: tuple[str, str] | None = None,
        limit: int = 500,
    ) -> list[SealedRecord]:
        if purpose is not None and purpose != PURPOSE:
            return []
        found = self._store.sealed_totp_secrets(tenant_id=tenant_id, after=after, limit=limit)
        return [
            SealedRecord(
                row.tenant_id, PURPOSE, row.credential_id, sealed_version(row.sealed), row.sealed
            )
            for row in found
        ]

    def reseal(self, record: SealedRecord) -> bool:
        fresh = self._secrets.reseal(record.tenant_id, record.id, record.stored)
        return self._store.replace_totp_secret(record.tenant_id, record.id, record.stored, fresh)


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
