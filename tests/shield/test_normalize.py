"""Normalisation (`shield/normalize.py`): look-alike characters fold to ASCII one for one, so
offsets never move."""

from __future__ import annotations

import unicodedata

from hypothesis import given
from hypothesis import strategies as st

from payguard.shield.normalize import fold_table, normalize


def test_full_width_digits_letters_and_separators_fold_to_ascii() -> None:
    text = "电话\uff11\uff13\uff18\uff0d\uff10\uff10\uff11\uff13\u3000\uff21\uff42\uff20\uff58\uff0e\uff43\uff4e"
    assert normalize(text) == "电话138-0013 Ab@x.cn"


def test_every_unicode_decimal_digit_folds_to_its_ascii_digit() -> None:
    assert normalize("\u0661\u0663\u0668 \u0967\u0969 \U0001d7d9") == "138 13 1"
    for code, target in fold_table().items():
        char = chr(code)
        if char.isdecimal():
            assert chr(target) == str(unicodedata.decimal(char))


def test_dashes_and_spaces_fold() -> None:
    assert normalize("4111\u20131111\u00a01111\u22121111") == "4111-1111 1111-1111"


def test_nfkc_changes_are_not_applied() -> None:
    # NFKC would make the ligature two characters and move every offset after it.
    assert normalize("\ufb01 \u3371 x") == "\ufb01 \u3371 x"


def test_ascii_text_is_returned_as_is() -> None:
    text = "plain ascii 123"
    assert normalize(text) is text


@given(st.text())
def test_one_character_for_one(text: str) -> None:
    folded = normalize(text)
    assert len(folded) == len(text)
    for before, after in zip(text, folded, strict=True):
        assert before == after or ord(before) > 0x7F
