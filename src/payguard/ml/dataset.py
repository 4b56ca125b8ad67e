"""Labelled history to train and evaluate on: the simulator's output or a partner's own file.

Two sources:

- a simulator output directory (`payguard simulate --out DIR`): `events.jsonl` (one
  `{"request", "label", "typology", "label_at"}` per line) or `events.parquet` (flat columns
  plus `request`, the wire request as a JSON string), and `manifest.json`;
- any CSV or Parquet file of labelled transactions with a column mapping
  (`account=CUSTOMER_ID,time=TX_DATETIME,...`, see `MAPPING_KEYS`).

Every row becomes a wire request that is validated exactly as `POST /v1/assessments`
validates it (`AssessmentRequest`), so training sees the events the engine would have seen.
A bad row raises `DatasetError` naming the file's column (or the request field) and the row.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import orjson
from pydantic import ValidationError

from payguard.core.errors import ValidationFailed, field_path
from payguard.core.events import AMOUNT_EVENTS, Event, EventType
from payguard.core.money import CURRENCIES, minor_units
from payguard.wire.schemas import AssessmentRequest

#: Mapping keys a partner's file can name: key → what the column holds.
MAPPING_KEYS: Mapping[str, str] = {
    "account": "the account (customer) id; required",
    "time": "when it happened: ISO 8601 (no offset = UTC) or epoch seconds; required",
    "amount": "the amount in major units (12.50); required for money events",
    "label": "fraud (1, true, fraud, chargeback) or not (0, false, legit); required to train",
    "event_id": "your id for the row (default: the row number)",
    "merchant": "merchant or terminal id",
    "payee": "payee id (for a deposit: the sender)",
    "device": "device id",
    "ip": "IP address",
    "currency": "ISO 4217 code per row (default: --currency for the whole file)",
    "event_type": "payment, withdrawal, deposit, login, ... (default: payment)",
    "channel": "app, web, qr or nfc",
    "country": "ISO 3166 alpha-2 country of the event",
    "lat": "latitude",
    "lon": "longitude",
    "typology": "the kind of fraud, reported per typology",
    "label_time": "when the label became known (default: time + the label delay)",
}
REQUIRED_KEYS = ("account", "time")

#: `now` for validating history: an old event is never "in the future".
_FAR_FUTURE = datetime(9000, 1, 1, tzinfo=UTC)
_AMOUNT_TYPES = frozenset(t.value for t in AMOUNT_EVENTS)
_TRUE = frozenset({"1", "true", "t", "yes", "y", "fraud", "chargeback"})
_FALSE = frozenset({"0", "false", "f", "no", "n", "legit", "legitimate", ""})


class DatasetError(ValidationFailed):
    """A source that cannot be read: `field` is the column (or request field) at fault and
    `row` the 1-based data row, when there is one."""

    def __init__(self, message: str, *, field: str, row: int | None = None) -> None:
        where = f"column {field!r}" if row is None else f"row {row}, column {field!r}"
        super().__init__(f"{where}: {message}", field=field)
        self.row = row


@dataclass(frozen=True, slots=True)
class LabelledEvent:
    """One event with its ground truth.

    `fraud` is the truth (used to score a held-out period); `label_at` is when the partner
    learnt of it (None: a legitimate event, or a fraud never reported), which decides when
    fraud-report features and training labels may use it.
    """

    event: Event
    fraud: bool
    typology: str | None
    label_at: datetime | None


def parse_mapping(text: str) -> dict[str, str]:
    """`account=CUSTOMER_ID,time=TX_DATETIME` → {"account": "CUSTOMER_ID", ...}."""
    mapping: dict[str, str] = {}
    for part in text.split(","):
        if not part.strip():
            continue
        key, sep, column = part.partition("=")
        key, column = key.strip(), column.strip()
        if not sep or not key or not column:
            raise DatasetError(f"{part.strip()!r} is not KEY=COLUMN", field="--map")
        if key not in MAPPING_KEYS:
            known = ", ".join(MAPPING_KEYS)
            raise DatasetError(f"unknown key {key!r} (known: {known})", field="--map")
        if key in mapping:
            raise DatasetError(f"key {key!r} is mapped twice", field="--map")
        mapping[key] = column
    for key in REQUIRED_KEYS:
        if key not in mapping:
            raise DatasetError(f"the mapping needs {key}=COLUMN", field="--map")
    return mapping


class Dataset:
    """A labelled source: its events in time order and a fingerprint of what was read."""

    def __init__(
        self,
        path: Path,
        *,
        mapping: Mapping[str, str] | None = None,
        currency: str = "USD",
        label_delay: timedelta = timedelta(days=7),
        require_labels: bool = True,
    ) -> None:
        if currency not in CURRENCIES:
            raise DatasetError("not an active ISO 4217 currency code", field="--currency")
        self.path = path
        self.mapping = dict(mapping) if mapping is not None else None
        self.currency = currency
        self.label_delay = label_delay
        self.require_labels = require_labels
        self.files = self._files()

    def _files(self) -> list[Path]:
        path = self.path
        if not path.exists():
            raise DatasetError(f"{path} does not exist", field="--data")
        if path.is_dir():
            if self.mapping is not None:
                raise DatasetError(
                    "a directory is read as simulator output; give --map with a file",
                    field="--map",
                )
            for name in ("events.jsonl", "events.parquet"):
                if (path / name).is_file():
                    found = [path / name]
                    if (path / "manifest.json").is_file():
                        found.append(path / "manifest.json")
                    return found
            raise DatasetError(
                f"{path} has neither events.jsonl nor events.parquet", field="--data"
            )
        if self.mapping is None:
            if path.name.endswith(".jsonl"):
                return [path]
            raise DatasetError(
                "a CSV or Parquet file needs --map (account=COLUMN,time=COLUMN,...)",
                field="--map",
            )
        if path.suffix.lower() not in (".csv", ".parquet", ".pq", ".gz"):
            raise DatasetError("expected a .csv or .parquet file", field="--data")
        return [path]

    @property
    def kind(self) -> str:
        """`simulator` or `mapped`."""
        return "simulator" if self.mapping is None else "mapped"

    def fingerprint(self) -> str:
        """sha256 of the files read and of how they are read (mapping, currency, delay)."""
        digest = hashlib.sha256()
        for file in self.files:
            digest.update(file.name.encode())
            with file.open("rb") as stream:
                while chunk := stream.read(1 << 20):
                    digest.update(chunk)
        how = {
            "mapping": self.mapping,
            "currency": self.currency,
            "label_delay": self.label_delay.total_seconds(),
        }
        digest.update(orjson.dumps(how, option=orjson.OPT_SORT_KEYS))
        return digest.hexdigest()

    def expected_events(self) -> int | None:
        """How many events the source holds, when that is known without reading it all (the
        simulator's manifest, a Parquet footer); for progress bars."""
        data = self.files[0]
        if data.suffix in (".parquet", ".pq"):
            import pyarrow.parquet as pq

            rows: int = pq.ParquetFile(data).metadata.num_rows
            return rows
        manifest = self.path / "manifest.json" if self.path.is_dir() else None
        if manifest is not None and manifest.is_file():
            try:
                document = orjson.loads(manifest.read_bytes())
            except orjson.JSONDecodeError:
                return None
            for key in ("events", "event_count", "count", "rows"):
                value = document.get(key) if isinstance(document, dict) else None
                if isinstance(value, int) and not isinstance(value, bool):
                    return value
        return None

    def events(self) -> Iterator[LabelledEvent]:
        """Every event, in `occurred_at` order (ties keep file order)."""
        data = self.files[0]
        if self.mapping is not None:
            yield from _mapped(data, self.mapping, self.currency, self.label_delay, self)
        elif data.suffix == ".parquet":
            yield from _in_order(_simulated_parquet(data))
        else:
            yield from _in_order(_simulated_jsonl(data))


def _in_order(events: Iterator[LabelledEvent]) -> Iterator[LabelledEvent]:
    """Pass events through, refusing a file that is not in time order (the simulator writes
    in order; replaying out of order would give features no engine computed)."""
    last: datetime | None = None
    for row, item in enumerate(events, start=1):
        at = item.event.occurred_at
        if last is not None and at < last:
            raise DatasetError(
                "events are not in occurred_at order; sort the file first",
                field="occurred_at",
                row=row,
            )
        last = at
        yield item


def _to_event(request: Any, row: int, columns: Mapping[str, str] | None = None) -> Event:
    """Validate one wire request as the API does; errors name the row and the column."""
    try:
        return AssessmentRequest.model_validate(request).to_event(now=_FAR_FUTURE)
    except ValidationError as exc:
        first = exc.errors()[0]
        path = field_path(first["loc"]) or "request"
        raise DatasetError(first["msg"], field=_column_of(path, columns), row=row) from None
    except ValidationFailed as exc:
        raise DatasetError(exc.message, field=_column_of(exc.field, columns), row=row) from None


_FIELD_KEYS = {
    "event_id": "event_id",
    "event_type": "event_type",
    "occurred_at": "time",
    "account_id": "account",
    "amount.value": "amount",
    "amount.currency": "currency",
    "amount": "amount",
    "merchant.id": "merchant",
    "payee.id": "payee",
    "device.id": "device",
    "ip": "ip",
    "channel": "channel",
    "geo.country": "country",
    "geo.lat": "lat",
    "geo.lon": "lon",
}


def _column_of(path: str, columns: Mapping[str, str] | None) -> str:
    if columns is None:
        return path
    key = _FIELD_KEYS.get(path)
    if key == "currency" and key not in columns:
        return "--currency"
    return columns.get(key, path) if key is not None else path


def _time(value: Any, field: str, row: int) -> datetime:
    if value is None or value == "":
        raise DatasetError("a time is required", field=field, row=row)
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return _epoch(float(value), field, row)
    text = str(value).strip()
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        return _epoch(seconds, field, row)
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise DatasetError(
            f"{text!r} is neither an ISO 8601 time nor epoch seconds", field=field, row=row
        ) from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _epoch(seconds: float, field: str, row: int) -> datetime:
    try:
        if not math.isfinite(seconds):
            raise ValueError
        return datetime.fromtimestamp(seconds, tz=UTC)
    except (ValueError, OverflowError, OSError):
        raise DatasetError(
            f"{seconds!r} is not a time in epoch seconds", field=field, row=row
        ) from None


def _label(value: Any, field: str, row: int) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    text = "" if value is None else str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE and text:
        return False
    raise DatasetError(
        f"{value!r} is not a label (1/0, true/false, fraud/legit)", field=field, row=row
    )


def _amount(value: Any, currency: str, field: str, row: int) -> str:
    """The amount as the wire's decimal string; a float's representation noise (57.1600000001)
    is rounded to the currency's minor units, anything finer is refused."""
    text = repr(value) if isinstance(value, float) else str(value or "").strip()
    try:
        amount = Decimal(text)
    except InvalidOperation:
        raise DatasetError(f"{text!r} is not a number", field=field, row=row) from None
    if not amount.is_finite() or amount < 0:
        raise DatasetError(f"{text!r} is not an amount", field=field, row=row)
    step = Decimal(1).scaleb(-minor_units(currency))
    rounded = amount.quantize(step)
    if abs(rounded - amount) > Decimal("1e-6"):
        raise DatasetError(
            f"{text!r} has more decimals than {currency} allows", field=field, row=row
        )
    return str(rounded)


def _simulated_jsonl(path: Path) -> Iterator[LabelledEvent]:
    with path.open("rb") as lines:
        for row, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                document = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                raise DatasetError(f"not JSON ({exc})", field="line", row=row) from None
            yield _simulated(document, row)


def _simulated(document: Any, row: int) -> LabelledEvent:
    if not isinstance(document, dict) or not isinstance(document.get("request"), dict):
        raise DatasetError("expected {'request': {...}, 'label': ...}", field="request", row=row)
    event = _to_event(document["request"], row)
    label = document.get("label")
    if label not in (None, "fraud", "legit"):
        raise DatasetError(f"{label!r} is not 'fraud' or null", field="label", row=row)
    fraud = label == "fraud"
    raw_at = document.get("label_at")
    label_at = None if raw_at is None else _time(raw_at, "label_at", row)
    if "label_at" not in document and fraud:
        # Output of a simulator that does not say when frauds are reported: at once.
        label_at = event.occurred_at
    typology = document.get("typology")
    return LabelledEvent(
        event, fraud, None if typology is None else str(typology), label_at if fraud else None
    )


def _simulated_parquet(path: Path) -> Iterator[LabelledEvent]:
    import pyarrow.parquet as pq

    parquet = pq.ParquetFile(path)
    names = set(parquet.schema_arrow.names)
    if "request" not in names:
        raise DatasetError("the simulator's Parquet needs a request column", field="request")
    wanted = [c for c in ("request", "label", "typology", "label_at") if c in names]
    row = 0
    for batch in parquet.iter_batches(columns=wanted, batch_size=8192):
        columns = {name: batch.column(name).to_pylist() for name in wanted}
        for i, request in enumerate(columns["request"]):
            row += 1
            try:
                parsed = orjson.loads(request)
            except (orjson.JSONDecodeError, TypeError):
                raise DatasetError("not a JSON request", field="request", row=row) from None
            document: dict[str, Any] = {"request": parsed}
            for name in ("label", "typology", "label_at"):
                if name in columns:
                    document[name] = columns[name][i]
            yield _simulated(document, row)


def _read_table(path: Path, columns: Sequence[str]) -> Any:
    """The mapped columns of a CSV (every cell as text) or Parquet file, as a pyarrow table."""
    import pyarrow as pa

    if path.suffix.lower() in (".parquet", ".pq"):
        import pyarrow.parquet as pq

        available = pq.ParquetFile(path).schema_arrow.names
        missing = [c for c in columns if c not in available]
        if missing:
            raise DatasetError(f"no such column in {path.name}", field=missing[0])
        return pq.read_table(path, columns=list(columns))
    import pyarrow.csv as pacsv

    try:
        with pacsv.open_csv(path) as probe:
            available = probe.schema.names
    except pa.ArrowInvalid as exc:
        raise DatasetError(f"not a readable CSV ({exc})", field="--data") from None
    missing = [c for c in columns if c not in available]
    if missing:
        raise DatasetError(f"no such column in {path.name}", field=missing[0])
    options = pacsv.ConvertOptions(
        include_columns=list(columns),
        column_types={c: pa.string() for c in columns},
        strings_can_be_null=False,
    )
    try:
        return pacsv.read_csv(path, convert_options=options)
    except pa.ArrowInvalid as exc:
        raise DatasetError(f"not a readable CSV ({exc})", field="--data") from None


def _mapped(
    path: Path,
    mapping: Mapping[str, str],
    currency: str,
    label_delay: timedelta,
    dataset: Dataset,
) -> Iterator[LabelledEvent]:
    columns = list(dict.fromkeys(mapping.values()))
    if dataset.require_labels and "label" not in mapping:
        raise DatasetError("training needs label=COLUMN", field="--map")
    table = _read_table(path, columns)
    values = {key: table.column(column).to_pylist() for key, column in mapping.items()}
    total = table.num_rows
    del table
    times = [_time(value, mapping["time"], row) for row, value in enumerate(values["time"], 1)]
    order = sorted(range(total), key=times.__getitem__)
    for index in order:
        row = index + 1
        cell = {key: column[index] for key, column in values.items()}
        yield _mapped_row(cell, times[index], row, mapping, currency, label_delay)


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _mapped_row(
    cell: Mapping[str, Any],
    at: datetime,
    row: int,
    mapping: Mapping[str, str],
    currency: str,
    label_delay: timedelta,
) -> LabelledEvent:
    event_type = _text(cell.get("event_type")) or EventType.PAYMENT.value
    request: dict[str, Any] = {
        "event_id": _text(cell.get("event_id")) or f"row-{row}",
        "event_type": event_type.lower(),
        "occurred_at": at.isoformat(),
        "account_id": _text(cell.get("account")) or "",
    }
    row_currency = (_text(cell.get("currency")) or currency).upper()
    if row_currency not in CURRENCIES:
        raise DatasetError(
            "not an active ISO 4217 currency code",
            field=mapping.get("currency", "--currency"),
            row=row,
        )
    if _text(cell.get("amount")) is not None:
        request["amount"] = {
            "value": _amount(cell["amount"], row_currency, mapping["amount"], row),
            "currency": row_currency,
        }
    elif "amount" not in mapping and request["event_type"] in _AMOUNT_TYPES:
        raise DatasetError(
            f"a {request['event_type']} needs an amount: map amount=COLUMN", field="--map"
        )
    for key in ("merchant", "payee", "device"):
        value = _text(cell.get(key))
        if value is not None:
            request[key] = {"id": value}
    for key in ("ip", "channel"):
        value = _text(cell.get(key))
        if value is not None:
            request[key] = value.lower() if key == "channel" else value
    geo: dict[str, Any] = {}
    for key in ("lat", "lon"):
        value = _text(cell.get(key))
        if value is not None:
            try:
                geo[key] = float(value)
            except ValueError:
                raise DatasetError(
                    f"{value!r} is not a number", field=mapping[key], row=row
                ) from None
    country = _text(cell.get("country"))
    if country is not None:
        geo["country"] = country.upper()
    if geo:
        request["geo"] = geo
    event = _to_event(request, row, mapping)
    fraud = _label(cell["label"], mapping["label"], row) if "label" in mapping else False
    label_at: datetime | None = None
    if fraud:
        known = _text(cell.get("label_time"))
        label_at = (
            _time(cell["label_time"], mapping["label_time"], row)
            if known is not None
            else event.occurred_at + label_delay
        )
    typology = _text(cell.get("typology")) if fraud else None
    return LabelledEvent(event, fraud, typology, label_at)
