"""Amounts as text: ASCII decimals only, read exactly."""

from __future__ import annotations

import unicodedata
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from payguard.core.money import AMOUNT_PATTERN, parse_amount

#: Every character Python's `Decimal` reads as a digit that is not 0-9.
FOREIGN_DIGITS = [
    chr(c)
    for c in range(0x80, 0x110000)
    if unicodedata.category(chr(c)) == "Nd" and chr(c) not in "0123456789"
]

ascii_amounts = st.builds(
    lambda whole, fraction: whole + (f".{fraction}" if fraction else ""),
    st.text("0123456789", min_size=1, max_size=15),
    st.text("0123456789", max_size=4),
)


@given(ascii_amounts)
def test_ascii_decimals_are_read_exactly(text: str) -> None:
    assert parse_amount(text) == Decimal(text)
    assert str(parse_amount(text)) == str(Decimal(text))


@given(ascii_amounts, st.sampled_from(FOREIGN_DIGITS), st.data())
def test_one_foreign_digit_anywhere_is_refused(text: str, digit: str, data: st.DataObject) -> None:
    at = data.draw(st.integers(0, len(text)))
    hostile = text[:at] + digit + text[at:]
    Decimal(hostile)  # what made this dangerous: Decimal reads it
    with pytest.raises(ValueError, match="ASCII digits"):
        parse_amount(hostile)


@given(st.text(max_size=24))
def test_anything_else_is_refused_or_matches_the_documented_pattern(text: str) -> None:
    import re

    try:
        value = parse_amount(text)
    except ValueError as exc:
        assert str(exc)
        assert re.fullmatch(AMOUNT_PATTERN.strip("^$"), text, flags=re.ASCII) is None
    else:
        assert value == Decimal(text) and value.is_finite() and value >= 0


@pytest.mark.parametrize(
    "text",
    [
        "",
        " 1",
        "1 ",
        "1\n",
        "+1",
        "-1",
        "1e3",
        "1E3",
        "Infinity",
        "NaN",
        "1_000",
        "1,5",
        ".5",
        "5.",
        "1.23456",
        "1" * 16,
        "0x1F",
        "\u0661\u0662\u0663",  # Arabic-Indic digits
        "\uff11\uff12",  # fullwidth digits
    ],
)
def test_known_bad_amounts(text: str) -> None:
    with pytest.raises(ValueError):
        parse_amount(text)
