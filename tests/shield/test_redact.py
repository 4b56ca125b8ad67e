"""The redaction engine: the policy read strictly, each action on each entity, offsets applied
right when a text holds several findings, tokens asked for in one batch per kind and the
same pseudonym everywhere, the vault's refusals redacted instead, and (Hypothesis) no planted
value surviving the default policy."""

# ruff: noqa: RUF001 - Chinese text is written with its full-width punctuation on purpose

from __future__ import annotations

import hashlib
import hmac
import json
import math
import re
from collections.abc import Sequence
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from stdnum import iban as stdnum_iban
from stdnum.cn import ric
from stdnum.luhn import calc_check_digit

from payguard.audit.interfaces import Actor
from payguard.core.errors import ValidationFailed
from payguard.shield.interfaces import Action, Entity, TextRedactor
from payguard.shield.redact import (
    DEFAULT_ACTIONS,
    MAX_POLICY_BYTES,
    RedactionPolicy,
    Redactor,
)
from payguard.shield.registry import Registry
from payguard.shield.scanner import Scanner
from payguard.shield.service import PrivacyService

KEY = b"k" * 32

CUSTOM_YAML = """
recognizers:
  - name: member_id
    patterns:
      - regex: "MBR-[0-9]{8}"
        score: 0.9
"""


def wide(text: str) -> str:
    """`text` with its ASCII digits in full-width forms."""
    return "".join(chr(ord(c) + 0xFEE0) if c.isdigit() else c for c in text)


def _scanner() -> Scanner:
    registry = Registry.builtin()
    registry.load_yaml(CUSTOM_YAML)
    return Scanner(registry)


SCANNER = _scanner()


class FakeVault:
    """A deterministic tokenizer (letters only, so no digit of a value can survive in a
    token); records every call, refuses the values in `refuse`."""

    def __init__(self, refuse: Sequence[str] = (), salt: str = "") -> None:
        self.calls: list[tuple[str, list[str]]] = []
        self.refuse = set(refuse)
        self.salt = salt

    def __call__(self, kind: str, values: Sequence[str]) -> list[str | None]:
        self.calls.append((kind, list(values)))
        return [None if v in self.refuse else self.token(kind, v) for v in values]

    def token(self, kind: str, value: str) -> str:
        digest = hashlib.sha256(f"{self.salt}|{kind}|{value}".encode()).digest()
        return f"tok_{kind}_" + "".join(chr(ord("a") + b % 26) for b in digest[:13])


def redactor(
    entities: dict[str, str] | None = None, vault: FakeVault | None = None, key: bytes = KEY
) -> Redactor:
    policy = RedactionPolicy.from_dict({"entities": entities or {}})
    return Redactor(SCANNER, policy, tokenize=vault or FakeVault(), hash_key=key)


# -- the policy -----------------------------------------------------------------------------


def test_the_default_policy_is_the_documented_one() -> None:
    policy = RedactionPolicy.default()
    assert set(DEFAULT_ACTIONS) == set(Entity)
    assert policy.action_for(Entity.CARD) is Action.TOKENIZE
    assert policy.action_for(Entity.CN_RESIDENT_ID) is Action.TOKENIZE
    assert policy.action_for(Entity.PHONE) is Action.MASK
    assert policy.action_for(Entity.SECRET) is Action.REDACT
    assert policy.action_for(Entity.DATE_OF_BIRTH) is Action.GENERALIZE
    assert policy.action_for(Entity.PAYGUARD_TOKEN) is Action.KEEP
    assert policy.action_for(Entity.CUSTOM) is Action.REDACT


