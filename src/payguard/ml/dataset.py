"""Labelled history to train and evaluate on: the simulator's output or a partner's own file.

Two sources:

- a simulator output directory (`payguard simulate --out DIR`): `events.jsonl` (one
  `{"request", "label", "typology", "label_at"}` per line) or `events.parquet` (flat columns
  plus `request`, the wire request as a JSON string), and `manifest.json`;
- any CSV or Parquet file of labelled transactions with a column mapping
  (`account=CUSTOMER_ID,time=TX_DATETIME,...`, see `MAPPING_KEYS`), including the partner's
  own columns as model inputs (`feature.NAME=COLUMN` numbers, `category.NAME=COLUMN`
  categories): they are put in each event's `attributes` under `NAME`, where the engine
  reads them online too (`payguard.risk.models.partner`).

Every row becomes a wire request that is validated exactly as `POST /v1/assessments`
validates it (`AssessmentRequest`), so training sees the events the engine would have seen.
A bad row raises `DatasetError` naming the file's column (or the request field) and the row.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import re
from collections import Counter
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
from payguard.risk.features.extractor import ENTITIES
from payguard.risk.models.partner import (
    MAX_CATEGORIES,
    MAX_CATEGORY_TEXT,
    NAME_PATTERN,
    PREFIX,
    category_text,
)
from payguard.risk.models.vector import catalog_columns
from payguard.wire.schemas import EARLIEST, MAX_ATTRIBUTES, AssessmentRequest

#: Mapping keys a partner's file can name: key → what the column holds.
MAPPING_KEYS: Mapping[str, str] = {
    "account": "the account (customer) id; without it, account features are left out",
    "time": "when it happened: ISO 8601 (no offset = UTC), epoch seconds or seconds from "
    "--time-origin; required",
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
    "feature.NAME": "a numeric model input of your own, read online from attribute NAME",
    "category.NAME": "a categorical model input of your own (one-hot), from attribute NAME",
}
REQUIRED_KEYS = ("time",)
#: Mapping-key prefixes of the partner's own model inputs: numbers, categories.
NUMERIC_PREFIX = PREFIX
CATEGORY_PREFIX = "category."
#: Earliest time a file may hold (epoch 0); the API's own floor (2000) is for live events.
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

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
        if _is_partner_key(key):
            _partner_name(key)
        elif key not in MAPPING_KEYS:
            known = ", ".join(MAPPING_KEYS)
            raise DatasetError(f"unknown key {key!r} (known: {known})", field="--map")
        if key in mapping:
            raise DatasetError(f"key {key!r} is mapped twice", field="--map")
        mapping[key] = column
    for key in REQUIRED_KEYS:
        if key not in mapping:
            raise DatasetError(f"the mapping needs {key}=COLUMN", field="--map")
    _check_partner(mapping)
    return mapping


def _partner_name(key: str) -> str:
    """`feature.v1` / `category.mcc` → "v1" / "mcc", refused unless a valid name."""
    name = key.partition(".")[2]
    if not NAME_PATTERN.fullmatch(name):
        raise DatasetError(f"{key!r}: a feature name is 1-48 of a-z, 0-9 and _", field="--map")
    return name


def _check_partner(mapping: Mapping[str, str]) -> None:
    names = [_partner_name(key) for key in mapping if _is_partner_key(key)]
    if len(names) != len(set(names)):
        raise DatasetError("a feature name is mapped twice", field="--map")
    if len(names) > MAX_ATTRIBUTES:
        raise DatasetError(
            f"at most {MAX_ATTRIBUTES} features of your own (an assessment carries at most "
            f"{MAX_ATTRIBUTES} attributes)",
            field="--map",
        )


def _is_partner_key(key: str) -> bool:
    return key.startswith((NUMERIC_PREFIX, CATEGORY_PREFIX))


def feature_name(column: str) -> str:
    """The feature (and online attribute) name for a file's column: lower-cased, every run
    of other characters as `_` (`V1` → `v1`, `Merchant Type` → `merchant_type`)."""
    name = re.sub(r"[^a-z0-9_]+", "_", column.strip().lower()).strip("_")[:48]
    if not name:
        raise DatasetError(f"no feature name can be made of {column!r}", field="--features")
    return name


def add_features(
    mapping: Mapping[str, str],
    numeric: Sequence[str] = (),
    categorical: Sequence[str] = (),
) -> dict[str, str]:
    """`mapping` plus `feature.NAME=COLUMN` for each numeric column and `category.NAME=COLUMN`
    for each categorical one (`--features V1,V2 --categorical MCC`). A column in both lists
    is categorical."""
    out = dict(mapping)
    chosen = set(categorical)
    for column in dict.fromkeys([*numeric, *categorical]):
        prefix = CATEGORY_PREFIX if column in chosen else NUMERIC_PREFIX
        key = prefix + feature_name(column)
        if key in out and out[key] != column:
            raise DatasetError(f"{key!r} is mapped twice", field="--features")
        out[key] = column
    _check_partner(out)
    return out


def parse_columns(text: str | None) -> list[str]:
    """`V1, V2,V3` → ["V1", "V2", "V3"]."""
    return [part.strip() for part in (text or "").split(",") if part.strip()]


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
        time_origin: datetime | None = None,
    ) -> None:
        if currency not in CURRENCIES:
            raise DatasetError("not an active ISO 4217 currency code", field="--currency")
        if time_origin is not None:
            if time_origin.tzinfo is None:
                time_origin = time_origin.replace(tzinfo=UTC)
            if mapping is None:
                raise DatasetError(
                    "--time-origin applies to a file read with --map", field="--time-origin"
                )
        self.path = path
        self.mapping = dict(mapping) if mapping is not None else None
        self.currency = currency
        self.label_delay = label_delay
        self.require_labels = require_labels
        #: What numeric times count from (None: epoch seconds).
        self.time_origin = time_origin
        self.files = self._files()
        self._categories: dict[str, tuple[str, ...]] | None = None

    def absent_entities(self) -> frozenset[str]:
        """The entity kinds (`ENTITIES`) a mapped file has no column for: their features are
        NaN in the training rows (absent, as LightGBM reads missing values), not computed from
        made-up ids. None are absent from simulator output."""
        if self.mapping is None:
            return frozenset()
        return frozenset(kind for kind in ENTITIES if kind not in self.mapping)

    def partner_columns(self) -> tuple[str, ...]:
        """The vector columns of the partner's own inputs, in mapping order: `feature.NAME`
        for a number, `feature.NAME=VALUE` per category value (the `MAX_CATEGORIES` most
        frequent in the file, ties by value)."""
        if self.mapping is None:
            return ()
        categories = self.categories()
        columns: list[str] = []
        for key in self.mapping:
            if key.startswith(NUMERIC_PREFIX):
                columns.append(PREFIX + _partner_name(key))
            elif key.startswith(CATEGORY_PREFIX):
                name = _partner_name(key)
                columns.extend(f"{PREFIX}{name}={value}" for value in categories[name])
        return tuple(columns)

    def vector_columns(self) -> tuple[str, ...]:
        """The layout of this data's rows: the catalog's columns, then the partner's."""
        return catalog_columns() + self.partner_columns()

    def categories(self) -> dict[str, tuple[str, ...]]:
        """Per categorical feature, the values given a one-hot column (read once)."""
        if self._categories is not None:
            return self._categories
        keys = [k for k in (self.mapping or {}) if k.startswith(CATEGORY_PREFIX)]
        found: dict[str, tuple[str, ...]] = {}
        if keys and self.mapping is not None:
            columns = list(dict.fromkeys(self.mapping[k] for k in keys))
            table = _read_table(self.files[0], columns)
            for key in keys:
                counts = Counter(
                    text
                    for text in map(category_text, table.column(self.mapping[key]).to_pylist())
                    if text is not None and len(text) <= MAX_CATEGORY_TEXT
                )
                ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
                found[_partner_name(key)] = tuple(v for v, _ in ranked[:MAX_CATEGORIES])
        self._categories = found
        return found

    def blank_absent(self, matrix: Any, columns: Sequence[str]) -> None:
        """Set the columns of the absent entity kinds (`absent_entities`) to NaN, in place."""
        for i in absent_columns(columns, self.absent_entities()):
            matrix[:, i] = math.nan

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
        if self.time_origin is not None:
            how["time_origin"] = self.time_origin.isoformat()
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


