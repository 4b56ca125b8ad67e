"""Token formats: format-preserving tokens per kind on top of FF1, random vault tokens, masks.

Two token styles exist per kind:

- **deterministic** (format-preserving): FF1 (`vault/fpe.py`) under the tenant's FPE key and a
  tweak from `tweak_for(tenant_id, kind, scope)`, so one value gets one token within a tenant,
  kind, scope and key version, and different tokens in every other tenant. Detokenizing needs
  no storage, only the key.
- **random**: a random vault token (`new_vault_token`), unlinkable: tokenizing one value
  twice gives two tokens. FF1 with a random tweak would have to store the tweak to
  detokenize, which makes it a vault token with extra steps, so "random" means a vault token
  whose value the vault keeps sealed. `email` and `generic` have only this style.

The formats, given a canonical value (`vault/kinds.py`):

- **pan** (`PanFormat`): same length; optionally the BIN (first six) and the last four kept.
  A card number's Luhn check digit carries no information (any one digit follows from the
  others), so one *reserved position* R (the last digit not kept: the check digit's own
  place, or the one just before a kept last four) is dropped from the plaintext and reused:
  the other middle digits are enciphered with FF1 radix 10, and the digit at R is chosen so
  that the token **fails Luhn** and carries the **key version**. R's Luhn weight is 1 (it is
  an even distance from the check digit), so exactly one digit d* there would make the token
  pass Luhn; the token holds `(d* + 1 + slot) % 10` with `slot = version % 9`, never d*.
  Detokenizing reads the slot back from R, deciphers the middle, and recomputes the real
  digit at R from Luhn. The enciphered part must hold 10^6 values, so a PAN needs
  7 + (6 if BIN kept) + (4 if last four kept) digits: a 16-digit PAN keeping both BIN and
  last four is refused (its middle hides only 10^5 card numbers, below FF1's minimum: keep
  the last four only). The kept digits and the length are part of the tweak, so one middle
  under two BINs gives unrelated tokens.
- **account** (`AccountFormat`): an IBAN keeps its country code; its BBAN is enciphered with
  FF1 radix 36 (`0-9A-Z`) and its two check digits, which carry no information, are replaced
  by `(c* + 1 + slot) % 97` where c* are the check digits the token would need: the token
  **fails the IBAN check** and carries its key version (slot = version % 9). A domestic
  account number (digits only) is enciphered whole with radix 10; it has no check digit to
  spare, so its key version travels as metadata beside the token.
- **phone** (`PhoneFormat`): keeps `+`, the country code and the length; the national number
  (at least 6 digits) is enciphered with radix 10. The token is shaped like a real number and
  may be someone's: never dial or message one. No digit is spare, so the key version
  travels as metadata.
- **id_number** (`ResidentIdFormat`, Chinese resident id): all 17 leading digits are
  enciphered (the birth date is *not* kept: a token must not leak a date of birth), and the
  check character (0-9 or X) is replaced by the 11-symbol successor `(c* + 1 + slot) % 11`,
  so the token **fails the check** and carries its key version.
- **email**, **generic**: random vault tokens only (`format_for` refuses them). A local part
  can be 1-3 characters (under 10^6 values in any radix) and uses punctuation an enciphered
  local part could misplace; nothing downstream needs an email token to be deliverable.

Key versions in the token: a token identifies `version % VERSION_SLOTS` (9). Data key versions
grow by one per rotation, so any 9 consecutive versions are told apart; `detokenize` takes
the tenant's live versions and refuses (ValidationFailed on `token`) when two of them share
the token's slot, so keep at most 9 FPE key versions live (retire older ones after
re-tokenizing).
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cache
from typing import ClassVar, Protocol

import phonenumbers
from stdnum import iban as _iban
from stdnum.cn import ric as _ric

from payguard.core.errors import ValidationFailed
from payguard.core.pan import luhn_sum
from payguard.vault.fpe import (
    MIN_DOMAIN,
    FastFpeCipher,
    Ff1Cipher,
    FpeDomainError,
    check_domain,
)
from payguard.vault.kinds import Kind, canonical, is_iban

__all__ = [
    "VERSION_SLOTS",
    "AccountFormat",
    "FpeFormat",
    "MaskView",
    "PanFormat",
    "PhoneFormat",
    "ResidentIdFormat",
    "detokenize",
    "format_for",
    "is_vault_token",
    "mask",
    "new_vault_token",
    "tweak_for",
]

#: How many key versions a token can tell apart (`version % VERSION_SLOTS` is in the token).
VERSION_SLOTS = 9
_TWEAK_DOMAIN = b"payguard/vault/fpe/v1"
_RIC_CHECKS = "0123456789X"
_VAULT_PREFIX = "tok_"
_VAULT_BODY = 26  # 16 random bytes in unpadded base32


def tweak_for(tenant_id: str, kind: Kind | str, scope: str = "") -> bytes:
    """The FF1 tweak of a tenant's tokens of `kind` in `scope`: one SHA-256 over the three,
    each length-prefixed so no two triples collide. Public by design (a tweak is not a key);
    it makes the same value tokenize differently in every tenant and scope."""
    digest = hashlib.sha256(_TWEAK_DOMAIN)
    for part in (tenant_id, _kind(kind).value, scope):
        encoded = part.encode("utf-8")
        digest.update(len(encoded).to_bytes(4, "big"))
        digest.update(encoded)
    return digest.digest()


def _kind(kind: Kind | str) -> Kind:
    try:
        return Kind(kind)
    except ValueError:
        raise ValidationFailed(
            f"unknown kind: one of {', '.join(k.value for k in Kind)}", field="kind"
        ) from None


def _slot(version: int) -> int:
    if version < 1:
        raise ValidationFailed("a key version is 1 or more", field="key_version")
    return version % VERSION_SLOTS


def _bad_token(kind: Kind, why: str) -> ValidationFailed:
    return ValidationFailed(f"not a {kind.value} token: {why}", field="token")


class FpeFormat(Protocol):
    """A kind's format-preserving token: tokenize under (key, version, tweak) and back."""

    @property
    def kind(self) -> Kind:
        """The kind of value this format tokenizes."""
        ...

    def tokenize(self, value: str, *, key: bytes, version: int, tweak: bytes) -> str:
        """The token of `value` (validated and made canonical first)."""
        ...

    def version_slot(self, token: str) -> int | None:
        """`version % VERSION_SLOTS` as the token carries it; None when this format keeps the
        version as metadata beside the token. ValidationFailed if `token` is not one."""
        ...

    def detokenize(self, token: str, *, key: bytes, tweak: bytes) -> str:
        """The canonical value behind `token` under `key`."""
        ...


