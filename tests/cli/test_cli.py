from __future__ import annotations

import json
import os

import pytest
from tests.cli.tables import table_rows
from typer.testing import CliRunner

from payguard.audit.interfaces import Actor
from payguard.cli.main import app

runner = CliRunner()


@pytest.fixture
def env(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("PAYGUARD_DATABASE_URL", f"sqlite:///{tmp_path}/cli.db")
    monkeypatch.setenv("COLUMNS", "100")  # tables fit the terminal; 100 holds a row a line


def test_tenants_create_prints_the_key_last(env) -> None:
    result = runner.invoke(app, ["tenants", "create", "Acme Wallet"])
    assert result.exit_code == 0, result.output
    last = result.output.strip().splitlines()[-1]
    assert last.startswith("pgk_") and len(last) == 4 + 16 + 1 + 43
    listed = runner.invoke(app, ["tenants", "list"])
    assert "Acme Wallet" in listed.output
    again = runner.invoke(app, ["tenants", "create", "Acme Wallet"])
    assert again.exit_code == 2


def test_keys_with_expiry_are_listed_and_revocable(env) -> None:
    runner.invoke(app, ["tenants", "create", "acme"])
    issued = runner.invoke(app, ["tenants", "key", "acme", "--expires-in-days", "30"])
    assert issued.exit_code == 0, issued.output
    key_id = issued.output.strip().splitlines()[-1].split("_")[1]
    assert "expires 20" in issued.output

    runner.invoke(app, ["tenants", "revoke", key_id])
    listed = runner.invoke(app, ["tenants", "keys", "acme"])
    assert listed.exit_code == 0, listed.output
    rows = table_rows(listed.output)
    assert rows[0] == ["key id", "role", "created (UTC)", "expires (UTC)", "status"]
    assert len(rows) == 3  # the header, the admin key made with the tenant, and the new one
    assert rows[1][1] == "admin" and rows[1][3] == "never" and rows[1][4] == "active"
    assert rows[2][0] == key_id and rows[2][1] == "service"
    assert rows[2][4].startswith("revoked 20")
    assert "pgk_" not in listed.output  # secrets are never shown


@pytest.mark.parametrize("days", ["0", "-3", "4000", "soon"])
def test_key_expiry_out_of_range_is_refused(env, days) -> None:
    runner.invoke(app, ["tenants", "create", "acme"])
    result = runner.invoke(app, ["tenants", "key", "acme", "--expires-in-days", days])
    assert result.exit_code == 2
    assert "pgk_" not in result.output


def test_keys_of_an_unknown_tenant(env) -> None:
    result = runner.invoke(app, ["tenants", "keys", "nobody"])
    assert result.exit_code == 2


def test_tenants_create_refuses_a_bad_name(env) -> None:
    result = runner.invoke(app, ["tenants", "create", "bad\nname"])
    assert result.exit_code == 2


def test_assess_decides_a_file_and_reports_bad_lines(env, tmp_path) -> None:
    runner.invoke(app, ["tenants", "create", "acme"])
    good = {
        "event_id": "e1",
        "event_type": "payment",
        "occurred_at": "2026-01-05T10:00:00+08:00",
        "account_id": "a1",
        "amount": {"value": "12.00", "currency": "SGD"},
        "payee": {"id": "p1"},
    }
    lines = [
        json.dumps(good),
        "{not json",
        json.dumps({**good, "event_id": "e2", "amount": None}),
        "",
        json.dumps({**good, "event_id": "e3", "attributes": {"x": "y" * 100_000}}),
        json.dumps({**good, "event_id": "e4", "amount": {"value": "1", "currency": "sgd"}}),
        json.dumps({**good, "event_id": "e5", "attributes": {"x": [1]}}),
    ]
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(lines))
    result = runner.invoke(app, ["assess", str(path), "--tenant", "acme"])
    assert result.exit_code == 0, result.output
    out = [json.loads(line) for line in result.stdout.strip().splitlines()]
    assert out[0]["decision"] == "allow"
    assert out[1]["line"] == 2 and "error" in out[1]
    assert out[2] == {"line": 3, "error": "a payment needs an amount", "field": "amount"}
    assert out[3] == {"line": 5, "error": "line too long", "field": "body"}
    # Field paths read as the API writes them.
    assert out[4]["line"] == 6 and out[4]["field"] == "amount.currency"
    assert out[5]["line"] == 7 and out[5]["field"].startswith("attributes.x")


def test_assess_unknown_tenant(env, tmp_path) -> None:
    path = tmp_path / "e.jsonl"
    path.write_text("")
    assert runner.invoke(app, ["assess", str(path), "--tenant", "nobody"]).exit_code == 2