#: Columns computed from the account's state that do not start with `account_`.
_ACCOUNT_HISTORY = frozenset(
    {
        "new_device",
        "new_payee",
        "new_ip",
        "new_country",
        "new_account",
        "foreign_currency",
        "amount_zscore",
        "amount_to_mean",
        "amount_to_deposits_24h",
        "geo_distance_km",
        "geo_speed_kmh",
        "impossible_travel",
    }
)


def absent_columns(columns: Sequence[str], kinds: frozenset[str]) -> list[int]:
    """Indexes of the columns computed from the state of an entity of `kinds`: those named
    `KIND_...`, and for the account its history (`new_device`, `amount_zscore`,
    `secs_since_*`, ...)."""
    prefixes = tuple(f"{kind}_" for kind in sorted(kinds))
    found = []
    for i, column in enumerate(columns):
        if column.startswith(PREFIX):
            continue
        if column.startswith(prefixes) or (
            "account" in kinds and (column in _ACCOUNT_HISTORY or column.startswith("secs_since_"))
        ):
            found.append(i)
    return found


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


def _to_event(
    request: Any,
    row: int,
    columns: Mapping[str, str] | None = None,
    at: datetime | None = None,
) -> Event:
    """Validate one wire request as the API does; errors name the row and the column.

    `at`: the event's time when it is before the API's floor (`EARLIEST`, for live events):
    the request is validated as of that floor and the event given its own time back."""
    if at is not None and at < EARLIEST:
        event = _to_event({**request, "occurred_at": EARLIEST.isoformat()}, row, columns)
        return dataclasses.replace(event, occurred_at=at)
    try:
        return AssessmentRequest.model_validate(request).to_event(
            now=_FAR_FUTURE, zero_amounts=True
        )
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


