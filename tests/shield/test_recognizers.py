"""The built-in recognizers through `Scanner.default()`: known answers per entity (English,
Chinese, full-width), and distractors that must not be reported as personal data."""

# ruff: noqa: RUF001 - Chinese text is written with its full-width punctuation on purpose

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from stdnum import iban as stdnum_iban

from payguard.core.pan import luhn_valid
from payguard.shield.interfaces import Entity, Finding
from payguard.shield.recognizers import builtin
from payguard.shield.recognizers.credentials import shannon_entropy
from payguard.shield.recognizers.identity import _ADDRESS_LABELS
from payguard.shield.recognizers.validators import VALIDATORS
from payguard.shield.scanner import Scanner
from payguard.vault.formats import new_vault_token
from payguard.vault.interfaces import CardToken
from payguard.vault.kinds import Kind
from payguard.wire.schemas import card_in_text

SCANNER = Scanner.default()


def found(text: str) -> list[tuple[Entity, str]]:
    return [(f.entity, text[f.start : f.end]) for f in SCANNER.scan(text)]


@pytest.mark.parametrize(
    ("text", "entity", "value"),
    [
        # cards: any separator, and known test numbers of several schemes
        ("card 4111 1111 1111 1111 exp 12/28", Entity.CARD, "4111 1111 1111 1111"),
        ("pay with 5555-5555-5555-4444 now", Entity.CARD, "5555-5555-5555-4444"),
        ("amex 378282246310005.", Entity.CARD, "378282246310005"),
        ("卡号：6011000990139424，谢谢", Entity.CARD, "6011000990139424"),
        (
            "卡号\uff14\uff11\uff11\uff11\uff11\uff11\uff11\uff11\uff11\uff11\uff11\uff11\uff11\uff11\uff11\uff11",
            Entity.CARD,
            "\uff14\uff11\uff11\uff11\uff11\uff11\uff11\uff11\uff11\uff11\uff11\uff11\uff11\uff11\uff11\uff11",
        ),
        # IBAN
        ("IBAN DE89 3704 0044 0532 0130 00 please", Entity.IBAN, "DE89 3704 0044 0532 0130 00"),
        ("to GB82WEST12345698765432 BANK", Entity.IBAN, "GB82WEST12345698765432"),
        # bank accounts need context
        ("account number 12345678901 at the branch", Entity.BANK_ACCOUNT, "12345678901"),
        ("收款账号：02000012345678901", Entity.BANK_ACCOUNT, "02000012345678901"),
        # Chinese resident ids
        ("身份证号：11010519491231002X。", Entity.CN_RESIDENT_ID, "11010519491231002X"),
        ("id 11010519491231002x ok", Entity.CN_RESIDENT_ID, "11010519491231002x"),
        ("号码 440524 19800101 0013 x", Entity.CN_RESIDENT_ID, "440524 19800101 0013"),
        # phones
        ("电话：138 0013 8000，", Entity.PHONE, "138 0013 8000"),
        ("手机13800138000", Entity.PHONE, "13800138000"),
        ("call +86 138-0013-8000 today", Entity.PHONE, "+86 138-0013-8000"),
        ("tel 0086 13800138000", Entity.PHONE, "0086 13800138000"),
        (
            "手机\uff11\uff13\uff18\uff10\uff10\uff11\uff13\uff18\uff10\uff10\uff10",
            Entity.PHONE,
            "\uff11\uff13\uff18\uff10\uff10\uff11\uff13\uff18\uff10\uff10\uff10",
        ),
        ("office 010-62345678 ext", Entity.PHONE, "010-62345678"),
        ("ring +44 20 7946 0958 for details", Entity.PHONE, "+44 20 7946 0958"),
        ("ring +1 (650) 253-0000.", Entity.PHONE, "+1 (650) 253-0000"),
        ("Call (555) 123-4567 now", Entity.PHONE, "(555) 123-4567"),
        ("Call 001-555-123-4567x89", Entity.PHONE, "001-555-123-4567x89"),
        # email
        ("mail Ann.Lee+tag@Example.COM.", Entity.EMAIL, "Ann.Lee+tag@Example.COM"),
        ("邮箱：zhang.san@example.com。", Entity.EMAIL, "zhang.san@example.com"),
        (
            "邮箱\uff5a\uff48\uff41\uff4e\uff47\uff20\uff45\uff58\uff41\uff4d\uff50\uff4c\uff45\uff0e\uff43\uff4f\uff4d",
            Entity.EMAIL,
            "\uff5a\uff48\uff41\uff4e\uff47\uff20\uff45\uff58\uff41\uff4d\uff50\uff4c\uff45\uff0e\uff43\uff4f\uff4d",
        ),
        # IP addresses
        ("from 192.168.1.10:8080 ok", Entity.IP_ADDRESS, "192.168.1.10"),
        ("client 2001:db8::1 said", Entity.IP_ADDRESS, "2001:db8::1"),
        ("peer fe80::1ff:fe23:4567:890a.", Entity.IP_ADDRESS, "fe80::1ff:fe23:4567:890a"),
        # passports need context
        ("passport no. E12345678", Entity.PASSPORT, "E12345678"),
        ("护照号码：G87654321", Entity.PASSPORT, "G87654321"),
        ("Passport: X1234567", Entity.PASSPORT, "X1234567"),
        # names and addresses where context makes them likely
        ("Name: John Smith, card", Entity.PERSON, "John Smith"),
        ("Cardholder: Mary-Jane Watson Email: x", Entity.PERSON, "Mary-Jane Watson"),
        ("thanks Mr. Brown for calling", Entity.PERSON, "Brown"),
        ("姓名：张三，电话", Entity.PERSON, "张三"),
        ("收货人李四电话", Entity.PERSON, "李四"),
        ("Address: 42 Elm Road, Leeds\n", Entity.ADDRESS, "42 Elm Road, Leeds"),
        (
            "ship to 123 Main Street, Springfield, IL 62704 today",
            Entity.ADDRESS,
            "123 Main Street, Springfield, IL 62704",
        ),
        (
            "收货地址：上海市浦东新区世纪大道100号 收货人：李四",
            Entity.ADDRESS,
            "上海市浦东新区世纪大道100号",
        ),
        # dates of birth near birth context
        ("born 1990-01-02 in Leeds", Entity.DATE_OF_BIRTH, "1990-01-02"),
        ("DOB: 03/04/1985", Entity.DATE_OF_BIRTH, "03/04/1985"),
        ("出生日期：1985年3月4日", Entity.DATE_OF_BIRTH, "1985年3月4日"),
        ("date of birth March 4, 1985", Entity.DATE_OF_BIRTH, "March 4, 1985"),
        # secrets
        (
            "key=sk_live_4eC39HqLyjWDarjtT1zdp7dc;",
            Entity.SECRET,
            "sk_live_4eC39HqLyjWDarjtT1zdp7dc",
        ),
        ("aws AKIAIOSFODNN7EXAMPLE x", Entity.SECRET, "AKIAIOSFODNN7EXAMPLE"),
        (
            "gh ghp_abcdefghijklmnopqrstuvwxyz0123456789 x",
            Entity.SECRET,
            "ghp_abcdefghijklmnopqrstuvwxyz0123456789",
        ),
        ("slack xoxb-1234567890-abcdefghij", Entity.SECRET, "xoxb-1234567890-abcdefghij"),
        (
            "g AIzaSyA1234567890abcdefghijklmnopqrstuv",
            Entity.SECRET,
            "AIzaSyA1234567890abcdefghijklmnopqrstuv",
        ),
        (
            "jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
            Entity.SECRET,
            "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
        ),
        (
            "-----BEGIN RSA PRIVATE KEY-----\nMIIBOgIBAAJBAKj34GkxFhD90vcNLYLInFEX6Ppy1tPf9Cnzj4p4WGeKLs1Pt8Qu\n-----END RSA PRIVATE KEY-----",
            Entity.SECRET,
            "-----BEGIN RSA PRIVATE KEY-----\nMIIBOgIBAAJBAKj34GkxFhD90vcNLYLInFEX6Ppy1tPf9Cnzj4p4WGeKLs1Pt8Qu\n-----END RSA PRIVATE KEY-----",
        ),
        (
            "api_key: Zx8Qw3Er5Ty7Ui9Op1As2Df4Gh6Jk8Lz0",
            Entity.SECRET,
            "Zx8Qw3Er5Ty7Ui9Op1As2Df4Gh6Jk8Lz0",
        ),
    ],
)
def test_known_answers(text: str, entity: Entity, value: str) -> None:
    assert (entity, value) in found(text)


