"""Token formats (`vault/formats.py`): round trips for every kind and style, tokens that can
never pass for real values, the key version read back from the token, tenant separation,
domain refusals, vault tokens and masks."""

from __future__ import annotations

from datetime import date

import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from stdnum import iban
from stdnum.cn import ric

from payguard.core.errors import ValidationFailed
from payguard.core.pan import luhn_sum, luhn_valid
from payguard.vault.formats import (
    VERSION_SLOTS,
    AccountFormat,
    PanFormat,
    PhoneFormat,
    ResidentIdFormat,
    detokenize,
    format_for,
    is_vault_token,
    mask,
    new_vault_token,
    tweak_for,
)
from payguard.vault.fpe import FpeDomainError
from payguard.vault.kinds import Kind, canonical

KEY = bytes(range(32))
OTHER_KEY = bytes(range(1, 33))
TWEAK = tweak_for("tenant-a", "pan")

keys = st.binary(min_size=32, max_size=32)
versions = st.integers(1, 10_000)


@st.composite
def pans(draw: st.DrawFn, min_size: int = 13) -> str:
    body = draw(st.text(alphabet="0123456789", min_size=min_size - 1, max_size=18))
    return next(body + d for d in "0123456789" if luhn_valid(body + d))


@st.composite
def ibans(draw: st.DrawFn) -> str:
    country, layout = draw(
        st.sampled_from([("DE", "9" * 18), ("GB", "AAAA" + "9" * 14), ("NL", "AAAA" + "9" * 10)])
    )
    bban = "".join(
        draw(st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZ" if c == "A" else "0123456789"))
        for c in layout
    )
    return country + iban.calc_check_digits(country + "00" + bban) + bban


domestic_accounts = st.text(alphabet="0123456789", min_size=6, max_size=34)


@st.composite
def phones(draw: st.DrawFn) -> str:
    region = draw(st.sampled_from(["GB", "US", "CN", "DE", "FR", "IN", "BR", "KE", "SG"]))
    example = phonenumbers.example_number_for_type(region, phonenumbers.PhoneNumberType.MOBILE)
    assert example is not None
    e164 = phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164)
    tail = draw(st.text(alphabet="0123456789", min_size=3, max_size=3))
    return e164[:-3] + tail


@st.composite
def resident_ids(draw: st.DrawFn) -> str:
    region = draw(st.text(alphabet="0123456789", min_size=6, max_size=6))
    born = draw(st.dates(min_value=date(1900, 1, 1), max_value=date(2025, 12, 31)))
    serial = draw(st.text(alphabet="0123456789", min_size=3, max_size=3))
    body = region + born.strftime("%Y%m%d") + serial
    return body + ric.calc_check_digit(body + "0")


# -- pan -------------------------------------------------------------------------------------

pan_options = st.sampled_from([(False, True), (True, False), (False, False), (True, True)])


@given(pans(), pan_options, keys, versions)
def test_pan_round_trip_keeps_length_and_kept_digits_and_fails_luhn(
    pan: str, options: tuple[bool, bool], key: bytes, version: int
) -> None:
    keep_bin, keep_last4 = options
    fmt = PanFormat(keep_bin=keep_bin, keep_last4=keep_last4)
    kept = (6 if keep_bin else 0) + (4 if keep_last4 else 0)
    if len(pan) - kept - 1 < 6:
        with pytest.raises(FpeDomainError) as caught:
            fmt.tokenize(pan, key=key, version=version, tweak=TWEAK)
        assert caught.value.field == "format"
        return
    token = fmt.tokenize(pan, key=key, version=version, tweak=TWEAK)
    assert len(token) == len(pan) and token.isdigit()
    assert not luhn_valid(token)
    if keep_bin:
        assert token[:6] == pan[:6]
    if keep_last4:
        assert token[-4:] == pan[-4:]
    assert fmt.version_slot(token) == version % VERSION_SLOTS
    live = {v: (key if v == version else OTHER_KEY) for v in range(version, version - 9, -1)}
    assert detokenize(fmt, token, keys=live, tweak=TWEAK) == (pan, version)
    assert fmt.tokenize(pan, key=key, version=version, tweak=TWEAK) == token  # deterministic