def detokenize(
    fmt: FpeFormat,
    token: str,
    *,
    keys: Mapping[int, bytes],
    tweak: bytes,
    version: int | None = None,
) -> tuple[str, int]:
    """The value behind `token` and its key version, given the tenant's live FPE keys by
    version. `version` is the metadata version where the format keeps it outside the token;
    where the token carries it, a given `version` must agree with it."""
    slot = fmt.version_slot(token)
    if slot is None:
        if version is None:
            raise ValidationFailed(
                f"a {fmt.kind.value} token needs its key_version to detokenize",
                field="key_version",
            )
        candidates = [version] if version in keys else []
    else:
        candidates = [v for v in keys if v % VERSION_SLOTS == slot]
        if version is not None:
            candidates = [v for v in candidates if v == version]
    if not candidates:
        raise ValidationFailed("no live key version matches this token", field="token")
    if len(candidates) > 1:
        raise ValidationFailed(
            f"more than {VERSION_SLOTS} key versions are live: the token's version is ambiguous",
            field="token",
        )
    found = candidates[0]
    return fmt.detokenize(token, key=keys[found], tweak=tweak), found


# -- pan -------------------------------------------------------------------------------------


@cache
def _pan_layout(keep_bin: bool, keep_last4: bool, length: int) -> tuple[int, int, int] | str:
    """(digits kept at the head, reserved position, digits kept at the tail) of a PAN of
    `length` digits, or why that combination is refused."""
    head = 6 if keep_bin else 0
    tail = 4 if keep_last4 else 0
    reserved = length - tail - 1
    free = max(reserved - head, 0)
    if 10**free < MIN_DOMAIN:
        kept = [w for w, on in (("the BIN", keep_bin), ("the last four", keep_last4)) if on]
        return (
            f"a {length}-digit card number keeping {' and '.join(kept) or 'nothing'} leaves "
            f"{free} digits to encipher, {10**free:,} possible values: format-preserving "
            f"tokens need {MIN_DOMAIN:,}; keep fewer digits"
        )
    return head, reserved, tail


