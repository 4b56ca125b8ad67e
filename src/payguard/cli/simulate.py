"""`payguard simulate`: seeded synthetic traffic with fraud labels, written to files for
training, evaluation and backtests.

Writes into the output directory:

- `events.jsonl` (one `{"request", "label", "typology", "label_at", "campaign"}` object a
  line, in `occurred_at` order) or `events.parquet` (flat columns plus the request as JSON),
  streamed so memory does not grow with the number of events;
- `manifest.json`: the arguments, counts per typology, labelled and never-reported fraud,
  the first and last `occurred_at`, and the events file's name and SHA-256.

Files are written under temporary names and renamed when complete, the manifest last, so a
directory with a manifest always holds a whole run.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import orjson
import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    SpinnerColumn,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)

from payguard.sim import wire
from payguard.sim.attacks import TYPOLOGIES
from payguard.sim.traffic import SimulatedEvent, expected_event_count, simulate

if TYPE_CHECKING:
    from collections.abc import Callable

MAX_DAYS = 3660.0
MAX_CUSTOMERS = 5_000_000
MAX_FRAUD_RATE = 0.5
DEFAULT_START = "2026-01-01T00:00:00Z"
FORMATS = ("jsonl", "parquet")
MANIFEST = "manifest.json"
#: Events per Parquet row group, and per buffered JSONL write.
ROW_GROUP = 100_000
_JSONL_BATCH = 5_000
#: The progress bar is refreshed every this many events (refreshing costs time).
_PROGRESS_STEP = 5_000


@dataclass(frozen=True, slots=True)
class SimulateOptions:
    """Validated `payguard simulate` arguments."""

    days: float
    customers: int
    fraud_rate: float
    seed: int
    start: datetime
    out: Path
    output_format: str
    force: bool = False


def _refuse(option: str, message: str) -> typer.BadParameter:
    return typer.BadParameter(message, param_hint=f"'{option}'")


def parse_start(text: str) -> datetime:
    """An ISO 8601 date or date-time; a date means its midnight, no offset means UTC."""
    value = text.strip()
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            return datetime(day.year, day.month, day.day, tzinfo=UTC)
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise _refuse("--start", f"{text!r} is not an ISO 8601 date or date-time") from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def validate(
    *,
    days: float,
    customers: int,
    fraud_rate: float,
    seed: int,
    start: str,
    out: Path,
    output_format: str,
    force: bool,
) -> SimulateOptions:
    """The options, or `typer.BadParameter` (exit code 2) naming the one at fault."""
    if not math.isfinite(days) or not 0 < days <= MAX_DAYS:
        raise _refuse("--days", f"must be more than 0 and at most {MAX_DAYS:g}")
    if not 1 <= customers <= MAX_CUSTOMERS:
        raise _refuse("--customers", f"must be between 1 and {MAX_CUSTOMERS:,}")
    if not math.isfinite(fraud_rate) or not 0 <= fraud_rate <= MAX_FRAUD_RATE:
        raise _refuse("--fraud-rate", f"must be between 0 and {MAX_FRAUD_RATE}")
    if output_format not in FORMATS:
        raise _refuse("--format", f"must be one of {', '.join(FORMATS)}")
    parsed = parse_start(start)
    if parsed.year < 2000 or parsed.year > 9000:
        raise _refuse("--start", "must fall between the years 2000 and 9000")
    if out.exists():
        if not out.is_dir():
            raise _refuse("--out", f"{out} exists and is not a directory")
        if not force and any(out.iterdir()):
            raise _refuse("--out", f"{out} is not empty (use --force to write into it)")
    return SimulateOptions(
        days=days,
        customers=customers,
        fraud_rate=fraud_rate,
        seed=seed,
        start=parsed,
        out=out,
        output_format=output_format,
        force=force,
    )


@dataclass(slots=True)
class Tally:
    """What the manifest says about the events written."""

    events: int = 0
    typologies: Counter[str] = field(default_factory=Counter)
    campaigns: dict[str, set[str]] = field(default_factory=dict)
    reported: int = 0
    never_reported: int = 0
    first: str | None = None
    last: str | None = None

    def add(self, event: SimulatedEvent) -> None:
        self.events += 1
        occurred = event.request["occurred_at"]
        if self.first is None:
            self.first = occurred
        self.last = occurred
        if event.typology is not None:
            self.typologies[event.typology] += 1
            if event.campaign is not None:
                self.campaigns.setdefault(event.typology, set()).add(event.campaign)
            if event.label_at is None:
                self.never_reported += 1
            else:
                self.reported += 1


def label_time(label_at: int | None) -> str | None:
    """`label_at` (epoch ms) as RFC 3339 in UTC."""
    return None if label_at is None else wire.timestamp(label_at, 0)


_LEGIT_TAIL = b',"label":null,"typology":null,"label_at":null,"campaign":null}'


def jsonl_line(event: SimulatedEvent) -> bytes:
    """One output line for `event` (without the newline)."""
    if event.label is None:
        # Most lines: the same bytes `orjson.dumps` would give for the whole object, faster.
        return b'{"request":' + orjson.dumps(event.request) + _LEGIT_TAIL
    return orjson.dumps(
        {
            "request": event.request,
            "label": event.label,
            "typology": event.typology,
            "label_at": label_time(event.label_at),
            "campaign": event.campaign,
        }
    )


def _write_jsonl(events: Iterator[SimulatedEvent], path: Path, tally: Tally) -> str:
    """Write `events` as JSON lines; returns the file's SHA-256."""
    digest = hashlib.sha256()
    with path.open("wb") as sink:
        lines: list[bytes] = []
        for event in events:
            tally.add(event)
            lines.append(jsonl_line(event))
            if len(lines) >= _JSONL_BATCH:
                _flush(sink, lines, digest)
        _flush(sink, lines, digest)
    return digest.hexdigest()


