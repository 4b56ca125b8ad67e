"""Value kinds (`vault/kinds.py`): canonical forms, and each invalid value refused with the
field and the reason in words."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from payguard.core.errors import ValidationFailed
from payguard.core.pan import luhn_valid
from payguard.vault.kinds import Kind, canonical, is_iban


@pytest.mark.parametrize(
    ("kind", "value", "expected"),
    [
        ("pan", "4111111111111111", "4111111111111111"),
        ("pan", "4111 1111 1111 1111", "4111111111111111"),
        ("pan", " 5555-5555-5555-4444 ", "5555555555554444"),
        ("pan", "378282246310005", "378282246310005"),
        ("account", "GB82 WEST 1234 5698 7654 32", "GB82WEST12345698765432"),
        ("account", "de89370400440532013000", "DE89370400440532013000"),
        ("account", "12-345-678", "12345678"),
        ("phone", "+44 20 7946 0958", "+442079460958"),
        ("phone", "+1 (650) 253-0000", "+16502530000"),
        ("phone", "+86 138 0013 8000", "+8613800138000"),
        ("id_number", "11010519491231002x", "11010519491231002X"),
        ("id_number", "440524188001010014", "440524188001010014"),
        ("email", "Ann.Lee+tag@Example.COM", "Ann.Lee+tag@example.com"),
        ("generic", "  keeps  spaces ", "  keeps  spaces "),
        ("generic", "名字", "名字"),
    ],
)
def test_canonical_forms(kind: str, value: str, expected: str) -> None:
    assert canonical(kind, value) == expected


@pytest.mark.parametrize(
    ("kind", "value", "words"),
    [
        ("pan", "4111111111111112", "Luhn"),
        ("pan", "411111111111", "13 to 19 digits"),
        ("pan", "41111111111111111111", "13 to 19 digits"),
        ("pan", "4111x11111111111", "ASCII digits"),
        ("pan", "\uff14" + "\uff11" * 15, "ASCII digits"),  # full-width
        ("pan", "٤١١١١١١١١١١١١١١١", "ASCII digits"),  # Arabic-Indic
        ("account", "GB83WEST12345698765432", "check digits"),
        ("account", "GB82WEST1234569876543", "wrong length or layout"),
        ("account", "GB82WEST1234569876543A", "wrong length or layout"),
        ("account", "XX82WEST12345698765432", "unknown IBAN country"),
        ("account", "12345", "6 to 34 digits"),
        ("account", "1" * 35, "6 to 34 digits"),
        ("account", "12A45678", "IBAN"),
        ("account", "١٢٣٤٥٦٧٨", "ASCII"),
        ("phone", "020 7946 0958", "E.164"),
        ("phone", "+999 1234567", "country calling code"),
        ("phone", "+44 12", "wrong length"),
        ("phone", "+44 ٢٠ ٧٩٤٦ ٠٩٥٨", "ASCII"),
        ("id_number", "110105194912310021", "check character"),
        ("id_number", "11010519491231002", "18 characters"),
        ("id_number", "11010519491331002X", "check character"),
        ("id_number", "1101051949123100AX", "17 ASCII digits"),
        ("email", "no-at-sign", "local-part@domain"),
        ("email", "a@localhost", "with a dot"),
        ("email", ".a@example.com", "dot"),
        ("email", "a..b@example.com", "dot"),
        ("email", "a b@example.com", "does not allow"),
        ("email", "a@exa_mple.com", "letters, digits or hyphens"),
        ("email", "a@-example.com", "hyphen"),
        ("email", ("a" * 65) + "@example.com", "at most 64"),
        ("email", "a@" + ("b" * 250) + ".com", "at most 254"),
        ("generic", "x" * 257, "at most 256"),
        ("generic", "bell\x07", "control"),
        ("generic", "", "non-empty"),
    ],
)
def test_invalid_values_are_refused_in_words(kind: str, value: str, words: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        canonical(kind, value)
    assert caught.value.field == "value"
    assert words in caught.value.message


def test_resident_id_with_a_county_code_missing_from_the_table_is_accepted() -> None:
    # stdnum's full `validate` refuses this id (no county 999999 in its table); the check
    # character and birth date are right, so the vault accepts it (see kinds.py).
    from stdnum.cn import ric

    body = "99999919900101123"
    number = body + ric.calc_check_digit(body + "0")
    assert not ric.is_valid(number)
    assert canonical("id_number", number) == number


def test_an_impossible_birth_date_is_refused() -> None:
    from stdnum.cn import ric

    body = "11010519491301002"  # month 13
    with pytest.raises(ValidationFailed, match="birth date"):
        canonical("id_number", body + ric.calc_check_digit(body + "0"))


def test_unknown_kind_names_the_kind_field() -> None:
    with pytest.raises(ValidationFailed) as caught:
        canonical("passport", "X1234567")
    assert caught.value.field == "kind"


def test_the_field_name_is_passed_through() -> None:
    with pytest.raises(ValidationFailed) as caught:
        canonical(Kind.PAN, "1234", field="values[2]")
    assert caught.value.field == "values[2]"


def test_iban_and_domestic_accounts_are_told_apart() -> None:
    assert is_iban(canonical("account", "GB82WEST12345698765432"))
    assert not is_iban(canonical("account", "12345678"))


@given(st.text(alphabet="0123456789", min_size=12, max_size=18))
def test_any_luhn_valid_pan_is_canonical_itself(body: str) -> None:
    pan = next(body + d for d in "0123456789" if luhn_valid(body + d))
    assert canonical("pan", pan) == pan


@given(st.text(max_size=300))
def test_canonical_never_raises_anything_but_validation_failed(text: str) -> None:
    for kind in Kind:
        try:
            assert isinstance(canonical(kind, text), str)
        except ValidationFailed as error:
            assert error.field == "value"
