"""What a new user meets in the first hour: tables with headers that fit 100 columns, secrets
never echoed, the role a new key gets, where `serve` listens, a training error that says what
to change, and `assess` reading what `simulate` writes."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from tests.cli.tables import WIDTH, table_rows, widest
from typer.testing import CliRunner

from payguard.cli.main import app

runner = CliRunner()
LONG_NAME = "Acme Regional Wallet and Remittance Services Holdings Limited 12"  # 64, the most


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PAYGUARD_DATABASE_URL", f"sqlite:///{tmp_path}/cli.db")
    monkeypatch.setenv("COLUMNS", str(WIDTH))
    return tmp_path


def _ok(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def test_tenant_tables_have_headers_and_fit_100_columns(env: Path) -> None:
    assert len(LONG_NAME) == 64
    _ok("tenants", "create", LONG_NAME)
    _ok("tenants", "key", LONG_NAME, "--expires-in-days", "30")
    revoked = _ok("tenants", "key", LONG_NAME).strip().splitlines()[-1]
    _ok("tenants", "revoke", revoked.split("_")[1])

    keys = _ok("tenants", "keys", LONG_NAME)
    assert widest(keys) <= WIDTH, keys
    rows = table_rows(keys)
    assert rows[0] == ["key id", "role", "created (UTC)", "expires (UTC)", "status"]
    assert [row[1] for row in rows[1:]] == ["admin", "service", "service"]
    assert all(re.fullmatch(r"[0-9a-f]{16}", row[0]) for row in rows[1:])  # ids whole
    assert rows[3][4].startswith("revoked 20")

    listed = _ok("tenants", "list")
    assert widest(listed) <= WIDTH, listed
    assert table_rows(listed)[0] == ["tenant id", "name", "created (UTC)"]
    assert "Acme Regional" in listed


def test_tenants_list_on_an_empty_database_says_so(env: Path) -> None:
    assert "no tenants yet" in _ok("tenants", "list")


def test_revoke_takes_a_whole_key_and_never_prints_its_secret(env: Path) -> None:
    key = _ok("tenants", "create", "acme").strip().splitlines()[-1]
    key_id, secret = key[4:20], key[21:]
    result = runner.invoke(app, ["tenants", "revoke", key])
    assert result.exit_code == 0, result.output
    assert f"revoked key {key_id}" in result.output
    assert secret not in result.output and key not in result.output
    assert table_rows(_ok("tenants", "keys", "acme"))[1][4].startswith("revoked")

    # A mangled key is refused without being echoed: it may hold most of a secret.
    for bad in (key[:-1], key + "x", "pgk_" + secret, secret):
        refused = runner.invoke(app, ["tenants", "revoke", bad])
        assert refused.exit_code == 2
        assert secret[:20] not in refused.output, bad


def test_create_and_key_say_which_role_they_chose(env: Path) -> None:
    created = _ok("tenants", "create", "acme").splitlines()[0]
    assert "key role: admin, the default; see --role" in created
    issued = _ok("tenants", "key", "acme").splitlines()[0]
    assert "role: service, the default; see --role" in issued
    chosen = _ok("tenants", "key", "acme", "--role", "analyst").splitlines()[0]
    assert "role: analyst;" in chosen and "default" not in chosen
    chosen = _ok("tenants", "create", "beta", "--role", "service").splitlines()[0]
    assert "key role: service)" in chosen


@pytest.mark.parametrize(
    ("host", "url"),
    [("127.0.0.1", "http://127.0.0.1:8123"), ("::1", "http://[::1]:8123")],
)
def test_serve_prints_where_it_listens_before_starting(
    env: Path, monkeypatch: pytest.MonkeyPatch, host: str, url: str
) -> None:
    import typer

    from payguard.api import server

    monkeypatch.setattr(server, "serve", lambda *args: typer.echo("server running"))
    monkeypatch.delenv("PAYGUARD_WORKERS", raising=False)
    result = runner.invoke(app, ["serve", "--host", host, "--port", "8123"])
    monkeypatch.delenv("PAYGUARD_WORKERS")
    assert result.exit_code == 0, result.output
    # Printed before the server starts.
    assert result.output.splitlines() == [f"listening on {url} (1 worker)", "server running"]


def test_drift_tables_fit_100_columns_whatever_the_features(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from payguard.cli.ml import _print_drift

    monkeypatch.setenv("COLUMNS", str(WIDTH))
    names = [f"account_amount_velocity_feature_{n:02d}_30d" for n in range(10)]
    rows = [
        {
            "day": f"2026-01-{day:02d}",
            "events": 1000 + day,
            "score_psi": 0.01 * day,
            "features": {name: 0.001 * day * (n + 1) for n, name in enumerate(names)},
        }
        for day in range(1, 13)
    ]
    rows[0]["features"][names[3]] = None  # a feature the data lacks
    _print_drift(rows)
    printed = capsys.readouterr().out
    assert widest(printed) <= WIDTH, printed
    cells = table_rows(printed)
    assert ["day", "events", "score PSI", "most shifted feature", "its PSI"] in cells
    assert ["feature", "mean PSI", "max PSI", "on day"] in cells
    assert ["2026-01-12", "1012", "0.1200", names[9], "0.1200"] in cells
    assert [names[9], "0.0650", "0.1200", "2026-01-12"] in cells
    for name in names:
        assert name in printed  # every feature by its whole name


def test_a_short_simulation_says_which_label_delay_fits(env: Path) -> None:
    data = env / "sim"
    _ok(
        "simulate",
        "--out",
        str(data),
        "--days",
        "3",
        "--customers",
        "150",
        "--fraud-rate",
        "0.1",
        "--quiet",
    )
    _ok("tenants", "create", "demo")
    result = runner.invoke(app, ["train", "--data", str(data), "--trees", "5"])
    assert result.exit_code == 2
    message = " ".join(result.output.split())
    assert "no training period is left" in message
    assert "the label delay is 7 days" in message
    suggested = re.search(r"--label-delay-days ([0-9.]+)", message)
    assert suggested is not None and 0 < float(suggested.group(1)) < 2.4


def _simulated(env: Path) -> Path:
    data = env / "sim"
    _ok(
        "simulate",
        "--out",
        str(data),
        "--days",
        "0.5",
        "--customers",
        "40",
        "--fraud-rate",
        "0.1",
        "--quiet",
    )
    return data / "events.jsonl"


def test_assess_reads_what_simulate_writes(env: Path) -> None:
    events = _simulated(env)
    lines = events.read_text().splitlines()
    assert lines and all("request" in json.loads(line) for line in lines)
    _ok("tenants", "create", "acme")
    result = runner.invoke(app, ["assess", str(events), "--tenant", "acme"])
    assert result.exit_code == 0, result.output
    decided = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(decided) == len(lines)
    assert all("decision" in line for line in decided), decided[:3]
    wanted = [json.loads(line)["request"]["event_id"] for line in lines]
    assert [line["event_id"] for line in decided] == wanted

    # Plain requests and simulator lines mix; a wrapper whose request is bad names the field.
    first = json.loads(lines[0])["request"]
    mixed = env / "mixed.jsonl"
    mixed.write_text(
        "\n".join(
            [
                json.dumps({**first, "event_id": "plain-1"}),
                json.dumps({"request": {**first, "event_id": "wrapped-1"}, "label": None}),
                json.dumps({"request": {**first, "event_id": "bad", "event_type": "x"}}),
            ]
        )
    )
    out = runner.invoke(app, ["assess", str(mixed), "--tenant", "acme"])
    assert out.exit_code == 0, out.output
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert [row.get("event_id") for row in rows[:2]] == ["plain-1", "wrapped-1"]
    assert rows[2]["line"] == 3 and rows[2]["field"] == "event_type"


def test_assess_exits_non_zero_when_no_line_is_valid(env: Path) -> None:
    _ok("tenants", "create", "acme")
    bad = env / "bad.jsonl"
    bad.write_text('{not json\n{"request": 1}\n{"event_id": "e1"}\n')
    result = runner.invoke(app, ["assess", str(bad), "--tenant", "acme"])
    assert result.exit_code == 1
    assert [json.loads(line)["line"] for line in result.stdout.splitlines()] == [1, 2, 3]
    assert "none of the 3 lines" in result.output


def test_train_for_an_unknown_tenant_fails_and_creates_none(env: Path) -> None:
    result = runner.invoke(app, ["train", "--data", str(env), "--tenant", "Acme Wallet"])
    assert result.exit_code == 2
    message = " ".join(result.output.split())
    assert "no tenant named 'Acme Wallet'" in message
    assert "payguard tenants create 'Acme Wallet'" in message
    assert "no tenants yet" in _ok("tenants", "list")  # nothing was created on the way
    evaluated = runner.invoke(app, ["evaluate", "--data", str(env), "--tenant", "nobody"])
    assert evaluated.exit_code == 2 and "payguard tenants create nobody" in evaluated.output