def _time(value: Any, field: str, row: int, origin: datetime | None = None) -> datetime:
    """An ISO 8601 time (no offset = UTC), or seconds: since the epoch, or since `origin`
    when one is given. Times before 1970 are refused."""
    if value is None or value == "":
        raise DatasetError("a time is required", field=field, row=row)
    if isinstance(value, datetime):
        parsed = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        parsed = _epoch(float(value), field, row, origin)
    else:
        text = str(value).strip()
        try:
            seconds = float(text)
        except ValueError:
            try:
                parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
            except ValueError:
                raise DatasetError(
                    f"{text!r} is neither an ISO 8601 time nor seconds", field=field, row=row
                ) from None
            if parsed.tzinfo is None:
                parsed = parsed.replace(tzinfo=UTC)
        else:
            parsed = _epoch(seconds, field, row, origin)
    if parsed < EPOCH:
        raise DatasetError(f"{parsed.isoformat()} is before 1970", field=field, row=row)
    return parsed


def _epoch(seconds: float, field: str, row: int, origin: datetime | None = None) -> datetime:
    try:
        if not math.isfinite(seconds):
            raise ValueError
        if origin is not None:
            return origin + timedelta(seconds=seconds)
        return datetime.fromtimestamp(seconds, tz=UTC)
    except (ValueError, OverflowError, OSError):
        what = "epoch seconds" if origin is None else f"seconds from {origin.isoformat()}"
        raise DatasetError(f"{seconds!r} is not a time in {what}", field=field, row=row) from None


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
    origin = dataset.time_origin
    times = [
        _time(value, mapping["time"], row, origin) for row, value in enumerate(values["time"], 1)
    ]
    order = sorted(range(total), key=times.__getitem__)
    for index in order:
        row = index + 1
        cell = {key: column[index] for key, column in values.items()}
        yield _mapped_row(cell, times[index], row, mapping, currency, label_delay, origin)


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
    origin: datetime | None = None,
) -> LabelledEvent:
    event_type = _text(cell.get("event_type")) or EventType.PAYMENT.value
    event_id = _text(cell.get("event_id")) or f"row-{row}"
    request: dict[str, Any] = {
        "event_id": event_id,
        "event_type": event_type.lower(),
        "occurred_at": at.isoformat(),
        # No account column: the event stands for itself (the replay keeps no account state
        # and its account features are NaN; an alert "account" is the event).
        "account_id": _text(cell.get("account")) or ("" if "account" in mapping else event_id),
    }
    attributes = _partner_attributes(cell, row, mapping)
    if attributes:
        request["attributes"] = attributes
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
    event = _to_event(request, row, mapping, at)
    fraud = _label(cell["label"], mapping["label"], row) if "label" in mapping else False
    label_at: datetime | None = None
    if fraud:
        known = _text(cell.get("label_time"))
        label_at = (
            _time(cell["label_time"], mapping["label_time"], row, origin)
            if known is not None
            else event.occurred_at + label_delay
        )
    typology = _text(cell.get("typology")) if fraud else None
    return LabelledEvent(event, fraud, typology, label_at)


def _partner_attributes(
    cell: Mapping[str, Any], row: int, mapping: Mapping[str, str]
) -> dict[str, Any]:
    """The partner's own inputs of one row, as the event's attributes: numbers as floats,
    categories as their text (`partner.category_text`); an empty or NaN cell is left out
    (missing)."""
    attributes: dict[str, Any] = {}
    for key, column in mapping.items():
        if not _is_partner_key(key):
            continue
        value = cell.get(key)
        name = key.partition(".")[2]
        if key.startswith(CATEGORY_PREFIX):
            text = category_text(value)
            if text is not None:
                attributes[name] = text
            continue
        if value is None or isinstance(value, bool):
            if isinstance(value, bool):
                attributes[name] = 1.0 if value else 0.0
            continue
        text = str(value).strip()
        if not text:
            continue
        try:
            number = float(text)
        except ValueError:
            raise DatasetError(f"{text!r} is not a number", field=column, row=row) from None
        if math.isnan(number):  # a NaN cell (Parquet, or "nan" text) is missing
            continue
        if not math.isfinite(number):
            raise DatasetError(f"{text!r} is not a finite number", field=column, row=row)
        attributes[name] = number
    return attributes
