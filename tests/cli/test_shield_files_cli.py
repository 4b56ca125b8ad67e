"""`payguard shield scan` and `payguard shield redact`: personal data in CSV, JSON Lines and
Parquet files, end to end; bad input ends with exit code 2 and a message naming no value."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from typer.testing import CliRunner

from payguard.audit.interfaces import Actor, AuditAction
from payguard.cli.shield import shield_app
from payguard.services import build_services
from payguard.settings import Settings

runner = CliRunner()

CARD = "4111111111111111"
PHONE = "13800138000"
EMAIL = "li.wei@example.com"
VALUES = (CARD, PHONE, EMAIL, "li.wei")


@pytest.fixture(autouse=True)
def wide(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "160")


@pytest.fixture
def orders(tmp_path: Path) -> Path:
    path = tmp_path / "orders.jsonl"
    records = [
        {
            "id": i,
            "email": EMAIL,
            "note": f"paid with {CARD}" if i % 2 else "shipped",
            "customer": {"phone": PHONE},
        }
        for i in range(20)
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


@pytest.fixture
def payments(tmp_path: Path) -> Path:
    path = tmp_path / "payments.csv"
    with path.open("w", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(["when", "card_number", "contact", "amount"])
        writer.writerows([["2026-12-01", CARD, f"phone {PHONE}", str(i)] for i in range(12)])
    return path


def _policy(tmp_path: Path, text: str, name: str = "policy.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(shield_app, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    for value in VALUES:
        assert value not in result.stdout and value not in result.stderr
    return result.exit_code, result.stdout, result.stderr


def test_scan_json_and_suggested_policy(orders: Path, tmp_path: Path) -> None:
    suggested = tmp_path / "suggested.yaml"
    code, out, err = _run("scan", str(orders), "--json", "--suggest-policy", str(suggested))
    assert code == 0, err
    report = json.loads(out)
    assert (report["file"], report["format"], report["rows"]) == ("orders.jsonl", "jsonl", 20)
    columns = {c["column"]: c for c in report["columns"]}
    assert columns["$.email"]["mostly"] == "email"
    assert columns["$.customer.phone"]["findings"] == {"phone": 20}
    assert columns["$.note"]["findings"] == {"card": 10} and columns["$.note"]["mostly"] is None
    assert report["totals"] == {"card": 10, "email": 20, "phone": 20}
    assert "scanning: 100%" in err  # plain progress lines when not a terminal
    written = yaml.safe_load(suggested.read_text())
    assert written["columns"]["$.email"] == {"action": "mask", "entity": "email"}
    assert written["free_text"] == "scan"
    code, _, err = _run("scan", str(orders), "--suggest-policy", str(suggested))
    assert code == 2 and "already exists" in err
    code, out, _ = _run("scan", str(orders))
    assert code == 0 and "$.customer.phone" in out and "20 rows" in out


def test_redact_csv_end_to_end(payments: Path, tmp_path: Path) -> None:
    policy = _policy(tmp_path, "columns:\n  card_number: {action: mask, entity: card}\n")
    out = tmp_path / "safe.csv"
    code, stdout, err = _run(
        "redact", str(payments), "--policy", str(policy), "--out", str(out), "--json"
    )
    assert code == 0, err
    report = json.loads(stdout)
    assert (report["rows"], report["columns"], report["entities"]) == (
        12,
        {"card_number": 12},
        {"phone": 12},
    )
    with out.open(newline="") as stream:
        got = list(csv.reader(stream))
    assert got[0] == ["when", "card_number", "contact", "amount"]
    assert got[1] == ["2026-12-01", "411111******1111", "phone +86*******8000", "0"]
    assert [row[3] for row in got[1:]] == [str(i) for i in range(12)]


def test_redact_parquet_and_two_workers(tmp_path: Path) -> None:
    source = tmp_path / "in.parquet"
    pq.write_table(
        pa.table({"pan": [int(CARD)] * 30, "n": list(range(30)), "note": [f"tel {PHONE}"] * 30}),
        source,
    )
    policy = _policy(tmp_path, '{"columns": {"pan": "redact"}}', "policy.json")
    outs = []
    for workers in ("1", "2"):
        out = tmp_path / f"out{workers}.parquet"
        code, _, err = _run(
            "redact", str(source), "--policy", str(policy), "--out", str(out), "--workers", workers
        )
        assert code == 0, err
        outs.append(pq.read_table(out))
    assert outs[0].equals(outs[1])
    assert outs[0].column("pan").to_pylist() == ["[redacted]"] * 30
    assert outs[0].column("n").to_pylist() == list(range(30))
    assert outs[0].column("note").to_pylist() == ["tel +86*******8000"] * 30


def test_bad_input_exits_2_naming_no_value(orders: Path, tmp_path: Path) -> None:
    good = _policy(tmp_path, "columns:\n  email: mask\n")
    out = tmp_path / "out.jsonl"

    def refused(*args: str) -> str:
        code, _, err = _run("redact", *args)
        assert code == 2, err
        assert not out.exists()
        return err

    assert "cannot open nope.jsonl" in refused(
        str(tmp_path / "nope.jsonl"), "--policy", str(good), "--out", str(out)
    )
    bad = _policy(tmp_path, "columns:\n  email: {action: shred}\n", "bad.yaml")
    assert "columns.email.action" in refused(str(orders), "--policy", str(bad), "--out", str(out))
    unknown = _policy(tmp_path, "columns:\n  emial: mask\n", "unknown.yaml")
    assert "emial" in refused(str(orders), "--policy", str(unknown), "--out", str(out))
    assert "the output is the input" in refused(
        str(orders), "--policy", str(good), "--out", str(orders), "--force"
    )
    keyed = _policy(tmp_path, "columns:\n  email: hash\n", "keyed.yaml")
    assert "columns.email" in refused(str(orders), "--policy", str(keyed), "--out", str(out))
    lines = orders.read_text().splitlines()
    broken = tmp_path / "broken.jsonl"
    broken.write_text("\n".join([*lines[:3], json.dumps([CARD]), *lines[3:]]) + "\n")
    assert "line 4: not a JSON object" in refused(
        str(broken), "--policy", str(good), "--out", str(out)
    )
    code, _, err = _run("scan", str(tmp_path / "corrupt.parquet"))
    assert code == 2 and "cannot open" in err

    code, _, err = _run(
        "redact", str(orders), "--policy", str(unknown), "--out", str(out),
        "--allow-missing-columns",
    )  # fmt: skip
    assert code == 0 and "no value matched the policy column 'emial'" in err
    code, _, err = _run("redact", str(orders), "--policy", str(good), "--out", str(out))
    assert code == 2 and "already exists" in err


@pytest.fixture
def tenant_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    url = f"sqlite:///{tmp_path}/payguard.db"
    monkeypatch.setenv("PAYGUARD_DATABASE_URL", url)
    services = build_services(Settings(database_url=url))
    try:
        services.tenants.create_tenant("demo", actor=Actor.system("test"))
    finally:
        services.close()
    yield url


def test_hash_and_tokenize_with_the_tenants_keys(
    tenant_db: str, payments: Path, tmp_path: Path
) -> None:
    policy = _policy(
        tmp_path,
        "columns:\n  card_number: {action: tokenize, entity: card}\n  when: hash\n"
        "entities:\n  phone: hash\n",
    )
    outs = []
    for workers in ("1", "2"):
        out = tmp_path / f"out{workers}.csv"
        code, _, err = _run(
            "redact", str(payments), "--policy", str(policy), "--out", str(out),
            "--tenant", "demo", "--workers", workers,
        )  # fmt: skip
        assert code == 0, err
        outs.append(out.read_text())
    assert outs[0] == outs[1]  # deterministic tokens and hashes, from every worker
    rows = list(csv.reader(outs[0].splitlines()))
    tokens = {row[1] for row in rows[1:]}
    assert len(tokens) == 1 and CARD not in outs[0]
    assert rows[1][0].startswith("h:") and rows[1][2].startswith("phone h:")
    code, _, err = _run(
        "redact", str(payments), "--policy", str(policy), "--out", str(tmp_path / "x.csv"),
        "--tenant", "nobody",
    )  # fmt: skip
    assert code == 2 and "nobody" in err
    services = build_services(Settings(database_url=tenant_db))
    try:
        demo = services.tenants.get_tenant_by_name("demo")
        assert demo is not None
        audited = [r for r in services.audit.list(tenant_id=demo.id, limit=100)]
    finally:
        services.close()
    redactions = [r for r in audited if r.action is AuditAction.PRIVACY_REDACT]
    assert len(redactions) == 2
    assert {r.action for r in audited} >= {AuditAction.TOKEN_CREATE}
