"""The kinds of value the vault tokenizes, each with its validation and canonical form.

`canonical(kind, value)` returns the one spelling a value is tokenized under (so `4111 1111
1111 1111` and `4111111111111111` get the same deterministic token) or raises
`ValidationFailed` on the field `value`, saying in words what is wrong. Every kind takes ASCII
only for its digits: a Unicode digit (Arabic-Indic, full-width) is refused, never read as a
digit.

- `pan`: a payment card number, 13-19 digits passing the Luhn check; spaces and hyphens
  between digits are dropped.
- `account`: an IBAN when the value starts with two letters (checked by `stdnum.iban`: the
  country's length and layout and the mod-97 check digits; canonical upper case without
  spaces), otherwise a domestic account number of 6-34 digits (spaces and hyphens dropped).
  Splitting on the first two characters keeps the two unambiguous: a mistyped IBAN is
  refused as an IBAN rather than accepted as some other account number.
- `phone`: an E.164 number, written with its `+` and country code, read by `phonenumbers`;
  canonical `+<country code><national number>`. The number must be *possible* for its
  country (its length), not *valid* (in an allocated range): the range metadata lags new
  allocations, and refusing a real subscriber's number is worse than accepting an
  unallocated one.
- `id_number`: the Chinese resident identity number (18 characters: 17 digits and the ISO
  7064 MOD 11-2 check character, `X` for 10), checked with `stdnum.cn.ric`'s check digit and
  birth date. The county-code table is deliberately not consulted: stdnum's `validate` also
  rejects real ids whose county code did not exist (in its table) in the birth year, and
  that table lags reality. Other national ids are tokenized as `generic` for now.
- `email`: `local@domain`, at most 254 characters, a local part of at most 64 characters
  of letters, digits and ``!#$%&'*+/=?^_`{|}~.-`` (no leading, trailing or doubled dot), a
  domain of dot-separated labels (letters, digits, inner hyphens, 63 characters each, at
  least two labels); the domain is lower-cased, the local part kept as written (RFC 5321
  makes it case-sensitive).
- `generic`: any text of 1-256 characters without control characters or lone surrogates,
  kept as written.
"""

from __future__ import annotations

import string
import unicodedata
from enum import StrEnum

import phonenumbers
from stdnum import iban as _iban
from stdnum.cn import ric as _ric
from stdnum.exceptions import InvalidComponent, InvalidFormat, ValidationError

from payguard.core.errors import ValidationFailed
from payguard.core.pan import luhn_valid

__all__ = ["GENERIC_MAX", "Kind", "canonical", "is_iban"]

GENERIC_MAX = 256
_EMAIL_MAX = 254
_LOCAL_MAX = 64
_LABEL_MAX = 63
_ACCOUNT_MIN, _ACCOUNT_MAX = 6, 34
_PAN_MIN, _PAN_MAX = 13, 19
_RIC_LENGTH = 18
_LOCAL_CHARS = frozenset(string.ascii_letters + string.digits + "!#$%&'*+/=?^_`{|}~.-")
_LABEL_CHARS = frozenset(string.ascii_lowercase + string.digits + "-")
_SEPARATORS = str.maketrans("", "", " -")


class Kind(StrEnum):
    """What a tokenized value is."""

    PAN = "pan"
    ACCOUNT = "account"
    PHONE = "phone"
    ID_NUMBER = "id_number"
    EMAIL = "email"
    GENERIC = "generic"


def _fail(message: str, field: str) -> ValidationFailed:
    return ValidationFailed(message, field=field)


def _ascii_digits(text: str) -> bool:
    return text.isascii() and text.isdigit()


def is_iban(account: str) -> bool:
    """Whether a canonical `account` value is an IBAN (it starts with a letter)."""
    return account[:1].isalpha()


def canonical(kind: Kind | str, value: str, *, field: str = "value") -> str:
    """`value` in its kind's canonical form; ValidationFailed on `field` if it is not one."""
    try:
        kind = Kind(kind)
    except ValueError:
        raise _fail(
            f"unknown kind {str(kind)[:32]!r}: one of {', '.join(k.value for k in Kind)}",
            "kind",
        ) from None
    if not isinstance(value, str) or not value:
        raise _fail(f"a {kind.value} value is a non-empty string", field)
    return _CANONICAL[kind](value, field)


def _pan(value: str, field: str) -> str:
    digits = value.strip().translate(_SEPARATORS)
    if not _ascii_digits(digits):
        raise _fail("a card number is ASCII digits (spaces and hyphens allowed)", field)
    if not _PAN_MIN <= len(digits) <= _PAN_MAX:
        raise _fail(f"a card number has 13 to 19 digits, not {len(digits)}", field)
    if not luhn_valid(digits):
        raise _fail("the card number fails the Luhn check: a digit is wrong", field)
    return digits


def _account(value: str, field: str) -> str:
    compact = value.strip().translate(_SEPARATORS)
    if not compact.isascii():
        raise _fail("an account number is ASCII letters and digits", field)
    if compact[:2].isalpha():
        return _iban_canonical(compact.upper(), field)
    if not compact.isdigit():
        raise _fail(
            "an account number is an IBAN (starting with its two-letter country code) "
            "or 6 to 34 digits",
            field,
        )
    if not _ACCOUNT_MIN <= len(compact) <= _ACCOUNT_MAX:
        raise _fail(f"a domestic account number has 6 to 34 digits, not {len(compact)}", field)
    return compact