def test_a_policy_is_read_with_actions_and_thresholds() -> None:
    policy = RedactionPolicy.from_dict(
        {"entities": {"card": "mask", "email": "hash"}, "thresholds": {"phone": 0.8, "card": 1}}
    )
    assert policy.action_for(Entity.CARD) is Action.MASK
    assert policy.action_for(Entity.EMAIL) is Action.HASH
    assert policy.action_for(Entity.IBAN) is Action.TOKENIZE  # left out: the default
    assert policy.thresholds == {Entity.PHONE: 0.8, Entity.CARD: 1.0}
    assert RedactionPolicy.from_dict(policy.to_dict()) == policy
    assert RedactionPolicy.from_json(json.dumps(policy.to_dict())) == policy


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ([], "policy"),
        ("mask", "policy"),
        (None, "policy"),
        ({"entity": {}}, "policy.entity"),
        ({"entities": []}, "policy.entities"),
        ({"entities": {"cards": "mask"}}, "policy.entities.cards"),
        ({"entities": {"card": "burn"}}, "policy.entities.card"),
        ({"entities": {"card": "MASK"}}, "policy.entities.card"),
        ({"entities": {"card": ["mask"]}}, "policy.entities.card"),
        ({"entities": {"card": None}}, "policy.entities.card"),
        ({"entities": {"card": 1}}, "policy.entities.card"),
        ({"entities": {"": "mask"}}, "policy.entities."),
        ({"entities": {"x" * 5000: "mask"}}, "policy.entities." + "x" * 32),
        ({"thresholds": {"phone": "0.8"}}, "policy.thresholds.phone"),
        ({"thresholds": {"phone": True}}, "policy.thresholds.phone"),
        ({"thresholds": {"phone": 1.5}}, "policy.thresholds.phone"),
        ({"thresholds": {"phone": -0.1}}, "policy.thresholds.phone"),
        ({"thresholds": {"phone": math.nan}}, "policy.thresholds.phone"),
        ({"thresholds": {"phone": math.inf}}, "policy.thresholds.phone"),
        ({"thresholds": {"telephone": 0.5}}, "policy.thresholds.telephone"),
        ({"thresholds": 0.5}, "policy.thresholds"),
    ],
)
def test_a_hostile_policy_is_refused_naming_the_field(data: Any, field: str) -> None:
    with pytest.raises(ValidationFailed) as refused:
        RedactionPolicy.from_dict(data)
    assert refused.value.field == field
    assert len(refused.value.message) < 300  # an over-long key is not echoed whole


@pytest.mark.parametrize(
    "text",
    ["{", "[" * 100_000 + "]" * 100_000, "NaN-ish", "x" * (MAX_POLICY_BYTES + 1)],
    ids=["truncated", "deep", "garbage", "oversized"],
)
def test_a_policy_that_is_not_json_is_refused(text: str) -> None:
    with pytest.raises(ValidationFailed) as refused:
        RedactionPolicy.from_json(text, field="file.policy")
    assert refused.value.field == "file.policy"


# -- each action on each entity -------------------------------------------------------------

#: A text each entity is found in, and the value found.
SAMPLES: dict[Entity, tuple[str, str]] = {
    Entity.CARD: ("card 4111 1111 1111 1111 ok", "4111 1111 1111 1111"),
    Entity.IBAN: ("iban GB82 WEST 1234 5698 7654 32 ok", "GB82 WEST 1234 5698 7654 32"),
    Entity.BANK_ACCOUNT: ("account: 6222020200112233445 ok", "6222020200112233445"),
    Entity.CN_RESIDENT_ID: ("id 11010519491231002X ok", "11010519491231002X"),
    Entity.PHONE: ("call +86 138 0013 8000 ok", "+86 138 0013 8000"),
    Entity.EMAIL: ("mail john.doe@example.com ok", "john.doe@example.com"),
    Entity.IP_ADDRESS: ("from 203.0.113.77 ok", "203.0.113.77"),
    Entity.PASSPORT: ("passport E12345678 ok", "E12345678"),
    Entity.PERSON: ("name: John Smith\n", "John Smith"),
    Entity.ADDRESS: ("address: 12 Orchard Road, Singapore\n", "12 Orchard Road, Singapore"),
    Entity.DATE_OF_BIRTH: ("born 1987-03-04 ok", "1987-03-04"),
    Entity.SECRET: ("key=sk_live_4eC39HqLyjWDarjtT1zdp7dc; ok", "sk_live_4eC39HqLyjWDarjtT1zdp7dc"),
    Entity.PAYGUARD_TOKEN: (
        "token tok_phone_abcdefghijklmnopqrstuvwxyz ok",
        "tok_phone_abcdefghijklmnopqrstuvwxyz",
    ),
    Entity.CUSTOM: ("member MBR-12345678 ok", "MBR-12345678"),
}

