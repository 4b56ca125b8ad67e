"""The Data Shield benchmark's corpus (`benchmarks/shield_corpus.py`): labels slice exactly
what was planted, planted values pass their checks, distractors fail them, the corpus is
reproducible, and the scoring gives known answers. None of this needs the scanner."""

from __future__ import annotations

import importlib.util
import ipaddress
import re
import sys
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

import phonenumbers
import pytest

from payguard.shield.interfaces import STRUCTURED, Entity, Finding

_PATH = Path(__file__).resolve().parents[2] / "benchmarks" / "shield_corpus.py"


def _load() -> ModuleType:
    name = "payguard_bench_shield_corpus"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, _PATH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


corpus: Any = _load()


@cache
def _documents(seed: int = 7, docs: int = 600) -> tuple[Any, ...]:
    return tuple(corpus.generate(seed=seed, docs=docs))


_FULL_WIDTH = str.maketrans({chr(0xFF10 + d): str(d) for d in range(10)} | {"\uff0b": "+"})
_FULL_WIDTH_DASH = "\uff0d"


def _phone_valid(written: str) -> bool:
    text = written.translate(_FULL_WIDTH).replace(_FULL_WIDTH_DASH, "-")
    return any(phonenumbers.is_valid_number(phonenumbers.parse(text, r)) for r in ("CN", "US"))


def _card_digits(written: str) -> str:
    written = written.translate(_FULL_WIDTH).replace(_FULL_WIDTH_DASH, "-")
    separators = set(re.sub(r"\d", "", written))
    assert separators <= {" ", "-", "."} and len(separators) <= 1, written
    return re.sub(r"\D", "", written)


# -- the checks themselves, on known values ---------------------------------------------------


@pytest.mark.parametrize(
    ("check", "value", "valid"),
    [
        ("luhn_valid", "4111111111111111", True),
        ("luhn_valid", "4111111111111112", False),
        ("luhn_valid", "378282246310005", True),
        ("luhn_valid", "6011111111111117", True),
        ("resident_id_valid", "11010519491231002X", True),
        ("resident_id_valid", "110105194912310021", False),  # wrong check character
        ("resident_id_valid", "11010519491331002X", False),  # month 13
        ("resident_id_valid", "1101051949123100X2", False),
        ("iban_valid", "GB82WEST12345698765432", True),
        ("iban_valid", "GB82 WEST 1234 5698 7654 32", True),
        ("iban_valid", "GB83WEST12345698765432", False),
        ("iban_valid", "DE89370400440532013000", True),
        ("iban_valid", "DE89370400440532013001", False),
    ],
)
def test_checks_on_known_values(check: str, value: str, valid: bool) -> None:
    assert getattr(corpus, check)(value) is valid


@pytest.mark.parametrize(
    ("text", "reads_as"),
    [
        ("order 4111111111111111", "card"),
        ("ORD-20261204-000123", None),
        ("id 11010519491231002X", "cn_resident_id"),
        ("GB82 WEST 1234 5698 7654 32", "iban"),
        ("call 13812345678", "phone"),
        ("1764858612001", None),
    ],
)
def test_reads_as_identifier(text: str, reads_as: str | None) -> None:
    assert corpus.reads_as_identifier(text) == reads_as


# -- the generated corpus ---------------------------------------------------------------------


def test_labels_slice_exactly_the_planted_value() -> None:
    for doc in _documents():
        previous_end = 0
        for label in doc.labels:
            value = doc.text[label.start : label.end]
            assert label.start >= previous_end, (doc.doc_id, label)  # in order, no overlap
            previous_end = label.end
            assert value and value == value.strip()
            before = doc.text[label.start - 1] if label.start else " "
            after = doc.text[label.end] if label.end < len(doc.text) else " "
            # a label is never part of a longer word or number
            assert not (before.isascii() and before.isalnum()), (value, before)
            assert not (after.isascii() and after.isalnum()), (value, after)
            if label.entity is Entity.CARD:
                digits = _card_digits(value)
                assert 13 <= len(digits) <= 19 and corpus.luhn_valid(digits), value
            elif label.entity is Entity.IBAN:
                assert corpus.iban_valid(value), value
            elif label.entity is Entity.CN_RESIDENT_ID:
                assert corpus.resident_id_valid(value), value
            elif label.entity is Entity.PHONE:
                assert _phone_valid(value), value
            elif label.entity is Entity.EMAIL:
                assert re.fullmatch(r"[\w.+-]+@[\w-]+(\.[\w-]+)+", value), value
            elif label.entity is Entity.IP_ADDRESS:
                ipaddress.ip_address(value)
            elif label.entity is Entity.SECRET:
                assert re.fullmatch(
                    r"sk_live_[A-Za-z0-9]{24}|AKIA[A-Z0-9]{16}|ghp_[A-Za-z0-9]{36}", value
                ), value
            elif label.entity is Entity.PAYGUARD_TOKEN:
                card_in_text = re.fullmatch(r"\[card \d{6}\*{3,9}\d{4} token (\d{13,19})\]", value)
                if card_in_text:
                    assert not corpus.luhn_valid(card_in_text.group(1))
                else:
                    assert re.fullmatch(r"tok_[a-z_]+_[a-z2-7]{26}", value), value


def test_planted_structured_values_pass_their_checks() -> None:
    seen = {entity: 0 for entity in STRUCTURED}
    for doc in _documents():
        for label in doc.labels:
            value = doc.text[label.start : label.end]
            if label.entity in seen:
                seen[label.entity] += 1
            if label.entity is Entity.CARD:
                assert corpus.luhn_valid(_card_digits(value))
                assert value.isascii() or doc.locale == "zh_CN"
            elif label.entity is Entity.CN_RESIDENT_ID:
                assert corpus.resident_id_valid(value)
            elif label.entity is Entity.IBAN:
                assert corpus.iban_valid(value)
    assert all(count >= 50 for count in seen.values()), seen