@dataclass(frozen=True, slots=True)
class PanFormat:
    """Card-number tokens: same length, BIN and/or last four optionally kept, failing Luhn,
    the key version in the reserved digit (see the module docstring)."""

    keep_bin: bool = False
    keep_last4: bool = True
    cipher: Ff1Cipher = field(default_factory=FastFpeCipher)
    kind: ClassVar[Kind] = Kind.PAN

    def _layout(self, length: int, field: str) -> tuple[int, int, int]:
        layout = _pan_layout(self.keep_bin, self.keep_last4, length)
        if isinstance(layout, str):
            raise FpeDomainError(layout, field=field)
        return layout

    @staticmethod
    def _tweak(tweak: bytes, head: str, tail: str, length: int) -> bytes:
        return b"%s|pan|%d|%s|%s" % (tweak, length, head.encode(), tail.encode())

    def tokenize(self, value: str, *, key: bytes, version: int, tweak: bytes) -> str:
        return self._tokenize([value], key, version, tweak, batch=False)[0]

    def tokenize_batch(
        self, values: Sequence[str], *, key: bytes, version: int, tweak: bytes
    ) -> list[str]:
        """`tokenize` of each value, in order: one cipher call for the batch. The first
        invalid value raises, naming its index (`values[3]`), and nothing is returned."""
        return self._tokenize(values, key, version, tweak, batch=True)

    def _tokenize(
        self, values: Sequence[str], key: bytes, version: int, tweak: bytes, *, batch: bool
    ) -> list[str]:
        slot = _slot(version)
        items: list[tuple[bytes, str]] = []
        parts: list[tuple[str, str]] = []
        for index, value in enumerate(values):
            where = f"values[{index}]" if batch else "value"
            # The usual case, an unbroken ASCII number, is checked here without the general
            # parser; anything else (separators, errors) goes through `canonical`.
            if (
                isinstance(value, str)
                and 13 <= len(value) <= 19
                and value.isascii()
                and value.isdigit()
            ):
                if luhn_sum(value) % 10:
                    canonical(Kind.PAN, value, field=where)  # raises with the words for it
                pan = value
            else:
                pan = canonical(Kind.PAN, value, field=where)
            length = len(pan)
            head_len, reserved, tail_len = self._layout(length, where if batch else "format")
            head, tail = pan[:head_len], pan[length - tail_len :]
            items.append((self._tweak(tweak, head, tail, length), pan[head_len:reserved]))
            parts.append((head, tail))
        middles = self.cipher.encrypt_each(key, 10, items)
        tokens = []
        for (head, tail), middle in zip(parts, middles, strict=True):
            # The reserved digit's Luhn weight is 1: exactly one digit there passes.
            passing = -luhn_sum(head + middle + "0" + tail) % 10
            tokens.append(head + middle + str((passing + 1 + slot) % 10) + tail)
        return tokens

    def _parse(self, token: str) -> tuple[int, int, int, int]:
        """(head, reserved, tail, slot) of a token; ValidationFailed if it is not one."""
        if not (
            isinstance(token, str)
            and 13 <= len(token) <= 19
            and token.isascii()
            and token.isdigit()
        ):
            raise _bad_token(self.kind, "13 to 19 ASCII digits")
        head, reserved, tail = self._layout(len(token), "token")
        passing = -luhn_sum(token[:reserved] + "0" + token[reserved + 1 :]) % 10
        slot = (ord(token[reserved]) - 48 - passing - 1) % 10
        if slot >= VERSION_SLOTS:
            raise _bad_token(self.kind, "it passes the Luhn check, so it is a card number")
        return head, reserved, tail, slot

    def version_slot(self, token: str) -> int:
        return self._parse(token)[3]

    def detokenize(self, token: str, *, key: bytes, tweak: bytes) -> str:
        return self.detokenize_batch([token], key=key, tweak=tweak)[0]

    def detokenize_batch(self, tokens: Sequence[str], *, key: bytes, tweak: bytes) -> list[str]:
        """The card numbers behind tokens made under one key version."""
        items: list[tuple[bytes, str]] = []
        parts: list[tuple[str, str]] = []
        for token in tokens:
            head_len, reserved, tail_len, _ = self._parse(token)
            length = len(token)
            head, tail = token[:head_len], token[length - tail_len :]
            items.append((self._tweak(tweak, head, tail, length), token[head_len:reserved]))
            parts.append((head, tail))
        middles = self.cipher.decrypt_each(key, 10, items)
        values = []
        for (head, tail), middle in zip(parts, middles, strict=True):
            values.append(head + middle + str(-luhn_sum(head + middle + "0" + tail) % 10) + tail)
        return values


