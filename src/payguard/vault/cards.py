"""Card numbers in assessments: tokenized at the edge, before anything can store or log them.

`CardTokenizer.tokenize(tenant, pan)` gives the card's deterministic format-preserving token
(`formats.PanFormat`, keeping the last four and not the BIN), its masked form (first six and
last four) and its BIN. The parameters are fixed and must stay so: the key is the tenant's
current `fpe:pan` data key, the tweak `tweak_for(tenant, Kind.PAN, "")` (no scope),
`keep_last4=True`, `keep_bin=False`: the vault's token service uses the same defaults, so a
card tokenized here and through `/v1/tokens` gets one token, and the risk engine's `card`
entity (keyed by the token) lines up with tokens partners hold.

A token carries its key version (`formats`): after `payguard keys rotate` of `fpe:pan` the
same card gets a new token, so the card entity's history restarts at a rotation.

Cards recur (card-on-file payments), so each process keeps its recent answers: at most
`RECENT` of them, keyed by an HMAC-SHA-256 of the tenant and the number as sent, under a
random key of the process's own (the cache holds no card number; whoever can read the
process's memory holds the FF1 keys anyway). An answer is used only while its key version is
the one the keyring holds as current (`Keyring.fresh_version`): a rotation, in this process
at once or in another within the keyring's TTL, gives the card its new token.

`CardTokenizer.resolve(tenant, token)` takes a payment token in place of a card number: a
`pan` token of the tenant (`/v1/tokens`), read through its metadata (no clear value), with
its domain (`scope`), expiry and revocation for the edge to judge. An unscoped
`fpe_deterministic` token is the very token `tokenize` gives the card, so both meet in one
card entity.
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Callable
from contextlib import suppress

from payguard.core.errors import NotFound, ValidationFailed
from payguard.vault.formats import MaskView, PanFormat, format_for, mask, tweak_for
from payguard.vault.interfaces import CardToken, TokenRecord, TokenStyle
from payguard.vault.keys import Keyring
from payguard.vault.kinds import Kind, canonical

__all__ = ["PAN_PURPOSE", "RECENT", "CardTokenizer"]

#: The keyring purpose of the card-number FF1 key.
PAN_PURPOSE = "fpe:pan"
#: Recent answers kept per process (oldest out first).
RECENT = 16_384


class CardTokenizer:
    """Card numbers to `CardToken`s under each tenant's `fpe:pan` key (implements
    `vault.interfaces.CardTokenizing`)."""

    def __init__(
        self, keys: Keyring, metadata: Callable[[str, str], TokenRecord] | None = None
    ) -> None:
        """`metadata(tenant, token)`: the stored token (`TokenService.metadata`), for
        `resolve`; without it no payment token resolves."""
        self._keys = keys
        self._metadata = metadata
        fmt = format_for(Kind.PAN, keep_last4=True, keep_bin=False)
        assert isinstance(fmt, PanFormat)
        self._format = fmt
        self._tweaks: dict[str, bytes] = {}
        self._salt = os.urandom(32)
        #: HMAC(tenant, number as sent) -> (key version, answer).
        self._recent: dict[bytes, tuple[int, CardToken]] = {}

    def tokenize(self, tenant_id: str, pan: str, *, field: str = "card.pan") -> CardToken:
        """The card's token, masked form and BIN; ValidationFailed naming `field` when `pan`
        is not a card number (13-19 ASCII digits, spaces and hyphens allowed, passing Luhn).
        The message never repeats the number."""
        seen = hmac.digest(
            self._salt, f"{tenant_id}\x00{pan}".encode("utf-8", "surrogatepass"), "sha256"
        )
        hit = self._recent.get(seen)
        if hit is not None and hit[0] == self._keys.fresh_version(tenant_id, PAN_PURPOSE):
            return hit[1]
        number = canonical(Kind.PAN, pan, field=field)
        version, key = self._keys.data_key(tenant_id, PAN_PURPOSE)
        tweak = self._tweaks.get(tenant_id)
        if tweak is None:
            tweak = tweak_for(tenant_id, Kind.PAN, "")
            if len(self._tweaks) < 4096:  # tweaks are public; the cap only bounds memory
                self._tweaks[tenant_id] = tweak
        try:
            token = self._format.tokenize(number, key=key, version=version, tweak=tweak)
        except ValidationFailed as error:  # pragma: no cover - every valid length fits
            raise ValidationFailed(error.message, field=field) from None
        card = CardToken(
            token=token, masked=mask(Kind.PAN, number, MaskView.FIRST6LAST4), bin=number[:6]
        )
        recent = self._recent
        if len(recent) >= RECENT:
            with suppress(StopIteration, KeyError, RuntimeError):  # another thread's eviction
                del recent[next(iter(recent))]
        recent[seen] = (version, card)
        return card

    def resolve(self, tenant_id: str, token: str, *, field: str = "card.token") -> CardToken:
        """The card of a payment token: the token itself (the card entity's key), its
        masked view (the last four, which a format-preserving card token keeps in clear;
        `****` for a vault-style token) and its domain, expiry and revocation; no BIN (a
        token does not keep it). ValidationFailed naming `field` when the tenant has no such
        token or it is not a card token; the message does not repeat the token."""
        unknown = ValidationFailed("no card token of that value in this tenant", field=field)
        if self._metadata is None:
            raise unknown
        try:
            record = self._metadata(tenant_id, token)
        except (NotFound, ValidationFailed):
            raise unknown from None
        if record.kind != Kind.PAN.value:
            raise unknown
        masked = "****"
        if record.style is TokenStyle.FPE_DETERMINISTIC:
            with suppress(ValidationFailed):  # a card token has 13-19 characters: never
                masked = mask(Kind.PAN, record.token, MaskView.LAST4)
        return CardToken(
            token=record.token,
            masked=masked,
            bin="",
            scope=record.scope,
            expires_at=record.expires_at,
            revoked=record.revoked_at is not None,
        )
