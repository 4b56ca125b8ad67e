"""`payguard keys` and the keyring's wiring: the key file beside the database, refused at
start when it is missing or open to others, and status, rotate and retire from the CLI."""

from __future__ import annotations

import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from tests.cli.tables import table_rows
from typer.testing import CliRunner

from payguard.audit.interfaces import Actor, AuditAction
from payguard.cli.main import app
from payguard.services import build_services
from payguard.settings import Settings
from payguard.vault.interfaces import KeySourceUnavailable, KeyVersionRetired

runner = CliRunner()


@dataclass
class Env:
    url: str
    key_file: Path
    tenant_id: str
    sealed: bytes


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Env]:
    """A database with tenant `demo` holding a sealed value under `token:pan` and a
    `seal:totp` key, and tenant `other` with no keys."""
    url = f"sqlite:///{tmp_path}/db/payguard.db"
    monkeypatch.setenv("PAYGUARD_DATABASE_URL", url)
    monkeypatch.setenv("COLUMNS", "120")
    services = build_services(Settings(database_url=url))
    try:
        assert not (tmp_path / "db" / "vault.key").exists()  # made on first use only
        tenant, _ = services.tenants.create_tenant("demo", actor=Actor.system("test"))
        services.tenants.create_tenant("other", actor=Actor.system("test"))
        sealed = services.keys.seal(tenant.id, "token:pan", b"4111111111111111")
        services.keys.seal(tenant.id, "seal:totp", b"JBSWY3DPEHPK3PXP")
    finally:
        services.close()
    yield Env(url, tmp_path / "db" / "vault.key", tenant.id, sealed)


def test_the_key_file_is_made_beside_the_database_owner_only(env: Env) -> None:
    assert stat.S_IMODE(env.key_file.stat().st_mode) == 0o600
    services = build_services(Settings(database_url=env.url))
    try:
        assert services.keys.open(env.tenant_id, "token:pan", env.sealed) == b"4111111111111111"
    finally:
        services.close()


def test_start_is_refused_when_the_key_file_is_missing_while_keys_exist(env: Env) -> None:
    env.key_file.rename(env.key_file.with_name("backup.key"))
    with pytest.raises(KeySourceUnavailable, match="missing"):
        build_services(Settings(database_url=env.url))
    assert not env.key_file.exists()  # no new key was made over the stored ones


def test_start_is_refused_when_others_can_read_the_key_file(env: Env) -> None:
    env.key_file.chmod(0o644)
    with pytest.raises(KeySourceUnavailable, match="chmod 600"):
        build_services(Settings(database_url=env.url))


def test_a_configured_key_file_is_used(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/payguard.db"
    elsewhere = tmp_path / "keys" / "kek"
    services = build_services(Settings(database_url=url, vault_key_file=str(elsewhere)))
    try:
        services.keys.seal("t-1", "token:pan", b"x")
    finally:
        services.close()
    assert elsewhere.exists()
    assert not (tmp_path / "vault.key").exists()


def test_status_lists_every_version_and_the_key_source(env: Env) -> None:
    result = runner.invoke(app, ["keys", "status"])
    assert result.exit_code == 0, result.output
    assert f"key source: key file {env.key_file}" in result.output
    rows = table_rows(result.output)
    assert rows[0][:4] == ["tenant", "purpose", "version", "state"]
    assert [row[:4] for row in rows[1:]] == [
        ["demo", "seal:totp", "v1", "current"],
        ["demo", "token:pan", "v1", "current"],
    ]
    # Stored TOTP secrets and vault tokens are counted (none here).
    assert [row[7] for row in rows[1:]] == ["0", "0"]
    assert all(row[6].startswith("local:") for row in rows[1:])
    only = runner.invoke(app, ["keys", "status", "--tenant", "other"])
    assert only.exit_code == 0 and "no data keys yet" in only.output


def test_rotate_then_retire_refuses_old_values(env: Env) -> None:
    rotated = runner.invoke(app, ["keys", "rotate", "--tenant", "demo", "--purpose", "token:pan"])
    assert rotated.exit_code == 0, rotated.output
    assert "demo token:pan: now v2" in rotated.output
    refused = runner.invoke(app, ["keys", "retire", "--below", "2", "--tenant", "demo"])
    assert refused.exit_code == 2
    assert "rotate first: seal:totp (current 1)" in refused.output
    retired = runner.invoke(
        app, ["keys", "retire", "--below", "2", "--tenant", "demo", "--purpose", "token:pan"]
    )
    assert retired.exit_code == 0, retired.output
    assert "demo token:pan: v1 retired" in retired.output
    rows = table_rows(runner.invoke(app, ["keys", "status", "--purpose", "token:pan"]).output)
    assert [row[2:4] for row in rows[1:]] == [["v1", "retired"], ["v2", "current"]]
    services = build_services(Settings(database_url=env.url))
    try:
        with pytest.raises(KeyVersionRetired):
            services.keys.open(env.tenant_id, "token:pan", env.sealed)
        new = services.keys.seal(env.tenant_id, "token:pan", b"5500000000000004")
        assert services.keys.open(env.tenant_id, "token:pan", new) == b"5500000000000004"
        actions = [r.action for r in services.audit.list(tenant_id=env.tenant_id, limit=10)]
        assert AuditAction.KEY_ROTATE in actions and AuditAction.KEY_RETIRE in actions
    finally:
        services.close()


def test_rotate_with_nothing_to_rotate_says_so(env: Env) -> None:
    result = runner.invoke(app, ["keys", "rotate", "--tenant", "other"])
    assert result.exit_code == 0, result.output
    assert "no data keys to rotate" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["keys", "rotate", "--tenant", "nobody"], "no tenant named 'nobody'"),
        (["keys", "rotate", "--tenant", "demo", "--purpose", "Bad Purpose"], "key purpose"),
        (["keys", "retire", "--below", "1"], "--below"),
    ],
)
def test_bad_arguments_exit_2_with_a_message(env: Env, args: list[str], message: str) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert message in result.output
