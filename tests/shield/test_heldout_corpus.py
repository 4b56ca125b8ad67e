"""The Data Shield's held-out corpus (`benchmarks/shield_heldout.py`): labels slice exactly
the planted values, cut by the span rules of `shield_corpus.py`; planted values pass their
checks; distractors read as no identifier (except the kinds that pass Luhn on purpose); and
a seed gives the same corpus every time. None of this needs the scanner."""

from __future__ import annotations

import importlib.util
import ipaddress
import re
import sys
from functools import cache
from itertools import pairwise
from pathlib import Path
from types import ModuleType
from typing import Any

import phonenumbers
import pytest

from payguard.shield.interfaces import Entity

_BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def _load() -> ModuleType:
    name = "payguard_bench_shield_heldout"
    if name in sys.modules:
        return sys.modules[name]
    if str(_BENCHMARKS) not in sys.path:
        sys.path.insert(0, str(_BENCHMARKS))  # the module imports shield_corpus beside it
    spec = importlib.util.spec_from_file_location(name, _BENCHMARKS / "shield_heldout.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


heldout: Any = _load()
corpus: Any = sys.modules["shield_corpus"]


@cache
def _documents(seed: int = 7, docs: int = 600) -> tuple[Any, ...]:
    return tuple(heldout.generate(seed=seed, docs=docs))


_FOLD = str.maketrans({chr(0xFF10 + d): str(d) for d in range(10)} | {"\uff0b": "+", "\uff0d": "-"})
#: Characters a label never starts or ends with: what surrounds a value, not the value.
_NOT_AT_EDGE = set(" \t\n\"'.,;!?\u3002\uff1b\uff0c")
_LUHN_ON_PURPOSE = {"imei", "luhn_reference", "ean13_luhn"}


def _labels(entity: Entity, *, in_scope: bool = True) -> list[tuple[Any, Any, str]]:
    return [
        (doc, label, doc.text[label.start : label.end])
        for doc in _documents()
        for label in doc.labels
        if label.entity == entity and (label.limit is None or not in_scope)
    ]


def test_the_same_seed_gives_the_same_corpus_and_another_seed_another() -> None:
    again = tuple(heldout.generate(seed=7, docs=600))
    assert again == _documents()
    other = tuple(heldout.generate(seed=8, docs=600))
    assert [d.text for d in other] != [d.text for d in _documents()]


def test_every_shape_locale_and_planted_entity_occurs() -> None:
    docs = _documents()
    assert {d.shape for d in docs} == set(heldout.SHAPES)
    assert {d.locale for d in docs} == set(heldout.LOCALES)
    planted = {label.entity for d in docs for label in d.labels}
    assert planted == corpus.PLANTED


def test_labels_are_trimmed_values_and_overlap_nothing() -> None:
    for doc in _documents():
        spans = sorted(
            [(lab.start, lab.end) for lab in doc.labels]
            + [(d.start, d.end) for d in doc.distractors]
        )
        for (_, end), (start, _) in pairwise(spans):
            assert end <= start, doc.text
        for label in doc.labels:
            value = doc.text[label.start : label.end]
            assert value, label
            assert value[0] not in _NOT_AT_EDGE and value[-1] not in _NOT_AT_EDGE, value
            assert value[-1] != ")" or value.count("(") == value.count(")"), value


def test_cards_are_luhn_valid_with_one_separator() -> None:
    for _, _, value in _labels(Entity.CARD):
        written = value.translate(_FOLD)
        assert len(set(re.sub(r"\d", "", written))) <= 1, value
        digits = re.sub(r"\D", "", written)
        assert 13 <= len(digits) <= 19 and corpus.luhn_valid(digits), value


def test_ibans_and_resident_ids_pass_their_checks() -> None:
    for _, label, value in _labels(Entity.IBAN, in_scope=False):
        assert corpus.iban_valid(value.upper()), value
        assert (label.limit is not None) == (value != value.upper()), value
    for _, label, value in _labels(Entity.CN_RESIDENT_ID, in_scope=False):
        compact = value.translate(_FOLD).replace(" ", "").upper()
        if label.limit is None:
            assert corpus.resident_id_valid(compact), value
        else:
            assert len(compact) == 15 and compact.isdigit(), value


def test_phones_are_valid_numbers_of_their_country() -> None:
    for _, label, value in _labels(Entity.PHONE, in_scope=False):
        region = label.variant.split("/")[0].removesuffix("_landline")
        written = re.sub(r" ?(?:x|ext\.) ?\d+$", "", value.translate(_FOLD)).replace("(0)", "")
        number = phonenumbers.parse(written, region)
        assert phonenumbers.is_valid_number(number), value
        assert number.country_code == phonenumbers.country_code_for_region(region), value
        assert (label.limit is not None) == (label.variant.endswith("/national")), value


def test_emails_and_ip_addresses_are_well_formed() -> None:
    for _, _, value in _labels(Entity.EMAIL):
        assert re.fullmatch(r"[\w.+'-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+", value), value
    for _, _, value in _labels(Entity.IP_ADDRESS):
        ipaddress.ip_address(value)


def test_distractors_read_as_no_identifier_unless_luhn_on_purpose() -> None:
    kinds = set()
    for doc in _documents():
        for d in doc.distractors:
            kinds.add(d.kind)
            value = doc.text[d.start : d.end]
            if d.kind in _LUHN_ON_PURPOSE:
                assert corpus.reads_as_identifier(value) == "card", value
            else:
                assert corpus.reads_as_identifier(value) is None, (d.kind, value)
    assert {"imei", "luhn_reference", "uuid", "git_sha", "timestamp", "amount"} <= kinds


@pytest.mark.parametrize("limit", ["phone without country code", "IBAN in lower case"])
def test_documented_limits_are_planted_and_marked(limit: str) -> None:
    marked = [
        lab for doc in _documents() for lab in doc.labels if (lab.limit or "").startswith(limit)
    ]
    assert marked