def test_distractors_fail_the_checks_and_touch_no_label() -> None:
    kinds: set[str] = set()
    for doc in _documents():
        for distractor in doc.distractors:
            kinds.add(distractor.kind)
            value = doc.text[distractor.start : distractor.end]
            assert corpus.reads_as_identifier(value) is None, (distractor.kind, value)
            for label in doc.labels:
                assert distractor.end <= label.start or label.end <= distractor.start
            if distractor.kind == "bad_resident_id":
                assert len(value) == 18 and not corpus.resident_id_valid(value)
                # only the check character is wrong: the birth date is real
                assert any(corpus.resident_id_valid(value[:17] + c) for c in "0123456789X")
            elif distractor.kind == "bad_iban":
                assert not corpus.iban_valid(value)
            elif distractor.kind == "masked_card":
                assert re.fullmatch(r"\d{6}\*{3,9}\d{4}", value), value
            for run in re.findall(r"\d+", value):
                assert not (13 <= len(run) <= 19 and corpus.luhn_valid(run)), value
    assert kinds >= {
        "order_number",
        "timestamp",
        "tracking_number",
        "uuid",
        "amount",
        "version",
        "bad_resident_id",
        "bad_iban",
        "masked_card",
    }


def test_corpus_mixes_locales_shapes_and_every_entity() -> None:
    docs = _documents()
    locales = [doc.locale for doc in docs]
    assert locales.count("en_US") == locales.count("zh_CN") == len(docs) // 2
    assert {doc.shape for doc in docs} == set(corpus.SHAPES)
    assert {label.entity for doc in docs for label in doc.labels} == corpus.PLANTED


def test_the_same_seed_gives_the_same_corpus() -> None:
    first = list(corpus.generate(seed=11, docs=150))
    assert first == list(corpus.generate(seed=11, docs=150))
    assert first != list(corpus.generate(seed=12, docs=150))


# -- scoring ------------------------------------------------------------------------------------


def _finding(start: int, end: int, entity: Entity) -> Finding:
    return Finding(start=start, end=end, entity=entity, score=0.9, recognizer="test")


def test_scoring_known_answer() -> None:
    labels = [
        corpus.Label(0, 16, Entity.CARD),
        corpus.Label(20, 31, Entity.PHONE),
        corpus.Label(40, 55, Entity.EMAIL),
    ]
    findings = [
        _finding(0, 16, Entity.CARD),  # exact
        _finding(21, 31, Entity.PHONE),  # overlaps the phone, not exact
        _finding(60, 70, Entity.IP_ADDRESS),  # false positive, outside the structured set
    ]  # the email is missed
    exact, overlap = corpus.score(labels, findings)

    assert set(exact) == set(overlap) == set(Entity)
    assert (exact[Entity.CARD].precision, exact[Entity.CARD].recall) == (1.0, 1.0)
    assert (exact[Entity.PHONE].found, exact[Entity.PHONE].found_matched) == (1, 0)
    assert (exact[Entity.EMAIL].labelled, exact[Entity.EMAIL].labels_matched) == (1, 0)
    assert exact[Entity.IP_ADDRESS].precision == 0.0
    assert exact[Entity.IBAN] == corpus.Counts()

    strict = corpus.micro(exact, STRUCTURED)  # 2 found, 3 labelled, 1 matched
    assert strict.precision == pytest.approx(1 / 2)
    assert strict.recall == pytest.approx(1 / 3)
    assert strict.f1 == pytest.approx(0.4)
    assert strict.f2 == pytest.approx(5 / 14)
    assert corpus.headline(strict) == (
        "structured identifiers: precision 0.500 recall 0.333 F1 0.400"
    )

    loose = corpus.micro(overlap, STRUCTURED)  # the phone now matches
    assert (loose.precision, loose.recall) == (1.0, pytest.approx(2 / 3))
    assert loose.f1 == pytest.approx(0.8)
    assert loose.f2 == pytest.approx(5 / 7)


def test_scoring_counts_a_duplicate_finding_once_under_exact_matching() -> None:
    labels = [corpus.Label(0, 16, Entity.CARD)]
    exact, overlap = corpus.score(
        labels, [_finding(0, 16, Entity.CARD), _finding(0, 16, Entity.CARD)]
    )
    assert (exact[Entity.CARD].precision, exact[Entity.CARD].recall) == (0.5, 1.0)
    assert (overlap[Entity.CARD].precision, overlap[Entity.CARD].recall) == (1.0, 1.0)


def test_scoring_a_finding_of_the_wrong_entity_matches_nothing() -> None:
    exact, overlap = corpus.score(
        [corpus.Label(0, 18, Entity.CN_RESIDENT_ID)], [_finding(0, 18, Entity.CARD)]
    )
    for counts in (exact, overlap):
        assert counts[Entity.CARD].precision == 0.0
        assert counts[Entity.CN_RESIDENT_ID].recall == 0.0


@pytest.mark.parametrize(
    ("precision", "recall", "beta", "expected"),
    [(1.0, 1.0, 1.0, 1.0), (0.5, 1.0, 1.0, 2 / 3), (0.5, 1.0, 2.0, 5 / 6), (0.0, 0.0, 2.0, 0.0)],
)
def test_f_beta(precision: float, recall: float, beta: float, expected: float) -> None:
    assert corpus.f_beta(precision, recall, beta) == pytest.approx(expected)
