"""Card numbers (PANs) found in free text, so they are never stored or logged in clear.

A PAN that reaches payguard in a free-text field is rewritten before anything stores it
(`replace_pans`): the API writes the tenant's deterministic card token beside its mask
(`wire.schemas.free_text`), and code with no tenant masks it to its first six and last four
digits, the PCI DSS display limit (`mask_pans`). Log lines replace it outright
(`redact_pans`). All use the one detector here:

- a PAN is 13-19 digits that pass the Luhn check, written either as one unbroken number or
  in groups the way cards print and people type them (4-4-4-4, 4-6-5, 4-4-4-4-3,
  4-4-4-1: every group but the last of 3-6 digits, the last of 1-6);
- the groups are separated by one kind of separator throughout, of any of these kinds,
  single, repeated or combined, up to three characters: whitespace, `.`, `-` (and the
  Unicode dashes), `_`, `/`. So `4111.1111.1111.1111`, `4111_1111_1111_1111`,
  `4111/1111/1111/1111` and `4111 - 1111 - 1111 - 1111` are all found, while dates
  (`2026/12/04 2026/12/05`), phone numbers (`555-0173 555-0199`) and references
  (`20261204-000123`) are not read as card numbers even when their digits pass Luhn;
- a PAN is made of whole groups: it never starts or ends inside a run of adjacent digits,
  so a 20-digit number, or the middle of one, is never a PAN;
- digits inside a valid IBAN (ISO 13616, mod-97 checked) are not a PAN.

Masking errs on the side of masking: within a longer sequence of groups (a phone number
typed before a card number with the same separator), every Luhn-valid window is a card
number, and overlapping ones are masked as one span (its first 6 and last 4 digits shown),
so no way of splitting the sequence leaves a card number in clear.

The scan is linear in the length of the text by construction: one pass of a regex with no
nested ambiguity finds the digit groups, and the Luhn sum of each candidate (at most 7
windows of 13-19 digits start at each group) comes from prefix sums in constant time, so
no input makes it backtrack or go quadratic.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections.abc import Callable
from itertools import accumulate

__all__ = [
    "find_pans",
    "luhn_sum",
    "luhn_valid",
    "mask_pan",
    "mask_pans",
    "redact_pans",
    "replace_pans",
]

MIN_DIGITS = 13
MAX_DIGITS = 19
#: What may stand between two digit groups of one card number.
_SEPARATOR = r"[\s.\-_/\u2010-\u2015\u2212]"
#: Digit groups joined by 1-3 separator characters: digits and separators are disjoint
#: classes, so the match is deterministic (no backtracking beyond the 3 separators).
_RUN = re.compile(rf"\d+(?:{_SEPARATOR}{{1,3}}\d+)*")
_GROUP = re.compile(r"\d+")
#: Digits per group of a grouped card number (4-4-4-4, 4-6-5, 4-4-4-4-3, ...); the last group
#: may be shorter (4-4-4-1).
_GROUP_MIN = 3
_GROUP_MAX = 6
#: An IBAN's shape: country, check digits, then 11-30 letters or digits, optionally in
#: groups of four separated by single spaces. Bounded repetition: constant work per start.
_IBAN = re.compile(r"(?<![A-Za-z0-9])[A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]){11,30}(?![A-Za-z0-9])")
_DOUBLED = (0, 2, 4, 6, 8, 1, 3, 5, 7, 9)
_ASCII_DIGITS = "0123456789"
#: ASCII digits to their values, and to their doubled values with the product's digits summed.
_PLAIN_BYTES = bytes.maketrans(b"0123456789", bytes(range(10)))
_DOUBLED_BYTES = bytes.maketrans(b"0123456789", bytes(_DOUBLED))


def luhn_sum(digits: str) -> int:
    """The Luhn sum of ASCII digits: every second digit from the right doubled, the digits
    of each product summed (`luhn_valid` is `luhn_sum(...) % 10 == 0`). Anything but ASCII
    digits raises ValueError. The sums run in C (bytes.translate and sum)."""
    if not digits.isascii() or not (digits.isdigit() or not digits):
        raise ValueError(f"not an ASCII digit string: {len(digits)} characters")
    raw = digits.encode("ascii")
    return sum(raw[::-2].translate(_PLAIN_BYTES)) + sum(raw[-2::-2].translate(_DOUBLED_BYTES))


def luhn_valid(digits: str) -> bool:
    """The Luhn (mod 10) check every payment card number passes (`digits`: ASCII digits;
    anything else raises ValueError)."""
    return luhn_sum(digits) % 10 == 0


def find_pans(text: str) -> list[tuple[int, int, str]]:
    """Every card number in `text`: (start, end, its digits), in order, not overlapping."""
    found: list[tuple[int, int, str]] = []
    if len(text) < MIN_DIGITS:
        return found
    # Most free text holds fewer than 13 digits: counting them in C skips the scan. Text
    # that is not ASCII may hold other scripts' digits, which the scan reads too.
    if text.isascii() and sum(map(text.count, _ASCII_DIGITS)) < MIN_DIGITS:
        return found
    # The valid IBANs' spans, found only once a run holds a card number: digits inside an
    # IBAN are not a card's, and a run with no card number among all its groups has none
    # among fewer of them either (removing groups only removes windows).
    protected: list[tuple[int, int]] | None = None
    for run in _RUN.finditer(text):
        start, end = run.span()
        if end - start < MIN_DIGITS:
            continue
        chunk = run.group()
        if chunk.isdigit():
            # One unbroken number (most runs): a card number only when all of it is one.
            if end - start > MAX_DIGITS or not _luhn_any(chunk):
                continue
            if protected is None:
                protected = _ibans(text)
            if not _inside(protected, start):
                found.append((start, end, chunk))
            continue
        groups = [
            (group.start(), group.end())
            for group in _GROUP.finditer(text, start, end)
            if group.end() - group.start() <= MAX_DIGITS
        ]
        if not _room_for_a_window([high - low for low, high in groups]):
            continue
        pans = _in_run(text, groups)
        if not pans:
            continue
        if protected is None:
            protected = _ibans(text)
        if protected and any(_inside(protected, low) for low, _ in groups):
            groups = [group for group in groups if not _inside(protected, group[0])]
            pans = _in_run(text, groups) if groups else []
        found.extend(pans)
    return found


def _ascii(digits: str) -> str:
    """Digits of any script (ASCII, full-width, Arabic-Indic, ...) as ASCII digits."""
    return digits if digits.isascii() else "".join(str(int(char)) for char in digits)


def _luhn_any(digits: str) -> bool:
    """The Luhn check of digits of any script."""
    return luhn_sum(_ascii(digits)) % 10 == 0


def mask_pan(digits: str) -> str:
    """A card number's digits masked to its first 6 and last 4 (the middle ones as `*`)."""
    return f"{digits[:6]}{'*' * (len(digits) - 10)}{digits[-4:]}"


