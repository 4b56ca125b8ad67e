"""`payguard simulate`: files, manifest, determinism, Parquet round trip and refused options."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from payguard.cli.main import app
from payguard.sim.attacks import TYPOLOGIES

runner = CliRunner()
SMALL = ["--days", "3", "--customers", "150", "--fraud-rate", "0.1", "--seed", "4"]


def _simulate(out: Path, *extra: str) -> None:
    result = runner.invoke(app, ["simulate", "--out", str(out), *SMALL, *extra])
    assert result.exit_code == 0, result.output


@pytest.fixture(scope="module")
def jsonl_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("jsonl") / "run"
    _simulate(out)
    return out


def _lines(out: Path) -> list[dict[str, object]]:
    return [orjson.loads(line) for line in (out / "events.jsonl").read_bytes().splitlines()]


def test_writes_events_and_a_manifest_that_describes_them(jsonl_run: Path) -> None:
    assert sorted(p.name for p in jsonl_run.iterdir()) == ["events.jsonl", "manifest.json"]
    lines = _lines(jsonl_run)
    manifest = json.loads((jsonl_run / "manifest.json").read_text())
    assert manifest["arguments"] == {
        "days": 3.0,
        "customers": 150,
        "fraud_rate": 0.1,
        "seed": 4,
        "start": "2026-01-01T00:00:00+00:00",
        "format": "jsonl",
    }
    assert manifest["events"] == len(lines) > 1000
    assert manifest["file"] == "events.jsonl"
    data = (jsonl_run / "events.jsonl").read_bytes()
    assert manifest["sha256"] == hashlib.sha256(data).hexdigest()
    assert manifest["bytes"] == len(data)

    fraud = [line for line in lines if line["label"] == "fraud"]
    assert manifest["fraud_events"] == len(fraud) > 0
    assert manifest["legit_events"] == len(lines) - len(fraud)
    assert set(manifest["typologies"]) == set(TYPOLOGIES)
    for typology in TYPOLOGIES:
        assert manifest["typologies"][typology] == sum(
            line["typology"] == typology for line in fraud
        )
    never = sum(line["label_at"] is None for line in fraud)
    assert manifest["fraud_never_reported"] == never
    assert manifest["fraud_labelled"] == len(fraud) - never
    first, last = lines[0]["request"], lines[-1]["request"]
    assert manifest["first_occurred_at"] == first["occurred_at"]  # type: ignore[index]
    assert manifest["last_occurred_at"] == last["occurred_at"]  # type: ignore[index]


def test_lines_carry_the_request_the_label_and_when_it_became_known(jsonl_run: Path) -> None:
    previous = datetime(2026, 1, 1, tzinfo=UTC)
    for line in _lines(jsonl_run):
        assert list(line)[:4] == ["request", "label", "typology", "label_at"]
        request = line["request"]
        assert isinstance(request, dict)
        occurred = datetime.fromisoformat(request["occurred_at"])
        assert occurred >= previous
        previous = occurred
        if line["label"] is None:
            assert line["typology"] is None and line["label_at"] is None
        elif line["label_at"] is not None:
            assert isinstance(line["label_at"], str)
            assert datetime.fromisoformat(line["label_at"]) >= occurred


def test_the_same_arguments_give_the_same_bytes(jsonl_run: Path, tmp_path: Path) -> None:
    _simulate(tmp_path / "again")
    for name in ("events.jsonl", "manifest.json"):
        assert (tmp_path / "again" / name).read_bytes() == (jsonl_run / name).read_bytes()


def test_another_seed_gives_other_events(jsonl_run: Path, tmp_path: Path) -> None:
    _simulate(tmp_path / "other", "--seed", "5")
    assert (tmp_path / "other" / "events.jsonl").read_bytes() != (
        jsonl_run / "events.jsonl"
    ).read_bytes()


def test_parquet_holds_the_same_events_as_jsonl(jsonl_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "parquet"
    _simulate(out, "--format", "parquet")
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["file"] == "events.parquet"
    assert manifest["sha256"] == hashlib.sha256((out / "events.parquet").read_bytes()).hexdigest()

    table = pq.read_table(out / "events.parquet")
    assert table.schema.field("occurred_at").type.tz == "UTC"
    rows = table.to_pylist()
    lines = _lines(jsonl_run)
    assert manifest["events"] == len(rows) == len(lines)
    for row, line in zip(rows, lines, strict=True):
        request = line["request"]
        assert isinstance(request, dict)
        assert orjson.loads(row["request"]) == request
        assert row["event_id"] == request["event_id"]
        assert row["event_type"] == request["event_type"]
        assert row["account_id"] == request["account_id"]
        assert row["occurred_at"] == datetime.fromisoformat(request["occurred_at"])
        if "amount" in request:
            assert row["amount"] == float(request["amount"]["value"])
            assert row["currency"] == request["amount"]["currency"]
        else:
            assert row["amount"] is None and row["currency"] is None
        assert (row["label"], row["typology"]) == (line["label"], line["typology"])
        label_at = line["label_at"]
        assert row["label_at"] == (
            None if label_at is None else datetime.fromisoformat(str(label_at))
        )


def test_start_may_be_a_date(tmp_path: Path) -> None:
    out = tmp_path / "dated"
    result = runner.invoke(
        app, ["simulate", "--out", str(out), "--days", "0.5", "--customers", "20",
              "--start", "2026-06-01", "--quiet"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["arguments"]["start"] == "2026-06-01T00:00:00+00:00"
    assert manifest["first_occurred_at"] >= "2026-06-01"


@pytest.mark.parametrize(
    ("arguments", "option"),
    [
        (["--days", "0"], "--days"),
        (["--days", "-1"], "--days"),
        (["--days", "3661"], "--days"),
        (["--days", "nan"], "--days"),
        (["--customers", "0"], "--customers"),
        (["--customers", "5000001"], "--customers"),
        (["--fraud-rate", "-0.1"], "--fraud-rate"),
        (["--fraud-rate", "0.6"], "--fraud-rate"),
        (["--format", "csv"], "--format"),
        (["--start", "yesterday"], "--start"),
    ],
)
def test_bad_options_are_refused_naming_the_option(
    arguments: list[str], option: str, tmp_path: Path
) -> None:
    out = tmp_path / "refused"
    result = runner.invoke(app, ["simulate", "--out", str(out), *arguments])
    assert result.exit_code == 2
    assert option in result.output
    assert not out.exists() or not any(out.iterdir())


def test_an_out_that_is_a_file_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "file.txt"
    target.write_text("keep me")
    result = runner.invoke(app, ["simulate", "--out", str(target), "--days", "0.1"])
    assert result.exit_code == 2 and "--out" in result.output
    assert target.read_text() == "keep me"


def test_a_non_empty_directory_needs_force(tmp_path: Path) -> None:
    out = tmp_path / "busy"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    small = ["--days", "0.2", "--customers", "10", "--quiet"]
    refused = runner.invoke(app, ["simulate", "--out", str(out), *small])
    assert refused.exit_code == 2 and "--out" in refused.output
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]

    forced = runner.invoke(app, ["simulate", "--out", str(out), *small, "--force"])
    assert forced.exit_code == 0, forced.output
    assert sorted(p.name for p in out.iterdir()) == ["events.jsonl", "manifest.json", "notes.txt"]
    # A second forced run in the other format replaces the first run's file.
    again = runner.invoke(
        app, ["simulate", "--out", str(out), *small, "--force", "--format", "parquet"]
    )
    assert again.exit_code == 0, again.output
    assert sorted(p.name for p in out.iterdir()) == [
        "events.parquet",
        "manifest.json",
        "notes.txt",
    ]
