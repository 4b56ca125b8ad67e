"""Hypothesis round trips: any valid card, IBAN, phone, resident id or email planted in random
text is found, with its exact offsets, written in ASCII or in full-width characters."""

# ruff: noqa: RUF001 - Chinese text is written with its full-width punctuation on purpose

from __future__ import annotations

from datetime import date

from hypothesis import given, settings
from hypothesis import strategies as st
from stdnum import iban as stdnum_iban
from stdnum.cn import ric
from stdnum.luhn import calc_check_digit

from payguard.shield.interfaces import Entity
from payguard.shield.scanner import Scanner

SCANNER = Scanner.default()

# Filler that can hold no entity of its own: letters, Chinese, punctuation, no digits.
filler = st.text(alphabet="abcxyz ABC 的是了，。！ \n", max_size=40)
digits = st.text(alphabet="0123456789", min_size=1, max_size=1)


def _digits(count: int) -> st.SearchStrategy[str]:
    return st.text(alphabet="0123456789", min_size=count, max_size=count)


@st.composite
def cards(draw: st.DrawFn) -> str:
    prefix, length = draw(
        st.sampled_from([("4", 16), ("51", 16), ("2221", 16), ("37", 15), ("62", 19), ("6011", 16)])
    )
    body = prefix + draw(_digits(length - len(prefix) - 1))
    number = body + calc_check_digit(body)
    if draw(st.booleans()):
        separator = draw(st.sampled_from([" ", "-", "."]))
        number = separator.join(number[i : i + 4] for i in range(0, len(number), 4))
    return number


@st.composite
def ibans(draw: st.DrawFn) -> str:
    country, bban = draw(
        st.sampled_from(
            [
                ("DE", _digits(18)),
                (
                    "GB",
                    st.tuples(st.sampled_from(["WEST", "NWBK", "BARC"]), _digits(14)).map("".join),
                ),
                (
                    "NL",
                    st.tuples(st.sampled_from(["ABNA", "INGB", "RABO"]), _digits(10)).map("".join),
                ),
            ]
        )
    )
    body = draw(bban)
    number = country + stdnum_iban.calc_check_digits(country + "00" + body) + body
    if not stdnum_iban.is_valid(number):  # a bank's own check (NL) the draw did not meet
        number = "DE" + stdnum_iban.calc_check_digits("DE00" + "1" * 18) + "1" * 18
    if draw(st.booleans()):
        number = " ".join(number[i : i + 4] for i in range(0, len(number), 4))
    return number


@st.composite
def phones(draw: st.DrawFn) -> str:
    number = draw(st.sampled_from(["138", "139", "150", "186", "189", "177"])) + draw(_digits(8))
    form = draw(st.sampled_from(["plain", "groups", "plus86"]))
    if form == "groups":
        return f"{number[:3]} {number[3:7]} {number[7:]}"
    if form == "plus86":
        return f"+86 {number}"
    return number


@st.composite
def resident_ids(draw: st.DrawFn) -> str:
    region = draw(st.sampled_from(["110105", "310104", "440305", "510107", "650102"]))
    born = draw(st.dates(min_value=date(1920, 1, 1), max_value=date(2020, 12, 31)))
    body = region + born.strftime("%Y%m%d") + draw(_digits(3))
    return body + ric.calc_check_digit(body + "0")


emails = st.builds(
    lambda local, domain, tld: f"{local}@{domain}.{tld}",
    st.from_regex(r"[a-z][a-z0-9]{0,8}(?:\.[a-z0-9]{1,5})?", fullmatch=True),
    st.from_regex(r"[a-z][a-z0-9\-]{0,10}[a-z0-9]", fullmatch=True),
    st.sampled_from(["com", "cn", "org", "co"]),
)

PLANTED = st.one_of(
    cards().map(lambda v: (Entity.CARD, v)),
    ibans().map(lambda v: (Entity.IBAN, v)),
    phones().map(lambda v: (Entity.PHONE, v)),
    resident_ids().map(lambda v: (Entity.CN_RESIDENT_ID, v)),
    emails.map(lambda v: (Entity.EMAIL, v)),
)


def full_width(text: str) -> str:
    return "".join(
        chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else "\u3000" if c == " " else c for c in text
    )


@settings(max_examples=300, deadline=None)
@given(PLANTED, filler, filler, st.booleans())
def test_a_planted_entity_is_found_with_exact_offsets(
    planted: tuple[Entity, str], before: str, after: str, wide: bool
) -> None:
    entity, value = planted
    if wide:
        value = full_width(value)
    text = f"{before} {value} {after}"
    start = len(before) + 1
    found = [(f.entity, f.start, f.end) for f in SCANNER.scan(text)]
    assert (entity, start, start + len(value)) in found