# -- account ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AccountFormat:
    """IBAN tokens (country kept, BBAN enciphered radix 36, check digits failing and carrying
    the version) and domestic account tokens (digits enciphered, version as metadata)."""

    cipher: Ff1Cipher = field(default_factory=FastFpeCipher)
    kind: ClassVar[Kind] = Kind.ACCOUNT

    def tokenize(self, value: str, *, key: bytes, version: int, tweak: bytes) -> str:
        account = canonical(Kind.ACCOUNT, value)
        slot = _slot(version)
        if not is_iban(account):
            check_domain(10, len(account))
            return self.cipher.encrypt(key, tweak + b"|account", 10, account)
        country, bban = account[:2], account[4:]
        check_domain(36, len(bban))
        enciphered = self.cipher.encrypt(
            key, self._iban_tweak(tweak, country), 36, bban.lower()
        ).upper()
        passing = int(_iban.calc_check_digits(country + "00" + enciphered))
        return f"{country}{(passing + 1 + slot) % 97:02d}{enciphered}"

    @staticmethod
    def _iban_tweak(tweak: bytes, country: str) -> bytes:
        return tweak + b"|iban|" + country.encode()

    def version_slot(self, token: str) -> int | None:
        if token.isascii() and token.isdigit() and 6 <= len(token) <= 34:
            return None
        if not (
            token.isascii()
            and token.isalnum()
            and token == token.upper()
            and 15 <= len(token) <= 34
            and token[:2].isalpha()
            and token[2:4].isdigit()
        ):
            raise _bad_token(self.kind, "an IBAN token or 6 to 34 ASCII digits")
        passing = int(_iban.calc_check_digits(token[:2] + "00" + token[4:]))
        slot = (int(token[2:4]) - passing - 1) % 97
        if slot >= VERSION_SLOTS:
            raise _bad_token(self.kind, "its check digits are not a token's")
        return slot

    def detokenize(self, token: str, *, key: bytes, tweak: bytes) -> str:
        if self.version_slot(token) is None:
            return self.cipher.decrypt(key, tweak + b"|account", 10, token)
        country = token[:2]
        bban = self.cipher.decrypt(
            key, self._iban_tweak(tweak, country), 36, token[4:].lower()
        ).upper()
        return country + _iban.calc_check_digits(country + "00" + bban) + bban


