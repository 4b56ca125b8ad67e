"""Card numbers, IBANs and domestic bank account numbers."""

from __future__ import annotations

import re
from collections.abc import Iterator

from payguard.core.pan import find_pans
from payguard.shield.interfaces import Entity
from payguard.shield.recognizers.base import ALNUM, BaseRecognizer, Candidate, Context, matches
from payguard.shield.recognizers.validators import iban_valid

__all__ = ["BankAccountRecognizer", "CardRecognizer", "IbanRecognizer", "card_brand_known"]

#: Issuer prefixes (as a numeric range over the first `width` digits) and the lengths each
#: issues: Visa, Mastercard, American Express, Discover, UnionPay, JCB, Diners, Mir, Maestro.
_BRANDS: tuple[tuple[int, int, int, frozenset[int]], ...] = (
    (4, 4, 1, frozenset({13, 16, 19})),
    (51, 55, 2, frozenset({16})),
    (2221, 2720, 4, frozenset({16})),
    (34, 34, 2, frozenset({15})),
    (37, 37, 2, frozenset({15})),
    (6011, 6011, 4, frozenset(range(16, 20))),
    (644, 649, 3, frozenset(range(16, 20))),
    (65, 65, 2, frozenset(range(16, 20))),
    (62, 62, 2, frozenset(range(16, 20))),
    (81, 81, 2, frozenset(range(16, 20))),
    (3528, 3589, 4, frozenset(range(16, 20))),
    (36, 36, 2, frozenset(range(14, 20))),
    (300, 305, 3, frozenset(range(14, 20))),
    (38, 39, 2, frozenset(range(14, 20))),
    (2200, 2204, 4, frozenset(range(16, 20))),
    (50, 50, 2, frozenset(range(12, 20))),
    (56, 58, 2, frozenset(range(12, 20))),
    (63, 63, 2, frozenset(range(12, 20))),
    (67, 67, 2, frozenset(range(12, 20))),
)


def card_brand_known(digits: str) -> bool:
    """Whether a card number's prefix and length are those of a known card scheme."""
    length = len(digits)
    for low, high, width, lengths in _BRANDS:
        if length in lengths and low <= int(digits[:width]) <= high:
            return True
    return False


class CardRecognizer(BaseRecognizer):
    """Payment card numbers: `core.pan.find_pans` (13-19 digits passing Luhn, in groups with
    any one separator; linear time). A known scheme's prefix and length scores 0.9; any
    other Luhn-valid number (one in ten random numbers passes) only 0.35, so an order
    number or timestamp needs card context to be reported."""

    name = "card"
    entity = Entity.CARD
    context = Context(
        (
            "card", "credit card", "debit card", "card number", "card no", "cc", "pan",
            "visa", "mastercard", "amex", "unionpay", "卡号", "银行卡", "信用卡", "借记卡",
            "储蓄卡", "银联",
        ),
        boost=0.35,
    )  # fmt: skip

    def candidates(self, text: str, start: int, end: int) -> Iterator[Candidate]:
        segment = text if start == 0 and end == len(text) else text[start:end]
        for low, high, digits in find_pans(segment):
            # A span of more than 19 digits is overlapping card numbers merged into one
            # (`find_pans` masks on the safe side): judge it by the numbers it starts with.
            known = card_brand_known(digits) or (
                len(digits) > 19 and any(card_brand_known(digits[:n]) for n in range(12, 20))
            )
            yield low + start, high + start, 0.9 if known else 0.35


#: An IBAN's shape: country, check digits, then 11-30 letters or digits, optionally in groups
#: separated by single spaces. Bounded repetition: constant work per start.
_IBAN = re.compile(r"[A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]){11,30}(?![a-z0-9])")
_IBAN_MIN, _IBAN_MAX = 15, 34


class IbanRecognizer(BaseRecognizer):
    """IBANs (upper case, compact or in groups of four): country layout and mod-97 check
    digits (python-stdnum). When the shape runs on into a following upper-case word, the
    longest prefix that is a valid IBAN is the finding."""

    name = "iban"
    entity = Entity.IBAN
    context = Context(("iban", "account", "bank", "账户", "账号"), boost=0.1)

    def candidates(self, text: str, start: int, end: int) -> Iterator[Candidate]:
        for match in matches(_IBAN, text, start, end, ALNUM):
            low, high = match.span()
            # Character offsets of each letter or digit, so a prefix maps back to a span.
            positions = [i for i in range(low, high) if text[i] != " "]
            compact = match.group().replace(" ", "")
            for length in _mod97_lengths(compact):
                stop = positions[length - 1] + 1
                if stop < high and text[stop] != " ":
                    continue  # a prefix ends where a group ends or the match ends
                if iban_valid(text[low:stop]):
                    yield low, stop, 0.95
                    break


def _mod97_lengths(compact: str) -> list[int]:
    """The lengths (15-34, longest first) of the prefixes of `compact` (an IBAN's shape,
    upper case) whose ISO 7064 MOD 97-10 check passes: one pass over the characters, so
    the country layout (stdnum, far slower) is only checked for the one prefix in 97 that
    passes."""
    # The check reads the number rotated (the country and check digits last, each letter as
    # two digits: always six digits): prefix p passes when (p * 10^6 + tail) % 97 == 1.
    tail = int("".join(str(int(char, 36)) for char in compact[:4]))
    remainder = 0
    passing: list[int] = []
    for length, char in enumerate(compact[4:_IBAN_MAX], start=5):
        value = int(char, 36)
        remainder = (remainder * (10 if value < 10 else 100) + value) % 97
        if length >= _IBAN_MIN and (remainder * 1_000_000 + tail) % 97 == 1:
            passing.append(length)
    return passing[::-1]


_ACCOUNT = re.compile(
    r"(?:[0-9]{8,30}|[0-9]{4}(?:[ \-][0-9]{4}){1,6}(?:[ \-][0-9]{1,4})?)"
    r"(?![0-9A-Za-z])"
)


_NOT_BEFORE_ACCOUNT = ALNUM | {"-"}


def _timestamp_like(digits: str) -> bool:
    """YYYYMMDD or YYYYMMDDhhmm(ss): a date or time, not an account."""
    if len(digits) not in (8, 12, 14) or digits[:2] not in ("19", "20"):
        return False
    month, day = int(digits[4:6]), int(digits[6:8])
    return 1 <= month <= 12 and 1 <= day <= 31


class BankAccountRecognizer(BaseRecognizer):
    """Domestic bank account numbers: 8-30 digits (or groups of four) that only context
    words make likely (base 0.15, with context 0.6). Dates and timestamps are skipped."""

    name = "bank_account"
    context_only = True
    entity = Entity.BANK_ACCOUNT
    context = Context(
        (
            "account", "account number", "account no", "acct", "a/c", "bank account",
            "routing", "beneficiary", "账户", "账号", "卡号", "银行账号", "收款账号",
            "开户行", "户号", "银行卡", "kontonummer", "konto", "numéro de compte",
            "compte", "compte bancaire",
        ),
        window=30,
        boost=0.45,
        label=True,
    )  # fmt: skip

    def candidates(self, text: str, start: int, end: int) -> Iterator[Candidate]:
        for match in matches(_ACCOUNT, text, start, end, _NOT_BEFORE_ACCOUNT):
            digits = re.sub(r"[ \-]", "", match.group())
            if 8 <= len(digits) <= 30 and not _timestamp_like(digits):
                yield match.start(), match.end(), 0.15