#: What `mask` makes of each sample.
MASKED = {
    Entity.CARD: "411111******1111",
    Entity.IBAN: "*" * 23 + "4 32",
    Entity.BANK_ACCOUNT: "***************3445",
    Entity.CN_RESIDENT_ID: "**************002X",
    Entity.PHONE: "+86*******8000",
    Entity.EMAIL: "j***@example.com",
    Entity.IP_ADDRESS: "203.0.113.x",
    Entity.PASSPORT: "*****5678",
    Entity.PERSON: "******mith",
    Entity.ADDRESS: "**********************pore",
    Entity.DATE_OF_BIRTH: "******3-04",
    Entity.SECRET: "****************************p7dc",
    Entity.PAYGUARD_TOKEN: "********************************wxyz",
    Entity.CUSTOM: "********5678",
}

#: The vault kind each entity is tokenized as.
KINDS = {
    Entity.CARD: ("pan", "4111111111111111"),
    Entity.IBAN: ("account", "GB82WEST12345698765432"),
    Entity.BANK_ACCOUNT: ("account", "6222020200112233445"),
    Entity.CN_RESIDENT_ID: ("id_number", "11010519491231002X"),
    Entity.PHONE: ("phone", "+8613800138000"),
    Entity.EMAIL: ("email", "john.doe@example.com"),
}


def test_every_entity_has_a_sample() -> None:
    assert set(SAMPLES) == set(Entity) == set(MASKED)
    for entity, (text, value) in SAMPLES.items():
        found = [(f.entity, text[f.start : f.end]) for f in SCANNER.scan(text)]
        assert found == [(entity, value)], entity


def _replace(entity: Entity, replacement: str) -> str:
    text, value = SAMPLES[entity]
    return text.replace(value, replacement)


@pytest.mark.parametrize("entity", list(Entity))
def test_redact_writes_the_entity_name(entity: Entity) -> None:
    engine = redactor({entity.value: "redact"})
    done = engine.redact_text(SAMPLES[entity][0])
    assert done.text == _replace(entity, f"[{entity.value}]")
    assert engine.tally.by_entity() == {entity.value: {"redact": 1}}
    assert [f.entity for f in done.findings] == [entity]


@pytest.mark.parametrize("entity", list(Entity))
def test_keep_leaves_the_value(entity: Entity) -> None:
    engine = redactor({entity.value: "keep"})
    assert engine.redact_text(SAMPLES[entity][0]).text == SAMPLES[entity][0]
    assert engine.tally.by_entity() == {entity.value: {"keep": 1}}


@pytest.mark.parametrize("entity", list(Entity))
def test_mask_keeps_the_shape_each_entity_allows(entity: Entity) -> None:
    engine = redactor({entity.value: "mask"})
    assert engine.redact_text(SAMPLES[entity][0]).text == _replace(entity, MASKED[entity])


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("phone 13800138000 ok", "phone +86*******8000 ok"),
        ("phone 0086 138 0013 8000 ok", "phone +86*******8000 ok"),
        ("call (415) 555-2671 ok", "call +1******2671 ok"),
        ("call +44 20 7946 0958 ok", "call +44******0958 ok"),
        ("tel 010-62345678 ok", "tel +86******5678 ok"),
        ("from 2001:db8:85a3::8a2e:370:7334 ok", "from 2001:db8:85a3::/48 ok"),
        (
            f"card {wide('4111 1111 1111 1111')} ok",
            "card 411111******1111 ok",
        ),
        ("mail X@example.co ok", "mail X***@example.co ok"),
    ],
)
def test_mask_by_entity_forms(text: str, masked: str) -> None:
    assert redactor({"phone": "mask", "card": "mask"}).redact_text(text).text == masked