@pytest.mark.parametrize(
    "text",
    [
        "order 20261204153012 placed",  # a timestamp
        "created 2026-12-04T15:30:12Z by ci",
        "tracking 1Z999AA10123456784 in transit",  # a UPS tracking number
        "快递单号SF1234567890123已发出",
        "request 550e8400-e29b-41d4-a716-446655440000 done",  # a UUID
        "upgrade to v2.14.3 or 10.0.19041.1",  # version strings
        "total $1,299.99 or ¥12,345.00 or 1299.99",  # prices
        "epoch 1733327412345 and 1733327412",  # timestamps in ms and s
        "ref 1234567890123452 is an order number",  # Luhn-valid, no card scheme's prefix
        "id 110105194912310021 fails its check",  # 18 digits failing the id checksum
        "ref 110105194913310029 has no such date",  # bad month
        "order 13800138000123 is longer than a phone",
        "card 4111 1111 1111 1112 fails Luhn",
        "IBAN DE89 3704 0044 0532 0130 01 has a wrong check",
        "time 12:30:45 and mac 00:1a:2b:3c:4d:5e",
        "npm package@1.2.3 and user@localhost",
        "sha256 e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",  # no context
        "order A12345678 shipped",  # passport-shaped, no passport context
        "meeting on 1990-01-02 about budgets",  # a date, no birth context
        "我们在上海举办了年度会议，参会人数超过三百人。",
    ],
)
def test_distractors_are_not_personal_data(text: str) -> None:
    assert found(text) == []