def test_demo_serves_and_decides_simulated_traffic(tmp_path) -> None:
    """`payguard demo` end to end: server up, tenant created, traffic decided, fraud stopped."""
    import socket
    import subprocess
    import sys
    from pathlib import Path

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    payguard = Path(sys.executable).with_name("payguard")
    result = subprocess.run(
        [
            str(payguard),
            "demo",
            "--no-keep-serving",
            "--port",
            str(port),
            "--customers",
            "60",
            "--days",
            "1",
            "--fraud-rate",
            "0.05",
            "--database",
            f"sqlite:///{tmp_path}/demo.db",
            "--model-dir",
            str(tmp_path / "model"),
            "--training-customers",
            "150",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={"COLUMNS": "120", "PATH": str(payguard.parent), "TERM": "dumb"},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    out = result.stdout
    assert "pgk_" in out
    assert "events decided" in out
    assert "fraud stopped" in out
    assert "refused requests" not in out
    assert "demo model v1 promoted" in out
    assert "decisions use model v1" in out
    assert "step-ups: legit passed / fraud failed" in out
    assert "devices reported: healthy / at risk / compromised" in out


def test_tenants_revoke(env) -> None:
    from payguard.tenancy.service import key_id_of

    key = runner.invoke(app, ["tenants", "create", "acme"]).output.strip().splitlines()[-1]
    key_id = key_id_of(key)
    assert key_id is not None
    assert runner.invoke(app, ["tenants", "revoke", key_id]).exit_code == 0
    assert runner.invoke(app, ["tenants", "revoke", "0" * 16]).exit_code == 2


def test_serve_tells_its_workers_how_many_they_are(env, monkeypatch) -> None:
    from payguard.api import server

    calls: list[tuple[str, int, int]] = []
    monkeypatch.setattr(server, "serve", lambda *args: calls.append(args))
    monkeypatch.delenv("PAYGUARD_WORKERS", raising=False)
    result = runner.invoke(app, ["serve", "--workers", "2", "--port", "8123"])
    assert result.exit_code == 0, result.output
    assert calls == [("127.0.0.1", 8123, 2)]
    assert os.environ["PAYGUARD_WORKERS"] == "2"  # read by each worker's Settings
    monkeypatch.delenv("PAYGUARD_WORKERS")


def test_purge_forgets_old_housekeeping_rows_and_is_audited(env, tmp_path) -> None:
    from datetime import UTC, datetime, timedelta

    from payguard.adapters.sql.auth import SqlAuthRepository
    from payguard.audit.interfaces import AuditAction, AuditOutcome
    from payguard.auth.interfaces import Session
    from payguard.services import build_services
    from payguard.settings import Settings

    services = build_services(Settings(database_url=f"sqlite:///{tmp_path}/cli.db"))
    tenant, _ = services.tenants.create_tenant("acme", actor=Actor.system("test"))
    long_ago = datetime.now(UTC) - timedelta(days=90)
    SqlAuthRepository(services.engine).add_session(
        Session(
            tenant_id=tenant.id,
            id="old-session",
            user_id="acct-1",
            level=1,
            token_hash="a" * 64,
            refresh_hash="b" * 64,
            created_at=long_ago,
            last_seen_at=long_ago,
            idle_expires_at=long_ago + timedelta(minutes=30),
            absolute_expires_at=long_ago + timedelta(hours=12),
        )
    )
    services.close()

    result = runner.invoke(app, ["purge", "--older-than-days", "30"])
    assert result.exit_code == 0, result.output
    assert "sessions: 1 removed" in result.output
    assert "device_snapshots: 0 removed" in result.output
    assert "community_entries: 0 removed" in result.output
    assert runner.invoke(app, ["purge", "--older-than-days", "0"]).exit_code == 2

    services = build_services(Settings(database_url=f"sqlite:///{tmp_path}/cli.db"))
    try:
        assert SqlAuthRepository(services.engine).get_session(tenant.id, "old-session") is None
        records = services.audit.list(tenant_id=None, action=AuditAction.MAINTENANCE_PURGE)
        assert len(records) == 1 and records[0].details["sessions"] == 1
        [record] = records
        assert (record.actor, record.target, record.outcome, record.source_ip) == (
            "cli",
            "stores",
            AuditOutcome.SUCCESS,
            None,
        )
        assert set(record.details) == {
            "nonces",
            "community_entries",
            "challenges",
            "sessions",
            "device_snapshots",
            "exported_subjects",
            "older_than_days",
        }
    finally:
        services.close()


def test_assess_writes_card_numbers_in_free_text_as_the_tenants_token(env, tmp_path) -> None:
    runner.invoke(app, ["tenants", "create", "acme"])
    event = {
        "event_id": "e1",
        "event_type": "payment",
        "occurred_at": "2026-01-05T10:00:00+08:00",
        "account_id": "a1",
        "amount": {"value": "12.00", "currency": "SGD"},
        "payee": {"id": "p1", "name": "card 4111-1111-1111-1111"},
    }
    path = tmp_path / "events.jsonl"
    path.write_text(json.dumps(event))
    assert runner.invoke(app, ["assess", str(path), "--tenant", "acme"]).exit_code == 0
    tokenized = runner.invoke(
        app, ["tokens", "tokenize", "--tenant", "acme", "--kind", "pan", "4111111111111111"]
    )
    assert tokenized.exit_code == 0, tokenized.output
    files = [tmp_path / name for name in ("cli.db", "cli.db-wal", "cli.db-journal")]
    data = b"".join(path.read_bytes() for path in files if path.exists())
    assert b"4111111111111111" not in data and b"4111-1111" not in data
    token = next(t for t in tokenized.stdout.split() if t.isdigit() and len(t) == 16)
    assert f"card [card 411111******1111 token {token}]".encode() in data
