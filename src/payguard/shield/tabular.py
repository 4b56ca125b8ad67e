"""Streaming readers for tabular data files: CSV, JSON Lines and Parquet, one `dict` per row.

Memory is bounded whatever the file's size: CSV and JSON Lines hold one line at a time (a
line longer than `MAX_LINE_CHARS` bytes is refused, and so is a CSV field longer than the `csv`
module's limit, 128 KiB by default), Parquet one batch of `BATCH_ROWS` rows of the requested
columns (pyarrow decodes a row group's column chunks as it goes). Files are UTF-8 (a CSV may
start with a byte-order mark).

Errors are `DataSetUnreadable` and name the line (or row) and column at fault, never a value
read from the file: the data may be personal.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator, Sequence
from enum import StrEnum
from pathlib import Path
from typing import IO, Any

import orjson

from payguard.shield.interfaces import DataSetUnreadable

__all__ = [
    "BATCH_ROWS",
    "MAX_LINE_CHARS",
    "TableFormat",
    "format_of",
    "json_object_line",
    "read_rows",
]

#: The longest line (a CSV record's physical line, a JSON Lines record) read, in bytes: 8 MiB.
MAX_LINE_CHARS = 8 * 1024 * 1024

#: Rows decoded at a time from a Parquet file.
BATCH_ROWS = 8192


class TableFormat(StrEnum):
    """The file formats the shield reads as tables."""

    CSV = "csv"
    JSONL = "jsonl"
    PARQUET = "parquet"


_EXTENSIONS = {
    ".csv": TableFormat.CSV,
    ".jsonl": TableFormat.JSONL,
    ".ndjson": TableFormat.JSONL,
    ".parquet": TableFormat.PARQUET,
    ".pq": TableFormat.PARQUET,
}


def format_of(path: Path, given: str | None = None) -> TableFormat:
    """The format named by `given` (csv, jsonl, ndjson, parquet), else by the file's extension."""
    if given is not None:
        name = given.strip().lower()
        if name == "ndjson":
            return TableFormat.JSONL
        try:
            return TableFormat(name)
        except ValueError:
            raise DataSetUnreadable(
                f"unknown format {given!r}: use csv, jsonl or parquet", field="format"
            ) from None
    found = _EXTENSIONS.get(path.suffix.lower())
    if found is None:
        raise DataSetUnreadable(
            f"cannot tell the format of {path.name} from its extension: "
            "name it .csv, .jsonl, .ndjson or .parquet, or pass the format",
            field="format",
        )
    return found


def read_rows(
    path: Path,
    fmt: TableFormat | None = None,
    *,
    columns: Sequence[str] | None = None,
    delimiter: str = ",",
) -> Iterator[dict[str, object]]:
    """The rows of a CSV, JSON Lines or Parquet file as dicts, streamed.

    With `columns`, only those keys are kept, and a CSV header or Parquet schema that lacks
    one of them is refused before any row is read (a JSON Lines file has no header: a key
    absent from a row reads as missing there). CSV values are strings; JSON Lines and Parquet
    values keep their types. Blank lines are skipped.
    """
    chosen = format_of(path) if fmt is None else fmt
    wanted = None if columns is None else tuple(dict.fromkeys(columns))
    if chosen is TableFormat.CSV:
        return _csv_rows(path, wanted, delimiter)
    if chosen is TableFormat.JSONL:
        return _jsonl_rows(path, wanted)
    return _parquet_rows(path, wanted)


def _missing_column(column: str, path: Path) -> DataSetUnreadable:
    return DataSetUnreadable(f"{path.name} has no column named {column!r}", field=column)


def _lines(stream: IO[bytes], path: Path) -> Iterator[str]:
    """The file's physical lines as text, each at most MAX_LINE_CHARS bytes long (decoded one
    line at a time, so a line that is not UTF-8 is named by its number)."""
    number = 0
    while True:
        number += 1
        raw = stream.readline(MAX_LINE_CHARS + 1)
        if not raw:
            return
        if len(raw) > MAX_LINE_CHARS:
            raise DataSetUnreadable(
                f"{path.name} line {number}: longer than {MAX_LINE_CHARS} bytes", line=number
            )
        try:
            line = raw.decode("utf-8-sig" if number == 1 else "utf-8")
        except UnicodeDecodeError:
            raise DataSetUnreadable(
                f"{path.name} line {number}: not UTF-8 text", line=number
            ) from None
        yield line


