"""How one field's value is minimised: the vault kind a tokenized field takes, and the
generalisation of a value (a date to its year, a number to a band, a code to its first
characters, any other text suppressed).

Generalisation is by the value's shape, so it needs no schema: an ISO date or date-time
(`1987-06-15`, `1987-06-15T10:00:00Z`) becomes its year (`1987`); a number (or a numeric
string) becomes a band `[low, high)`, of 10 for a field named like an age and of the next
lower power of ten otherwise (`1234.5` → `[1000, 2000)`); a field named like a postcode
keeps its first 3 characters (`SW1A 1AA` → `SW1***`); other text becomes `*`; booleans and
missing values pass unchanged.
"""

from __future__ import annotations

import math
import re
from decimal import ROUND_FLOOR, Decimal, InvalidOperation

__all__ = ["SUPPRESSED", "generalize", "kind_of"]

#: A value generalised away.
SUPPRESSED = "*"

_DATE = re.compile(
    r"(?P<year>\d{4})-(?:0[1-9]|1[0-2])(?:-(?:0[1-9]|[12]\d|3[01])"
    r"(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?)?"
)
_NUMBER = re.compile(r"[+-]?(?:0|[1-9]\d*)(?:\.\d+)?")
_AGE = re.compile(r"(?:^|_)age(?:$|_)")
_POSTCODE = re.compile(r"zip|postcode|postal|post_code")
_CODE_KEPT = 3

#: Field names (or parts of them) that take a vault kind other than `generic`, in order.
_KINDS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"(?:^|_)(?:pan|card|card_number)(?:$|_)"), "pan"),
    (re.compile(r"(?:^|_)(?:iban|account|account_number)(?:$|_)"), "account"),
    (re.compile(r"(?:^|_)(?:phone|mobile|phone_number)(?:$|_)"), "phone"),
    (re.compile(r"(?:^|_)(?:email|e_mail)(?:$|_)"), "email"),
    (re.compile(r"(?:^|_)id_number(?:$|_)"), "id_number"),
)


def kind_of(field: str) -> str:
    """The vault kind a field's values are tokenized as: `pan` for card fields, `account`
    for IBAN and account fields, `phone`, `email`, `id_number`; `generic` otherwise."""
    for pattern, kind in _KINDS:
        if pattern.search(field):
            return kind
    return "generic"


def _band(number: Decimal, field: str) -> str:
    width = Decimal(10) if _AGE.search(field) else Decimal(10) ** max(number.adjusted(), 0)
    low = (number / width).to_integral_value(ROUND_FLOOR) * width
    return f"[{low:f}, {low + width:f})"


def generalize(field: str, value: object) -> object:
    """`value` of `field` made coarser (see the module's docstring)."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        if isinstance(value, float) and not math.isfinite(value):
            return SUPPRESSED
        return _band(Decimal(str(value)), field)
    text = str(value).strip()
    date = _DATE.fullmatch(text)
    if date is not None:
        return date.group("year")
    if _NUMBER.fullmatch(text):
        try:
            return _band(Decimal(text), field)
        except InvalidOperation:  # pragma: no cover - the pattern admits only finite numbers
            return SUPPRESSED
    if _POSTCODE.search(field) and len(text) > _CODE_KEPT:
        return text[:_CODE_KEPT] + SUPPRESSED * (len(text) - _CODE_KEPT)
    return SUPPRESSED
