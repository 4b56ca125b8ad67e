from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from payguard.core import pan as pan_module
from payguard.core.pan import find_pans, luhn_valid, mask_pans, redact_pans

# Test card numbers published by the card networks.
VALID = ["4111111111111111", "5500000000000004", "340000000000009", "6011000000000004"]


@pytest.mark.parametrize("pan", VALID)
def test_luhn_accepts_network_test_numbers(pan: str) -> None:
    assert luhn_valid(pan)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("4111111111111111", "411111******1111"),
        ("card 4111 1111 1111 1111 ok", "card 411111******1111 ok"),
        ("5500-0000-0000-0004", "550000******0004"),
        ("order 1234567812345678", "order 1234567812345678"),  # fails Luhn
        ("short 4111", "short 4111"),
        ("41111111111111111111111", "41111111111111111111111"),  # 23 digits: not a PAN
    ],
)
def test_mask_pans(text: str, expected: str) -> None:
    assert mask_pans(text) == expected


@given(st.text(alphabet="0123456789 -abc", max_size=60))
def test_masked_text_never_contains_a_full_valid_pan(text: str) -> None:
    masked = mask_pans(text)
    digits_runs = [r for r in "".join(c if c.isdigit() else " " for c in masked).split() if r]
    for run in digits_runs:
        if 13 <= len(run) <= 19:
            assert not luhn_valid(run) or run not in text.replace(" ", "").replace("-", "")


# --- one detector, any separators (tests/vectors/pan_masking.json) ---------------------------

VECTORS = json.loads(
    (Path(__file__).resolve().parents[1] / "vectors" / "pan_masking.json").read_text()
)


def _grouped(pan: str, grouping: list[int], separator: str) -> str:
    parts, at = [], 0
    for size in grouping:
        parts.append(pan[at : at + size])
        at += size
    assert at == len(pan)
    return separator.join(parts)


def _masked(pan: str) -> str:
    return f"{pan[:6]}{'*' * (len(pan) - 10)}{pan[-4:]}"


PAN_FORMS = [
    pytest.param(
        row["pan"], _grouped(row["pan"], row["grouping"], separator), id=f"{row['pan']}-{i}"
    )
    for row in VECTORS["pans"]
    for i, separator in enumerate(VECTORS["separators"])
] + [pytest.param(row["pan"], row["pan"], id=f"{row['pan']}-unbroken") for row in VECTORS["pans"]]


@pytest.mark.parametrize(("pan", "text"), PAN_FORMS)
def test_every_network_test_pan_is_masked_with_every_separator(pan: str, text: str) -> None:
    assert luhn_valid(pan)
    assert mask_pans(text) == _masked(pan)
    assert mask_pans(f"note: {text}, thanks") == f"note: {_masked(pan)}, thanks"
    assert redact_pans(f"x {text} y") == "x [pan-redacted] y"


@pytest.mark.parametrize("row", VECTORS["in_text"], ids=lambda row: row["masked"])
def test_pans_in_text_are_masked(row: dict[str, str]) -> None:
    assert mask_pans(row["text"]) == row["masked"]


@pytest.mark.parametrize("row", VECTORS["not_pans"], ids=lambda row: row["text"])
def test_non_pans_are_left_alone(row: dict[str, str]) -> None:
    assert mask_pans(row["text"]) == row["text"]
    assert redact_pans(row["text"]) == row["text"]


@pytest.mark.parametrize(
    "text",
    [
        "4111.1111.1111.1111",
        "4111_1111_1111_1111",
        "4111/1111/1111/1111",
        "4111 - 1111 - 1111 - 1111",
        "4111-1111 - 1111 -1111",
    ],
)
def test_separators_the_old_detector_missed(text: str) -> None:
    assert "4111" not in mask_pans(text).replace("411111", "")
    assert mask_pans(text) == "411111******1111"


def test_masking_is_idempotent_on_the_vectors() -> None:
    for pan, text in ((p.values[0], p.values[1]) for p in PAN_FORMS):
        assert mask_pans(mask_pans(str(text))) == _masked(str(pan))