def mask_pans(text: str) -> str:
    """`text` with every card number masked to its first 6 and last 4 digits (separators
    dropped, the middle digits as `*`)."""
    return replace_pans(text, mask_pan)


def redact_pans(text: str) -> str:
    """`text` with every card number replaced by `[pan-redacted]` (for logs)."""
    return replace_pans(text, lambda _: "[pan-redacted]")


def replace_pans(text: str, replacement: Callable[[str], str]) -> str:
    """`text` with every card number (with its separators) replaced by
    `replacement(its digits)`."""
    pans = find_pans(text)
    if not pans:
        return text
    parts: list[str] = []
    at = 0
    for start, end, digits in pans:
        parts.append(text[at:start])
        parts.append(replacement(digits))
        at = end
    parts.append(text[at:])
    return "".join(parts)


def _in_run(text: str, groups: list[tuple[int, int]]) -> list[tuple[int, int, str]]:
    """The card numbers among one run's groups: every window of groups (13-19 digits) that
    reads as one card number and passes Luhn, overlapping windows merged."""
    count = len(groups)
    parts: list[str] = []
    offsets: list[int] = []  # group k's first digit is digits[offsets[k]]
    keys: list[str | None] = [None] * count  # keys[k]: the separator after group k
    length = 0
    for index, (start, end) in enumerate(groups):
        offsets.append(length)
        parts.append(text[start:end])
        length += end - start
        if index + 1 < count:
            keys[index] = _separator_key(text, end, groups[index + 1][0])
    offsets.append(length)
    # reach[k]: the last group of the longest grouped card number that can start at k.
    reach = list(range(count))
    for index in range(count - 2, -1, -1):
        key = keys[index]
        if key is None or not _inner(groups[index]):
            continue
        if keys[index + 1] == key and _inner(groups[index + 1]):
            reach[index] = reach[index + 1]
        elif groups[index + 1][1] - groups[index + 1][0] <= _GROUP_MAX:
            reach[index] = index + 1
    # Prefix sums of the digits' plain and doubled values over the even and the odd indexes
    # (built in C: bytes.translate, slicing, accumulate): a window's Luhn sum is then four
    # subtractions. Other scripts' digits are read by their values first.
    raw = _ascii("".join(parts)).encode("ascii")
    plain = raw.translate(_PLAIN_BYTES)
    doubled = raw.translate(_DOUBLED_BYTES)
    plain_even = list(accumulate(plain[0::2], initial=0))
    plain_odd = list(accumulate(plain[1::2], initial=0))
    doubled_even = list(accumulate(doubled[0::2], initial=0))
    doubled_odd = list(accumulate(doubled[1::2], initial=0))

    def luhn(first: int, last: int) -> bool:
        # Digits [first, last): the rightmost is not doubled, nor every second one leftwards.
        # Indexes below n: (n + 1) // 2 are even, n // 2 odd.
        if (last - 1) % 2 == 0:  # the kept (plain) digits are the even-indexed ones
            total = plain_even[(last + 1) // 2] - plain_even[(first + 1) // 2]
            total += doubled_odd[last // 2] - doubled_odd[first // 2]
        else:
            total = plain_odd[last // 2] - plain_odd[first // 2]
            total += doubled_even[(last + 1) // 2] - doubled_even[(first + 1) // 2]
        return total % 10 == 0

    # Every window that reads as a card number is masked: overlapping ones merge into one
    # span, so a wrong guess at where one number ends can never leave another in clear.
    spans: list[list[int]] = []  # [first group, last group]
    for first in range(count):
        base = offsets[first]
        # Windows first..stop-1 of 13-19 digits: offsets[stop] in [base + 13, base + 19];
        # more than one group only within the reach of `first`.
        low = bisect_left(offsets, base + MIN_DIGITS, first + 1)
        high = min(bisect_right(offsets, base + MAX_DIGITS, low) - 1, reach[first] + 1)
        for stop in range(high, low - 1, -1):
            if luhn(base, offsets[stop]):
                if spans and first <= spans[-1][1]:
                    spans[-1][1] = max(spans[-1][1], stop - 1)
                else:
                    spans.append([first, stop - 1])
                break
    found: list[tuple[int, int, str]] = []
    for first, last in spans:
        start, end = groups[first][0], groups[last][1]
        found.append((start, end, "".join(_GROUP.findall(text, start, end))))
    return found


def _room_for_a_window(lengths: list[int]) -> bool:
    """Whether groups of these lengths (digits each) can hold a window of 13-19 digits at
    all: one group of that many, or a chain whose groups but the last have 3-6 digits and
    whose last has at most 6. A quick test on the lengths alone (separators are not read), so
    runs such as `+86 138 0013 8000` or `20261204-000123` skip the windowed search."""
    chain = 0  # digits of the chain of inner groups ending at the previous group
    for length in lengths:
        if MIN_DIGITS <= length <= MAX_DIGITS:
            return True
        if chain and length <= _GROUP_MAX and chain + length >= MIN_DIGITS:
            return True
        chain = chain + length if _GROUP_MIN <= length <= _GROUP_MAX else 0
    return False


def _inner(group: tuple[int, int]) -> bool:
    """Whether a group can stand before another in one grouped card number."""
    return _GROUP_MIN <= group[1] - group[0] <= _GROUP_MAX


def _separator_key(text: str, end: int, start: int) -> str | None:
    """What separates two groups, whitespace runs read as one space (`" - "` and `"-"` are
    the same), or None when they are not joined (a group left out lies between)."""
    if not 1 <= start - end <= 3:
        return None
    gap = text[end:start]
    if _GROUP.search(gap):
        return None
    bare = "".join(gap.split())
    return bare or " "


def _ibans(text: str) -> list[tuple[int, int]]:
    """Spans of the valid IBANs in `text`, in order."""
    spans = []
    for match in _IBAN.finditer(text):
        compact = match.group(0).replace(" ", "")
        if not 15 <= len(compact) <= 34:
            continue
        rotated = compact[4:] + compact[:4]
        number = "".join(str(int(char, 36)) for char in rotated)
        if int(number) % 97 == 1:
            spans.append(match.span())
    return spans


def _inside(spans: list[tuple[int, int]], at: int) -> bool:
    """Whether `at` falls in one of `spans` (sorted, not overlapping)."""
    index = bisect_right(spans, at, key=_start) - 1
    return index >= 0 and spans[index][0] <= at < spans[index][1]


def _start(span: tuple[int, int]) -> int:
    return span[0]