@pytest.mark.parametrize("entity", list(Entity))
def test_hash_is_keyed_and_stable(entity: Entity) -> None:
    text, value = SAMPLES[entity]
    done = redactor({entity.value: "hash"}).redact_text(text).text
    hashed = re.search(r"h:[0-9a-f]{16}", done)
    assert hashed is not None and done == _replace(entity, hashed.group())
    assert redactor({entity.value: "hash"}).redact_text(text).text == done
    other = redactor({entity.value: "hash"}, key=b"o" * 32).redact_text(text).text
    assert other != done
    assert value not in done


def test_hash_reads_a_value_however_it_is_written() -> None:
    engine = redactor({"card": "hash", "email": "hash", "phone": "hash"})
    spaced = engine.redact_text("card 4111 1111 1111 1111").text
    assert engine.redact_text("card 4111111111111111").text == spaced
    assert engine.redact_text(f"card {wide('4111111111111111')}").text == spaced
    assert (
        engine.redact_text("mail John@Example.com").text
        == engine.redact_text("mail john@example.com").text
    )
    expected = hmac.new(
        KEY, b"payguard/shield/hash/v1\x004111111111111111", hashlib.sha256
    ).hexdigest()
    assert spaced == f"card h:{expected[:16]}"


@pytest.mark.parametrize("entity", list(Entity))
def test_tokenize_asks_the_vault_for_the_entitys_kind(entity: Entity) -> None:
    vault = FakeVault()
    engine = redactor({entity.value: "tokenize"}, vault)
    text, value = SAMPLES[entity]
    kind, asked = KINDS.get(entity, ("generic", value))
    assert engine.redact_text(text).text == _replace(entity, vault.token(kind, asked))
    assert vault.calls == [(kind, [asked])]
    assert engine.tally.by_entity() == {entity.value: {"tokenize": 1}}


@pytest.mark.parametrize(
    ("text", "general"),
    [
        ("born 1987-03-04 ok", "born 1987 ok"),
        ("DOB: 04/03/1987 ok", "DOB: 1987 ok"),
        ("出生日期：1985年3月4日", "出生日期：1985"),
        ("date of birth March 4, 1985.", "date of birth 1985."),
    ],
)
def test_generalize_makes_a_birth_date_its_year(text: str, general: str) -> None:
    assert redactor().redact_text(text).text == general


@pytest.mark.parametrize("entity", [e for e in Entity if e is not Entity.DATE_OF_BIRTH])
def test_generalize_redacts_what_it_cannot_generalise(entity: Entity) -> None:
    engine = redactor({entity.value: "generalize"})
    assert engine.redact_text(SAMPLES[entity][0]).text == _replace(entity, f"[{entity.value}]")
    assert engine.tally.by_entity() == {entity.value: {"redact": 1}}


@pytest.mark.parametrize(
    ("value", "band"),
    [
        (0, "0-9"),
        (7, "0-9"),
        (10, "10-99"),
        (125.5, "100-999"),
        ("125.50", "100-999"),
        ("1,250.00", "1000-9999"),
        (999_999, "100000-999999"),
        (-55, "-99--10"),
        (wide("123"), "100-999"),
    ],
)
def test_generalize_makes_an_amount_a_band(value: object, band: str) -> None:
    assert redactor().redact_value(value, Action.GENERALIZE) == band


@pytest.mark.parametrize(("age", "band"), [(0, "0-9"), (37, "30-39"), ("64", "60-69")])
def test_generalize_makes_an_age_a_ten_year_band(age: object, band: str) -> None:
    assert redactor().redact_value(age, Action.GENERALIZE, generalize_as="age") == band


@pytest.mark.parametrize("value", ["abc", math.nan, math.inf, True, [1], {"a": 1}, "1e5"])
def test_generalize_redacts_what_is_not_a_number(value: object) -> None:
    assert redactor().redact_value(value, Action.GENERALIZE) == "[redacted]"
    assert redactor().redact_value(200, Action.GENERALIZE, generalize_as="age") == "[redacted]"


