"""The scanner (`shield/scanner.py`): thresholds, overlap resolution, payguard tokens,
JSON documents, offsets through normalisation, and linear time on hostile input."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from payguard.core.errors import NotFound, ValidationFailed
from payguard.shield.cues import may_hold_entity
from payguard.shield.interfaces import DocumentFinding, Entity, Finding
from payguard.shield.recognizers import CardRecognizer, builtin
from payguard.shield.registry import Registry
from payguard.shield.scanner import Scanner, json_path

SCANNER = Scanner.default()


class Fixed:
    """A recognizer that reports the findings it is given."""

    def __init__(self, name: str, *findings: tuple[int, int, Entity, float]) -> None:
        self.name = name
        self._findings = findings

    @property
    def entities(self) -> frozenset[Entity]:
        return frozenset(f[2] for f in self._findings)

    def find(self, text: str) -> Iterator[Finding]:
        for start, end, entity, score in self._findings:
            yield Finding(start, end, entity, score, self.name)


def spans(findings: list[Finding]) -> list[tuple[int, int, str]]:
    return [(f.start, f.end, f.recognizer) for f in findings]


def test_findings_are_sorted_by_start_with_offsets_into_the_original_text() -> None:
    text = "邮箱\uff1a\uff41\uff20\uff42\uff0e\uff43\uff4f \u624b\u673a\uff1a\uff11\uff13\uff18\uff10\uff10\uff11\uff13\uff18\uff10\uff10\uff10"
    findings = SCANNER.scan(text)
    assert [f.entity for f in findings] == [Entity.EMAIL, Entity.PHONE]
    assert text[findings[0].start : findings[0].end] == "\uff41\uff20\uff42\uff0e\uff43\uff4f"
    assert findings[1].end == len(text)


def test_higher_score_wins_an_overlap_then_the_longer_span() -> None:
    scanner = Scanner(
        [
            Fixed("low", (0, 10, Entity.BANK_ACCOUNT, 0.6)),
            Fixed("high", (5, 12, Entity.PHONE, 0.9)),
            Fixed("short", (20, 24, Entity.PHONE, 0.7)),
            Fixed("long", (18, 26, Entity.CARD, 0.7)),
            Fixed("alone", (30, 35, Entity.EMAIL, 0.5)),
        ]
    )
    assert spans(scanner.scan("x" * 40)) == [(5, 12, "high"), (18, 26, "long"), (30, 35, "alone")]


def test_an_overlap_keeps_every_finding_that_does_not_clash_with_a_better_one() -> None:
    scanner = Scanner(
        [
            Fixed("a", (0, 5, Entity.PHONE, 0.9), (10, 15, Entity.PHONE, 0.9)),
            Fixed("b", (3, 12, Entity.CARD, 0.8)),
        ]
    )
    assert spans(scanner.scan("x" * 20)) == [(0, 5, "a"), (10, 15, "a")]


def test_a_payguard_token_suppresses_every_finding_it_overlaps_whatever_its_score() -> None:
    scanner = Scanner(
        [
            Fixed("pii", (2, 8, Entity.CARD, 1.0), (9, 12, Entity.EMAIL, 1.0)),
            Fixed("tok", (0, 9, Entity.PAYGUARD_TOKEN, 0.6)),
        ]
    )
    assert spans(scanner.scan("x" * 20)) == [(0, 9, "tok"), (9, 12, "pii")]


def test_thresholds_per_entity() -> None:
    text = "13800138000"  # a mobile number without context: 0.75
    assert [f.entity for f in Scanner.default().scan(text)] == [Entity.PHONE]
    assert Scanner.default(thresholds={"phone": 0.8}).scan(text) == []
    assert Scanner.default(thresholds={Entity.PHONE: 0.8}).scan("手机 " + text) != []


def test_a_lower_threshold_reports_low_scores() -> None:
    text = "ref 1234567890123452"  # Luhn-valid, no card scheme: 0.35
    assert Scanner.default().scan(text) == []
    assert [f.entity for f in Scanner.default(thresholds={"card": 0.3}).scan(text)] == [Entity.CARD]


@pytest.mark.parametrize(
    ("thresholds", "field"),
    [
        ({"nonsense": 0.5}, "thresholds.nonsense"),
        ({"card": 1.5}, "thresholds.card"),
        ({"card": "high"}, "thresholds.card"),
        ({"card": True}, "thresholds.card"),
    ],
)
def test_bad_thresholds_are_refused_naming_the_field(
    thresholds: dict[str, object], field: str
) -> None:
    with pytest.raises(ValidationFailed) as error:
        Scanner.default(thresholds=thresholds)  # type: ignore[arg-type]
    assert error.value.field == field


def test_registry_refuses_duplicate_names_and_can_remove() -> None:
    registry = Registry.builtin()
    assert "card" in registry
    with pytest.raises(ValidationFailed) as error:
        registry.add(CardRecognizer())
    assert error.value.field == "name"
    registry.remove("card")
    assert "card" not in registry
    assert Scanner(registry).scan("card 4111 1111 1111 1111") == []
    with pytest.raises(NotFound):
        registry.remove("card")


def test_scan_document_reports_json_paths() -> None:
    document = {
        "customer": {"phone": "13800138000", "e-mail": "ann@example.com", "age": 34},
        "items": [
            {"note": "card 4111 1111 1111 1111"},
            4111111111111111,
            True,
            None,
            1.5,
            10**5000,
        ],
        "passport": "E12345678",  # found because the key is read as context
    }
    found = SCANNER.scan_document(document)
    assert [(d.path, d.finding.entity) for d in found] == [
        ("$.customer.phone", Entity.PHONE),
        ("$.customer['e-mail']", Entity.EMAIL),
        ("$.items[0].note", Entity.CARD),
        ("$.items[1]", Entity.CARD),
        ("$.passport", Entity.PASSPORT),
    ]
    note = found[2]
    assert isinstance(note, DocumentFinding)
    assert (note.finding.start, note.finding.end) == (5, 24)


def test_scan_document_of_a_bare_string_and_a_deep_document() -> None:
    assert [d.path for d in SCANNER.scan_document("ann@example.com")] == ["$"]
    deep: object = "ann@example.com"
    for _ in range(5000):  # deeper than Python's recursion limit
        deep = [deep]
    found = SCANNER.scan_document(deep)
    assert len(found) == 1
    assert found[0].path == "$" + "[0]" * 5000


def test_json_path_quotes_odd_keys() -> None:
    assert json_path(["a", 0, "b c", "it's"]) == "$.a[0]['b c']['it\\'s']"


ADVERSARIAL = {
    "digits": "1",
    "digit groups": "1234 ",
    "repeated separators": "4111--- ",
    "dashes": "-",
    "at signs": "a@",
    "dotted": "a.",
    "dotted digits": "1.",
    "colons": "a:",
    "plus": "+1 ",
    "upper": "A",
    "base64": "aZ9+",
    "titles": "Mr. Ann ",
    "labels": "address: ",
    "chinese labels": "姓名",
    "card numbers": "4111 1111 1111 1111 ",
    "dates near birth": "born 1990-01-01 ",
    "full-width digits": "\uff11",
    "key context": "key aZ9+",
}


@pytest.mark.parametrize("seed", list(ADVERSARIAL.values()), ids=list(ADVERSARIAL))
def test_hostile_input_of_200_kb_finishes(seed: str) -> None:
    # No timing assertion: a quadratic scan of 200 KB would take minutes and hang the run.
    text = seed * (200_000 // len(seed))
    findings = SCANNER.scan(text)
    assert all(0 <= f.start < f.end <= len(text) for f in findings)


def test_scan_document_with_keys_scans_each_key_before_its_value() -> None:
    document = {
        "contacts": {"13800138000": "ann@example.com", "notes": "none"},
        "ann@example.com": {"since": 2024},
    }
    assert SCANNER.scan_document(document) == [
        DocumentFinding("$.contacts['13800138000']", Finding(0, 15, Entity.EMAIL, 0.9, "email"))
    ]
    found = SCANNER.scan_document(document, keys=True)
    assert [(d.path, d.in_key, d.finding.entity, d.location) for d in found] == [
        ("$.contacts['13800138000']", True, Entity.PHONE, ("contacts", "13800138000")),
        ("$.contacts['13800138000']", False, Entity.EMAIL, ("contacts", "13800138000")),
        ("$['ann@example.com']", True, Entity.EMAIL, ("ann@example.com",)),
    ]
    assert (found[0].finding.start, found[0].finding.end) == (0, 11)


_CUELESS_WORDS = [
    "name", "address", "card", "passport", "born", "birth", "key", "token", "secret",
    "password", "bearer", "Street", "Main", "Ann", "Lee", "Jr", "sk_live_", "AKIA", "ghp_",
    "github_pat_", "xoxb-", "AIza", "eyJhbGciOiJIUzI1", "-----BEGIN RSA PRIVATE KEY-----",
    "tok_", "pan", "iban", "GB", "WEST", "Jan", "March", "account", "acct", "cc", "visa",
    "ip", "host", "phone", "tel", "e-mail", "mail", "example", "com", "x", "Mrs", "Doctor",
]  # fmt: skip


@given(
    st.lists(
        st.one_of(
            st.sampled_from(_CUELESS_WORDS),
            st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ", max_size=30),
        ),
        max_size=12,
    ),
    st.sampled_from([" ", "", "_", "-", ".", ", ", "\n", "/", "+", '"', "'", "(", "#", "*"]),
)
def test_builtin_recognizers_find_nothing_in_text_without_a_cue(
    words: list[str], separator: str
) -> None:
    # The scanner skips text without a cue (`shield.cues`): sound only while no built-in
    # recognizer can find anything in such text, which this checks by scanning it anyway.
    text = separator.join(words)
    if may_hold_entity(text):
        return
    assert SCANNER._scan(text, "") == []
    assert all(r.cued for r in builtin())  # type: ignore[attr-defined]


def test_a_partners_recognizer_is_never_skipped() -> None:
    registry = Registry.builtin()
    registry.load_yaml(
        "recognizers:\n  - name: codename\n    patterns:\n      - regex: 'falcon'\n        score: 0.9\n"
    )
    scanner = Scanner(registry)
    assert [f.recognizer for f in scanner.scan("project falcon")] == ["codename"]
    assert [d.in_key for d in scanner.scan_document({"falcon": "x"}, keys=True)] == [True]
