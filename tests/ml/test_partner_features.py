"""Partner features: a file's own columns as model inputs, read online from the assessment's
attributes under the same names; data without account or merchant columns; times before
2000 and seconds from a stated origin."""

from __future__ import annotations

import json
import math
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from payguard.audit.interfaces import Actor
from payguard.cli.main import app
from payguard.ml.dataset import (
    Dataset,
    DatasetError,
    add_features,
    feature_name,
    parse_columns,
    parse_mapping,
)
from payguard.ml.replay import load_features
from payguard.ml.split import choose_split, table_span
from payguard.ml.train import onnx_scores, train_model
from payguard.risk.engine import dense
from payguard.risk.features.extractor import FEATURES
from payguard.risk.models.partner import ATTRIBUTES, category_text, number, with_attributes
from payguard.risk.models.vector import Vectorizer, catalog_columns
from payguard.services import Services, build_services
from payguard.settings import Settings
from payguard.wire.schemas import AssessmentRequest

runner = CliRunner()
ORIGIN = datetime(2013, 9, 1, tzinfo=UTC)
BASE_MAP = "time=Time,amount=Amount,label=Class"
PARTNER = ("feature.v1", "feature.v2", "feature.v3")


def card_csv(path: Path, rows: int = 900, seed: int = 7) -> list[dict[str, str]]:
    """A small public-card-like file: Time in seconds from the start, anonymised V columns,
    a category, Amount and Class; no account, no merchant. Fraud follows V1 and Kind."""
    rng = random.Random(seed)
    records: list[dict[str, str]] = []
    t = 0.0
    for _ in range(rows):
        t += rng.uniform(600, 2400)
        v1 = rng.gauss(0, 1)
        kind = rng.choice(["a", "b", "c"])
        fraud = (v1 > 1.2 and kind != "a") or rng.random() < 0.01
        records.append(
            {
                "Time": f"{t:.0f}",
                "V1": f"{v1:.5f}",
                "V2": f"{rng.gauss(0, 1):.5f}",
                "V3": "" if rng.random() < 0.1 else f"{rng.uniform(-3, 3):.5f}",
                "Kind": kind,
                "Amount": f"{rng.uniform(1, 300):.2f}",
                "Class": "1" if fraud else "0",
            }
        )
    header = list(records[0])
    lines = [",".join(header)] + [",".join(r[c] for c in header) for r in records]
    path.write_text("\n".join(lines) + "\n")
    return records


def card_dataset(path: Path) -> Dataset:
    mapping = add_features(parse_mapping(BASE_MAP), ["V1", "V2", "V3"], ["Kind"])
    return Dataset(path, mapping=mapping, time_origin=ORIGIN, label_delay=timedelta(days=1))


# --- mapping and flags -----------------------------------------------------------------


def test_features_flags_and_map_entries_name_the_same_columns() -> None:
    by_flags = add_features(parse_mapping(BASE_MAP), parse_columns("V1, V2"), ["Kind"])
    by_map = parse_mapping(BASE_MAP + ",feature.v1=V1,feature.v2=V2,category.kind=Kind")
    assert by_flags == by_map
    assert feature_name("Merchant Type") == "merchant_type"
    assert "account" not in by_map  # an account column is optional


@pytest.mark.parametrize(
    "mapping",
    [
        BASE_MAP + ",feature.V1=V1",  # names are lower-case
        BASE_MAP + ",feature.=V1",
        BASE_MAP + ",feature.v1=V1,category.v1=V2",  # one name twice
        BASE_MAP + "," + ",".join(f"feature.f{i}=C{i}" for i in range(33)),  # > 32
    ],
)
def test_bad_partner_entries_are_refused(mapping: str) -> None:
    with pytest.raises(DatasetError) as caught:
        parse_mapping(mapping)
    assert caught.value.field == "--map"


def test_a_non_number_in_a_numeric_feature_names_the_column_and_row(tmp_path: Path) -> None:
    path = tmp_path / "tx.csv"
    path.write_text("Time,V1,Amount,Class\n0,0.5,1.00,0\n10,abc,2.00,0\n")
    mapping = parse_mapping(BASE_MAP + ",feature.v1=V1")
    with pytest.raises(DatasetError) as caught:
        list(Dataset(path, mapping=mapping).events())
    assert caught.value.field == "V1" and caught.value.row == 2


# --- times -------------------------------------------------------------------------------


