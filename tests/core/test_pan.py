from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from payguard.core.pan import luhn_valid, mask_pans

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