def test_redact_value_applies_the_action_to_one_value() -> None:
    vault = FakeVault()
    engine = redactor(vault=vault)
    assert engine.redact_value("4111111111111111", Action.MASK, Entity.CARD) == "411111******1111"
    assert engine.redact_value("13800138000", Action.MASK, Entity.PHONE) == "+86*******8000"
    assert engine.redact_value("a-long-value", Action.MASK) == "********alue"
    assert engine.redact_value("short", Action.MASK) == "*****"
    assert engine.redact_value(None, Action.REDACT) is None
    assert engine.redact_value(42, Action.KEEP) == 42
    assert engine.redact_value("x", Action.REDACT, Entity.EMAIL) == "[email]"
    assert engine.redact_value("x", Action.REDACT) == "[redacted]"
    assert engine.redact_value("1987-03-04", Action.GENERALIZE, Entity.DATE_OF_BIRTH) == "1987"
    assert engine.redact_value("13800138000", Action.TOKENIZE, Entity.PHONE) == vault.token(
        "phone", "+8613800138000"
    )
    assert engine.redact_value(12345, Action.TOKENIZE) == vault.token("generic", "12345")
    assert engine.redact_value({"b": 1, "a": 2}, Action.HASH) == engine.redact_value(
        '{"a": 2, "b": 1}', Action.HASH
    )
    assert str(engine.redact_value(4111111111111111, Action.HASH, Entity.CARD)).startswith("h:")


def test_the_redactor_is_a_text_redactor() -> None:
    engine: TextRedactor = redactor()
    assert engine.redact_text("nothing here").text == "nothing here"


# -- offsets --------------------------------------------------------------------------------


def test_several_findings_are_each_replaced_at_their_own_offsets() -> None:
    vault = FakeVault()
    engine = redactor({"card": "mask", "iban": "tokenize"}, vault)
    text = (
        f"客户：Jane，卡号 4111 1111 1111 1111，电话{wide('13800138000')}；"
        "mail a.b@example.com,ip 10.0.0.7 and 5555555555554444/GB82WEST12345698765432 "
        "born 1987-03-04 key=sk_live_4eC39HqLyjWDarjtT1zdp7dc"
    )
    done = engine.redact_text(text)
    iban = vault.token("account", "GB82WEST12345698765432")
    assert done.text == (
        "客户：Jane，卡号 411111******1111，电话+86*******8000；"
        f"mail a***@example.com,ip 10.0.0.x and 555555******4444/{iban} born 1987 key=[secret]"
    )
    # the findings are the original text's
    assert [text[f.start : f.end] for f in done.findings][:2] == [
        "4111 1111 1111 1111",
        wide("13800138000"),
    ]


def test_adjacent_findings_and_findings_at_both_ends() -> None:
    engine = redactor({"email": "redact", "ip_address": "redact"})
    assert engine.redact_text("a@example.com 10.0.0.1").text == "[email] [ip_address]"
    assert engine.redact_text("10.0.0.1,a@example.com").text == "[ip_address],[email]"


def test_overlapping_findings_are_refused_not_garbled() -> None:
    from payguard.shield.interfaces import Finding

    class Overlapping:
        def scan(self, text: str) -> list[Finding]:
            return [Finding(0, 5, Entity.CUSTOM, 1, "x"), Finding(3, 8, Entity.CUSTOM, 1, "x")]

    engine = Redactor(Overlapping(), tokenize=FakeVault(), hash_key=KEY)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="overlapping"):
        engine.redact_text("0123456789")


# -- tokens: batches and pseudonyms ---------------------------------------------------------


def test_one_tokenizer_call_per_kind_per_text() -> None:
    vault = FakeVault()
    engine = redactor({"phone": "tokenize", "email": "tokenize"}, vault)
    text = (
        "cards 4111111111111111, 5555 5555 5555 4444 and 4111-1111-1111-1111 again; "
        "phones +86 138 0013 8000, 13900139000; mail a@example.com b@example.com a@example.com"
    )
    done = engine.redact_text(text)
    assert sorted(vault.calls) == [
        ("email", ["a@example.com", "b@example.com"]),
        ("pan", ["4111111111111111", "5555555555554444"]),
        ("phone", ["+8613800138000", "+8613900139000"]),
    ]
    assert done.text.count(vault.token("pan", "4111111111111111")) == 2
    assert engine.tally.by_entity()["card"] == {"tokenize": 3}


