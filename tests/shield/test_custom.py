"""A partner's own recognizers from YAML (`shield/custom.py`): end to end through the scanner,
and hostile or malformed documents refused with the field at fault."""

from __future__ import annotations

import textwrap

import pytest

from payguard.core.errors import PayloadTooLarge, ValidationFailed
from payguard.shield.custom import MAX_SOURCE_BYTES, compile_regex, load_recognizers
from payguard.shield.interfaces import Entity
from payguard.shield.registry import Registry
from payguard.shield.scanner import Scanner

MEMBER = textwrap.dedent(
    """
    description: loyalty numbers and a national card scheme
    recognizers:
      - name: member_id
        patterns:
          - regex: "MBR-[0-9]{8}"
            score: 0.4
        context:
          words: [member, 会员]
          window: 20
          boost: 0.3
        threshold: 0.5
      - name: house_card
        entity: card
        patterns:
          - name: grouped
            regex: "9[0-9]{3}(?: [0-9]{4}){3}"
            score: 0.9
        validator: luhn
    """
)


def test_yaml_recognizers_end_to_end() -> None:
    registry = Registry.builtin()
    assert registry.load_yaml(MEMBER) == ["member_id", "house_card"]
    scanner = Scanner(registry)
    text = "会员号 MBR-12345678, other MBR-87654321 and 9000 0000 0000 0001 / 9000 0000 0000 0002"
    found = [(f.entity, f.recognizer, text[f.start : f.end]) for f in scanner.scan(text)]
    assert found == [
        # only the number near a context word reaches the recognizer's threshold
        (Entity.CUSTOM, "member_id", "MBR-12345678"),
        # the Luhn validator drops the second number
        (Entity.CARD, "house_card", "9000 0000 0000 0001"),
    ]
    finding = scanner.scan("member MBR-12345678")[0]
    assert finding.score == pytest.approx(0.7)


def test_a_yaml_recognizer_may_not_reuse_a_name() -> None:
    registry = Registry.builtin()
    source = MEMBER.replace("name: member_id", "name: email")
    with pytest.raises(ValidationFailed) as error:
        registry.load_yaml(source)
    assert error.value.field == "recognizers[0].name"
    assert "member_id" not in registry and "house_card" not in registry  # all or none


def _one(body: str) -> str:
    return "recognizers:\n  - " + textwrap.indent(textwrap.dedent(body), "    ").lstrip()