def test_epoch_seconds_times_before_2000_and_time_origin(tmp_path: Path) -> None:
    path = tmp_path / "tx.csv"
    path.write_text(
        "Time,Amount,Class\n0,1.00,0\n86400.5,2.00,0\n1995-06-01T12:00:00Z,3.00,1\n"
        "1999-12-31 23:59:59,4.00,0\n"
    )
    events = list(Dataset(path, mapping=parse_mapping(BASE_MAP)).events())
    assert [e.event.occurred_at for e in events] == [
        datetime(1970, 1, 1, tzinfo=UTC),
        datetime(1970, 1, 2, 0, 0, 0, 500_000, tzinfo=UTC),
        datetime(1995, 6, 1, 12, tzinfo=UTC),
        datetime(1999, 12, 31, 23, 59, 59, tzinfo=UTC),
    ]
    assert events[2].fraud and events[2].label_at == datetime(1995, 6, 8, 12, tzinfo=UTC)
    # Without an account column each event is its own "account".
    assert events[0].event.account_id == "row-1"

    shifted = Dataset(path, mapping=parse_mapping(BASE_MAP), time_origin=ORIGIN)
    times = [e.event.occurred_at for e in shifted.events()]
    assert datetime(1995, 6, 1, 12, tzinfo=UTC) in times  # ISO times stay absolute
    assert ORIGIN in times and ORIGIN + timedelta(seconds=86400.5) in times
    assert shifted.fingerprint() != Dataset(path, mapping=parse_mapping(BASE_MAP)).fingerprint()


@pytest.mark.parametrize("bad", ["-1", "1969-12-31T23:59:59Z"])
def test_times_before_1970_are_refused(tmp_path: Path, bad: str) -> None:
    path = tmp_path / "tx.csv"
    path.write_text(f"Time,Amount,Class\n0,1.00,0\n{bad},2.00,0\n")
    with pytest.raises(DatasetError) as caught:
        list(Dataset(path, mapping=parse_mapping(BASE_MAP)).events())
    assert caught.value.field == "Time" and caught.value.row == 2


# --- reading a value: one function offline and online --------------------------------


def test_partner_values_read_alike() -> None:
    assert number("1.5") == 1.5 and number(2) == 2.0 and number(True) == 1.0
    assert math.isnan(number(None)) and math.isnan(number("x")) and math.isnan(number(""))
    assert category_text(5.0) == "5" and category_text(" b ") == "b" and category_text("") is None
    columns = (*catalog_columns(), "feature.v1", "feature.kind=b", "feature.kind=c")
    vectorizer = Vectorizer(columns)
    row = vectorizer.row(with_attributes(FEATURES, {"v1": -0.25, "kind": "c"}))[0]
    assert row[-3] == np.float32(-0.25) and row[-2] == 0.0 and row[-1] == 1.0
    missing = vectorizer.row(FEATURES)[0]
    assert math.isnan(missing[-3]) and missing[-2] == 0.0 and missing[-1] == 0.0
    assert with_attributes(FEATURES, {}) is FEATURES
    assert ATTRIBUTES not in FEATURES


# --- end to end: file → training table → model → online vector ------------------------


@pytest.fixture
def card_file(tmp_path: Path) -> tuple[Path, list[dict[str, str]]]:
    path = tmp_path / "cards.csv"
    return path, card_csv(path)


@pytest.fixture
def services(tmp_path: Path) -> Iterator[Services]:
    built = build_services(Settings(database_url=f"sqlite:///{tmp_path}/partner.db"))
    yield built
    built.close()


