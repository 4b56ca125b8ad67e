"""`payguard shield recognizers show|set` (a tenant's own recognizers from the shell) and
`payguard shield scan|redact FILE --recognizers rec.yaml` (a YAML file's recognizers added
to the built-in ones, compiled in every worker); bad input exits 2 naming the field."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from payguard.audit.interfaces import Actor, AuditAction, AuditOutcome
from payguard.cli.main import app
from payguard.services import build_services
from payguard.settings import Settings
from payguard.shield.custom import MAX_SOURCE_BYTES

runner = CliRunner()

MEMBER_ID = "MBR-12345678"
MEMBER = """\
recognizers:
  - name: member_id
    patterns:
      - regex: "MBR-[0-9]{8}"
        score: 0.6
"""
LOYALTY = """\
recognizers:
  - name: loyalty_no
    patterns:
      - regex: "LOY[0-9]{6}"
        score: 0.9
"""
HOSTILE = "recognizers: [{name: a, patterns: [{regex: '(a+)+$', score: 0.5}]}]\n"


@pytest.fixture
def url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    url = f"sqlite:///{tmp_path}/payguard.db"
    monkeypatch.setenv("PAYGUARD_DATABASE_URL", url)
    monkeypatch.setenv("COLUMNS", "160")
    services = build_services(Settings(database_url=url))
    try:
        services.tenants.create_tenant("demo", actor=Actor.system("test"))
        services.tenants.create_tenant("other", actor=Actor.system("test"))
    finally:
        services.close()
    yield url


def _run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["shield", *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stdout, result.stderr


def _file(tmp_path: Path, text: str, name: str = "rec.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _show(tenant: str) -> dict[str, object]:
    code, out, err = _run("recognizers", "show", "--tenant", tenant)
    assert code == 0, err
    shown: dict[str, object] = json.loads(out)
    return shown


# -- show and set ----------------------------------------------------------------------------


def test_set_then_show(url: str, tmp_path: Path) -> None:
    shown = _show("demo")
    assert shown["custom"] == {
        "version": 0,
        "created_at": None,
        "created_by": None,
        "yaml": None,
        "recognizers": [],
    }
    assert {"name": "card", "entities": ["card"]} in shown["builtin"]  # type: ignore[operator]

    code, out, err = _run(
        "recognizers", "set", "--tenant", "demo", "--file", str(_file(tmp_path, MEMBER))
    )
    assert code == 0, err
    assert "version 1" in out and "member_id" in out
    custom = _show("demo")["custom"]
    assert custom["version"] == 1 and custom["created_by"] == "cli"  # type: ignore[index]
    assert custom["yaml"] == MEMBER  # type: ignore[index]
    assert custom["recognizers"] == [{"name": "member_id", "entity": "custom"}]  # type: ignore[index]
    assert _show("other")["custom"]["version"] == 0  # type: ignore[index]

    empty = _file(tmp_path, "recognizers: []\n", "empty.yaml")
    code, out, err = _run("recognizers", "set", "--tenant", "demo", "--file", str(empty))
    assert code == 0 and "version 2" in out, err
    assert _show("demo")["custom"]["recognizers"] == []  # type: ignore[index]

    services = build_services(Settings(database_url=url))
    try:
        demo = services.tenants.get_tenant_by_name("demo")
        assert demo is not None
        records = services.audit.list(tenant_id=demo.id, action=AuditAction.PRIVACY_RECOGNIZERS)
    finally:
        services.close()
    assert sorted(r.target for r in records) == [
        "privacy_recognizers:v1",
        "privacy_recognizers:v2",
    ]
    assert all(r.actor == "cli" and r.outcome is AuditOutcome.SUCCESS for r in records)


@pytest.mark.parametrize(
    ("text", "field"),
    [
        (HOSTILE, "recognizers[0].patterns[0].regex"),
        ("recognizers: [{name: iban, patterns: [{regex: 'X1', score: 0.5}]}]", "recognizers[0].name"),
        ("recognizers: [{name: a, patterns: [{regex: 'X1', score: 7}]}]", "recognizers[0].patterns[0].score"),
        ("recognizers: [\n", "recognizers"),
    ],
)  # fmt: skip
def test_a_bad_file_exits_2_naming_the_field_and_stores_nothing(
    url: str, tmp_path: Path, text: str, field: str
) -> None:
    bad = _file(tmp_path, text)
    code, _, err = _run("recognizers", "set", "--tenant", "demo", "--file", str(bad))
    assert code == 2 and field in err, err
    assert _show("demo")["custom"]["version"] == 0  # type: ignore[index]


def test_an_oversized_binary_or_missing_file_or_unknown_tenant_exits_2(
    url: str, tmp_path: Path
) -> None:
    big = _file(tmp_path, "recognizers: []\n#" + "x" * MAX_SOURCE_BYTES, "big.yaml")
    code, _, err = _run("recognizers", "set", "--tenant", "demo", "--file", str(big))
    assert code == 2 and "larger than" in err
    binary = tmp_path / "bin.yaml"
    binary.write_bytes(b"\xff\xfe\x00recognizers")
    code, _, err = _run("recognizers", "set", "--tenant", "demo", "--file", str(binary))
    assert code == 2 and "UTF-8" in err
    code, _, _ = _run("recognizers", "set", "--tenant", "demo", "--file", str(tmp_path / "no"))
    assert code == 2
    good = _file(tmp_path, MEMBER)
    code, _, err = _run("recognizers", "set", "--tenant", "nobody", "--file", str(good))
    assert code == 2 and "nobody" in err
    code, _, err = _run("recognizers", "show", "--tenant", "nobody")
    assert code == 2 and "nobody" in err
    assert _show("demo")["custom"]["version"] == 0  # type: ignore[index]


# -- scan and redact files with --recognizers ------------------------------------------------


@pytest.fixture
def members(tmp_path: Path) -> Path:
    path = tmp_path / "members.jsonl"
    records = [
        {"id": i, "member": MEMBER_ID if i % 2 else "none", "note": f"ref LOY{i:06d}"}
        for i in range(10)
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


@pytest.mark.parametrize("workers", ["1", "2"])
def test_scan_counts_the_files_recognizers(
    members: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, workers: str
) -> None:
    monkeypatch.setenv("PAYGUARD_DATABASE_URL", f"sqlite:///{tmp_path}/unused.db")
    rec = _file(tmp_path, MEMBER)
    code, out, err = _run(
        "scan", str(members), "--json", "--workers", workers, "--recognizers", str(rec)
    )
    assert code == 0, err
    report = json.loads(out)
    columns = {c["column"]: c for c in report["columns"]}
    assert columns["$.member"]["findings"] == {"custom": 5}
    assert report["totals"] == {"custom": 5}
    assert MEMBER_ID not in out and MEMBER_ID not in err
    code, out, err = _run("scan", str(members), "--json", "--workers", workers)
    assert code == 0 and json.loads(out)["totals"] == {}, err


def test_scan_with_a_bad_recognizers_file_exits_2(members: Path, tmp_path: Path) -> None:
    code, _, err = _run("scan", str(members), "--recognizers", str(_file(tmp_path, HOSTILE)))
    assert code == 2 and "recognizers[0].patterns[0].regex" in err
    code, _, err = _run("scan", str(members), "--recognizers", str(tmp_path / "missing.yaml"))
    assert code == 2 and "missing.yaml" in err


def _redact(members: Path, tmp_path: Path, *extra: str) -> list[dict[str, object]]:
    policy = _file(tmp_path, "columns:\n  id: keep\n", "policy.yaml")
    out = tmp_path / "out.jsonl"
    code, _, err = _run(
        "redact", str(members), "--policy", str(policy), "--out", str(out), "--force", *extra
    )
    assert code == 0, err
    return [json.loads(line) for line in out.read_text().splitlines()]


def test_redact_redacts_the_files_entities(members: Path, tmp_path: Path) -> None:
    rows = _redact(members, tmp_path, "--recognizers", str(_file(tmp_path, MEMBER)))
    assert [r["member"] for r in rows[:2]] == ["none", "[custom]"]
    assert MEMBER_ID not in json.dumps(rows)
    untouched = _redact(members, tmp_path)
    assert untouched[1]["member"] == MEMBER_ID


def test_redact_with_a_tenant_uses_its_recognizers_unless_a_file_is_given(
    url: str, members: Path, tmp_path: Path
) -> None:
    services = build_services(Settings(database_url=url))
    try:
        demo = services.tenants.get_tenant_by_name("demo")
        assert demo is not None
        services.shield_recognizers.set(demo.id, MEMBER, actor=Actor.system("test"))
    finally:
        services.close()
    stored = _redact(members, tmp_path, "--tenant", "demo")
    assert stored[1]["member"] == "[custom]" and stored[1]["note"] == "ref LOY000001"
    other = _redact(members, tmp_path, "--tenant", "other")
    assert other[1]["member"] == MEMBER_ID  # another tenant's set is not used
    loyalty = _file(tmp_path, LOYALTY, "loyalty.yaml")
    file_only = _redact(members, tmp_path, "--tenant", "demo", "--recognizers", str(loyalty))
    assert file_only[1]["member"] == MEMBER_ID  # the file only, not the tenant's set
    assert file_only[1]["note"] == "ref [custom]"


def test_the_help_says_the_file_replaces_the_tenants_set() -> None:
    group: Any = typer.main.get_command(app)
    shield = group.commands["shield"]

    def helped(command: str) -> str:
        [option] = [p for p in shield.commands[command].params if p.name == "recognizers"]
        return str(option.help)

    assert "the file only" in helped("redact") and "--tenant" in helped("redact")
    assert "built-in" in helped("scan")
