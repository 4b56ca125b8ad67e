"""`payguard sharing`: recipients, data requests, consents, an export of a records file, the
subject report and retention through `payguard purge`, from the shell (issue 15)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from payguard.audit.interfaces import Actor, AuditAction
from payguard.cli.main import app
from payguard.services import build_services
from payguard.settings import Settings

runner = CliRunner()


@pytest.fixture
def url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    url = f"sqlite:///{tmp_path}/payguard.db"
    monkeypatch.setenv("PAYGUARD_DATABASE_URL", url)
    monkeypatch.setenv("COLUMNS", "200")
    services = build_services(Settings(database_url=url))
    try:
        services.tenants.create_tenant("demo", actor=Actor.system("test"))
        services.tenants.create_tenant("other", actor=Actor.system("test"))
    finally:
        services.close()
    yield url


def _run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["sharing", *args])
    return result.exit_code, result.output


def test_register_consent_export_report(url: str, tmp_path: Path) -> None:
    code, out = _run(
        "recipients", "add", "--tenant", "demo", "--id", "insurer", "--name", "AX Insurance",
        "--min-k", "2", "-q", "age", "-q", "zip",
    )  # fmt: skip
    assert code == 0, out
    code, out = _run(
        "requests", "add", "--tenant", "demo", "--id", "claims", "--recipient", "insurer",
        "--purpose", "claims_review", "--field", "age=generalize", "--field", "zip=generalize",
        "--field", "email=tokenize", "--retention-days", "30",
    )  # fmt: skip
    assert code == 0, out
    for subject in ("c-1", "c-2", "c-3"):
        code, out = _run(
            "consents", "give", "--tenant", "demo", "--subject", subject, "--request", "claims",
            "--expires-at", "2030-01-01T00:00:00+00:00",
        )  # fmt: skip
        assert code == 0, out
    code, out = _run(
        "consents", "revoke", "--tenant", "demo", "--subject", "c-3", "--request", "claims"
    )
    assert code == 0, out

    records = tmp_path / "records.jsonl"
    records.write_text(
        "".join(
            json.dumps({"subject_id": s, "age": 41, "zip": "018956", "email": f"{s}@x.org", "n": 1})
            + "\n"
            for s in ("c-1", "c-2", "c-3", "c-4")
        )
    )
    out_file = tmp_path / "out.jsonl"
    code, out = _run(
        "export", "--tenant", "demo", "--request", "claims", str(records), "--out", str(out_file)
    )
    assert code == 0, out
    assert "2 records to insurer, 2 dropped without consent, k 2" in out
    shared = [json.loads(line) for line in out_file.read_text().splitlines()]
    assert [sorted(row) for row in shared] == [["age", "email", "zip"]] * 2
    assert all(row["age"] == "[40, 50)" and row["email"].startswith("tok_email_") for row in shared)

    code, out = _run("report", "--tenant", "demo", "c-1")
    assert code == 0, out
    assert "claims_review" in out and "insurer" in out and "exp_" in out
    code, out = _run("report", "--tenant", "other", "c-1")
    assert code == 0 and "exp_" not in out and "claims_review" not in out

    code, out = _run("requests", "list", "--tenant", "demo")
    assert code == 0 and "claims" in out and "email=tokenize" in out
    code, out = _run("recipients", "list", "--tenant", "demo")
    assert code == 0 and "AX Insurance" in out
    code, out = _run("requests", "close", "--tenant", "demo", "claims")
    assert code == 0, out

    services = build_services(Settings(database_url=url))
    try:
        tenant = services.tenants.get_tenant_by_name("demo")
        assert tenant is not None
        [export] = services.audit.list(tenant_id=tenant.id, action=AuditAction.SHARING_EXPORT)
        assert export.actor == "cli" and export.details["records"] == 2
    finally:
        services.close()

    # Retention: purge forgets the subject rows once the request's 30 days are over; not now.
    result = runner.invoke(app, ["purge"])
    assert result.exit_code == 0 and "exported_subjects: 0 removed" in result.output


def test_bad_input_exits_2_naming_the_problem(url: str, tmp_path: Path) -> None:
    code, out = _run(
        "requests", "add", "--tenant", "demo", "--id", "r", "--recipient", "nobody",
        "--purpose", "x", "--field", "email", "--retention-days", "1",
    )  # fmt: skip
    assert code == 2 and "NAME=METHOD" in out
    code, out = _run(
        "consents", "give", "--tenant", "demo", "--subject", "s", "--request", "r",
        "--expires-at", "tomorrow",
    )  # fmt: skip
    assert code == 2 and "expires-at" in out
    bad = tmp_path / "bad.json"
    bad.write_text("[{not json")
    code, out = _run("export", "--tenant", "demo", "--request", "r", str(bad))
    assert code == 2 and "JSON" in out