def test_payguard_tokens_are_tokens_not_pii() -> None:
    vault = "tok_phone_abcdefghijklmnopqrstuvwxyz"
    card = "[card 411111******1111 token 4111118765431112]"
    text = f"saved {vault} and {card}."
    assert found(text) == [(Entity.PAYGUARD_TOKEN, vault), (Entity.PAYGUARD_TOKEN, card)]


@pytest.mark.parametrize("kind", list(Kind))
def test_every_vault_token_the_vault_makes_is_a_token(kind: Kind) -> None:
    # The shield keeps its own copy of the token shape (it may not import vault internals);
    # this catches the two drifting apart, e.g. a new kind.
    token = new_vault_token(kind)
    assert found(f"ref {token}.") == [(Entity.PAYGUARD_TOKEN, token)]


def test_the_api_card_form_is_a_token() -> None:
    form = card_in_text(
        CardToken(token="4111112345671119", masked="411111******1111", bin="411111")
    )
    assert found(f"paid with {form} today") == [(Entity.PAYGUARD_TOKEN, form)]


def test_a_token_suppresses_pii_inside_it() -> None:
    # A token form whose digits would pass Luhn still reads as a token, never as a card.
    text = "[card 411111******1111 token 4111111111111111]"
    assert found(text) == [(Entity.PAYGUARD_TOKEN, text)]


def test_a_resident_id_that_passes_luhn_with_a_card_prefix_is_an_id() -> None:
    # 65 (Xinjiang) is also Discover's prefix, and this id passes Luhn too.
    assert luhn_valid("650102198001010207")
    assert found("x 650102198001010207 x") == [(Entity.CN_RESIDENT_ID, "650102198001010207")]


def test_context_raises_the_score() -> None:
    bare = SCANNER.scan("13800138000")
    near = SCANNER.scan("手机 13800138000")
    assert bare[0].score < near[0].score


def test_unbranded_luhn_numbers_need_card_context() -> None:
    assert found("ref 1234567890123452") == []
    assert found("card number 1234567890123452") == [(Entity.CARD, "1234567890123452")]


def test_every_builtin_has_a_unique_name_and_declares_its_entities() -> None:
    recognizers = builtin()
    names = [r.name for r in recognizers]
    assert len(names) == len(set(names))
    for recognizer in recognizers:
        for finding in recognizer.find("x"):
            assert isinstance(finding, Finding)
        assert recognizer.entities


@pytest.mark.parametrize(
    ("validator", "good", "bad"),
    [
        ("luhn", "4111-1111-1111-1111", "4111-1111-1111-1112"),
        ("iban", "GB82 WEST 1234 5698 7654 32", "GB82 WEST 1234 5698 7654 33"),
        ("mod97", "GB82WEST12345698765432", "GB83WEST12345698765432"),
        ("cn_ric_checksum", "11010519491231002X", "110105194912310021"),
        ("e164", "+44 20 7946 0958", "+44 20 7946 09"),
    ],
)
def test_validators(validator: str, good: str, bad: str) -> None:
    assert VALIDATORS[validator](good)
    assert not VALIDATORS[validator](bad)
    assert VALIDATORS["none"](bad)


def test_cn_ric_checksum_ignores_the_county_table_but_checks_the_date() -> None:
    # 440524 (a county code retired since) with a valid check character: detection accepts it.
    assert VALIDATORS["cn_ric_checksum"]("440524198001010013")
    assert not VALIDATORS["cn_ric_checksum"]("440524198002300012")  # 30 February
    assert not VALIDATORS["cn_ric_checksum"]("990524198001010010")  # no such province


def test_shannon_entropy() -> None:
    assert shannon_entropy("") == 0
    assert shannon_entropy("aaaa") == 0
    assert shannon_entropy("abcd") == 2


