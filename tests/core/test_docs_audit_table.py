"""The docs name only what exists: docs/audit.md lists exactly the `AuditAction` tags, and
every `payguard tenants` command, flag and audit tag in docs/tenancy.md is real (issue 13:
the pages had drifted)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import typer

from payguard.audit.interfaces import AuditAction
from payguard.cli.main import app

DOCS = Path(__file__).resolve().parents[2] / "docs"


def _action_table(page: str) -> list[tuple[str, str]]:
    """The rows (action, meaning) of the page's `| action | written when |` table."""
    lines = page.splitlines()
    start = lines.index("| action | written when |")
    assert lines[start + 1].startswith("| --- |")
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        assert len(cells) == 2, f"one action and its meaning per row: {line!r}"
        action = re.fullmatch(r"`([a-z_]+:[a-z_]+)`", cells[0])
        assert action, f"one `subject:action` tag per row: {line!r}"
        rows.append((action.group(1), cells[1]))
    return rows


def test_the_audit_table_lists_exactly_the_audit_actions() -> None:
    rows = _action_table((DOCS / "audit.md").read_text())
    documented = [action for action, _ in rows]
    assert len(documented) == len(set(documented)), "an action listed twice"
    assert set(documented) == {action.value for action in AuditAction}
    assert all(meaning for _, meaning in rows), "an action without its meaning"


def _tenants_commands(page: str) -> list[list[str]]:
    """The `payguard tenants ...` command lines of the page's shell blocks."""
    commands = []
    for block in re.findall(r"```sh\n(.*?)```", page, re.S):
        for line in block.splitlines():
            words = shlex.split(line.split("#", 1)[0])
            if words[:2] == ["payguard", "tenants"]:
                commands.append(words[2:])
    for inline in re.findall(r"`(payguard tenants [^`]*)`", page):
        commands.append(shlex.split(inline)[2:])
    return commands


def test_every_tenants_command_and_flag_in_the_tenancy_page_exists() -> None:
    page = (DOCS / "tenancy.md").read_text()
    group: Any = typer.main.get_command(app)
    tenants = group.commands["tenants"]
    commands = _tenants_commands(page)
    assert {words[0] for words in commands} == set(tenants.commands)  # each one shown
    for words in commands:
        command = tenants.commands[words[0]]
        flags = {opt for param in command.params for opt in getattr(param, "opts", [])}
        for word in words[1:]:
            if word.startswith("--"):
                assert word in flags, f"`payguard tenants {words[0]}` has no {word}"


def test_every_audit_tag_in_the_tenancy_page_exists() -> None:
    page = (DOCS / "tenancy.md").read_text()
    tags = set(re.findall(r"`([a-z]+[:.][a-z_]+)`", page))
    assert tags, "the page names the audit tags of tenancy"
    assert tags <= {action.value for action in AuditAction}, tags
