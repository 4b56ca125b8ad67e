"""`payguard models`: list, show, promote, shadow; exit code 2 for unknown tenants and versions."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest
from tests.cli.tables import table_rows
from tests.risk.model_fixtures import artifact
from typer.testing import CliRunner

from payguard.audit.interfaces import Actor, AuditAction
from payguard.cli.main import app
from payguard.ml.interfaces import ModelStatus
from payguard.services import build_services
from payguard.settings import Settings

runner = CliRunner()


@pytest.fixture
def env(tmp_path, monkeypatch) -> Iterator[str]:
    """A database with tenant `demo` holding two registered models; yields its tenant id."""
    url = f"sqlite:///{tmp_path}/cli.db"
    monkeypatch.setenv("PAYGUARD_DATABASE_URL", url)
    monkeypatch.setenv("COLUMNS", "100")
    services = build_services(Settings(database_url=url))
    try:
        tenant, _ = services.tenants.create_tenant("demo", actor=Actor.system("test"))
        services.tenants.create_tenant("other", actor=Actor.system("test"))
        for n in range(2):
            services.models.register(
                tenant.id,
                replace(artifact(), data_hash=f"sha256:{n:064x}"),
                actor=Actor.system("cli"),
            )
    finally:
        services.close()
    yield tenant.id


def statuses(tenant_id: str) -> dict[int, ModelStatus]:
    services = build_services()
    try:
        return {s.version: s.status for s in services.models.list(tenant_id)}
    finally:
        services.close()


def test_list_shows_versions_newest_first(env) -> None:
    result = runner.invoke(app, ["models", "list"])
    assert result.exit_code == 0, result.output
    rows = table_rows(result.output)
    assert rows[0] == ["version", "status", "created (UTC)", "by", "data hash", "AUC-PR"]
    assert [row[0] for row in rows[1:]] == ["v2", "v1"]
    assert rows[2][1] == "candidate" and rows[2][5] == "0.9100"
    assert rows[2][4] == "sha256:000000000000"
    empty = runner.invoke(app, ["models", "list", "--tenant", "other"])
    assert empty.exit_code == 0 and "no models yet" in empty.output


def test_show_prints_metrics_hash_and_columns(env) -> None:
    result = runner.invoke(app, ["models", "show", "1"])
    assert result.exit_code == 0, result.output
    assert "status:     candidate" in result.output
    assert f"data hash:  sha256:{0:064x}" in result.output
    assert f"columns:    {len(artifact().columns)}" in result.output
    assert '"average_precision": 0.91' in result.output


def test_promote_then_promote_again_retires_the_first(env) -> None:
    first = runner.invoke(app, ["models", "promote", "1"])
    assert first.exit_code == 0, first.output
    assert "v1 is the champion of demo" in first.output
    second = runner.invoke(app, ["models", "promote", "2", "--tenant", "demo"])
    assert second.exit_code == 0, second.output
    assert "(v1 retired)" in second.output
    assert statuses(env) == {1: ModelStatus.RETIRED, 2: ModelStatus.CHAMPION}
    services = build_services()
    try:
        audited = services.audit.list(tenant_id=env, action=AuditAction.MODEL_PROMOTE)
    finally:
        services.close()
    assert [r.actor for r in audited] == ["cli", "cli"]


def test_shadow_and_none(env) -> None:
    result = runner.invoke(app, ["models", "shadow", "2"])
    assert result.exit_code == 0, result.output
    assert statuses(env)[2] == ModelStatus.SHADOW
    cleared = runner.invoke(app, ["models", "shadow", "none"])
    assert cleared.exit_code == 0, cleared.output
    assert statuses(env)[2] == ModelStatus.CANDIDATE


@pytest.mark.parametrize(
    "args",
    [
        ["models", "promote", "7"],
        ["models", "show", "7"],
        ["models", "shadow", "7"],
        ["models", "promote", "1", "--tenant", "nobody"],
        ["models", "list", "--tenant", "nobody"],
        ["models", "shadow", "1", "--tenant", "other"],
        ["models", "promote", "0"],
        ["models", "promote", "abc"],
        ["models", "shadow", "abc"],
        ["models", "shadow", "-1"],
    ],
)
def test_unknown_tenants_and_versions_exit_2(env, args) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert statuses(env) == {1: ModelStatus.CANDIDATE, 2: ModelStatus.CANDIDATE}


def test_the_champion_cannot_shadow_itself(env) -> None:
    runner.invoke(app, ["models", "promote", "1"])
    result = runner.invoke(app, ["models", "shadow", "1"])
    assert result.exit_code == 2
    assert "champion" in result.output
