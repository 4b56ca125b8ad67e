from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from payguard.auth import passwords
from payguard.auth.passwords import (
    MAX_LENGTH,
    MIN_LENGTH,
    PasswordHasher,
    check_password,
    common_passwords,
    normalize,
)
from payguard.core.errors import ValidationFailed

GOOD = "correct horse battery staple"


@pytest.fixture(scope="module")
def hasher() -> PasswordHasher:
    return PasswordHasher(time_cost=1, memory_cost=1024)


def test_bundled_list_is_large_and_lowercased() -> None:
    common = common_passwords()
    assert len(common) >= 9_900  # 10,000 lines; a few differ only by case
    assert {"password", "12345678", "qwertyuiop", "iloveyou", "trustno1"} <= common
    assert all(p == p.casefold() for p in common)
    assert common_passwords() is common  # read once


def test_nist_lengths() -> None:
    assert MIN_LENGTH == 8
    assert MAX_LENGTH >= 64


@pytest.mark.parametrize(
    "password",
    [
        GOOD,
        "x" * 7 + "Ω",
        "Tr0ub4dor&3 but longer",
        "a" * MAX_LENGTH,
        "no composition rules at all",
        "パスワードは長い方がいい",
    ],
)
def test_acceptable_passwords(password: str) -> None:
    check_password(password)


@pytest.mark.parametrize(
    ("password", "words"),
    [
        ("short", "at least 8"),
        ("", "at least 8"),
        ("a" * (MAX_LENGTH + 1), "at most 128"),
        ("password", "too common"),
        ("PassWord", "too common"),
        ("12345678", "too common"),
        ("QWERTYUIOP", "too common"),
        ("iloveyou", "too common"),
        ("baseball", "too common"),
        ("trustno1", "too common"),
    ],
)
def test_refused_passwords(password: str, words: str) -> None:
    with pytest.raises(ValidationFailed) as raised:
        check_password(password, field="new_password")
    assert words in raised.value.message
    assert raised.value.field == "new_password"


@pytest.mark.parametrize("password", ["short", "12345678", "QWERTYUIOP", "trustno1", "z" * 200])
def test_messages_do_not_echo_the_password(password: str) -> None:
    with pytest.raises(ValidationFailed) as raised:
        check_password(password)
    assert password.lower() not in raised.value.message.lower()


def test_default_field_is_password() -> None:
    with pytest.raises(ValidationFailed) as raised:
        check_password("short")
    assert raised.value.field == "password"


def test_refuses_the_user_id_case_insensitively() -> None:
    with pytest.raises(ValidationFailed) as raised:
        check_password("Alice.Merchant-01", user_id="alice.merchant-01")
    assert "account id" in raised.value.message
    assert "alice" not in raised.value.message.lower()
    check_password("Alice.Merchant-01", user_id="bob.merchant-02")


def test_length_counts_normalised_characters() -> None:
    # U+FB01 (the "fi" ligature) is one character that NFKC turns into two.
    assert normalize("\ufb01") == "fi"
    check_password("\ufb01" * 4)
    # A decomposed "é" (e + combining accent) is two code points, NFKC composes it into one.
    with pytest.raises(ValidationFailed):
        check_password("e\u0301" * 7)


def test_normalised_form_is_checked_against_the_list() -> None:
    fullwidth = "".join(chr(ord(c) - ord("a") + 0xFF41) for c in "password")
    assert normalize(fullwidth) == "password"
    with pytest.raises(ValidationFailed, match="too common"):
        check_password(fullwidth)


def test_lone_surrogates_are_refused_not_crashed() -> None:
    with pytest.raises(ValidationFailed, match="Unicode"):
        check_password("abcdefgh\ud800")


def test_hash_and_verify(hasher: PasswordHasher) -> None:
    encoded = hasher.hash(GOOD)
    assert encoded.startswith("$argon2id$")
    assert GOOD not in encoded
    assert hasher.verify(encoded, GOOD)
    assert not hasher.verify(encoded, GOOD + "!")
    assert not hasher.verify(encoded, "")
    assert hasher.hash(GOOD) != encoded  # salted


def test_verify_normalises(hasher: PasswordHasher) -> None:
    encoded = hasher.hash("caf\u00e9 au lait, please")
    assert hasher.verify(encoded, "cafe\u0301 au lait, please")


@pytest.mark.parametrize(
    "encoded",
    [
        "",
        "not a hash",
        "$argon2id$v=19$m=1024,t=1,p=1$garbage",
        "$2b$12$abcdefghijklmnopqrstuuJ0G3p1v9Gmt3Vn3ZzWbzRj2Hn7kG1Na",
        "$argon2id$v=19$m=1024,t=1,p=1$c29tZXNhbHQ$" + "A" * 43,
    ],
)
def test_verify_malformed_hash_is_false(hasher: PasswordHasher, encoded: str) -> None:
    assert hasher.verify(encoded, GOOD) is False


def test_verify_never_raises_for_odd_passwords(hasher: PasswordHasher) -> None:
    encoded = hasher.hash(GOOD)
    assert hasher.verify(encoded, "abc\ud800") is False
    assert hasher.verify(encoded, "\x00" * 10) is False


def test_needs_rehash(hasher: PasswordHasher) -> None:
    cheap = hasher.hash(GOOD)
    assert not hasher.needs_rehash(cheap)
    stronger = PasswordHasher(time_cost=2, memory_cost=2048)
    assert stronger.needs_rehash(cheap)
    assert stronger.verify(cheap, GOOD)  # old hashes still verify until rehashed
    assert hasher.needs_rehash("not a hash")


def test_verify_dummy_returns_nothing_and_accepts_anything(hasher: PasswordHasher) -> None:
    assert hasher.verify_dummy(GOOD) is None  # type: ignore[func-returns-value]
    hasher.verify_dummy("")
    hasher.verify_dummy("abc\ud800")


def test_defaults_meet_owasp_minimums() -> None:
    default = PasswordHasher()
    assert default.time_cost >= 2
    assert default.memory_cost >= 19 * 1024
    assert (default.time_cost, default.memory_cost, default.parallelism) == (3, 65536, 1)
    assert "m=65536,t=3,p=1" in default.hash(GOOD)


@settings(max_examples=25, deadline=None)
@given(st.text(st.characters(exclude_categories=("Cs",)), min_size=1, max_size=40))
def test_hash_verify_round_trip(password: str) -> None:
    hasher = PasswordHasher(time_cost=1, memory_cost=1024)
    encoded = hasher.hash(password)
    assert hasher.verify(encoded, password)
    assert not hasher.verify(encoded, password + "x")


def test_module_names() -> None:
    for name in ("MIN_LENGTH", "MAX_LENGTH", "normalize", "check_password", "PasswordHasher"):
        assert hasattr(passwords, name)
