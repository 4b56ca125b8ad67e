"""YAML policy documents: bounded, parsed safely, a mapping at the top, errors naming the list."""

from __future__ import annotations

import pytest

from payguard.core.errors import PayloadTooLarge, ValidationFailed
from payguard.core.policyfile import load_mapping


def load(source: str, max_bytes: int = 1024) -> dict[object, object]:
    return load_mapping(source, name="rule set", field="rules", max_bytes=max_bytes)


def test_a_mapping_comes_back_as_parsed() -> None:
    assert load("rules:\n  - id: x\n    score: 10\n") == {"rules": [{"id": "x", "score": 10}]}


def test_a_document_over_the_limit_is_refused_before_parsing() -> None:
    with pytest.raises(PayloadTooLarge) as caught:
        load("# " + "é" * 8, max_bytes=16)  # 18 bytes in UTF-8, 10 characters; no mapping
    assert caught.value.message == "rule set is larger than 16 bytes"
    assert load("rules: []" + " " * 7, max_bytes=16) == {"rules": []}


@pytest.mark.parametrize(
    "source", ["rules: [", "a: b: c", "\t- x", "!!python/object/apply:os.system ['echo pwned']"]
)
def test_invalid_or_unsafe_yaml_is_refused(source: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        load(source)
    assert caught.value.message.startswith("rule set is not valid YAML: ")
    assert caught.value.field == "rules"
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


@pytest.mark.parametrize("source", ["", "null", "- 1\n- 2", "42", "'rules'"])
def test_anything_but_a_mapping_is_refused(source: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        load(source)
    assert caught.value.message == "rule set must be a YAML mapping with a `rules` list"
    assert caught.value.field == "rules"


def test_errors_name_the_document_and_its_list() -> None:
    with pytest.raises(ValidationFailed) as caught:
        load_mapping("[]", name="health policy", field="signals", max_bytes=100)
    assert caught.value.message == "health policy must be a YAML mapping with a `signals` list"
    assert caught.value.field == "signals"
