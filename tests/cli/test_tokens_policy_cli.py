"""`payguard tokens policy show|set` (issue 14): the tenant's vault policy from the shell."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from payguard.audit.interfaces import Actor, AuditAction, AuditOutcome
from payguard.cli.main import app
from payguard.services import build_services
from payguard.settings import Settings
from payguard.vault.policy import MAX_DOCUMENT_BYTES

runner = CliRunner()
PAN = "4111111111111111"


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


def _run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["tokens", *args])
    return result.exit_code, result.output


def _show(tenant: str) -> dict[str, object]:
    code, out = _run("policy", "show", "--tenant", tenant)
    assert code == 0, out
    shown: dict[str, object] = json.loads(out)
    return shown


def test_set_then_show_and_tokenize_follows_it(url: str, tmp_path: Path) -> None:
    assert _show("demo")["version"] == 0
    document = tmp_path / "policy.json"
    document.write_text(
        json.dumps(
            {
                "styles": {"pan": {"default": "vault_random", "allowed": ["vault_random"]}},
                "detokenize": {"admin": ["dispute"]},
            }
        )
    )
    code, out = _run("policy", "set", "--tenant", "demo", "--file", str(document))
    assert code == 0, out
    assert "version 1" in out

    shown = _show("demo")
    assert shown["version"] == 1 and shown["created_by"] == "cli"
    assert shown["styles"]["pan"] == {  # type: ignore[index]
        "default": "vault_random",
        "allowed": ["vault_random"],
    }
    assert shown["detokenize"] == {"admin": ["dispute"]}
    assert _show("other")["version"] == 0

    code, out = _run("tokenize", "--tenant", "demo", "--kind", "pan", PAN)
    assert code == 0 and out.startswith("tok_pan_"), out
    token = out.split("\t")[0]
    code, out = _run("detokenize", "--tenant", "demo", "--purpose", "fraud_investigation", token)
    assert code == 2 and "policy" in out and PAN not in out
    code, out = _run("detokenize", "--tenant", "demo", "--purpose", "dispute", token)
    assert code == 0 and PAN in out

    services = build_services(Settings(database_url=url))
    try:
        demo = services.tenants.get_tenant_by_name("demo")
        assert demo is not None
        [record] = services.audit.list(tenant_id=demo.id, action=AuditAction.VAULT_POLICY)
    finally:
        services.close()
    assert record.outcome is AuditOutcome.SUCCESS and record.actor == "cli"


@pytest.mark.parametrize(
    ("text", "said"),
    [
        (
            '{"styles": {"email": {"default": "fpe_deterministic", "allowed": '
            '["fpe_deterministic"]}}}',
            "styles.email.allowed[0]",
        ),
        ('{"detokenize": {"boss": ["dispute"]}}', "detokenize.boss"),
        ('{"styles": ', "not valid JSON"),
        ("[" * 5000 + "]" * 5000, "nested too deeply"),
    ],
)
def test_a_bad_file_exits_2_naming_the_field(
    url: str, tmp_path: Path, text: str, said: str
) -> None:
    document = tmp_path / "policy.json"
    document.write_text(text)
    code, out = _run("policy", "set", "--tenant", "demo", "--file", str(document))
    assert code == 2, out
    assert said in out.replace("\n", "")
    assert _show("demo")["version"] == 0


def test_a_file_over_64_kib_is_refused_unread(url: str, tmp_path: Path) -> None:
    document = tmp_path / "policy.json"
    document.write_text("{" + " " * MAX_DOCUMENT_BYTES + "}")
    code, out = _run("policy", "set", "--tenant", "demo", "--file", str(document))
    assert code == 2 and "bytes" in out
    assert _show("demo")["version"] == 0


def test_an_unknown_tenant_or_missing_file_exits_2(url: str, tmp_path: Path) -> None:
    code, out = _run("policy", "show", "--tenant", "nobody")
    assert code == 2 and "nobody" in out
    code, out = _run("policy", "set", "--tenant", "demo", "--file", str(tmp_path / "none.json"))
    assert code == 2
