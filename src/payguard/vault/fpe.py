"""FF1 format-preserving encryption (NIST SP 800-38G), behind a small protocol.

`Ff1Cipher` is what the token formats (`vault/formats.py`) call; `FastFpeCipher` implements it
over `fastfpe` (Rust, the rust-fpe FF1), which passes the nine NIST FF1 samples
(tests/vectors/ff1_nist_samples.json). Another FF1 (libffx, an HSM's) drops in behind the same
protocol.

This module is a pure cipher library, not a backend: it holds no state, does no I/O and talks
to no service, so it lives in the vault capability beside the formats that use it rather than
in `adapters/` (which holds the implementations of the vault's storage and KMS ports).

Numerals are written as characters of `0-9a-z`: radix 10 uses `0123456789`, radix 36 the ten
digits and the 26 lower-case letters, as the NIST samples do; radixes 2-36 are supported.
Every call is checked before it reaches the library, and a refused call raises
`FpeDomainError` (a `ValidationFailed`) saying what is wrong:

- the key is an AES key: 16, 24 or 32 bytes;
- the domain is at least 10^6 values (radix^length >= 1,000,000, SP 800-38G Rev. 1): a
  smaller domain can be enumerated, so 5 decimal digits are refused, 6 accepted;
- at least 2 numerals (FF1's minlen) and at most `MAX_NUMERALS` (payguard's bound, well
  inside FF1's 2^32);
- the tweak is at most `MAX_TWEAK_BYTES` (payguard's bound; FF1 allows up to 2^32);
- every character is a numeral of the radix (ASCII only).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import cache
from typing import Protocol

from fastfpe import ff1 as _ff1

from payguard.core.errors import ValidationFailed

__all__ = [
    "MAX_NUMERALS",
    "MAX_TWEAK_BYTES",
    "MIN_DOMAIN",
    "FastFpeCipher",
    "Ff1Cipher",
    "FpeDomainError",
    "alphabet",
    "check_domain",
]

#: SP 800-38G Rev. 1: radix^minlen >= 1,000,000.
MIN_DOMAIN = 1_000_000
#: payguard's bound on numerals per call (FF1 allows up to 2^32; no token is near this).
MAX_NUMERALS = 256
#: payguard's bound on the tweak (FF1 allows up to 2^32 bytes; ours are 32-byte digests).
MAX_TWEAK_BYTES = 256
_NUMERALS = "0123456789abcdefghijklmnopqrstuvwxyz"
_AES_KEY_BYTES = (16, 24, 32)
# fastfpe ships stubs but no py.typed: its two calls, typed here (hex key, hex tweak,
# alphabet, numerals).
_encrypt: Callable[[str, str, str, str], str] = _ff1.encrypt
_decrypt: Callable[[str, str, str, str], str] = _ff1.decrypt


class FpeDomainError(ValidationFailed):
    """An FF1 call outside what the cipher accepts: domain under 10^6, length, radix, tweak,
    key size, or a character that is not a numeral of the radix."""

    code = "fpe_domain"

    def __init__(self, message: str, *, field: str = "value") -> None:
        super().__init__(message, field=field)


def alphabet(radix: int) -> str:
    """The numerals of `radix` (2-36): the first `radix` characters of `0-9a-z`."""
    if not 2 <= radix <= len(_NUMERALS):
        raise FpeDomainError(f"radix must be 2 to 36, not {radix}", field="radix")
    return _NUMERALS[:radix]


def check_domain(radix: int, length: int, *, field: str = "value") -> None:
    """Refuse a (radix, length) domain FF1 must not be used on: fewer than 10^6 values, fewer
    than 2 or more than `MAX_NUMERALS` numerals."""
    alphabet(radix)
    problem = _domain_problem(radix, length)
    if problem is not None:
        raise FpeDomainError(problem, field=field)


@cache
def _domain_problem(radix: int, length: int) -> str | None:
    if length < 2 or length > MAX_NUMERALS:
        return f"format-preserving encryption takes 2 to {MAX_NUMERALS} characters, not {length}"
    if radix**length < MIN_DOMAIN:
        return (
            f"{length} characters of radix {radix} give only {radix**length:,} possible values; "
            f"format-preserving encryption needs at least {MIN_DOMAIN:,} (NIST SP 800-38G)"
        )
    return None


class Ff1Cipher(Protocol):
    """FF1 over numerals of `radix` written as `0-9a-z` characters; same length out as in."""

    def encrypt(self, key: bytes, tweak: bytes, radix: int, digits: str) -> str: ...

    def decrypt(self, key: bytes, tweak: bytes, radix: int, digits: str) -> str: ...

    def encrypt_batch(
        self, key: bytes, tweak: bytes, radix: int, values: Sequence[str]
    ) -> list[str]:
        """`encrypt` of each value under one key and tweak, checked once per call."""
        ...

    def decrypt_batch(
        self, key: bytes, tweak: bytes, radix: int, values: Sequence[str]
    ) -> list[str]: ...

    def encrypt_each(self, key: bytes, radix: int, items: Sequence[tuple[bytes, str]]) -> list[str]:
        """`encrypt` of each (tweak, numerals) pair under one key: batches whose tweak
        differs per value (the PAN format binds the kept digits into it)."""
        ...

    def decrypt_each(
        self, key: bytes, radix: int, items: Sequence[tuple[bytes, str]]
    ) -> list[str]: ...


def _check_call(key: bytes, tweak: bytes, radix: int) -> str:
    if len(key) not in _AES_KEY_BYTES:
        raise FpeDomainError(f"an FF1 key is 16, 24 or 32 bytes, not {len(key)}", field="key")
    _check_tweak(tweak)
    return alphabet(radix)


def _check_tweak(tweak: bytes) -> None:
    if len(tweak) > MAX_TWEAK_BYTES:
        raise FpeDomainError(
            f"an FF1 tweak is at most {MAX_TWEAK_BYTES} bytes, not {len(tweak)}", field="tweak"
        )


def _check_numerals(numerals: str, radix: int, allowed: str) -> None:
    problem = _domain_problem(radix, len(numerals))
    if problem is not None:
        raise FpeDomainError(problem)
    # ASCII first, so no Unicode digit or letter passes; then stripping every numeral of the
    # radix from both ends leaves nothing only if no other character is anywhere inside.
    if not numerals.isascii() or numerals.strip(allowed):
        raise FpeDomainError(f"only the numerals {allowed!r} of radix {radix} are accepted")


class FastFpeCipher:
    """`Ff1Cipher` over `fastfpe.ff1` (AES-FF1 in Rust). fastfpe has no batch call, so the
    batch variants check and hex-encode the key and tweak once and loop in Python."""

    def encrypt(self, key: bytes, tweak: bytes, radix: int, digits: str) -> str:
        allowed = _check_call(key, tweak, radix)
        _check_numerals(digits, radix, allowed)
        return _encrypt(key.hex(), tweak.hex(), allowed, digits)

    def decrypt(self, key: bytes, tweak: bytes, radix: int, digits: str) -> str:
        allowed = _check_call(key, tweak, radix)
        _check_numerals(digits, radix, allowed)
        return _decrypt(key.hex(), tweak.hex(), allowed, digits)

    def encrypt_batch(
        self, key: bytes, tweak: bytes, radix: int, values: Sequence[str]
    ) -> list[str]:
        allowed = _check_call(key, tweak, radix)
        for value in values:
            _check_numerals(value, radix, allowed)
        key_hex, tweak_hex, encrypt = key.hex(), tweak.hex(), _encrypt
        return [encrypt(key_hex, tweak_hex, allowed, value) for value in values]

    def decrypt_batch(
        self, key: bytes, tweak: bytes, radix: int, values: Sequence[str]
    ) -> list[str]:
        allowed = _check_call(key, tweak, radix)
        for value in values:
            _check_numerals(value, radix, allowed)
        key_hex, tweak_hex, decrypt = key.hex(), tweak.hex(), _decrypt
        return [decrypt(key_hex, tweak_hex, allowed, value) for value in values]

    def encrypt_each(self, key: bytes, radix: int, items: Sequence[tuple[bytes, str]]) -> list[str]:
        allowed = _check_call(key, b"", radix)
        for tweak, value in items:
            _check_tweak(tweak)
            _check_numerals(value, radix, allowed)
        key_hex, encrypt = key.hex(), _encrypt
        return [encrypt(key_hex, tweak.hex(), allowed, value) for tweak, value in items]

    def decrypt_each(self, key: bytes, radix: int, items: Sequence[tuple[bytes, str]]) -> list[str]:
        allowed = _check_call(key, b"", radix)
        for tweak, value in items:
            _check_tweak(tweak)
            _check_numerals(value, radix, allowed)
        key_hex, decrypt = key.hex(), _decrypt
        return [decrypt(key_hex, tweak.hex(), allowed, value) for tweak, value in items]