def test_one_tokenizer_call_per_kind_per_document_and_per_batch_of_texts() -> None:
    vault = FakeVault()
    engine = redactor(vault=vault)
    document = {
        "a": {"card": "4111111111111111", "id": "11010519491231002X"},
        "items": [{"card": "5555555555554444"}, {"note": "card 4111 1111 1111 1111"}],
        "deep": [[[{"iban": "GB82WEST12345698765432"}]]],
    }
    engine.redact_document(document)
    assert sorted(kind for kind, _ in vault.calls) == ["account", "id_number", "pan"]
    vault.calls.clear()
    engine.redact_texts([f"card {pan}" for pan in ("4111111111111111", "5555555555554444")] * 3)
    assert vault.calls == [("pan", ["4111111111111111", "5555555555554444"])]


def test_batches_are_capped_at_the_vaults_limit() -> None:
    vault = FakeVault()
    engine = Redactor(
        SCANNER,
        RedactionPolicy.from_dict({"entities": {"custom": "tokenize"}}),
        tokenize=vault,
        hash_key=KEY,
        token_batch=10,
    )
    engine.redact_text(" ".join(f"MBR-{n:08d}" for n in range(25)))
    assert [len(values) for _, values in vault.calls] == [10, 10, 5]


def test_the_same_value_gets_the_same_pseudonym_in_every_document() -> None:
    vault = FakeVault()
    one = redactor(vault=vault).redact_document({"card": "4111 1111 1111 1111"})
    two = redactor(vault=vault).redact_text("paid with 4111111111111111")
    token = vault.token("pan", "4111111111111111")
    assert one.document == {"card": token}
    assert two.text == f"paid with {token}"


def test_a_value_the_vault_refuses_is_redacted_and_counted() -> None:
    vault = FakeVault(refuse=["5555555555554444"])
    engine = redactor(vault=vault)
    done = engine.redact_text("cards 4111111111111111 and 5555555555554444")
    assert done.text == f"cards {vault.token('pan', '4111111111111111')} and [card]"
    assert engine.tally.by_entity() == {"card": {"redact": 1, "tokenize": 1}}
    assert engine.tally.refused == {"card": 1}
    assert engine.redact_value("5555555555554444", Action.TOKENIZE, Entity.CARD) == "[card]"
    assert engine.redact_value("5555555555554444", Action.TOKENIZE) == "[redacted]"


# -- documents ------------------------------------------------------------------------------


def test_a_document_is_redacted_in_a_copy_keeping_its_shape() -> None:
    vault = FakeVault()
    document: dict[str, Any] = {
        "customer": {"phone": "13800138000", "e-mail": "x.y@example.com", "age": 37},
        "cards": ["4111111111111111", 4111111111111111],
        "flags": [True, None, 1.5],
        "passport": "E12345678",
    }
    before = json.dumps(document)
    done = redactor(vault=vault).redact_document(document)
    token = vault.token("pan", "4111111111111111")
    assert done.document == {
        "customer": {"phone": "+86*******8000", "e-mail": "x***@example.com", "age": 37},
        "cards": [token, token],
        "flags": [True, None, 1.5],
        "passport": "[passport]",
    }
    assert json.dumps(document) == before
    assert {f.path for f in done.findings} == {
        "$.customer.phone",
        "$.customer['e-mail']",
        "$.cards[0]",
        "$.cards[1]",
        "$.passport",
    }


def test_keys_holding_personal_data_are_redacted_too() -> None:
    vault = FakeVault()
    document: dict[str, Any] = {
        "by_phone": {"13800138000": {"since": 2024}, "13900139000": "ann@example.com"},
        "jane@example.com": 3,
        "[phone]": "kept",
    }
    done = redactor({"phone": "redact"}, vault=vault).redact_document(document)
    # Both phone keys become `[phone]`: the second gets `#2`, nothing is lost; the key that
    # was `[phone]` already collides with neither (another object).
    assert done.document == {
        "by_phone": {"[phone]": {"since": 2024}, "[phone]#2": "a***@example.com"},
        "j***@example.com": 3,
        "[phone]": "kept",
    }
    assert sorted((f.path, f.in_key) for f in done.findings) == [
        ("$.by_phone['13800138000']", True),
        ("$.by_phone['13900139000']", False),
        ("$.by_phone['13900139000']", True),
        ("$['jane@example.com']", True),
    ]
    assert redactor().tally.by_entity() == {}


