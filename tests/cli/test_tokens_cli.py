"""`payguard tokens`: tokenize, detokenize, show, revoke and shred from the shell."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from payguard.audit.interfaces import Actor, AuditAction
from payguard.cli.main import app
from payguard.services import build_services
from payguard.settings import Settings

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


def test_tokenize_detokenize_show_revoke(url: str) -> None:
    code, out = _run("tokenize", "--tenant", "demo", "--kind", "pan", PAN, "5500 0000 0000 0004")
    assert code == 0, out
    lines = [line.split("\t") for line in out.strip().splitlines()]
    assert [masked for _, masked in lines] == ["************1111", "************0004"]
    tokens = [token for token, _ in lines]
    assert PAN not in out

    code, out = _run("detokenize", "--tenant", "demo", "--purpose", "dispute", *tokens)
    assert code == 0, out
    assert out.split() == [tokens[0], PAN, tokens[1], "5500000000000004"]

    code, out = _run("show", "--tenant", "demo", tokens[0])
    assert code == 0 and "fpe_deterministic" in out and PAN not in out

    code, out = _run("revoke", "--tenant", "demo", tokens[0])
    assert code == 0 and "revoked" in out
    code, out = _run("detokenize", "--tenant", "demo", "--purpose", "dispute", tokens[0])
    assert code == 2 and "revoked" in out

    services = build_services(Settings(database_url=url))
    try:
        demo = services.tenants.get_tenant_by_name("demo")
        assert demo is not None
        actions = {r.action for r in services.audit.list(tenant_id=demo.id, limit=50)}
    finally:
        services.close()
    assert {AuditAction.TOKEN_CREATE, AuditAction.TOKEN_DETOKENIZE, AuditAction.TOKEN_REVOKE} <= (
        actions
    )


def test_refusals_exit_2_with_the_reason(url: str) -> None:
    code, out = _run("tokenize", "--tenant", "demo", "--kind", "pan", "4111111111111112")
    assert code == 2 and "Luhn" in out
    code, out = _run("tokenize", "--tenant", "demo", "--kind", "pan", PAN)
    token = out.split("\t")[0]
    code, out = _run("detokenize", "--tenant", "demo", "--purpose", "marketing", token)
    assert code == 2 and "policy" in out and PAN not in out
    code, out = _run("detokenize", "--tenant", "other", "--purpose", "dispute", token)
    assert code == 2 and "no token" in out and PAN not in out
    code, out = _run("show", "--tenant", "nobody", token)
    assert code == 2


def test_shred_erases_a_subject(url: str) -> None:
    code, out = _run(
        "tokenize", "--tenant", "demo", "--kind", "email", "--subject", "cust-1", "a@b.org"
    )
    assert code == 0, out
    token = out.split("\t")[0]
    code, out = _run("shred", "--tenant", "demo", "cust-1")
    assert code == 0 and "1 token(s) erased, 1 key version(s) destroyed" in out
    code, out = _run("detokenize", "--tenant", "demo", "--purpose", "dispute", token)
    assert code == 2 and "a@b.org" not in out