# -- phone -----------------------------------------------------------------------------------


def _split_country_code(digits: str) -> tuple[str, str]:
    """(country code, national number) of E.164 digits; country codes are prefix-free."""
    for size in (1, 2, 3):
        code = digits[:size]
        if int(code or "0") in phonenumbers.COUNTRY_CODE_TO_REGION_CODE:
            return code, digits[size:]
    raise ValidationFailed("the number has no known country calling code", field="token")


@dataclass(frozen=True, slots=True)
class PhoneFormat:
    """Phone tokens: `+`, country code and length kept, national number enciphered; the key
    version travels as metadata."""

    cipher: Ff1Cipher = field(default_factory=FastFpeCipher)
    kind: ClassVar[Kind] = Kind.PHONE

    def tokenize(self, value: str, *, key: bytes, version: int, tweak: bytes) -> str:
        phone = canonical(Kind.PHONE, value)
        _slot(version)
        code, national = _split_country_code(phone[1:])
        check_domain(10, len(national))
        return "+" + code + self.cipher.encrypt(key, self._tweak(tweak, code), 10, national)

    @staticmethod
    def _tweak(tweak: bytes, code: str) -> bytes:
        return tweak + b"|phone|" + code.encode()

    def version_slot(self, token: str) -> None:
        digits = token[1:]
        if not (token.startswith("+") and digits.isascii() and digits.isdigit()):
            raise _bad_token(self.kind, "'+' and ASCII digits")
        if len(digits) > 17:
            raise _bad_token(self.kind, "too long for E.164")
        return None

    def detokenize(self, token: str, *, key: bytes, tweak: bytes) -> str:
        self.version_slot(token)
        code, national = _split_country_code(token[1:])
        return "+" + code + self.cipher.decrypt(key, self._tweak(tweak, code), 10, national)


# -- id_number -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ResidentIdFormat:
    """Chinese resident id tokens: 17 digits enciphered, the check character failing and
    carrying the key version."""

    cipher: Ff1Cipher = field(default_factory=FastFpeCipher)
    kind: ClassVar[Kind] = Kind.ID_NUMBER

    def tokenize(self, value: str, *, key: bytes, version: int, tweak: bytes) -> str:
        number = canonical(Kind.ID_NUMBER, value)
        slot = _slot(version)
        body = self.cipher.encrypt(key, tweak + b"|ric", 10, number[:17])
        passing = _RIC_CHECKS.index(_ric.calc_check_digit(body + "0"))
        return body + _RIC_CHECKS[(passing + 1 + slot) % 11]

    def version_slot(self, token: str) -> int:
        body, check = token[:-1], token[-1:]
        if not (len(token) == 18 and body.isascii() and body.isdigit() and check in _RIC_CHECKS):
            raise _bad_token(self.kind, "17 ASCII digits and a digit or X")
        passing = _RIC_CHECKS.index(_ric.calc_check_digit(body + "0"))
        slot = (_RIC_CHECKS.index(check) - passing - 1) % 11
        if slot >= VERSION_SLOTS:
            raise _bad_token(self.kind, "its check character is not a token's")
        return slot

    def detokenize(self, token: str, *, key: bytes, tweak: bytes) -> str:
        self.version_slot(token)
        body = self.cipher.decrypt(key, tweak + b"|ric", 10, token[:17])
        return body + _ric.calc_check_digit(body + "0")