def _flush(sink: BinaryIO, lines: list[bytes], digest: Any) -> None:
    if lines:
        lines.append(b"")
        chunk = b"\n".join(lines)
        digest.update(chunk)
        sink.write(chunk)
        lines.clear()


def _write_parquet(events: Iterator[SimulatedEvent], path: Path, tally: Tally) -> str:
    """Write `events` as Parquet, one row group per `ROW_GROUP` events; returns the SHA-256."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    utc_ms = pa.timestamp("ms", tz="UTC")
    schema = pa.schema(
        [
            ("event_id", pa.string()),
            ("occurred_at", utc_ms),
            ("event_type", pa.string()),
            ("account_id", pa.string()),
            ("amount", pa.float64()),
            ("currency", pa.string()),
            ("label", pa.string()),
            ("typology", pa.string()),
            ("label_at", utc_ms),
            ("campaign", pa.string()),
            ("request", pa.string()),
        ]
    )
    names = schema.names
    with pq.ParquetWriter(path, schema, compression="zstd") as writer:
        columns: dict[str, list[Any]] = {name: [] for name in names}

        def write() -> None:
            arrays = [
                pa.array(columns["event_id"], pa.string()),
                pa.array(columns["occurred_at"], pa.string()).cast(utc_ms),
                pa.array(columns["event_type"], pa.string()),
                pa.array(columns["account_id"], pa.string()),
                pa.array(columns["amount"], pa.float64()),
                pa.array(columns["currency"], pa.string()),
                pa.array(columns["label"], pa.string()),
                pa.array(columns["typology"], pa.string()),
                pa.array(columns["label_at"], utc_ms),
                pa.array(columns["campaign"], pa.string()),
                pa.array(columns["request"], pa.string()),
            ]
            writer.write_table(pa.Table.from_arrays(arrays, schema=schema))
            for values in columns.values():
                values.clear()

        for event in events:
            tally.add(event)
            request = event.request
            amount = request.get("amount")
            columns["event_id"].append(request["event_id"])
            columns["occurred_at"].append(request["occurred_at"])
            columns["event_type"].append(request["event_type"])
            columns["account_id"].append(request["account_id"])
            columns["amount"].append(None if amount is None else float(amount["value"]))
            columns["currency"].append(None if amount is None else amount["currency"])
            columns["label"].append(event.label)
            columns["typology"].append(event.typology)
            columns["label_at"].append(event.label_at)
            columns["campaign"].append(event.campaign)
            columns["request"].append(orjson.dumps(request))
            if len(columns["event_id"]) >= ROW_GROUP:
                write()
        if columns["event_id"]:
            write()
    digest = hashlib.sha256()
    with path.open("rb") as source:
        for chunk in iter(lambda: source.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _counted(
    events: Iterator[SimulatedEvent], advance: Callable[[int], None]
) -> Iterator[SimulatedEvent]:
    n = 0
    for event in events:
        yield event
        n += 1
        if n == _PROGRESS_STEP:
            advance(n)
            n = 0
    advance(n)


def write_run(options: SimulateOptions, *, progress: bool, console: Console) -> dict[str, Any]:
    """Simulate and write the events file and manifest; returns the manifest."""
    out = options.out
    out.mkdir(parents=True, exist_ok=True)
    name = f"events.{options.output_format}"
    for stale in [MANIFEST, *(f"events.{kind}" for kind in FORMATS)]:
        (out / stale).unlink(missing_ok=True)
    partial = out / f".{name}.partial"
    events = simulate(
        seed=options.seed,
        customers=options.customers,
        days=options.days,
        start=options.start,
        fraud_rate=options.fraud_rate,
    )
    estimate = expected_event_count(
        customers=options.customers, days=options.days, fraud_rate=options.fraud_rate
    )
    tally = Tally()
    write = _write_jsonl if options.output_format == "jsonl" else _write_parquet
    bar = Progress(
        SpinnerColumn(),
        TextColumn("[bold]simulating"),
        BarColumn(),
        TaskProgressColumn(),
        TextColumn("{task.completed:,.0f} / ~{task.total:,.0f} events"),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        console=console,
        disable=not progress,
    )
    began = time.perf_counter()
    with bar:
        task = bar.add_task("simulate", total=estimate, rate="")

        def advance(n: int) -> None:
            done = bar.tasks[0].completed + n
            rate = done / max(time.perf_counter() - began, 1e-9)
            bar.update(task, advance=n, total=max(estimate, done), rate=f"{rate:,.0f}/s")

        try:
            sha256 = write(_counted(events, advance), partial, tally)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        bar.update(task, total=tally.events)
    partial.replace(out / name)
    elapsed = time.perf_counter() - began

    manifest = {
        "generator": "payguard simulate",
        "arguments": {
            "days": options.days,
            "customers": options.customers,
            "fraud_rate": options.fraud_rate,
            "seed": options.seed,
            "start": options.start.isoformat(),
            "format": options.output_format,
        },
        "events": tally.events,
        "legit_events": tally.events - tally.reported - tally.never_reported,
        "fraud_events": tally.reported + tally.never_reported,
        "typologies": {typology: tally.typologies[typology] for typology in TYPOLOGIES},
        "campaigns": {typology: len(tally.campaigns.get(typology, ())) for typology in TYPOLOGIES},
        "fraud_labelled": tally.reported,
        "fraud_never_reported": tally.never_reported,
        "first_occurred_at": tally.first,
        "last_occurred_at": tally.last,
        "file": name,
        "bytes": (out / name).stat().st_size,
        "sha256": sha256,
    }
    partial_manifest = out / f".{MANIFEST}.partial"
    partial_manifest.write_bytes(orjson.dumps(manifest, option=orjson.OPT_INDENT_2) + b"\n")
    partial_manifest.replace(out / MANIFEST)
    rate = tally.events / max(elapsed, 1e-9)
    console.print(
        f"wrote {tally.events:,} events ({manifest['fraud_events']:,} fraud) to "
        f"{out / name} in {elapsed:.1f} s ({rate:,.0f} events/s)",
        soft_wrap=True,
        highlight=False,
    )
    return manifest


def run_simulate(
    *,
    days: float,
    customers: int,
    fraud_rate: float,
    seed: int,
    start: str,
    out: Path,
    output_format: str,
    force: bool,
    quiet: bool,
) -> None:
    """The `payguard simulate` command: validate, then write the run."""
    options = validate(
        days=days,
        customers=customers,
        fraud_rate=fraud_rate,
        seed=seed,
        start=start,
        out=out,
        output_format=output_format,
        force=force,
    )
    console = Console(stderr=True, quiet=quiet)
    write_run(options, progress=not quiet and console.is_terminal, console=console)