@given(st.lists(pans(min_size=15), min_size=1, max_size=20), keys)
def test_pan_batch_equals_one_by_one(batch: list[str], key: bytes) -> None:
    fmt = PanFormat()
    tokens = fmt.tokenize_batch(batch, key=key, version=4, tweak=TWEAK)
    assert tokens == [fmt.tokenize(p, key=key, version=4, tweak=TWEAK) for p in batch]
    assert fmt.detokenize_batch(tokens, key=key, tweak=TWEAK) == batch


def test_a_bad_value_in_a_batch_is_named_by_index_and_nothing_returned() -> None:
    with pytest.raises(ValidationFailed) as caught:
        PanFormat().tokenize_batch(
            ["4111111111111111", "4111111111111112"], key=KEY, version=1, tweak=TWEAK
        )
    assert caught.value.field == "values[1]"
    assert "Luhn" in caught.value.message


@pytest.mark.parametrize(
    ("length", "keep_bin", "keep_last4"),
    [(13, True, True), (14, True, True), (15, True, True), (16, True, True)],
)
def test_keeping_too_much_of_a_pan_is_refused(
    length: int, keep_bin: bool, keep_last4: bool
) -> None:
    body = "4" + "1" * (length - 2)
    pan = next(body + d for d in "0123456789" if luhn_valid(body + d))
    with pytest.raises(FpeDomainError) as caught:
        PanFormat(keep_bin=keep_bin, keep_last4=keep_last4).tokenize(
            pan, key=KEY, version=1, tweak=TWEAK
        )
    assert caught.value.field == "format"
    assert "1,000,000" in caught.value.message


def test_the_smallest_accepted_pan_layouts() -> None:
    for fmt, length in ((PanFormat(keep_bin=True, keep_last4=True), 17), (PanFormat(), 13)):
        body = "4" + "1" * (length - 2)
        pan = next(body + d for d in "0123456789" if luhn_valid(body + d))
        token = fmt.tokenize(pan, key=KEY, version=1, tweak=TWEAK)
        assert fmt.detokenize(token, key=KEY, tweak=TWEAK) == pan


def test_a_luhn_valid_number_is_not_a_pan_token() -> None:
    with pytest.raises(ValidationFailed) as caught:
        PanFormat().detokenize("4111111111111111", key=KEY, tweak=TWEAK)
    assert caught.value.field == "token"
    assert "Luhn" in caught.value.message


@given(st.text(alphabet="0123456789", min_size=1, max_size=40))
def test_the_luhn_sum_the_formats_use_agrees_with_the_check(digits: str) -> None:
    assert (luhn_sum(digits) % 10 == 0) == luhn_valid(digits)
    doubled = [int(d) * 2 - 9 if int(d) > 4 else int(d) * 2 for d in digits[-2::-2]]
    assert luhn_sum(digits) == sum(int(d) for d in digits[::-2]) + sum(doubled)


# -- version slots and rotation --------------------------------------------------------------


def test_every_live_version_is_read_back_from_the_token() -> None:
    fmt = PanFormat()
    live = {v: bytes([v]) * 32 for v in range(11, 20)}  # 9 consecutive versions
    for version, key in live.items():
        token = fmt.tokenize("4111111111111111", key=key, version=version, tweak=TWEAK)
        assert detokenize(fmt, token, keys=live, tweak=TWEAK) == ("4111111111111111", version)


def test_more_live_versions_than_slots_is_refused_not_guessed() -> None:
    fmt = PanFormat()
    token = fmt.tokenize("4111111111111111", key=KEY, version=1, tweak=TWEAK)
    with pytest.raises(ValidationFailed, match="ambiguous"):
        detokenize(fmt, token, keys={1: KEY, 10: OTHER_KEY}, tweak=TWEAK)
    with pytest.raises(ValidationFailed, match="no live key version"):
        detokenize(fmt, token, keys={2: KEY}, tweak=TWEAK)


def test_a_version_given_must_agree_with_the_token() -> None:
    fmt = PanFormat()
    token = fmt.tokenize("4111111111111111", key=KEY, version=1, tweak=TWEAK)
    with pytest.raises(ValidationFailed):
        detokenize(fmt, token, keys={1: KEY, 2: OTHER_KEY}, tweak=TWEAK, version=2)


