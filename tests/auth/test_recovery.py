from __future__ import annotations

import hashlib
import math
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from payguard.auth.recovery import ALPHABET, COUNT, hash_code, new_codes, normalize_code

SHAPE = re.compile(r"[0-9a-z]{4}-[0-9a-z]{4}-[0-9a-z]{4}")


def test_alphabet_is_32_unambiguous_characters() -> None:
    assert len(ALPHABET) == len(set(ALPHABET)) == 32
    assert not set(ALPHABET) & set("ilou")


def test_codes_have_the_shape_and_at_least_60_bits() -> None:
    codes = new_codes()
    assert len(codes) == COUNT == 10
    for code in codes:
        assert SHAPE.fullmatch(code)
        assert set(code.replace("-", "")) <= set(ALPHABET)
        assert len(code.replace("-", "")) * math.log2(len(ALPHABET)) >= 60
    assert len(set(codes)) == COUNT


def test_count_is_honoured() -> None:
    assert len(new_codes(3)) == 3
    assert new_codes(0) == []


def test_codes_are_not_repeated_across_calls() -> None:
    seen = [code for _ in range(50) for code in new_codes()]
    assert len(set(seen)) == len(seen)


@pytest.mark.parametrize(
    "typed",
    ["abcd-efgh-jkmn", "ABCD-EFGH-JKMN", "abcdefghjkmn", " abcd efgh jkmn ", "Abcd - Efgh - Jkmn"],
)
def test_normalize_code(typed: str) -> None:
    assert normalize_code(typed) == "abcdefghjkmn"


def test_hash_code_is_sha256_of_the_normalised_code() -> None:
    assert hash_code("ABCD-efgh-JKMN") == hashlib.sha256(b"abcdefghjkmn").hexdigest()
    assert hash_code("abcd-efgh-jkmn") == hash_code("abcd efgh jkmn")
    assert hash_code("abcd-efgh-jkmn") != hash_code("abcd-efgh-jkmp")
    assert re.fullmatch(r"[0-9a-f]{64}", hash_code("x"))


@settings(deadline=None)
@given(st.integers(1, 20))
def test_round_trip_through_typing_variants(count: int) -> None:
    for code in new_codes(count):
        assert hash_code(code.upper().replace("-", " ")) == hash_code(code)
        assert normalize_code(code) == code.replace("-", "")