def _iban_canonical(compact: str, field: str) -> str:
    if not compact.isalnum() or len(compact) < 5:
        raise _fail("an IBAN is its country code, two check digits and the account", field)
    # The layout is checked first with the right check digits put in, so a short or
    # misshapen IBAN is told so rather than blamed on its check digits.
    expected = _iban.calc_check_digits(compact)
    try:
        _iban.validate(compact[:2] + expected + compact[4:])
    except InvalidComponent:
        raise _fail(f"unknown IBAN country {compact[:2]}", field) from None
    except InvalidFormat:
        raise _fail(
            f"the IBAN has the wrong length or layout for country {compact[:2]}", field
        ) from None
    except ValidationError:
        raise _fail(f"the account inside the IBAN fails {compact[:2]}'s own check", field) from None
    if compact[2:4] != expected:
        raise _fail("the IBAN's check digits do not match: a character is wrong", field)
    return compact


def _phone(value: str, field: str) -> str:
    text = value.strip()
    if not text.isascii():
        raise _fail("a phone number is ASCII digits after its '+'", field)
    if not text.startswith("+"):
        raise _fail("a phone number is in E.164 form: '+', country code, number", field)
    try:
        number = phonenumbers.parse(text, None)
    except phonenumbers.NumberParseException as error:
        raise _fail(_PHONE_PARSE_ERRORS.get(error.error_type, _NOT_E164), field) from None
    if phonenumbers.region_code_for_country_code(number.country_code or 0) == "ZZ":
        raise _fail(f"unknown country calling code +{number.country_code}", field)
    if not phonenumbers.is_possible_number(number):
        raise _fail(
            f"the number has the wrong length for country code +{number.country_code}", field
        )
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


_NOT_E164 = "not a phone number in E.164 form: '+', country code, number"
_PHONE_PARSE_ERRORS = {
    phonenumbers.NumberParseException.INVALID_COUNTRY_CODE: "unknown country calling code",
    phonenumbers.NumberParseException.TOO_SHORT_NSN: "the number is too short for a phone number",
    phonenumbers.NumberParseException.TOO_SHORT_AFTER_IDD: "the number is too short",
    phonenumbers.NumberParseException.TOO_LONG: "the number is too long for a phone number",
}


def _id_number(value: str, field: str) -> str:
    number = value.strip().upper()
    if len(number) != _RIC_LENGTH:
        raise _fail(f"a Chinese resident id has 18 characters, not {len(number)}", field)
    if not _ascii_digits(number[:-1]) or not (_ascii_digits(number[-1]) or number[-1] == "X"):
        raise _fail("a Chinese resident id is 17 ASCII digits and a digit or X", field)
    if _ric.calc_check_digit(number) != number[-1]:
        raise _fail("the resident id's check character does not match: a digit is wrong", field)
    try:
        _ric.get_birth_date(number)
    except ValidationError:
        raise _fail("the resident id's birth date (characters 7-14) is not a date", field) from None
    return number


def _email(value: str, field: str) -> str:
    text = value.strip()
    if len(text) > _EMAIL_MAX:
        raise _fail(f"an email address has at most {_EMAIL_MAX} characters", field)
    local, at, domain = text.rpartition("@")
    if not at or not local or not domain:
        raise _fail("an email address is local-part@domain", field)
    if len(local) > _LOCAL_MAX:
        raise _fail(f"an email local part has at most {_LOCAL_MAX} characters", field)
    if not local.isascii() or any(char not in _LOCAL_CHARS for char in local):
        raise _fail("the email local part has a character email does not allow", field)
    if local.startswith(".") or local.endswith(".") or ".." in local:
        raise _fail("the email local part starts, ends or doubles a dot", field)
    domain = domain.lower()
    labels = domain.split(".")
    if len(labels) < 2 or not domain.isascii():
        raise _fail("the email domain is a host name with a dot, such as example.com", field)
    for label in labels:
        if not label or len(label) > _LABEL_MAX or any(c not in _LABEL_CHARS for c in label):
            raise _fail("each part of the email domain is 1-63 letters, digits or hyphens", field)
        if label.startswith("-") or label.endswith("-"):
            raise _fail("a part of the email domain starts or ends with a hyphen", field)
    return f"{local}@{domain}"


def _generic(value: str, field: str) -> str:
    if len(value) > GENERIC_MAX:
        raise _fail(f"a generic value has at most {GENERIC_MAX} characters", field)
    # Control characters and lone surrogates (which no UTF-8 store can hold) are refused.
    if any(unicodedata.category(char) in ("Cc", "Cs") for char in value):
        raise _fail("a generic value has no control characters", field)
    return value


_CANONICAL = {
    Kind.PAN: _pan,
    Kind.ACCOUNT: _account,
    Kind.PHONE: _phone,
    Kind.ID_NUMBER: _id_number,
    Kind.EMAIL: _email,
    Kind.GENERIC: _generic,
}