def test_a_version_below_one_is_refused() -> None:
    with pytest.raises(ValidationFailed) as caught:
        PanFormat().tokenize("4111111111111111", key=KEY, version=0, tweak=TWEAK)
    assert caught.value.field == "key_version"


# -- tweaks ----------------------------------------------------------------------------------


def test_tweaks_differ_per_tenant_kind_and_scope_and_do_not_collide() -> None:
    tweaks = {
        tweak_for("a", "pan"),
        tweak_for("b", "pan"),
        tweak_for("a", "phone"),
        tweak_for("a", "pan", "payouts"),
        tweak_for("a", "pan", "b"),
    }
    assert len(tweaks) == 5


def test_an_unknown_kind_is_a_validation_failure_everywhere() -> None:
    for call in (
        lambda: tweak_for("a", "passport"),
        lambda: format_for("passport"),
        lambda: new_vault_token("passport"),
        lambda: mask("passport", "X123", "last4"),
    ):
        with pytest.raises(ValidationFailed) as caught:
            call()
        assert caught.value.field == "kind"


@given(pans(min_size=14))
@settings(max_examples=50)
def test_the_same_pan_gets_different_tokens_in_different_tenants(pan: str) -> None:
    fmt = PanFormat(keep_last4=False)
    one = fmt.tokenize(pan, key=KEY, version=1, tweak=tweak_for("tenant-a", "pan"))
    two = fmt.tokenize(pan, key=KEY, version=1, tweak=tweak_for("tenant-b", "pan"))
    assert one != two
    assert fmt.detokenize(two, key=KEY, tweak=tweak_for("tenant-a", "pan")) != pan


# -- account ---------------------------------------------------------------------------------


@given(ibans(), keys, versions)
def test_iban_round_trip_keeps_country_and_fails_the_check(
    value: str, key: bytes, version: int
) -> None:
    fmt = AccountFormat()
    token = fmt.tokenize(value, key=key, version=version, tweak=TWEAK)
    assert token[:2] == value[:2] and len(token) == len(value)
    assert token.isalnum() and token == token.upper()
    assert not iban.is_valid(token)
    assert fmt.version_slot(token) == version % VERSION_SLOTS
    assert detokenize(fmt, token, keys={version: key}, tweak=TWEAK) == (value, version)


@given(domestic_accounts, keys, versions)
def test_domestic_account_round_trip_with_the_version_as_metadata(
    value: str, key: bytes, version: int
) -> None:
    fmt = AccountFormat()
    token = fmt.tokenize(value, key=key, version=version, tweak=TWEAK)
    assert len(token) == len(value) and token.isdigit()
    assert fmt.version_slot(token) is None
    assert detokenize(fmt, token, keys={version: key}, tweak=TWEAK, version=version) == (
        value,
        version,
    )
    with pytest.raises(ValidationFailed) as caught:
        detokenize(fmt, token, keys={version: key}, tweak=TWEAK)
    assert caught.value.field == "key_version"


def test_a_real_iban_is_not_an_account_token() -> None:
    with pytest.raises(ValidationFailed) as caught:
        AccountFormat().detokenize("GB82WEST12345698765432", key=KEY, tweak=TWEAK)
    assert caught.value.field == "token"


# -- phone -----------------------------------------------------------------------------------


@given(phones(), keys, versions)
def test_phone_round_trip_keeps_country_code_and_length(
    value: str, key: bytes, version: int
) -> None:
    fmt = PhoneFormat()
    phone = canonical("phone", value)
    token = fmt.tokenize(phone, key=key, version=version, tweak=TWEAK)
    number = phonenumbers.parse(phone, None)
    code = str(number.country_code)
    assert token.startswith("+" + code) and len(token) == len(phone)
    assert detokenize(fmt, token, keys={version: key}, tweak=TWEAK, version=version) == (
        phone,
        version,
    )


def test_a_phone_with_a_national_number_under_six_digits_is_refused() -> None:
    # Saint Helena (+290) numbers have five national digits.
    with pytest.raises(FpeDomainError, match="1,000,000"):
        PhoneFormat().tokenize("+290 22158", key=KEY, version=1, tweak=TWEAK)


# -- id_number -------------------------------------------------------------------------------