def _csv_rows(
    path: Path, wanted: tuple[str, ...] | None, delimiter: str
) -> Iterator[dict[str, object]]:
    if len(delimiter) != 1:
        raise DataSetUnreadable("the CSV delimiter must be one character", field="delimiter")
    try:
        stream = path.open("rb")
    except OSError as exc:
        raise DataSetUnreadable(f"cannot open {path.name}: {exc.strerror}") from None
    with stream:
        reader = csv.reader(_lines(stream, path), delimiter=delimiter, strict=True)
        try:
            header = next(reader, None)
            if header is None:
                raise DataSetUnreadable(f"{path.name} is empty: no header line", line=1)
            positions: dict[str, int] = {}
            for index, name in enumerate(header):
                if name in positions and (wanted is None or name in wanted):
                    raise DataSetUnreadable(
                        f"{path.name}: column {name!r} appears twice in the header",
                        field=name,
                        line=1,
                    )
                positions[name] = index
            names = tuple(header) if wanted is None else wanted
            for name in names:
                if name not in positions:
                    raise _missing_column(name, path)
            picks = [(name, positions[name]) for name in names]
            width = len(header)
            for record in reader:
                if not record:
                    continue
                if len(record) != width:
                    raise DataSetUnreadable(
                        f"{path.name} line {reader.line_num}: {len(record)} fields, "
                        f"the header has {width}",
                        line=reader.line_num,
                    )
                yield {name: record[index] for name, index in picks}
        except csv.Error as exc:
            # The csv module's messages are fixed texts ("field larger than field limit
            # (131072)", "line contains NUL"): they carry no data.
            raise DataSetUnreadable(
                f"{path.name} line {reader.line_num}: not readable as CSV ({exc})",
                line=reader.line_num,
            ) from None


def json_object_line(line: bytes, name: str, number: int) -> dict[str, Any] | None:
    """A JSON Lines record: the object on `line` (line `number` of the file `name`), None for
    a blank line; DataSetUnreadable naming the line, never its content, for anything else."""
    if not line.strip():
        return None
    try:
        value = orjson.loads(line)
    except orjson.JSONDecodeError:
        raise DataSetUnreadable(
            f"{name} line {number}: not valid JSON (or not UTF-8)", line=number
        ) from None
    if not isinstance(value, dict):
        raise DataSetUnreadable(f"{name} line {number}: not a JSON object", line=number)
    return value


def _jsonl_rows(path: Path, wanted: tuple[str, ...] | None) -> Iterator[dict[str, object]]:
    try:
        stream = path.open("rb")
    except OSError as exc:
        raise DataSetUnreadable(f"cannot open {path.name}: {exc.strerror}") from None
    with stream:
        number = 0
        while True:
            number += 1
            line = stream.readline(MAX_LINE_CHARS + 1)
            if not line:
                return
            if len(line) > MAX_LINE_CHARS:
                raise DataSetUnreadable(
                    f"{path.name} line {number}: longer than {MAX_LINE_CHARS} bytes",
                    line=number,
                )
            value = json_object_line(line, path.name, number)
            if value is None:
                continue
            if wanted is None:
                yield value
            else:
                yield {name: value[name] for name in wanted if name in value}


def _parquet_rows(path: Path, wanted: tuple[str, ...] | None) -> Iterator[dict[str, object]]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.ParquetFile(path)
    except (pa.ArrowException, OSError):
        raise DataSetUnreadable(f"{path.name} is not a readable Parquet file") from None
    with table:
        present = set(table.schema_arrow.names)
        for name in wanted or ():
            if name not in present:
                raise _missing_column(name, path)
        done = 0
        try:
            for batch in table.iter_batches(
                batch_size=BATCH_ROWS, columns=None if wanted is None else list(wanted)
            ):
                rows: list[dict[str, object]] = batch.to_pylist()
                done += len(rows)
                yield from rows
        except (pa.ArrowException, OSError):
            raise DataSetUnreadable(
                f"{path.name}: Parquet data after row {done} is not readable", line=done + 1
            ) from None