def test_a_redacted_key_never_overwrites_another_member() -> None:
    document = {"[email]": 1, "ann@example.com": 2, "bob@example.com": 3}
    done = redactor({"email": "redact"}).redact_document(document)
    assert done.document == {"[email]": 1, "[email]#2": 2, "[email]#3": 3}


def test_a_deep_document_is_redacted_without_recursion() -> None:
    document: Any = {"card": "4111111111111111"}
    for _ in range(3000):
        document = {"x": [document]}
    done = redactor({"card": "redact"}).redact_document(document)
    inner = done.document
    for _ in range(3000):
        inner = inner["x"][0]
    assert inner == {"card": "[card]"}


def test_policy_thresholds_leave_unsure_findings() -> None:
    policy = RedactionPolicy.from_dict(
        {"entities": {"ip_address": "redact"}, "thresholds": {"ip_address": 0.7}}
    )
    engine = Redactor(SCANNER, policy, tokenize=FakeVault(), hash_key=KEY)
    assert engine.redact_text("from 203.0.113.77 and 2001:db8::1").text == (
        "from 203.0.113.77 and [ip_address]"  # IPv4 scores 0.6, IPv6 0.8
    )


# -- the service's tokenizer ----------------------------------------------------------------


class _Token:
    def __init__(self, token: str) -> None:
        self.token = token


class StrictVault:
    """Refuses a batch naming the first value in `bad` (`values[i]`), like the token
    service; or the whole batch (`style`)."""

    def __init__(self, bad: Sequence[str] = (), whole: bool = False) -> None:
        self.bad = set(bad)
        self.whole = whole
        self.calls: list[list[str]] = []

    def tokenize(
        self, tenant_id: str, kind: str, values: Sequence[str], *, actor: Actor
    ) -> list[_Token]:
        self.calls.append(list(values))
        if self.whole:
            raise ValidationFailed("the vault policy does not allow this style", field="style")
        for index, value in enumerate(values):
            if value in self.bad:
                raise ValidationFailed("refused", field=f"values[{index}]")
        return [_Token(f"{tenant_id}:{kind}:{value}") for value in values]


class NoAudit:
    def success(self, *args: Any, **kwargs: Any) -> None:
        pass


class Keys:
    def data_key(self, tenant_id: str, purpose: str) -> tuple[int, bytes]:
        assert purpose == "shield:hash"
        return 1, hashlib.sha256(tenant_id.encode()).digest()


def _check(kind: str, value: str) -> str:
    if value.startswith("bad"):
        raise ValidationFailed("not a value", field="value")
    return value


def _service(vault: StrictVault, check: Any = None) -> PrivacyService:
    return PrivacyService(Keys(), vault, audit=NoAudit(), check=check)  # type: ignore[arg-type]


def test_the_service_redacts_values_its_check_refuses_without_asking_the_vault() -> None:
    vault = StrictVault()
    engine = _service(vault, _check).redactor("t1", None, Actor.system("test"))
    out = engine._tokenize("generic", ["a", "bad1", "b", "bad2"])
    assert out == ["t1:generic:a", None, "t1:generic:b", None]
    assert vault.calls == [["a", "b"]]


def test_the_service_retries_a_batch_without_the_value_the_vault_refused() -> None:
    vault = StrictVault(bad=["x2"])
    engine = _service(vault).redactor("t1", None, Actor.system("test"))
    assert engine._tokenize("generic", ["x1", "x2", "x3"]) == [
        "t1:generic:x1",
        None,
        "t1:generic:x3",
    ]
    assert vault.calls == [["x1", "x2", "x3"], ["x1", "x3"]]


