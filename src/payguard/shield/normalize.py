"""Text as the recognizers read it: full-width and other look-alike characters folded to
ASCII, one character for one character, so every offset found in the folded text is an
offset into the text as given.

What is folded (everything else is left as it is):

- the full-width forms U+FF01-U+FF5E (full-width digits, letters, `@`, `.`, `-`, `:`,
  `;`, `,`, brackets) to their ASCII counterparts U+0021-U+007E;
- every Unicode decimal digit (category Nd: Arabic-Indic, Devanagari, full-width,
  mathematical digits, ...) to the ASCII digit of the same value. A digit is a digit in
  any script, and a card or phone number typed in one must be found; the vault, which
  *stores* values, refuses them instead (`vault/kinds.py`);
- spaces: the ideographic space U+3000, no-break spaces and the typographic spaces
  U+2000-U+200A, U+202F, U+205F to an ASCII space;
- dashes and minus signs (U+2010-U+2015, U+2212, U+FE58, U+FE63) to `-`.

NFKC is deliberately not used: it changes lengths (`ﬁ` → `fi`, `㍱` → `hPa`, a combining
sequence may compose to one character), which would move every offset after it. Offsets are
in code points (Python `str` indices), as everywhere in the shield.
"""

from __future__ import annotations

import sys
import unicodedata
from functools import cache

__all__ = ["fold_table", "normalize"]

_SPACES = [0x00A0, 0x3000, 0x202F, 0x205F, *range(0x2000, 0x200B)]
_DASHES = [*range(0x2010, 0x2016), 0x2212, 0xFE58, 0xFE63]


@cache
def fold_table() -> dict[int, int]:
    """The translation table `normalize` applies (code point → code point, never longer)."""
    table: dict[int, int] = {}
    for code in range(0xFF01, 0xFF5F):
        table[code] = code - 0xFF01 + 0x21
    for code in _SPACES:
        table[code] = 0x20
    for code in _DASHES:
        table[code] = ord("-")
    for code in range(0x80, sys.maxunicode + 1):
        char = chr(code)
        if char.isdecimal():
            table[code] = ord("0") + unicodedata.decimal(char)
    return table


def normalize(text: str) -> str:
    """`text` folded for matching (see the module docstring); same length, same offsets."""
    if text.isascii():
        return text
    return text.translate(fold_table())
