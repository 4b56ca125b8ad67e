"""YAML policy documents: bounded, parsed safely, a mapping at the top, errors naming the list."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from payguard.core.errors import PayloadTooLarge, ValidationFailed
from payguard.core.policyfile import MAX_DEPTH, MAX_NODES, load_mapping


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
    "source",
    [
        "rules: [",
        "a: b: c",
        "\t- x",
        "!!python/object/apply:os.system ['echo pwned']",
        "\x1f",
        "rules: [\x00]",
    ],
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


def nested_flow(depth: int) -> str:
    """`rules:` then `depth - 1` nested flow lists: `depth` levels counting the top mapping."""
    return "rules: " + "[" * (depth - 1) + "]" * (depth - 1)


def nested_block(depth: int) -> str:
    """`depth` levels in block style: mappings indented under each other, a scalar at the end."""
    keys = "".join("  " * level + f"k{level}:\n" for level in range(depth - 2))
    return keys + "  " * (depth - 2) + "leaf: 1\n"


@pytest.mark.parametrize("nested", [nested_flow, nested_block])
def test_nesting_up_to_the_limit_is_accepted(nested: Callable[[int], str]) -> None:
    assert isinstance(load(nested(MAX_DEPTH), max_bytes=10_000), dict)


@pytest.mark.parametrize("nested", [nested_flow, nested_block])
@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 500])
def test_nesting_past_the_limit_is_refused_naming_the_field(
    nested: Callable[[int], str], depth: int
) -> None:
    with pytest.raises(ValidationFailed) as caught:
        load(nested(depth), max_bytes=10_000_000)
    assert caught.value.message == f"rule set is nested more than {MAX_DEPTH} levels deep"
    assert caught.value.field == "rules"
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


def test_a_deep_bomb_is_refused_without_parsing_it_to_the_end() -> None:
    # Past the limit the rest is never read: a syntax error after it goes unseen.
    with pytest.raises(ValidationFailed) as caught:
        load("rules: " + "[" * 1000 + "!!! not yaml ]]]: {{", max_bytes=10_000)
    assert caught.value.message == f"rule set is nested more than {MAX_DEPTH} levels deep"


def alias_bomb(levels: int = 12, fan_out: int = 10) -> str:
    lines = ["l0: &l0 [" + ", ".join(["lol"] * fan_out) + "]"]
    for level in range(1, levels):
        lines.append(f"l{level}: &l{level} [" + ", ".join([f"*l{level - 1}"] * fan_out) + "]")
    lines.append(f"rules: *l{levels - 1}")
    return "\n".join(lines) + "\n"


def test_an_alias_bomb_is_refused_naming_the_field() -> None:
    with pytest.raises(ValidationFailed) as caught:
        load(alias_bomb(), max_bytes=10_000)
    assert (
        caught.value.message == f"rule set expands to more than {MAX_NODES} nodes (through aliases)"
    )
    assert caught.value.field == "rules"


def test_an_alias_counts_the_depth_it_stands_for() -> None:
    deep = "[" * 20 + "]" * 20
    source = f"a: &a {deep}\nrules: " + "[" * 15 + "*a" + "]" * 15 + "\n"
    with pytest.raises(ValidationFailed) as caught:
        load(source, max_bytes=10_000)
    assert caught.value.message == f"rule set is nested more than {MAX_DEPTH} levels deep"


def test_a_few_plain_aliases_still_work() -> None:
    source = "base: &base {score: 10}\nrules:\n  - id: a\n    <<: *base\n  - id: b\n    <<: *base\n"
    assert load(source)["rules"] == [{"id": "a", "score": 10}, {"id": "b", "score": 10}]


@pytest.mark.parametrize("source", ["rules: &r [*r]", "rules: &r {a: [*r, *r]}"])
def test_an_alias_inside_the_node_it_names_is_refused(source: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        load(source)
    assert caught.value.message == "rule set holds an alias inside the node it names"
    assert caught.value.field == "rules"
