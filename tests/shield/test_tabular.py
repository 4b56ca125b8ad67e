"""Streaming readers for CSV, JSON Lines and Parquet: one dict per row, errors that name the
line and column and never a value."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from payguard.shield import tabular
from payguard.shield.interfaces import DataSetUnreadable
from payguard.shield.risk import assess_risk, suggest
from payguard.shield.tabular import TableFormat, format_of, read_rows

SECRET = "4111111111111111"  # a value that must never show in an error

COLUMNS = ["age", "zip", "gender", "disease"]
RECORDS: list[dict[str, object]] = [
    {"age": 28, "zip": "13053", "gender": "F", "disease": "heart"},
    {"age": 29, "zip": "13068", "gender": "F", "disease": "heart"},
    {"age": 21, "zip": "13068", "gender": "M", "disease": "viral"},
    {"age": 23, "zip": "13053", "gender": "M", "disease": "viral"},
    {"age": 50, "zip": "14853", "gender": "M", "disease": "cancer"},
    {"age": 55, "zip": "14853", "gender": None, "disease": "heart"},
    {"age": None, "zip": "14850", "gender": "M", "disease": "viral"},
    {"age": 49, "zip": "14850", "gender": "M", "disease": None},
    {"age": 31, "zip": "13053", "gender": "F", "disease": "cancer"},
    {"age": 37, "zip": "13053", "gender": "M", "disease": "cancer"},
] * 3


def write_csv(path: Path, records: list[dict[str, object]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as stream:
        writer = csv.DictWriter(stream, fieldnames=COLUMNS)
        writer.writeheader()
        for record in records:
            writer.writerow({key: "" if value is None else value for key, value in record.items()})
    return path


def write_jsonl(path: Path, records: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(record) + "\n" for record in records), encoding="utf-8")
    return path


def write_parquet(path: Path, records: list[dict[str, object]], row_group: int = 4) -> Path:
    pq.write_table(pa.Table.from_pylist(records), path, row_group_size=row_group)
    return path


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    return {
        "csv": write_csv(tmp_path / "people.csv", RECORDS),
        "jsonl": write_jsonl(tmp_path / "people.jsonl", RECORDS),
        "parquet": write_parquet(tmp_path / "people.parquet", RECORDS),
    }


def test_same_data_same_risk_in_every_format(
    files: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tabular, "BATCH_ROWS", 3)  # several batches over several row groups
    results = []
    for path in files.values():
        rows = read_rows(path, columns=["age", "zip", "gender", "disease"])
        report = assess_risk(rows, ["age", "zip", "gender"], "disease", k=4, l=2)
        found = suggest(report)
        assert found is not None
        results.append((report.summary(), found.summary()))
    assert results[0] == results[1] == results[2]
    summary, suggestion = results[0]
    assert summary["rows"] == 30 and summary["k"] == 3
    assert summary["missing"] == {"age": 3, "zip": 0, "gender": 3}
    assert suggestion["after"]["k"] >= 4  # type: ignore[index]


def test_rows_stream_with_their_types(files: dict[str, Path], tmp_path: Path) -> None:
    csv_rows = list(read_rows(files["csv"]))
    assert csv_rows[0] == {"age": "28", "zip": "13053", "gender": "F", "disease": "heart"}
    windows = tmp_path / "windows.csv"
    windows.write_bytes('\ufeffname;city\r\n"Li, Wei";上海\r\n'.encode())
    assert list(read_rows(windows, delimiter=";")) == [{"name": "Li, Wei", "city": "上海"}]
    assert list(read_rows(files["jsonl"]))[6]["age"] is None
    parquet_rows = read_rows(files["parquet"], columns=["zip", "age"])
    assert next(parquet_rows) == {"zip": "13053", "age": 28}
    assert len(list(parquet_rows)) == 29


@pytest.mark.parametrize(
    ("name", "given", "expected"),
    [
        ("a.csv", None, TableFormat.CSV),
        ("a.JSONL", None, TableFormat.JSONL),
        ("a.ndjson", None, TableFormat.JSONL),
        ("a.parquet", None, TableFormat.PARQUET),
        ("a.txt", "csv", TableFormat.CSV),
        ("a", "ndjson", TableFormat.JSONL),
    ],
)
def test_format_of(name: str, given: str | None, expected: TableFormat) -> None:
    assert format_of(Path(name), given) is expected


@pytest.mark.parametrize(("name", "given"), [("a.txt", None), ("a.csv", "xlsx")])
def test_unknown_format(name: str, given: str | None) -> None:
    with pytest.raises(DataSetUnreadable) as raised:
        format_of(Path(name), given)
    assert raised.value.field == "format"


@pytest.mark.parametrize("kind", ["csv", "parquet"])
def test_missing_column_named_before_any_row(files: dict[str, Path], kind: str) -> None:
    with pytest.raises(DataSetUnreadable) as raised:
        next(read_rows(files[kind], columns=["age", "postcode"]))
    assert raised.value.field == "postcode" and "'postcode'" in raised.value.message


def _error(path: Path, **kwargs: object) -> DataSetUnreadable:
    with pytest.raises(DataSetUnreadable) as raised:
        list(read_rows(path, **kwargs))  # type: ignore[arg-type]
    assert SECRET not in raised.value.message
    return raised.value


def test_csv_errors(tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    assert "empty" in _error(empty).message

    ragged = tmp_path / "ragged.csv"
    ragged.write_text(f"a,b\n1,2\n\n3,{SECRET},5\n")
    error = _error(ragged)
    assert error.line == 4 and "3 fields, the header has 2" in error.message

    huge = tmp_path / "huge.csv"
    huge.write_text(f'a,b\n1,"{SECRET * 10_000}"\n')
    error = _error(huge)
    assert error.line == 2 and "field larger than field limit" in error.message

    quoting = tmp_path / "quoting.csv"
    quoting.write_text(f'a,b\n1,"{SECRET}"x\n')
    error = _error(quoting)
    assert error.line == 2 and "not readable as CSV" in error.message

    binary = tmp_path / "binary.csv"
    binary.write_bytes(b"a,b\n1,2\n\xff\xfe\x00\x01,2\n")
    assert _error(binary).line == 3 and "UTF-8" in _error(binary).message

    twice = tmp_path / "twice.csv"
    twice.write_text("a,a,b\n1,2,3\n")
    assert _error(twice, columns=["a"]).field == "a"
    assert len(list(read_rows(twice, columns=["b"]))) == 1

    with pytest.raises(DataSetUnreadable):
        list(read_rows(twice, delimiter=";;"))


def test_long_lines_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tabular, "MAX_LINE_CHARS", 64)
    long_csv = tmp_path / "long.csv"
    long_csv.write_text(f"a,b\n1,2\n3,{SECRET * 8}\n")
    error = _error(long_csv)
    assert error.line == 3 and "longer than 64 bytes" in error.message
    long_jsonl = tmp_path / "long.jsonl"
    long_jsonl.write_text(f'{{"a": 1}}\n{{"a": "{SECRET * 8}"}}\n')
    assert _error(long_jsonl).line == 2


def test_jsonl_errors(tmp_path: Path) -> None:
    not_object = tmp_path / "list.jsonl"
    not_object.write_text(f'{{"a": 1}}\n\n["{SECRET}"]\n')
    error = _error(not_object)
    assert error.line == 3 and "not a JSON object" in error.message

    broken = tmp_path / "broken.jsonl"
    broken.write_text(f'{{"a": 1}}\n{{"a": "{SECRET}"\n')
    error = _error(broken)
    assert error.line == 2 and "not valid JSON" in error.message

    blank = tmp_path / "blank.jsonl"
    blank.write_text('\n{"a": 1, "b": 2}\n   \n{"b": 3}\n')
    assert list(read_rows(blank, columns=["a"])) == [{"a": 1}, {}]


def test_parquet_errors(tmp_path: Path, files: dict[str, Path]) -> None:
    garbage = tmp_path / "garbage.parquet"
    garbage.write_bytes(b"PAR1" + SECRET.encode() * 10 + b"PAR1")
    assert "not a readable Parquet file" in _error(garbage).message

    empty = tmp_path / "empty.parquet"
    empty.write_bytes(b"")
    assert "not a readable Parquet file" in _error(empty).message

    whole = files["parquet"].read_bytes()
    cut = tmp_path / "cut.parquet"
    cut.write_bytes(whole[:200] + whole[-(len(whole) // 3) :])
    _error(cut)


def test_unopenable_file(tmp_path: Path) -> None:
    error = _error(tmp_path / "absent.csv")
    assert "cannot open absent.csv" in error.message
    assert "cannot open" in _error(tmp_path / "absent.jsonl").message
