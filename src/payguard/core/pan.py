"""Card numbers (PANs) found in free text, so they are never stored or logged in clear.

Until the vault issue brings tokenization, a PAN that reaches payguard in a free-text field
is masked to its first six and last four digits (the PCI DSS display limit) before anything
stores it.
"""

from __future__ import annotations

import re

#: 13-19 digits, optionally grouped by single spaces or dashes, not inside a longer number.
_CANDIDATE = re.compile(r"(?<![\d])(?:\d[ -]?){12,18}\d(?![\d])")


def luhn_valid(digits: str) -> bool:
    """The Luhn (mod 10) check every payment card number passes."""
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if index % 2:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def _mask(match: re.Match[str]) -> str:
    digits = re.sub(r"\D", "", match.group(0))
    if not luhn_valid(digits):
        return match.group(0)
    return f"{digits[:6]}{'*' * (len(digits) - 10)}{digits[-4:]}"


def mask_pans(text: str) -> str:
    """`text` with every Luhn-valid 13-19 digit number masked to first 6 and last 4."""
    if len(text) < 13:
        return text
    return _CANDIDATE.sub(_mask, text)


def redact_pans(text: str) -> str:
    """`text` with every Luhn-valid card number replaced by `[pan-redacted]` (for logs)."""
    if len(text) < 13:
        return text

    def redact(match: re.Match[str]) -> str:
        digits = re.sub(r"\D", "", match.group(0))
        return "[pan-redacted]" if luhn_valid(digits) else match.group(0)

    return _CANDIDATE.sub(redact, text)
