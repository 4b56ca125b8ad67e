"""`payguard keys rewrap` and the counts in `payguard keys status`: TOTP secrets sealed before
the keyring and under an old version move to the current one; then the old version can be
retired and every user still verifies."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from tests.auth.test_service import (
    CTX,
    code_at,
    confirmed_totp,
    seal_as_before_the_keyring,
    user_with_password,
)
from tests.cli.tables import table_rows
from typer.testing import CliRunner

from payguard.audit.interfaces import Actor, AuditAction
from payguard.auth.factors import FactorKind, Proof
from payguard.auth.sealing import load_or_create_key
from payguard.cli.main import app
from payguard.core.clock import FrozenClock
from payguard.services import build_services
from payguard.settings import Settings

runner = CliRunner()


@dataclass
class Env:
    settings: Settings
    tenant_id: str
    secrets: dict[str, str]


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clock: FrozenClock) -> Iterator[Env]:
    """Tenant `demo` with four users' TOTP apps: two sealed before the keyring (under the
    auth key file beside the database), two on the keyring's `seal:totp` v1."""
    url = f"sqlite:///{tmp_path}/db/payguard.db"
    monkeypatch.setenv("PAYGUARD_DATABASE_URL", url)
    monkeypatch.setenv("COLUMNS", "120")
    settings = Settings(database_url=url, argon2_time_cost=1, argon2_memory_kib=8192)
    services = build_services(settings, clock=clock)
    made: dict[str, str] = {}
    try:
        tenant, _ = services.tenants.create_tenant("demo", actor=Actor.system("test"))
        key = load_or_create_key(tmp_path / "db" / "auth.key")
        for n in range(4):
            user = f"user-{n}"
            user_with_password(services.auth, tenant.id, user)
            made[user] = confirmed_totp(services.auth, tenant.id, clock, user)
            if n < 2:
                (credential,) = services.auth.credentials(tenant.id, user)
                seal_as_before_the_keyring(services, tenant.id, credential.id, made[user], key)
    finally:
        services.close()
    yield Env(settings, tenant.id, made)


def protects(output: str) -> dict[str, str]:
    return {row[2]: row[7] for row in table_rows(output)[1:] if row[1] == "seal:totp"}


def test_rewrap_then_retire_keeps_every_user_verifying(env: Env, clock: FrozenClock) -> None:
    before = runner.invoke(app, ["keys", "status"])
    assert before.exit_code == 0, before.output
    assert "2 value(s) still sealed outside the keyring" in before.output
    assert protects(before.output) == {"v1": "2"}

    rotated = runner.invoke(app, ["keys", "rotate", "--purpose", "seal:totp"])
    assert rotated.exit_code == 0, rotated.output
    rewrapped = runner.invoke(app, ["keys", "rewrap", "--tenant", "demo"])
    assert rewrapped.exit_code == 0, rewrapped.output
    # Off a terminal: plain progress lines, then what was done.
    assert "rewrapped 4 of 4" in rewrapped.output
    assert "demo seal:totp (totp secrets): 4 re-sealed" in rewrapped.output

    after = runner.invoke(app, ["keys", "status", "--purpose", "seal:totp"])
    assert "outside the keyring" not in after.output
    assert protects(after.output) == {"v1": "0", "v2": "4"}
    again = runner.invoke(app, ["keys", "rewrap"])
    assert again.exit_code == 0 and "nothing to rewrap" in again.output

    retired = runner.invoke(app, ["keys", "retire", "--below", "2", "--purpose", "seal:totp"])
    assert retired.exit_code == 0, retired.output
    services = build_services(env.settings, clock=clock)
    try:
        lines = services.audit.list(tenant_id=env.tenant_id, action=AuditAction.KEY_REWRAP)
        assert len(lines) == 1
        assert lines[0].details == {
            "store": "totp secrets",
            "resealed": 4,
            "changed": 0,
            "unopenable": 0,
        }
        clock.advance(timedelta(seconds=30))
        for user, secret in env.secrets.items():
            proof = Proof(FactorKind.TOTP, secret=code_at(secret, clock))
            (passed,) = services.auth.verify(env.tenant_id, user, [proof], context=CTX)
            assert passed.kind == FactorKind.TOTP
    finally:
        services.close()


def test_rewrap_of_another_purpose_leaves_totp_secrets(env: Env) -> None:
    runner.invoke(app, ["keys", "rotate", "--purpose", "seal:totp"])
    result = runner.invoke(app, ["keys", "rewrap", "--purpose", "token:pan"])
    assert result.exit_code == 0 and "nothing to rewrap" in result.output
    status = runner.invoke(app, ["keys", "status", "--purpose", "seal:totp"])
    assert protects(status.output) == {"v1": "2", "v2": "0"}
