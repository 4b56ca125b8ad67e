"""`payguard shield risk`: k-anonymity, l-diversity and suggested generalisations of a file,
end to end; bad input ends with exit code 2 and a message that names no value."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from payguard.cli.main import app

runner = CliRunner()

PATIENTS = """age,zip,gender,disease
28,13053,F,heart
29,13068,F,heart
21,13068,M,viral
23,13053,M,viral
50,14853,M,cancer
55,14853,F,heart
47,14850,M,viral
49,14850,M,viral
31,13053,F,cancer
37,13053,M,cancer
"""
VALUES = ("13053", "14853", "heart", "cancer", "viral")


@pytest.fixture(autouse=True)
def wide(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "160")


@pytest.fixture
def patients(tmp_path: Path) -> Path:
    path = tmp_path / "patients.csv"
    path.write_text(PATIENTS)
    return path


def _run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["shield", "risk", *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stdout, result.stderr


def test_json_report_and_suggestion(patients: Path) -> None:
    code, out, _ = _run(
        str(patients), "--quasi-identifiers", "age,zip,gender", "--sensitive", "disease",
        "--k", "3", "--json",
    )  # fmt: skip
    assert code == 0, out
    report = json.loads(out)
    assert (report["file"], report["format"], report["rows"]) == ("patients.csv", "csv", 10)
    assert (report["classes"], report["k"], report["share_below_k"]) == (10, 1, 1.0)
    assert (report["l"], report["meets_k"], report["meets_l"]) == (1, False, False)
    suggestion = report["suggestion"]
    assert [rule["rule"] for rule in suggestion["rules"]] == [
        "bands of 20",
        "first 3 characters kept, the rest *",
        "suppressed (*)",
    ]
    assert suggestion["information_loss"] == 6 and suggestion["least_loss"] is True
    assert (suggestion["after"]["k"], suggestion["after"]["classes"]) == (4, 2)
    for value in VALUES:
        assert value not in out


def test_human_report(patients: Path) -> None:
    code, out, _ = _run(str(patients), "-q", "age,zip,gender", "--sensitive", "disease", "--k", "3")
    assert code == 0
    assert "k (smallest class)" in out and "records in classes smaller than 3" in out
    assert "age: bands of 20 (level 3/5)" in out
    assert "after: k = 4, 2 classes, l ≥ 3" in out
    for value in VALUES:
        assert value not in out


def test_meeting_k_needs_no_generalisation(patients: Path) -> None:
    code, out, _ = _run(str(patients), "-q", "gender", "--k", "4", "--check")
    assert code == 0 and "no generalisation needed" in out
    code, out, _ = _run(str(patients), "-q", "gender", "--k", "5", "--check", "--json")
    assert code == 1  # --check: below the target k
    assert json.loads(out)["suggestion"]["rules"][0]["rule"] == "suppressed (*)"


def test_suppression_and_kind_override(patients: Path) -> None:
    code, out, _ = _run(str(patients), "-q", "zip", "--k", "3", "--json")
    assert code == 0, out
    assert (
        json.loads(out)["suggestion"]["rules"][0]["rule"] == "first 3 characters kept, the rest *"
    )
    code, out, _ = _run(str(patients), "-q", "zip", "--k", "3", "--kind", "zip=category", "--json")
    assert code == 0, out
    assert json.loads(out)["suggestion"]["rules"][0]["rule"] == "suppressed (*)"
    code, out, _ = _run(str(patients), "-q", "zip", "--k", "3", "--max-suppress", "0.6")
    assert code == 0, out
    assert "zip: kept as is (level 0/5)" in out
    assert "drop 6 records (60.00%) in classes still smaller than 3" in out  # all but 13053


def test_same_answer_from_jsonl_and_parquet(patients: Path, tmp_path: Path) -> None:
    _, *lines = PATIENTS.splitlines()
    records = [
        {"age": int(age), "zip": zip_code, "gender": gender, "disease": disease}
        for age, zip_code, gender, disease in (line.split(",") for line in lines)
    ]
    jsonl = tmp_path / "patients.ndjson"
    jsonl.write_text("".join(json.dumps(record) + "\n" for record in records))
    parquet = tmp_path / "patients.data"
    pq.write_table(pa.Table.from_pylist(records), parquet)
    answers = []
    for path, extra in ((patients, []), (jsonl, []), (parquet, ["--format", "parquet"])):
        code, out, _ = _run(str(path), "-q", "age,zip,gender", "--k", "3", "--json", *extra)
        assert code == 0, out
        answer = json.loads(out)
        del answer["file"], answer["format"]
        answers.append(answer)
    assert answers[0] == answers[1] == answers[2]


def _error(*args: str) -> str:
    code, out, err = _run(*args)
    assert code == 2, out + err
    assert "Traceback" not in out + err
    return err


def test_errors(tmp_path: Path, patients: Path) -> None:
    assert "no column named 'postcode'" in _error(str(patients), "-q", "age,postcode")
    assert "no column named 'diagnosis'" in _error(
        str(patients), "-q", "age", "--sensitive", "diagnosis"
    )
    assert "name is empty" in _error(str(patients), "-q", "age,,zip")
    assert "--kind zip" in _error(str(patients), "-q", "zip", "--kind", "zip=postcode")

    empty = tmp_path / "empty.csv"
    empty.write_text("")
    assert "empty" in _error(str(empty), "-q", "age")
    header_only = tmp_path / "header.csv"
    header_only.write_text("age,zip\n")
    assert "has no rows" in _error(str(header_only), "-q", "age")

    secret = "4111111111111111"
    objects = tmp_path / "rows.jsonl"
    objects.write_text(f'{{"age": 30}}\n"{secret}"\n')
    err = _error(str(objects), "-q", "age")
    assert "line 2: not a JSON object" in err and secret not in err
    absent = tmp_path / "other.jsonl"
    absent.write_text('{"age": 30}\n')
    assert "no row has a column named 'zip'" in _error(str(absent), "-q", "age,zip")

    corrupt = tmp_path / "corrupt.parquet"
    corrupt.write_bytes(b"PAR1 not really PAR1")
    assert "not a readable Parquet file" in _error(str(corrupt), "-q", "age")

    huge = tmp_path / "huge.csv"
    huge.write_text(f'age,card\n30,"{secret * 10_000}"\n')
    err = _error(str(huge), "-q", "age", "--sensitive", "card")
    assert "line 2" in err and secret not in err

    unknown = tmp_path / "people.xlsx"
    unknown.write_text("age\n30\n")
    assert "cannot tell the format" in _error(str(unknown), "-q", "age")


def test_typer_refuses_a_missing_file_and_bad_numbers(tmp_path: Path, patients: Path) -> None:
    _error(str(tmp_path / "absent.csv"), "-q", "age")
    _error(str(patients), "-q", "age", "--k", "0")
    _error(str(patients), "-q", "age", "--max-suppress", "1.5")
