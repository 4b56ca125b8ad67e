"""Bringing your own data: a CSV or Parquet file of labelled transactions with a mapping."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from payguard.core.events import EventType
from payguard.ml.dataset import Dataset, DatasetError, parse_mapping

HANDBOOK_MAP = (
    "account=CUSTOMER_ID,merchant=TERMINAL_ID,amount=TX_AMOUNT,time=TX_DATETIME,label=TX_FRAUD"
)
HANDBOOK_CSV = """TRANSACTION_ID,TX_DATETIME,CUSTOMER_ID,TERMINAL_ID,TX_AMOUNT,TX_FRAUD
0,2018-04-01 00:00:31,596,3156,57.16,0
1,2018-04-01 00:02:10,4961,3412,81.51,0
3,2018-04-01 00:09:29,4128,8737,1.0,1
2,2018-04-01 00:07:56,2,1365,146.00,0
"""


def write(tmp_path: Path, text: str, name: str = "tx.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_handbook_csv_round_trip(tmp_path: Path) -> None:
    path = write(tmp_path, HANDBOOK_CSV)
    mapping = parse_mapping(HANDBOOK_MAP + ",event_id=TRANSACTION_ID")
    dataset = Dataset(path, mapping=mapping, currency="EUR", label_delay=timedelta(days=7))
    events = list(dataset.events())
    assert [e.event.event_id for e in events] == ["0", "1", "2", "3"]  # sorted by time
    first = events[0].event
    assert first.event_type == EventType.PAYMENT
    assert first.account_id == "596"
    assert first.merchant is not None and first.merchant.id == "3156"
    assert first.amount is not None
    assert first.amount.value == Decimal("57.16") and first.amount.currency == "EUR"
    assert first.occurred_at == datetime(2018, 4, 1, 0, 0, 31, tzinfo=UTC)
    fraud = events[3]
    assert fraud.fraud and fraud.label_at == fraud.event.occurred_at + timedelta(days=7)
    assert not events[0].fraud and events[0].label_at is None
    assert events[2].event.amount is not None
    assert events[2].event.amount.value == Decimal("146.00")
    # The fingerprint covers the file and how it is read.
    other = Dataset(path, mapping=mapping, currency="USD")
    assert dataset.fingerprint() != other.fingerprint()


def test_parquet_with_epoch_times_and_optional_columns(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "tx.parquet"
    pq.write_table(
        pa.table(
            {
                "who": ["a1", "a2", "a1"],
                "ts": [1_700_000_000, 1_700_000_100, 1_700_000_050],
                "amt": [10.5, 3.0, None],
                "kind": ["payment", "withdrawal", "login"],
                "dev": ["d1", None, "d1"],
                "fraud": [True, False, False],
                "known": ["2023-11-20T00:00:00Z", None, None],
                "what": ["mule", None, None],
                "cur": ["SGD", "JPY", "SGD"],
            }
        ),
        path,
    )
    mapping = parse_mapping(
        "account=who,time=ts,amount=amt,event_type=kind,device=dev,label=fraud,"
        "label_time=known,typology=what,currency=cur"
    )
    events = list(Dataset(path, mapping=mapping).events())
    assert [e.event.event_type for e in events] == [
        EventType.PAYMENT,
        EventType.LOGIN,
        EventType.WITHDRAWAL,
    ]
    assert events[0].label_at == datetime(2023, 11, 20, tzinfo=UTC)
    assert events[0].typology == "mule"
    assert events[1].event.amount is None and events[1].event.device is not None
    assert events[2].event.amount is not None and events[2].event.amount.currency == "JPY"


@pytest.mark.parametrize(
    ("mapping", "field"),
    [
        ("account=CUSTOMER_ID", "--map"),  # no time
        ("account=CUSTOMER_ID,time=TX_DATETIME,colour=TX_FRAUD", "--map"),
        ("account=CUSTOMER_ID;time=TX_DATETIME", "--map"),
        ("account=NOPE,time=TX_DATETIME,amount=TX_AMOUNT,label=TX_FRAUD", "NOPE"),
        ("account=CUSTOMER_ID,time=TX_DATETIME,label=TX_FRAUD", "--map"),  # payments, no amount
    ],
)
def test_bad_mapping_names_the_column(tmp_path: Path, mapping: str, field: str) -> None:
    path = write(tmp_path, HANDBOOK_CSV)
    with pytest.raises(DatasetError) as caught:
        list(Dataset(path, mapping=parse_mapping(mapping)).events())
    assert caught.value.field == field
    assert field in caught.value.message


@pytest.mark.parametrize(
    ("bad_row", "column"),
    [
        ("9,not a time,1,2,3.00,0", "TX_DATETIME"),
        ("9,2018-04-01 01:00:00,1,2,abc,0", "TX_AMOUNT"),
        ("9,2018-04-01 01:00:00,1,2,1.234,0", "TX_AMOUNT"),
        ("9,2018-04-01 01:00:00,1,2,-5,0", "TX_AMOUNT"),
        ("9,2018-04-01 01:00:00,1,2,3.00,maybe", "TX_FRAUD"),
        ("9,2018-04-01 01:00:00,,2,3.00,0", "CUSTOMER_ID"),
        ("9,2018-04-01 01:00:00,bad id!,2,3.00,0", "CUSTOMER_ID"),
    ],
)
def test_bad_value_names_the_column_and_row(tmp_path: Path, bad_row: str, column: str) -> None:
    path = write(tmp_path, HANDBOOK_CSV + bad_row + "\n")
    with pytest.raises(DatasetError) as caught:
        list(Dataset(path, mapping=parse_mapping(HANDBOOK_MAP)).events())
    assert caught.value.field == column
    assert caught.value.row == 5
    assert f"row 5, column {column!r}" in caught.value.message


def test_simulator_directory_needs_its_events_file(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"events\.jsonl"):
        Dataset(tmp_path)
    (tmp_path / "events.jsonl").write_text('{"request": {"event_id": "x"}, "label": null}\n')
    with pytest.raises(DatasetError) as caught:
        list(Dataset(tmp_path).events())
    assert caught.value.row == 1


def test_a_history_with_zero_amounts_imports(tmp_path: Path) -> None:
    # The API refuses a zero payment, but public card histories hold verifications of 0.00
    # (a fraud signal of their own): an import keeps them instead of failing on the row.
    path = write(tmp_path, HANDBOOK_CSV + "9,2018-04-01 01:00:00,7,2,0.00,1\n")
    events = list(Dataset(path, mapping=parse_mapping(HANDBOOK_MAP)).events())
    zero = events[-1]
    assert zero.event.amount is not None and zero.event.amount.value == 0
    assert zero.fraud