def test_the_service_gives_up_after_a_few_retries_and_on_a_whole_batch_refusal() -> None:
    vault = StrictVault(bad=[f"x{i}" for i in range(10)])
    engine = _service(vault).redactor("t1", None, Actor.system("test"))
    assert engine._tokenize("generic", [f"x{i}" for i in range(10)]) == [None] * 10
    assert len(vault.calls) == 5
    whole = StrictVault(whole=True)
    engine = _service(whole).redactor("t1", None, Actor.system("test"))
    assert engine.redact_text("card 4111111111111111").text == "card [card]"


def test_hashes_differ_between_tenants() -> None:
    service = _service(StrictVault())
    actor = Actor.system("test")
    policy = RedactionPolicy.from_dict({"entities": {"email": "hash"}})
    one = service.redactor("t1", policy, actor).redact_text("a@example.com").text
    again = service.redactor("t1", policy, actor).redact_text("a@example.com").text
    two = service.redactor("t2", policy, actor).redact_text("a@example.com").text
    assert one == again != two


# -- Hypothesis: nothing planted survives ---------------------------------------------------

filler = st.text(alphabet="abcxyz ABC 的是了，。！ \n", max_size=30)


def _digits(count: int) -> st.SearchStrategy[str]:
    return st.text(alphabet="0123456789", min_size=count, max_size=count)


@st.composite
def cards(draw: st.DrawFn) -> str:
    prefix, length = draw(st.sampled_from([("4", 16), ("51", 16), ("37", 15), ("62", 19)]))
    body = prefix + draw(_digits(length - len(prefix) - 1))
    number = body + calc_check_digit(body)
    if draw(st.booleans()):
        separator = draw(st.sampled_from([" ", "-"]))
        number = separator.join(number[i : i + 4] for i in range(0, len(number), 4))
    return number


@st.composite
def ibans(draw: st.DrawFn) -> str:
    body = draw(_digits(18))
    return "DE" + stdnum_iban.calc_check_digits("DE00" + body) + body


@st.composite
def phones(draw: st.DrawFn) -> str:
    number = draw(st.sampled_from(["138", "139", "150", "186"])) + draw(_digits(8))
    return draw(
        st.sampled_from([number, f"+86 {number}", f"{number[:3]} {number[3:7]} {number[7:]}"])
    )


@st.composite
def resident_ids(draw: st.DrawFn) -> str:
    region = draw(st.sampled_from(["110105", "310104", "440305"]))
    year = draw(st.integers(1930, 2010))
    body = f"{region}{year}0{draw(st.integers(1, 9))}1{draw(st.integers(0, 9))}" + draw(_digits(3))
    return body + ric.calc_check_digit(body + "0")


emails = st.builds(
    lambda local, domain: f"{local}@{domain}.com",
    st.from_regex(r"[a-z][a-z0-9]{2,8}", fullmatch=True),
    st.from_regex(r"[a-z][a-z0-9]{2,10}", fullmatch=True),
)
secrets = st.builds(
    lambda tail: "sk_live_" + tail, st.from_regex(r"[A-Za-z0-9]{24}", fullmatch=True)
)
ips = st.builds(lambda a, b: f"203.0.{a}.{b}", st.integers(0, 255), st.integers(0, 255))

PLANTED = st.one_of(cards(), ibans(), phones(), resident_ids(), emails, secrets, ips)


def _compact(value: str) -> str:
    return re.sub(r"[^0-9A-Za-z]", "", value)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(filler, PLANTED), min_size=1, max_size=5), filler)
def test_no_planted_value_survives_the_default_policy(
    planted: list[tuple[str, str]], tail: str
) -> None:
    # Each value is set off by a word: two card-like digit runs with only spaces between
    # are read as one run by the card finder (a known detection limit, not redaction's).
    text = "".join(f"{before} {value} and " for before, value in planted) + tail
    out = redactor().redact_text(text).text
    compact = _compact(out)
    for _, value in planted:
        assert value not in out
        if "@" not in value:
            # A masked e-mail keeps its domain, whose letters and digits may spell another
            # planted address's (`a00@a00.com` in `a***@a00a00.com`).
            assert _compact(value) not in compact