def test_partner_columns_reach_the_table_and_the_online_vector(
    card_file: tuple[Path, list[dict[str, str]]], services: Services
) -> None:
    path, records = card_file
    dataset = card_dataset(path)
    assert dataset.absent_entities() == {"account", "device", "ip", "payee", "merchant", "card"}
    table, _ = load_features(dataset, use_cache=False, progress=False)
    kinds = [c for c in table.columns if c.startswith("feature.kind=")]
    assert table.columns == (*catalog_columns(), *PARTNER, *kinds)
    assert set(kinds) == {"feature.kind=a", "feature.kind=b", "feature.kind=c"}
    at = {name: table.columns.index(name) for name in table.columns}

    # Training rows carry the file's values; missing cells are NaN.
    by_id = {f"row-{i}": r for i, r in enumerate(records, start=1)}
    for i in range(0, len(table), 97):
        record = by_id[str(table.event_id[i])]
        for column, source in zip(PARTNER, ("V1", "V2", "V3"), strict=True):
            cell = table.matrix[i, at[column]]
            if record[source]:
                assert cell == np.float32(float(record[source]))
            else:
                assert math.isnan(cell)
        assert table.matrix[i, at[f"feature.kind={record['Kind']}"]] == 1.0
    # No account or merchant in the data: their features are absent, not made up.
    for column in ("account_events_24h", "amount_zscore", "new_device", "merchant_events_1h"):
        assert np.isnan(table.matrix[:, at[column]]).all(), column
    assert not np.isnan(table.matrix[:, at["amount"]]).any()
    assert table.occurred_at.min() >= ORIGIN.timestamp()

    split = choose_split(*table_span(table), label_delay_days=1)
    trained = train_model(table, split, trees=25, data_hash=dataset.fingerprint())
    artifact = trained.artifact
    assert artifact.columns == table.columns
    assert "feature.v1" in artifact.params["top_features"]

    # Served in process: register, promote, assess the same event with its attributes.
    tenant, _ = services.tenants.create_tenant("cards", actor=Actor.system("test"))
    services.models.register(tenant.id, artifact, actor=Actor.system("cli"))
    services.models.promote(tenant.id, 1, actor=Actor.system("cli"))
    frauds = [i for i in range(len(table)) if table.fraud[i]]
    for i in (frauds[-1], len(table) - 1):
        record = by_id[str(table.event_id[i])]
        attributes = {
            feature_name(c): float(record[c]) for c in ("V1", "V2", "V3") if record[c]
        } | {"kind": record["Kind"]}
        event = AssessmentRequest.model_validate(
            {
                "event_id": f"online-{i}",
                "event_type": "payment",
                "occurred_at": (ORIGIN + timedelta(seconds=float(record["Time"]))).isoformat(),
                "account_id": "acct-1",
                "amount": {"value": record["Amount"], "currency": "USD"},
                "attributes": attributes,
            }
        ).to_event(now=datetime.now(UTC))
        decision, _ = services.assessments.assess(tenant.id, event)
        assert decision.model is not None
        online = Vectorizer(artifact.columns).row(
            with_attributes(dense(decision.features), event.attributes)
        )[0]
        offline = table.matrix[i]
        for column in (*PARTNER, *kinds, "amount", "local_hour", "event_type=payment"):
            assert np.array_equal(online[at[column]], offline[at[column]], equal_nan=True), column
        # The model never split on the absent account columns, so the score is the same.
        expected = onnx_scores(artifact.onnx, table.matrix[i : i + 1])[0]
        assert decision.model.score == pytest.approx(expected, abs=1e-6)


def test_cli_trains_and_evaluates_a_file_without_account_or_merchant(
    card_file: tuple[Path, list[dict[str, str]]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PAYGUARD_DATABASE_URL", f"sqlite:///{tmp_path}/cli.db")
    path, _ = card_file
    model_file = tmp_path / "model.pgm"
    assert runner.invoke(app, ["tenants", "create", "demo"]).exit_code == 0
    trained = runner.invoke(
        app,
        [
            "train",
            "--data",
            str(path),
            "--map",
            BASE_MAP,
            "--features",
            "V1,V2,V3",
            "--categorical",
            "Kind",
            "--time-origin",
            "2013-09-01T00:00:00Z",
            "--label-delay-days",
            "1",
            "--trees",
            "20",
            "--out",
            str(model_file),
        ],
    )
    assert trained.exit_code == 0, trained.output
    assert "registered model version 1" in trained.output
    report = tmp_path / "report.json"
    # evaluate reads the file as the model was trained: its partner columns and time origin.
    evaluated = runner.invoke(
        app,
        ["evaluate", "--data", str(path), "--map", BASE_MAP, "--json", str(report)],
    )
    assert evaluated.exit_code == 0, evaluated.output
    assert "not the data the model was trained on" not in evaluated.output
    document = json.loads(report.read_text())
    assert document["model"]["events"] > 0
    assert document["data"]["time_origin"] == "2013-09-01T00:00:00+00:00"

    needs_map = runner.invoke(
        app, ["train", "--data", str(tmp_path), "--features", "V1", "--trees", "5"]
    )
    assert needs_map.exit_code == 2


def test_parquet_partner_values_nan_is_missing(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "tx.parquet"
    pq.write_table(
        pa.table(
            {
                "Time": [0, 10, 20],
                "Amount": [1.0, 2.0, 3.0],
                "Class": [0, 1, 0],
                "V1": [0.5, float("nan"), None],
                "Mcc": [5411, 5411, None],
            }
        ),
        path,
    )
    mapping = add_features(parse_mapping(BASE_MAP), ["V1"], ["Mcc"])
    events = [e.event for e in Dataset(path, mapping=mapping).events()]
    assert [e.attributes for e in events] == [{"v1": 0.5, "mcc": "5411"}, {"mcc": "5411"}, {}]
