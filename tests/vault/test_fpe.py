"""FF1 (`vault/fpe.py`): the NIST SP 800-38G samples both ways, the domain and length limits,
and round trips of arbitrary numerals."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from payguard.core.errors import ValidationFailed
from payguard.vault.fpe import MAX_NUMERALS, FastFpeCipher, FpeDomainError, alphabet, check_domain

SAMPLES: list[dict[str, Any]] = json.loads(
    (Path(__file__).parents[1] / "vectors" / "ff1_nist_samples.json").read_text()
)["samples"]
CIPHER = FastFpeCipher()
KEY = bytes(range(32))


def test_the_nine_nist_samples_are_all_there() -> None:
    assert sorted(s["sample"] for s in SAMPLES) == list(range(1, 10))
    assert {(s["aes"], s["radix"], bool(s["tweak"])) for s in SAMPLES} == {
        (aes, radix, tweaked)
        for aes in (128, 192, 256)
        for radix, tweaked in ((10, False), (10, True), (36, True))
    }


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda s: f"sample-{s['sample']}")
def test_nist_sample_encrypts(sample: dict[str, Any]) -> None:
    key, tweak = bytes.fromhex(sample["key"]), bytes.fromhex(sample["tweak"])
    assert CIPHER.encrypt(key, tweak, sample["radix"], sample["plaintext"]) == sample["ciphertext"]
    assert CIPHER.encrypt_batch(key, tweak, sample["radix"], [sample["plaintext"]]) == [
        sample["ciphertext"]
    ]


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda s: f"sample-{s['sample']}")
def test_nist_sample_decrypts(sample: dict[str, Any]) -> None:
    key, tweak = bytes.fromhex(sample["key"]), bytes.fromhex(sample["tweak"])
    assert CIPHER.decrypt(key, tweak, sample["radix"], sample["ciphertext"]) == sample["plaintext"]
    assert CIPHER.decrypt_each(key, sample["radix"], [(tweak, sample["ciphertext"])]) == [
        sample["plaintext"]
    ]


@pytest.mark.parametrize(
    ("radix", "length"), [(10, 5), (10, 1), (36, 3), (2, 19), (16, 4)], ids=str
)
def test_domains_under_a_million_are_refused(radix: int, length: int) -> None:
    numerals = alphabet(radix)[-1] * length
    with pytest.raises(FpeDomainError, match=r"1,000,000|2 to"):
        CIPHER.encrypt(KEY, b"", radix, numerals)
    with pytest.raises(FpeDomainError):
        CIPHER.decrypt(KEY, b"", radix, numerals)


@pytest.mark.parametrize(("radix", "length"), [(10, 6), (36, 4), (2, 20), (16, 5)], ids=str)
def test_domains_of_a_million_or_more_are_accepted(radix: int, length: int) -> None:
    check_domain(radix, length)
    numerals = alphabet(radix)[-1] * length
    assert CIPHER.decrypt(KEY, b"", radix, CIPHER.encrypt(KEY, b"", radix, numerals)) == numerals


def test_the_domain_error_is_a_validation_failure_in_words() -> None:
    with pytest.raises(ValidationFailed) as caught:
        CIPHER.encrypt(KEY, b"", 10, "12345")
    assert caught.value.field == "value"
    assert "100,000 possible values" in caught.value.message


@pytest.mark.parametrize(
    ("key", "tweak", "radix", "numerals", "field"),
    [
        (b"short", b"", 10, "123456", "key"),
        (bytes(33), b"", 10, "123456", "key"),
        (KEY, bytes(257), 10, "123456", "tweak"),
        (KEY, b"", 1, "000000", "radix"),
        (KEY, b"", 37, "123456", "radix"),
        (KEY, b"", 10, "12345a", "value"),
        (KEY, b"", 10, "١٢٣٤٥٦", "value"),  # Arabic-Indic digits
        (KEY, b"", 10, "\uff11\uff12\uff13\uff14\uff15\uff16", "value"),  # full-width
        (KEY, b"", 36, "ABCDEF", "value"),  # radix 36 numerals are lower case
        (KEY, b"", 10, "1" * (MAX_NUMERALS + 1), "value"),
    ],
    ids=[
        "key-5",
        "key-33",
        "tweak-257",
        "radix-1",
        "radix-37",
        "letter",
        "arabic-indic",
        "full-width",
        "upper-case",
        "too-long",
    ],
)
def test_bad_calls_are_refused_naming_the_part(
    key: bytes, tweak: bytes, radix: int, numerals: str, field: str
) -> None:
    with pytest.raises(FpeDomainError) as caught:
        CIPHER.encrypt(key, tweak, radix, numerals)
    assert caught.value.field == field
    with pytest.raises(FpeDomainError):
        CIPHER.encrypt_batch(key, tweak, radix, [numerals])


def test_a_bad_value_anywhere_in_a_batch_refuses_the_batch() -> None:
    with pytest.raises(FpeDomainError):
        CIPHER.encrypt_batch(KEY, b"", 10, ["123456", "12345x", "654321"])
    with pytest.raises(FpeDomainError):
        CIPHER.encrypt_each(KEY, 10, [(b"", "123456"), (bytes(300), "654321")])


@st.composite
def calls(draw: st.DrawFn) -> tuple[bytes, bytes, int, str]:
    radix = draw(st.integers(2, 36))
    length = 2
    while radix**length < 1_000_000:
        length += 1
    numerals = draw(st.text(alphabet=alphabet(radix), min_size=length, max_size=length + 30))
    key = draw(st.binary(min_size=16, max_size=16) | st.binary(min_size=32, max_size=32))
    return key, draw(st.binary(max_size=64)), radix, numerals


@given(calls())
def test_round_trip_keeps_length_and_alphabet(call: tuple[bytes, bytes, int, str]) -> None:
    key, tweak, radix, numerals = call
    enciphered = CIPHER.encrypt(key, tweak, radix, numerals)
    assert len(enciphered) == len(numerals)
    assert set(enciphered) <= set(alphabet(radix))
    assert CIPHER.decrypt(key, tweak, radix, enciphered) == numerals
    assert CIPHER.encrypt_batch(key, tweak, radix, [numerals, numerals]) == [enciphered] * 2
    assert CIPHER.decrypt_batch(key, tweak, radix, [enciphered]) == [numerals]


def test_the_tweak_changes_the_ciphertext() -> None:
    pan = "4111111111111111"
    assert CIPHER.encrypt(KEY, b"tenant-a", 10, pan) != CIPHER.encrypt(KEY, b"tenant-b", 10, pan)