@pytest.mark.parametrize(
    ("source", "field", "words"),
    [
        ("[1, 2]", "recognizers", "mapping"),
        ("recognizers: {a: 1}", "recognizers", "list"),
        ("recognizers: []", "recognizers", "at least 1"),
        ("recognizers:\n  - name: x\n", "recognizers[0].patterns", "required"),
        (
            _one("name: Bad Name\npatterns: [{regex: a, score: 0.5}]"),
            "recognizers[0].name",
            "pattern",
        ),
        (
            _one("name: x\npatterns: [{regex: a, score: high}]"),
            "recognizers[0].patterns[0].score",
            "number",
        ),
        (
            _one("name: x\npatterns: [{regex: a, score: '0.5'}]"),
            "recognizers[0].patterns[0].score",
            "number",
        ),
        (
            _one("name: x\npatterns: [{regex: a, score: 2}]"),
            "recognizers[0].patterns[0].score",
            "less than or equal",
        ),
        (
            _one("name: x\npatterns: [{regex: 12, score: 0.5}]"),
            "recognizers[0].patterns[0].regex",
            "string",
        ),
        (
            _one("name: x\npatterns: [{regex: a, score: 0.5, flags: i}]"),
            "recognizers[0].patterns[0].flags",
            "Extra",
        ),
        (
            _one("name: x\nentity: shoe_size\npatterns: [{regex: a, score: 0.5}]"),
            "recognizers[0].entity",
            "unknown entity",
        ),
        (
            _one("name: x\nentity: payguard_token\npatterns: [{regex: a, score: 0.5}]"),
            "recognizers[0].entity",
            "unknown entity",
        ),
        (
            _one("name: x\nvalidator: eval\npatterns: [{regex: a, score: 0.5}]"),
            "recognizers[0].validator",
            "luhn",
        ),
        (
            _one("name: x\nthreshold: -1\npatterns: [{regex: a, score: 0.5}]"),
            "recognizers[0].threshold",
            "greater than or equal",
        ),
        (
            _one("name: x\ncontext: {words: []}\npatterns: [{regex: a, score: 0.5}]"),
            "recognizers[0].context.words",
            "at least 1",
        ),
        (
            _one(
                "name: x\ncontext: {words: [a], window: 5000}\npatterns: [{regex: a, score: 0.5}]"
            ),
            "recognizers[0].context.window",
            "less than or equal",
        ),
        (
            _one("name: x\npatterns: [{regex: '(', score: 0.5}]"),
            "recognizers[0].patterns[0].regex",
            "not a valid regular expression",
        ),
        (
            _one("name: x\npatterns: [{regex: '(a+)+b', score: 0.5}]"),
            "recognizers[0].patterns[0].regex",
            "repetition inside a repetition",
        ),
        (
            _one("name: x\npatterns: [{regex: '(?:x?y){2,9}', score: 0.5}]"),
            "recognizers[0].patterns[0].regex",
            "repetition inside a repetition",
        ),
        (
            _one("name: x\npatterns: [{regex: '(a)\\1', score: 0.5}]"),
            "recognizers[0].patterns[0].regex",
            "backreferences",
        ),
        (
            _one("name: x\npatterns: [{regex: 'a*', score: 0.5}]"),
            "recognizers[0].patterns[0].regex",
            "empty string",
        ),
        (
            _one(f"name: x\npatterns: [{{regex: '{'a' * 300}', score: 0.5}}]"),
            "recognizers[0].patterns[0].regex",
            "at most 256",
        ),
        (
            _one("name: x\npatterns: [" + ", ".join(["{regex: a, score: 0.5}"] * 11) + "]"),
            "recognizers[0].patterns",
            "at most 10",
        ),
        (
            "recognizers:\n"
            + "".join(
                f"  - {{name: r{i}, patterns: [{{regex: a, score: 0.5}}]}}\n" for i in range(51)
            ),
            "recognizers",
            "at most 50",
        ),
        (
            "recognizers:\n  - {name: x, patterns: [{regex: a, score: 0.5}]}\n  - {name: x, patterns: [{regex: b, score: 0.5}]}\n",
            "recognizers[1].name",
            "duplicate",
        ),
        (
            "a: &a [1, 2]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\ne: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: [*e, *e, *e, *e, *e, *e, *e, *e, *e]\n",
            "recognizers",
            "expands",
        ),
        ("recognizers: " + "[" * 100 + "]" * 100, "recognizers", "nested"),
        ("recognizers: !!python/object/apply:os.system [echo]", "recognizers", "not valid YAML"),
        ("recognizers: [\n", "recognizers", "not valid YAML"),
    ],
)
def test_hostile_and_malformed_documents_are_refused_naming_the_field(
    source: str, field: str, words: str
) -> None:
    with pytest.raises(ValidationFailed) as error:
        load_recognizers(source)
    assert error.value.field == field
    assert words in error.value.message


def test_an_oversized_document_is_refused() -> None:
    with pytest.raises(PayloadTooLarge):
        load_recognizers("recognizers: []\n# " + "x" * MAX_SOURCE_BYTES)


def test_a_quadratic_regex_is_refused_by_the_probe() -> None:
    # No nested repetition, but each start scans a long run of letters before failing.
    with pytest.raises(ValidationFailed) as error:
        compile_regex("[a-z]{1,100000}@", field="regex")
    assert "too slow" in error.value.message


def test_plain_regexes_pass_the_screen() -> None:
    for source in ("MBR-[0-9]{8}", "(?:[0-9]{4}[ -]){3}[0-9]{4}", "(foo|bar)baz", r"\bEMP\d{6}\b"):
        assert compile_regex(source, field="regex").pattern == source
