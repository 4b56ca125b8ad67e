"""Hostile rule sets: nesting and alias bombs are a 422 naming `rules`, never a 500."""

from __future__ import annotations

import pytest

from payguard.core.policyfile import MAX_DEPTH, MAX_NODES

DEEP = f"is nested more than {MAX_DEPTH} levels deep"
EXPANDS = f"expands to more than {MAX_NODES} nodes (through aliases)"


def deep_flow(depth: int = 500) -> str:
    return "rules: " + "[" * depth + "]" * depth + "\n"


def deep_block(depth: int = 200) -> str:
    return "rules:\n" + "".join("  " * level + "- \n" for level in range(1, depth))


def alias_bomb(levels: int = 12, fan_out: int = 10) -> str:
    lines = ["l0: &l0 [" + ", ".join(["lol"] * fan_out) + "]"]
    for level in range(1, levels):
        lines.append(f"l{level}: &l{level} [" + ", ".join([f"*l{level - 1}"] * fan_out) + "]")
    lines.append(f"rules: *l{levels - 1}")
    return "\n".join(lines) + "\n"


BOMBS = [
    pytest.param(deep_flow(), DEEP, id="deep-flow"),
    pytest.param(deep_block(), DEEP, id="deep-block"),
    pytest.param(alias_bomb(), EXPANDS, id="alias-bomb"),
]
ENDPOINTS = [("PUT", "/v1/rules"), ("POST", "/v1/rules/backtest")]


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
@pytest.mark.parametrize(("source", "says"), BOMBS)
def test_a_policy_bomb_is_422_naming_rules(client, tenant, method, path, source, says) -> None:
    headers = tenant()
    response = client.request(method, path, json={"source": source}, headers=headers)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/json")
    error = response.json()["error"]
    assert error["code"] == "validation_failed"
    assert error["field"] == "rules"
    assert error["message"] == f"rule set {says}"
    assert "Traceback" not in response.text


def test_a_refused_bomb_leaves_the_rule_set_unchanged(client, tenant) -> None:
    headers = tenant()
    assert client.put("/v1/rules", json={"source": deep_flow()}, headers=headers).status_code == 422
    assert client.get("/v1/rules", headers=headers).json()["version"] == 0