@pytest.mark.parametrize(
    "text",
    [
        "1 " * 50_000,
        "4111 " * 20_000,
        "1" * 100_000,
        "1-" * 50_000,
        "4111 1111 1111 1111 " * 5_000,
        "DE89 " * 20_000,
        " - ".join(["4111"] * 25_000),
        "0123456789 .-_/" * 7_000,
    ],
    ids=["ones", "groups", "one-number", "dashes", "pans", "iban-starts", "wide-gaps", "mix"],
)
def test_hostile_long_inputs_are_scanned_in_one_pass(text: str) -> None:
    # No timing assertion: the scan is linear by construction (see core/pan.py); a
    # backtracking or quadratic detector would make this test take minutes, not milliseconds.
    masked = mask_pans(text)
    for start, end, digits in find_pans(text):
        # A span is one card number, or overlapping candidates merged.
        assert len(digits) >= 13 and start < end
    assert len(masked) <= len(text)


def _by_fours(pan: str) -> list[int]:
    return [4] * (len(pan) // 4) + ([len(pan) % 4] if len(pan) % 4 else [])


@given(
    st.lists(st.sampled_from([row["pan"] for row in VECTORS["pans"]]), min_size=1, max_size=4),
    st.sampled_from(VECTORS["separators"]),
    st.sampled_from([" ", "-", " and ", ", ", "\n"]),
)
def test_no_card_number_survives_in_clear(pans: list[str], separator: str, joint: str) -> None:
    # However card numbers sit next to each other (even with only a separator between),
    # at most 10 digits of each stay visible.
    text = joint.join(_grouped(pan, _by_fours(pan), separator) for pan in pans)
    masked = mask_pans(text)
    for pan in pans:
        # The digits in order, whatever (but a mask's `*`) stands between them.
        assert re.search("[^0-9*]{0,3}".join(pan), masked) is None, masked


def _luhn_by_the_book(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char) * (2 if index % 2 else 1)
        total += value - 9 if value > 9 else value
    return total % 10 == 0


@given(st.text(alphabet="0123456789", max_size=40))
def test_luhn_agrees_with_the_textbook_algorithm(digits: str) -> None:
    assert luhn_valid(digits) == _luhn_by_the_book(digits)


@pytest.mark.parametrize("digits", ["4111 1111", "\u0664\u0661" * 8, "\uff14\uff11\uff11\uff11"])
def test_luhn_refuses_anything_but_ascii_digits(digits: str) -> None:
    with pytest.raises(ValueError, match="ASCII"):
        luhn_valid(digits)


def _every_group_at_once(text: str) -> list[tuple[int, int, str]]:
    """The detector without its shortcuts: each run's groups (IBAN digits left out first)
    through the windowed Luhn search, whether the run is one number or many."""
    protected = pan_module._ibans(text)
    found: list[tuple[int, int, str]] = []
    for run in pan_module._RUN.finditer(text):
        groups = [
            (group.start(), group.end())
            for group in pan_module._GROUP.finditer(text, run.start(), run.end())
            if not pan_module._inside(protected, group.start())
            and group.end() - group.start() <= pan_module.MAX_DIGITS
        ]
        if groups:
            found.extend(pan_module._in_run(text, groups))
    return found


_PIECES = st.one_of(
    st.sampled_from([row["pan"] for row in VECTORS["pans"]]),
    # IBANs whose digits after the country code pass Luhn (FI, DK), one in groups, and the
    # start of one.
    st.sampled_from(
        ["FI4555372153974310", "DK7179868307848531", "DK34 9458 0730 2157 36", "GB82WEST"]
    ),
    st.text(alphabet="0123456789", min_size=1, max_size=22),
    st.text(alphabet=" -./_abcAB\u2013\uff10\uff14\u0661", min_size=1, max_size=4),
)


@example("DK34 9458 0730 2157 36 and FI4555372153974310, 4111 1111 1111 1111")
@given(st.lists(_PIECES, max_size=8).map("".join))
def test_the_shortcuts_change_no_answer(text: str) -> None:
    # Unbroken numbers are checked directly and IBANs are looked for only once a run holds
    # a card number: the answers are those of running every run's groups through the
    # windowed search with the IBANs' digits left out beforehand.
    assert find_pans(text) == _every_group_at_once(text)