def test_two_card_numbers_side_by_side_are_reported_as_one_card_span() -> None:
    # `find_pans` merges overlapping Luhn-valid windows into one span of more than 19
    # digits; the recognizer judges it by the card numbers it starts with.
    text = "3700 0000 0000 002  4000 0000 0000 0002"
    found = [f for f in Scanner.default().scan(text) if f.entity is Entity.CARD]
    assert [(f.start, f.end) for f in found] == [(0, len(text))]


def test_validator_caches_hold_digests_not_the_texts_they_saw() -> None:
    from payguard.shield.recognizers.validators import e164_valid

    number = "+44 7911 123456"
    assert e164_valid(number) is True
    assert e164_valid(number) is True  # answered from the cache
    # Nothing reachable from the cached function holds the number, only 16-byte digests.
    closure = [cell.cell_contents for cell in (e164_valid.__closure__ or ())]
    answers = next(c for c in closure if isinstance(c, dict))
    assert answers and all(isinstance(k, bytes) and len(k) == 16 for k in answers)
    assert number not in repr(closure)


_IBANS = [
    "GB65ONKB73903112401386", "BE75072148061951", "DE89370400440532013000",
    "FR1420041010050500013M02606", "NL91ABNA0417164300", "ES9121000418450200051332",
    "FI4555372153974310", "NO9386011117947", "MT84MALT011000012345MTLCAST001S",
    "BR1800360305000010009795493C1", "SA0380000000608010167519",
]  # fmt: skip


@given(
    st.sampled_from(_IBANS),
    st.lists(
        st.tuples(st.integers(0, 33), st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")),
        max_size=2,
    ),
    st.integers(0, 40),
)
def test_the_iban_validator_agrees_with_stdnum(
    iban: str, edits: list[tuple[int, str]], cut: int
) -> None:
    # The validator reads stdnum's registry once per country instead of calling
    # `stdnum.iban.is_valid`: same answers on valid IBANs, their typos and their prefixes.
    chars = list(iban)
    for position, char in edits:
        chars[position % len(chars)] = char
    number = "".join(chars)[: max(cut, 15)]
    assert VALIDATORS["iban"](number) == stdnum_iban.is_valid(number)
    assert VALIDATORS["iban"](" ".join(number[i : i + 4] for i in range(0, len(number), 4))) == (
        stdnum_iban.is_valid(number)
    )


@pytest.mark.parametrize("label", _ADDRESS_LABELS)
def test_every_address_label_is_read(label: str) -> None:
    # Only colons after `addr`, `address` or `址` are read as an address label's: every
    # label, in any case and with quotes or spaces before its colon, still is.
    for written in (label, label.upper(), label.title()):
        for text in (f"{written}: 42 Elm Row, Leeds", f'"{written}" : 42 Elm Row, Leeds'):
            assert (Entity.ADDRESS, "42 Elm Row, Leeds") in found(text), text


_SECRETS = [
    "sk_live_" + "a1B2" * 6,
    "pk_live_" + "a1B2" * 6,
    "AKIA" + "A1B2" * 4,
    "ghp_" + "a1B2" * 9,
    "github_pat_" + "a1B2" * 6,
    "xoxb-" + "1234-abcd-" * 2,
    "AIza" + "a1B2_" * 7,
    "eyJhbGciOiJI.eyJzdWIiOiIx.c2lnbmF0dXJl",
    "-----BEGIN RSA PRIVATE KEY-----\nMIIEow==\n-----END RSA PRIVATE KEY-----",
]


def test_every_known_secret_pattern_starts_at_a_known_prefix() -> None:
    # The recognizer looks for `_KNOWN_PREFIX` first and reads nothing before it: each
    # pattern has an example here, and each example is found after other text.
    from payguard.shield.recognizers.credentials import _KNOWN, _KNOWN_PREFIX

    for index, regex in enumerate(_KNOWN):
        example = _SECRETS[index]
        assert regex.fullmatch(example), index
        assert _KNOWN_PREFIX.match(example), index
        assert found(f"deploy with {example} today") == [(Entity.SECRET, example)]


def test_chinese_mobile_validity_agrees_with_phonenumbers() -> None:
    # The recognizer reads phonenumbers' metadata patterns once instead of parsing each
    # number: the same verdict on numbers of every prefix 130-199.
    import random

    import phonenumbers

    from payguard.shield.recognizers.contact import _cn_mobile_valid

    rng = random.Random(15)
    for prefix in range(130, 200):
        for _ in range(40):
            digits = f"{prefix}{rng.randrange(10**8):08d}"
            expected = phonenumbers.is_valid_number(phonenumbers.parse(digits, "CN"))
            assert _cn_mobile_valid(digits) == expected, digits
            assert _cn_mobile_valid(f"{digits[:3]} {digits[3:7]} {digits[7:]}") == expected