@given(resident_ids(), keys, versions)
def test_resident_id_round_trip_fails_the_check_character(
    value: str, key: bytes, version: int
) -> None:
    fmt = ResidentIdFormat()
    token = fmt.tokenize(value, key=key, version=version, tweak=TWEAK)
    assert len(token) == 18 and token[:17].isdigit()
    assert ric.calc_check_digit(token) != token[-1]
    assert fmt.version_slot(token) == version % VERSION_SLOTS
    assert detokenize(fmt, token, keys={version: key}, tweak=TWEAK) == (value, version)


def test_a_real_resident_id_is_not_an_id_number_token() -> None:
    with pytest.raises(ValidationFailed) as caught:
        ResidentIdFormat().detokenize("11010519491231002X", key=KEY, tweak=TWEAK)
    assert caught.value.field == "token"


# -- email, generic, vault tokens ------------------------------------------------------------


@pytest.mark.parametrize("kind", ["email", "generic"])
def test_email_and_generic_have_no_format_preserving_style(kind: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        format_for(kind)
    assert caught.value.field == "style"


@pytest.mark.parametrize("kind", ["pan", "account", "phone", "id_number"])
def test_format_for_gives_the_kinds_format(kind: str) -> None:
    assert format_for(kind).kind == Kind(kind)


@pytest.mark.parametrize("kind", list(Kind))
def test_vault_tokens_are_random_recognisable_and_never_a_value(kind: Kind) -> None:
    tokens = {new_vault_token(kind) for _ in range(200)}
    assert len(tokens) == 200
    for token in tokens:
        assert token.startswith(f"tok_{kind.value}_")
        assert is_vault_token(token) and is_vault_token(token, kind)
        for other in Kind:
            if other not in (kind, Kind.GENERIC):
                with pytest.raises(ValidationFailed):
                    canonical(other, token)
    other_kind = Kind.PAN if kind is not Kind.PAN else Kind.PHONE
    assert not is_vault_token(next(iter(tokens)), other_kind)
    assert not is_vault_token("tok_pan_short")
    assert not is_vault_token("4111111111111111")


# -- masks -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "value", "view", "masked"),
    [
        ("pan", "4111111111111111", "first6last4", "411111******1111"),
        ("pan", "4111111111111111", "last4", "************1111"),
        ("account", "GB82WEST12345698765432", "first6last4", "GB82WE************5432"),
        ("account", "12345678", "last4", "****5678"),
        ("phone", "+442079460958", "last4", "+44******0958"),
        ("id_number", "11010519491231002X", "first6last4", "110105********002X"),
    ],
)
def test_masks(kind: str, value: str, view: str, masked: str) -> None:
    assert mask(kind, value, view) == masked


def test_a_phone_mask_of_something_not_a_phone_names_the_value() -> None:
    with pytest.raises(ValidationFailed) as caught:
        mask("phone", "0207946095", "last4")
    assert caught.value.field == "value"


@pytest.mark.parametrize(
    ("kind", "value", "view"),
    [
        ("phone", "+442079460958", "first6last4"),
        ("account", "12345678", "first6last4"),
        ("account", "1234567", "last4"),
        ("email", "a@example.com", "last4"),
        ("generic", "anything at all", "last4"),
        ("pan", "4111111111111111", "first4"),
    ],
    ids=["phone-first6", "short-account-first6", "short-account-last4", "email", "generic", "view"],
)
def test_masks_that_would_show_too_much_or_make_no_sense_are_refused(
    kind: str, value: str, view: str
) -> None:
    with pytest.raises(ValidationFailed) as caught:
        mask(kind, value, view)
    assert caught.value.field == "view"


@given(pans())
def test_a_pan_mask_never_shows_more_than_first6_and_last4(pan: str) -> None:
    masked = mask("pan", pan, "first6last4")
    assert len(masked) == len(pan)
    assert masked[:6] == pan[:6] and masked[-4:] == pan[-4:]
    assert set(masked[6:-4]) == {"*"}


def test_a_date_of_birth_is_not_kept_in_a_resident_id_token() -> None:
    born = date(1990, 1, 1)
    same_day = set()
    for serial in range(100, 110):
        body = "110105" + born.strftime("%Y%m%d") + str(serial)
        token = ResidentIdFormat().tokenize(
            body + ric.calc_check_digit(body + "0"), key=KEY, version=1, tweak=TWEAK
        )
        same_day.add(token[6:14])
    assert len(same_day) > 1
