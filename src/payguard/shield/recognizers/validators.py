"""Validators: checks that drop candidates which match a pattern but cannot be the entity.
Each takes the matched text as written (separators and all) and says whether it passes.
YAML recognizers choose one by name from `VALIDATORS`; no other code can be named."""

from __future__ import annotations

import re
import string
from collections.abc import Callable, Mapping
from datetime import date
from functools import cache
from typing import Any

import phonenumbers
from stdnum import numdb
from stdnum.cn import ric as _ric
from stdnum.util import get_cc_module

from payguard.core.pan import luhn_valid
from payguard.shield.recognizers.base import digest_cached

__all__ = ["VALIDATORS", "cn_ric_valid", "e164_valid", "iban_valid", "luhn", "mod97_valid"]

_SEPARATORS = str.maketrans("", "", " -./_")
_ALNUM = frozenset(string.ascii_uppercase + string.digits)
#: First two digits of a resident id: the province-level divisions (and 71 Taiwan, 81 Hong
#: Kong, 82 Macau, 83 the residence permits of Taiwan residents).
_PROVINCE_TABLE = "11-15 21-23 31-37 41-46 50-54 61-65 71 81-83"
_PROVINCES = frozenset(
    str(code)
    for span in _PROVINCE_TABLE.split()
    for code in range(int(span[:2]), int(span[-2:]) + 1)
)
_BIRTH_YEARS = range(1900, 2100)
#: python-stdnum's IBAN registry: each country's IBAN length and BBAN layout.
_IBAN_REGISTRY = numdb.get("iban")


def _compact(text: str) -> str:
    return text.translate(_SEPARATORS).upper()


def luhn(text: str) -> bool:
    """13-19 digits (separators allowed) passing the Luhn check."""
    digits = _compact(text)
    return 13 <= len(digits) <= 19 and digits.isascii() and digits.isdigit() and luhn_valid(digits)


def iban_valid(text: str) -> bool:
    """An IBAN: the mod-97 check digits, the country's length and layout (python-stdnum's
    IBAN registry, read once per country) and the country's national check where stdnum
    has one (Belgium's, Spain's, ...)."""
    number = _compact(text)
    if not 15 <= len(number) <= 34 or not mod97_valid(number):
        return False
    layout = _bban_layout(number[:2])
    if layout is None or layout.fullmatch(number[4:]) is None:
        return False
    national = _national_iban(number[:2])
    return national is None or bool(national.is_valid(number))


_LAYOUT_PART = re.compile(r"([1-9][0-9]*)!([nac])")
_LAYOUT_CLASS = {"n": "[0-9]", "a": "[A-Z]", "c": "[A-Za-z0-9]"}


@cache
def _bban_layout(country: str) -> re.Pattern[str] | None:
    """The BBAN layout of a country's IBANs (`4!a6!n8!n`: 4 letters, 6 digits, 8 digits) as
    a regular expression, or None for a country without IBANs."""
    if not (country.isascii() and country.isalpha()):
        return None
    properties = _IBAN_REGISTRY.info(country)[0][1]
    if not properties or "bban" not in properties:
        return None
    parts = _LAYOUT_PART.findall(properties["bban"])
    return re.compile("".join(f"{_LAYOUT_CLASS[kind]}{{{count}}}" for count, kind in parts))


@cache
def _national_iban(country: str) -> Any:
    """stdnum's national IBAN module for a country (`stdnum.be.iban`), or None."""
    return get_cc_module(country.lower(), "iban")


def mod97_valid(text: str) -> bool:
    """ISO 7064 MOD 97-10 over letters and digits (letters as 10-35), check digits in
    positions 3-4 as in an IBAN: any national scheme that borrows the IBAN check."""
    compact = _compact(text)
    if not 5 <= len(compact) <= 64 or not set(compact) <= _ALNUM:
        return False
    rotated = compact[4:] + compact[:4]
    return int("".join(str(int(char, 36)) for char in rotated)) % 97 == 1


def cn_ric_valid(text: str) -> bool:
    """A Chinese resident id: 17 digits and the ISO 7064 MOD 11-2 check character, a
    province-level code, and a real birth date from 1900 on. The county-code table is not
    consulted (stdnum's `validate` refuses real ids whose county code was not in its table
    in the birth year)."""
    number = _compact(text)
    if len(number) != 18 or not number[:17].isdigit() or not number.isascii():
        return False
    if number[:2] not in _PROVINCES or _ric.calc_check_digit(number) != number[17]:
        return False
    try:
        born = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        return False
    return born.year in _BIRTH_YEARS


@digest_cached(4096)
def e164_valid(text: str) -> bool:
    """A phone number written with its `+` (or `00`) and country code that phonenumbers
    holds valid (an allocated range of its country)."""
    compact = "".join(char for char in text if char.isdigit() or char == "+")
    if compact.startswith("00"):
        compact = "+" + compact[2:]
    if not compact.startswith("+") or not 8 <= len(compact) <= 16:
        return False
    try:
        number = phonenumbers.parse(compact, None)
    except phonenumbers.NumberParseException:
        return False
    return bool(phonenumbers.is_valid_number(number))


def _none(_: str) -> bool:
    return True


#: The validators a YAML recognizer may name.
VALIDATORS: Mapping[str, Callable[[str], bool]] = {
    "luhn": luhn,
    "iban": iban_valid,
    "mod97": mod97_valid,
    "cn_ric_checksum": cn_ric_valid,
    "e164": e164_valid,
    "none": _none,
}