def format_for(
    kind: Kind | str,
    *,
    keep_bin: bool = False,
    keep_last4: bool = True,
    cipher: Ff1Cipher | None = None,
) -> FpeFormat:
    """The format-preserving token format of `kind`; ValidationFailed on `style` for the
    kinds that take random vault tokens only (email, generic)."""
    kind = _kind(kind)
    use = cipher if cipher is not None else FastFpeCipher()
    if kind is Kind.PAN:
        return PanFormat(keep_bin=keep_bin, keep_last4=keep_last4, cipher=use)
    if kind is Kind.ACCOUNT:
        return AccountFormat(cipher=use)
    if kind is Kind.PHONE:
        return PhoneFormat(cipher=use)
    if kind is Kind.ID_NUMBER:
        return ResidentIdFormat(cipher=use)
    raise ValidationFailed(
        f"{kind.value} values take random vault tokens only, not format-preserving ones",
        field="style",
    )


# -- random vault tokens ---------------------------------------------------------------------


def new_vault_token(kind: Kind | str) -> str:
    """A random vault token for a value of `kind`: `tok_<kind>_` and 128 random bits in
    lower-case base32 (26 characters). It never looks like a value of any kind: no kind's
    canonical form has an underscore after `tok`, nor is it all digits or E.164."""
    body = base64.b32encode(secrets.token_bytes(16)).decode("ascii").rstrip("=").lower()
    return f"{_VAULT_PREFIX}{_kind(kind).value}_{body}"


def is_vault_token(token: str, kind: Kind | str | None = None) -> bool:
    """Whether `token` has the shape `new_vault_token` gives (of `kind`, if given)."""
    if not token.startswith(_VAULT_PREFIX):
        return False
    named, _, body = token[len(_VAULT_PREFIX) :].rpartition("_")
    if kind is not None and named != _kind(kind).value:
        return False
    return (
        named in Kind.__members__.values()
        and len(body) == _VAULT_BODY
        and body.isascii()
        and all(c in "abcdefghijklmnopqrstuvwxyz234567" for c in body)
    )


# -- masking ---------------------------------------------------------------------------------


class MaskView(StrEnum):
    """The masking views: what of a value may be shown without detokenizing."""

    FIRST6LAST4 = "first6last4"
    LAST4 = "last4"


_MASKABLE = (Kind.PAN, Kind.ACCOUNT, Kind.PHONE, Kind.ID_NUMBER)


def mask(kind: Kind | str, value: str, view: str) -> str:
    """`value` (canonical, or a token of the same shape) with all but the view's characters
    replaced by `*`.

    - `last4`: the last four (a phone number also keeps `+` and its country code); at least
      four characters must stay hidden.
    - `first6last4`: the first six and the last four: the PCI DSS display limit for a card
      number, the region code and last four of a Chinese resident id, the country, check
      digits and bank prefix of an IBAN; not for phones or domestic accounts shorter than 13.
    """
    kind = _kind(kind)
    if kind not in _MASKABLE:
        raise ValidationFailed(f"{kind.value} values have no masking view", field="view")
    if view == MaskView.LAST4:
        head = ""
        rest = value
        if kind is Kind.PHONE:
            digits = value[1:]
            if not (value.startswith("+") and digits.isascii() and digits.isdigit()):
                raise ValidationFailed("a phone number is '+' and ASCII digits", field="value")
            try:
                code, national = _split_country_code(digits)
            except ValidationFailed as error:
                raise ValidationFailed(error.message, field="value") from None
            head, rest = "+" + code, national
        if len(rest) < 8:
            raise ValidationFailed(
                "last4 would show more than half of so short a value", field="view"
            )
        return head + "*" * (len(rest) - 4) + rest[-4:]
    if view == MaskView.FIRST6LAST4:
        if kind is Kind.PHONE or len(value) < 13:
            raise ValidationFailed(
                f"first6last4 needs a card number, id or account of 13 characters or more; "
                f"use last4 for this {kind.value}",
                field="view",
            )
        return value[:6] + "*" * (len(value) - 10) + value[-4:]
    raise ValidationFailed("a masking view is first6last4 or last4", field="view")
