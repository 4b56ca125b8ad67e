"""Structured mode: personal data in CSV, JSON Lines and Parquet files, scanned and redacted as
a stream, in bounded memory, on several processes.

`scan_file` reports, per column (or JSONPath), how many values hold each entity; no value is
ever reported. `redact_file` writes a copy of the file in the same format under a
`FilePolicy`:

    columns:                        # a column name, or a JSONPath of the subset below
      card_number: mask             # an action: mask | hash | tokenize | redact | generalize | keep
      $.customer.phone: {action: tokenize, entity: phone}
      $.items[*].note: keep
    free_text: scan                 # scan | keep: what happens to every other string
    entities:                       # per-entity actions for what the scan finds
      email: hash

A column named in the policy is authoritative: its value goes to `redact_value` under the
column's action, with no scan (`keep` leaves it, and everything under it, as it is). Every
other string is scanned and redacted by entity (`free_text: scan`), or kept.

JSONPath subset: `$` then any of `.name`, `['any key']` / `["any key"]` (backslash escapes the
quote), `[3]` (an array index), `[*]` (any array index), `.*` (any member). A name without a
leading `$` is a top-level column (so a CSV column may contain dots). When two patterns match
one value, the one with fewer wildcards wins, then the one written first.

Memory: the file is read in chunks of at most `CHUNK_ROWS` rows and `CHUNK_BYTES` bytes, and at
most two chunks per worker are in flight, so memory does not grow with the file. Chunks are
parsed, scanned and serialised in the worker processes (`multiprocessing`, spawn); the parent
reads raw lines and writes results in the input's order. The redactor is made in each worker
by a picklable factory (a module-level function or a `functools.partial` of one).

Errors are `DataSetUnreadable` or `ValidationFailed`, naming the line, row, column or policy
field at fault, never a value from the data.
"""

from __future__ import annotations

import csv
import io
import json
import multiprocessing
import os
import re
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from functools import lru_cache
from pathlib import Path
from typing import IO, Annotated, Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from payguard.core.errors import PayguardError, PayloadTooLarge, ValidationFailed, field_path
from payguard.core.policyfile import load_mapping
from payguard.shield.interfaces import (
    Action,
    DataSetUnreadable,
    Entity,
    Redacted,
    TextRedactor,
    entity_of,
    marked,
)
from payguard.shield.redact import DEFAULT_ACTIONS
from payguard.shield.scanner import Scanner, json_path, key_context
from payguard.shield.tabular import MAX_LINE_CHARS, TableFormat, format_of, json_object_line

__all__ = [
    "ANY_INDEX",
    "ANY_KEY",
    "CHUNK_BYTES",
    "CHUNK_ROWS",
    "MAX_POLICY_BYTES",
    "MOSTLY",
    "WHOLE",
    "ColumnMatcher",
    "ColumnReport",
    "ColumnRule",
    "FilePolicy",
    "RedactReport",
    "ScanReport",
    "load_file_policy",
    "parse_path",
    "redact_file",
    "render_path",
    "scan_file",
    "suggest_policy",
]

#: Rows per chunk handed to a worker.
CHUNK_ROWS = 1000
#: A chunk is cut when its raw lines reach this many bytes, whatever its row count.
CHUNK_BYTES = 4 * 1024 * 1024
#: The largest policy file read.
MAX_POLICY_BYTES = 64 * 1024
MAX_COLUMNS = 1000
#: Values nested deeper than this are refused (the redaction walk recurses).
MAX_DEPTH = 200
#: A column "mostly holds" an entity when at least this share of its values have one.
MOSTLY = 0.5
#: A value "is" an entity when one finding covers at least this share of its characters.
WHOLE = 0.8
#: Redacted texts a worker remembers (texts of at most `MEMO_TEXT` characters kept).
MEMO_SIZE = 8192
MEMO_TEXT = 96
_INT_MAX = 10**34  # as the scanner: longer integers are not scanned


# -- JSONPath subset -------------------------------------------------------------------------


class _Any(Enum):
    KEY = ".*"
    INDEX = "[*]"


ANY_KEY = _Any.KEY
ANY_INDEX = _Any.INDEX
Segment = str | int | _Any

_MEMBER = re.compile(r"[^.\[\]'\"\s*]+")
_INDEX = re.compile(r"\[(0|[1-9][0-9]{0,8})\]")


def parse_path(text: str, *, field: str = "path") -> tuple[Segment, ...]:
    """The segments of a JSONPath of the subset the module docstring describes; ValidationFailed
    on `field` for anything else."""

    def bad(why: str) -> ValidationFailed:
        return ValidationFailed(f"not a supported JSONPath: {why}", field=field)

    if not text.startswith("$"):
        raise bad("it starts with $")
    parts: list[Segment] = []
    i, n = 1, len(text)
    while i < n:
        if text.startswith(".*", i):
            parts.append(ANY_KEY)
            i += 2
        elif text[i] == ".":
            member = _MEMBER.match(text, i + 1)
            if member is None:
                raise bad(f"a name is expected after '.' at character {i + 1}")
            parts.append(member.group())
            i = member.end()
        elif text.startswith("[*]", i):
            parts.append(ANY_INDEX)
            i += 3
        elif (index := _INDEX.match(text, i)) is not None:
            parts.append(int(index.group(1)))
            i = index.end()
        elif text.startswith(("['", '["'), i):
            quote, j, key = text[i + 1], i + 2, []
            while j < n and text[j] != quote:
                if text[j] == "\\" and j + 1 < n:
                    j += 1
                key.append(text[j])
                j += 1
            if not text.startswith(quote + "]", j):
                raise bad(f"the quoted name at character {i + 1} is not closed")
            parts.append("".join(key))
            i = j + 2
        else:
            raise bad(f"unexpected character at {i + 1}: use .name, ['name'], [3], [*] or .*")
    return tuple(parts)


def render_path(parts: Sequence[Segment], *, generalise: bool = False) -> str:
    """A JSONPath of these segments, as `scan_document` writes them (`$.a['b c'][0]`); with
    `generalise`, every array index as `[*]`."""
    path = "$"
    for part in parts:
        if isinstance(part, _Any):
            path += part.value
        elif isinstance(part, int):
            path += "[*]" if generalise else f"[{part}]"
        else:
            path += json_path((part,))[1:]
    return path


# -- the policy ------------------------------------------------------------------------------

_ACTIONS = tuple(action.value for action in Action)
ActionName = Literal["mask", "hash", "tokenize", "redact", "generalize", "keep"]


def _entity_name(value: str | None, where: str) -> Entity | None:
    return None if value is None else entity_of(value, where)


class _ColumnSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    action: ActionName
    entity: str | None = None


class _PolicySpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    description: Annotated[str, Field(max_length=2000)] = ""
    columns: Annotated[dict[str, ActionName | _ColumnSpec], Field(max_length=MAX_COLUMNS)] = {}
    free_text: Literal["scan", "keep"] = "scan"
    entities: dict[str, ActionName] = {}


@dataclass(frozen=True, slots=True)
class ColumnRule:
    """A column (or JSONPath) of a file policy and what happens to its values."""

    pattern: str  # as written in the policy
    action: Action
    entity: Entity | None = None


@dataclass(frozen=True, slots=True)
class FilePolicy:
    """What `redact_file` does: column rules (authoritative), whether other strings are scanned,
    and the action for each entity the scan finds (the redactor's defaults for the others)."""

    columns: tuple[ColumnRule, ...] = ()
    scan_free_text: bool = True
    entities: Mapping[Entity, Action] = field(default_factory=dict)

    def actions(self) -> frozenset[Action]:
        """Every action the policy can apply (to tell whether it needs a tenant's keys)."""
        return frozenset(rule.action for rule in self.columns) | frozenset(self.entities.values())


def load_file_policy(source: str, *, json_text: bool = False) -> FilePolicy:
    """A file policy from YAML (or JSON, with `json_text`), of at most `MAX_POLICY_BYTES`,
    validated strictly: ValidationFailed naming the field at fault (`columns.card.action`),
    in its `field` and at the start of its message."""
    try:
        return _load_file_policy(source, json_text)
    except ValidationFailed as exc:
        raise ValidationFailed(f"policy {exc.field}: {exc.message}", field=exc.field) from None


def _load_file_policy(source: str, json_text: bool) -> FilePolicy:
    if len(source.encode()) > MAX_POLICY_BYTES:
        raise PayloadTooLarge(f"the policy file is larger than {MAX_POLICY_BYTES} bytes")
    if json_text:
        try:
            document = json.loads(source)
        except (ValueError, RecursionError):
            raise ValidationFailed("the policy file is not valid JSON", field="policy") from None
        if not isinstance(document, dict):
            raise ValidationFailed("the policy file must hold a JSON object", field="policy")
    else:
        document = load_mapping(
            source, name="policy file", field="columns", max_bytes=MAX_POLICY_BYTES
        )
    try:
        spec = _PolicySpec.model_validate(document)
    except ValidationError as exc:
        errors = exc.errors()
        first = max(errors, key=lambda e: (len(e["loc"]), -errors.index(e)))
        # A union's branch name (`str`, `_ColumnSpec`) is not part of the field's path.
        loc = [part for part in first["loc"] if part not in {"_ColumnSpec", "str"}]
        loc = [p for p in loc if not (isinstance(p, str) and p.startswith("literal["))]
        raise ValidationFailed(first["msg"], field=field_path(loc) or "policy") from None
    for name in spec.entities:
        _entity_name(name, f"entities.{name}")
    rules = []
    for pattern, given in spec.columns.items():
        where = f"columns.{pattern}"
        if not pattern.strip():
            raise ValidationFailed("a column name is empty", field=where)
        if pattern.startswith("$"):
            parse_path(pattern, field=where)
        if isinstance(given, str):
            rules.append(ColumnRule(pattern, Action(given)))
        else:
            entity = _entity_name(given.entity, f"{where}.entity")
            rules.append(ColumnRule(pattern, Action(given.action), entity))
    ColumnMatcher(rules)  # duplicates refused now, not in a worker
    return FilePolicy(
        columns=tuple(rules),
        scan_free_text=spec.free_text == "scan",
        entities={Entity(name): Action(action) for name, action in spec.entities.items()},
    )


# -- matching columns ------------------------------------------------------------------------


class _Node:
    __slots__ = ("any_index", "any_key", "indexes", "keys", "rule")

    def __init__(self) -> None:
        self.keys: dict[str, _Node] = {}
        self.indexes: dict[int, _Node] = {}
        self.any_key: _Node | None = None
        self.any_index: _Node | None = None
        self.rule: tuple[tuple[int, int], ColumnRule] | None = None  # (wildcards, order)


States = tuple[_Node, ...]


class ColumnMatcher:
    """The policy's column patterns as a trie, walked alongside a document: `step_key` and
    `step_index` follow a member or an item, `rule` says which pattern (if any) ends there."""

    def __init__(self, rules: Sequence[ColumnRule]) -> None:
        self.rules = tuple(rules)
        self.root = _Node()
        for order, rule in enumerate(self.rules):
            parts = self.segments(rule.pattern)
            node = self.root
            for part in parts:
                if part is ANY_KEY:
                    node.any_key = node.any_key or _Node()
                    node = node.any_key
                elif part is ANY_INDEX:
                    node.any_index = node.any_index or _Node()
                    node = node.any_index
                elif isinstance(part, int):
                    node = node.indexes.setdefault(part, _Node())
                else:
                    assert isinstance(part, str)
                    node = node.keys.setdefault(part, _Node())
            if node.rule is not None or not parts:
                raise ValidationFailed(
                    "names the same values as another column of the policy"
                    if parts
                    else "names the whole row: name a column",
                    field=f"columns.{rule.pattern}",
                )
            node.rule = ((sum(isinstance(p, _Any) for p in parts), order), rule)

    @staticmethod
    def segments(pattern: str) -> tuple[Segment, ...]:
        """A policy key's segments: a JSONPath, or a plain top-level column name."""
        if pattern.startswith("$"):
            return parse_path(pattern, field=f"columns.{pattern}")
        return (pattern,)

    @property
    def start(self) -> States:
        return (self.root,) if self.rules else ()

    @staticmethod
    def step_key(states: States, key: str) -> States:
        found: list[_Node] = []
        for node in states:
            child = node.keys.get(key)
            if child is not None:
                found.append(child)
            if node.any_key is not None:
                found.append(node.any_key)
        return tuple(found)

    @staticmethod
    def step_index(states: States, index: int | None) -> States:
        """The states after an array item (`None`: any item, for walking a schema)."""
        found: list[_Node] = []
        for node in states:
            if index is None:
                found.extend(node.indexes.values())
            else:
                child = node.indexes.get(index)
                if child is not None:
                    found.append(child)
            if node.any_index is not None:
                found.append(node.any_index)
        return tuple(found)

    @staticmethod
    def rule(states: States) -> tuple[int, ColumnRule] | None:
        """The winning rule among the patterns that end here, with its order in the policy."""
        best = min((node.rule for node in states if node.rule is not None), default=None)
        return None if best is None else (best[0][1], best[1])

    def match(self, path: str | Sequence[str | int]) -> ColumnRule | None:
        """The rule for the value at `path` (a JSONPath as `scan_document` writes it, or its
        segments)."""
        parts = parse_path(path) if isinstance(path, str) else path
        states = self.start
        for part in parts:
            if isinstance(part, _Any):
                raise ValidationFailed("a concrete path has no wildcard", field="path")
            states = (
                self.step_index(states, part)
                if isinstance(part, int)
                else self.step_key(states, part)
            )
        found = self.rule(states)
        return None if found is None else found[1]


# -- reports ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ColumnReport:
    """What the scan found in one column (or JSONPath, array items merged as `[*]`): how many
    values it holds, the findings of each entity, the values with at least one, and the values
    that are one (a finding covering at least `WHOLE` of the value)."""

    column: str
    values: int
    findings: Mapping[str, int]
    values_with: Mapping[str, int]
    values_whole: Mapping[str, int] = field(default_factory=dict)

    @property
    def mostly(self) -> Entity | None:
        """The entity that at least `MOSTLY` of the column's values are (the most common)."""
        if not self.values or not self.values_whole:
            return None
        name, count = max(self.values_whole.items(), key=lambda item: (item[1], item[0]))
        return Entity(name) if count / self.values >= MOSTLY else None

    def summary(self) -> dict[str, object]:
        mostly = self.mostly
        return {
            "column": self.column,
            "values": self.values,
            "findings": dict(sorted(self.findings.items())),
            "values_with": dict(sorted(self.values_with.items())),
            "values_whole": dict(sorted(self.values_whole.items())),
            "mostly": None if mostly is None else mostly.value,
        }


@dataclass(frozen=True, slots=True)
class ScanReport:
    """A file's scan: rows, the columns in the order first seen, the totals per entity."""

    file: str
    format: TableFormat
    rows: int
    columns: tuple[ColumnReport, ...]
    bytes_read: int
    seconds: float
    workers: int

    @property
    def totals(self) -> dict[str, int]:
        totals: Counter[str] = Counter()
        for column in self.columns:
            totals.update(column.findings)
        return dict(sorted(totals.items()))

    def summary(self) -> dict[str, object]:
        return {
            "file": self.file,
            "format": self.format.value,
            "rows": self.rows,
            "columns": [column.summary() for column in self.columns],
            "totals": self.totals,
            "seconds": round(self.seconds, 3),
            "workers": self.workers,
        }


@dataclass(frozen=True, slots=True)
class RedactReport:
    """What `redact_file` did: rows written, values redacted under each column rule, entities
    found (and redacted) in free text, and column rules that matched nothing."""

    file: str
    out: str
    format: TableFormat
    rows: int
    columns: Mapping[str, int]
    entities: Mapping[str, int]
    unmatched: tuple[str, ...]
    bytes_read: int
    seconds: float
    workers: int

    def summary(self) -> dict[str, object]:
        return {
            "file": self.file,
            "out": self.out,
            "format": self.format.value,
            "rows": self.rows,
            "columns": dict(self.columns),
            "entities": dict(sorted(self.entities.items())),
            "unmatched_columns": list(self.unmatched),
            "seconds": round(self.seconds, 3),
            "workers": self.workers,
        }


def suggest_policy(report: ScanReport) -> dict[str, object]:
    """A starting policy: each column that mostly holds an entity under that entity's default
    action, free text scanned, and every entity's default action listed to edit."""
    columns: dict[str, object] = {}
    for column in report.columns:
        entity = column.mostly
        if entity is None:
            continue
        columns[column.column] = {"action": DEFAULT_ACTIONS[entity].value, "entity": entity.value}
    return {
        "columns": columns,
        "free_text": "scan",
        "entities": {entity.value: action.value for entity, action in DEFAULT_ACTIONS.items()},
    }


# -- reading chunks (the parent) -------------------------------------------------------------


@dataclass(slots=True)
class _Chunk:
    first: int  # the line (CSV, JSON Lines) or row (Parquet) number of the first item
    items: Any  # raw lines; (line, record) pairs; a RecordBatch
    size: int  # bytes (rows for Parquet) read, for progress


def _open(path: Path) -> IO[bytes]:
    try:
        if path.is_dir():
            raise DataSetUnreadable(f"{path.name} is a directory, not a file")
        return path.open("rb")
    except OSError as exc:
        raise DataSetUnreadable(f"cannot open {path.name}: {exc.strerror}") from None


def _jsonl_chunks(path: Path, rows: int, limit: int) -> Iterator[_Chunk]:
    with _open(path) as stream:
        number, size = 1, 0
        items: list[bytes] = []
        while True:
            line = stream.readline(MAX_LINE_CHARS + 1)
            if not line:
                break
            if len(line) > MAX_LINE_CHARS:
                at = number + len(items)
                raise DataSetUnreadable(
                    f"{path.name} line {at}: longer than {MAX_LINE_CHARS} bytes", line=at
                )
            items.append(line)
            size += len(line)
            if len(items) >= rows or size >= limit:
                yield _Chunk(number, items, size)
                number, items, size = number + len(items), [], 0
        if items:
            yield _Chunk(number, items, size)


class _CsvSource:
    """A CSV file's header, then its records in chunks (line numbers kept for errors)."""

    def __init__(self, path: Path, delimiter: str) -> None:
        if len(delimiter) != 1:
            raise DataSetUnreadable("the CSV delimiter must be one character", field="delimiter")
        self.path = path
        self.stream = _open(path)
        self.read = 0
        self.reader = csv.reader(self._lines(), delimiter=delimiter, strict=True)
        try:
            header = self._next()
            if header is None:
                raise DataSetUnreadable(f"{path.name} is empty: no header line", line=1)
            seen: set[str] = set()
            for name in header:
                if name in seen:
                    raise DataSetUnreadable(
                        f"{path.name}: column {name[:64]!r} appears twice in the header",
                        field=name[:64],
                        line=1,
                    )
                seen.add(name)
        except BaseException:
            self.stream.close()
            raise
        self.header = tuple(header)

    def _lines(self) -> Iterator[str]:
        number = 0
        while True:
            number += 1
            raw = self.stream.readline(MAX_LINE_CHARS + 1)
            if not raw:
                return
            self.read += len(raw)
            if len(raw) > MAX_LINE_CHARS:
                raise DataSetUnreadable(
                    f"{self.path.name} line {number}: longer than {MAX_LINE_CHARS} bytes",
                    line=number,
                )
            try:
                yield raw.decode("utf-8-sig" if number == 1 else "utf-8")
            except UnicodeDecodeError:
                raise DataSetUnreadable(
                    f"{self.path.name} line {number}: not UTF-8 text", line=number
                ) from None

    def _next(self) -> list[str] | None:
        try:
            return next(self.reader, None)
        except csv.Error as exc:
            line = self.reader.line_num
            raise DataSetUnreadable(
                f"{self.path.name} line {line}: not readable as CSV ({exc})", line=line
            ) from None

    def chunks(self, rows: int, limit: int) -> Iterator[_Chunk]:
        width = len(self.header)
        with self.stream:
            items: list[tuple[int, list[str]]] = []
            mark = self.read
            while True:
                record = self._next()
                if record is None:
                    break
                if not record:
                    continue
                line = self.reader.line_num
                if len(record) != width:
                    raise DataSetUnreadable(
                        f"{self.path.name} line {line}: {len(record)} fields, "
                        f"the header has {width}",
                        line=line,
                    )
                items.append((line, record))
                if len(items) >= rows or self.read - mark >= limit:
                    yield _Chunk(items[0][0], items, self.read - mark)
                    items, mark = [], self.read
            if items:
                yield _Chunk(items[0][0], items, self.read - mark)


class _ParquetSource:
    def __init__(self, path: Path) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        self.path = path
        if path.is_dir():
            raise DataSetUnreadable(f"{path.name} is a directory, not a file")
        try:
            self.file = pq.ParquetFile(path)
        except FileNotFoundError:
            raise DataSetUnreadable(f"cannot open {path.name}: no such file") from None
        except (pa.ArrowException, OSError):
            raise DataSetUnreadable(f"{path.name} is not a readable Parquet file") from None
        self.schema = self.file.schema_arrow
        self.rows = self.file.metadata.num_rows

    def chunks(self, rows: int) -> Iterator[_Chunk]:
        import pyarrow as pa

        done = 0
        with self.file:
            try:
                for batch in self.file.iter_batches(batch_size=rows):
                    yield _Chunk(done + 1, batch, batch.num_rows)
                    done += batch.num_rows
            except (pa.ArrowException, OSError):
                raise DataSetUnreadable(
                    f"{self.path.name}: Parquet data after row {done} is not readable",
                    line=done + 1,
                ) from None


# -- the work on a chunk (a worker, or the parent with one worker) ----------------------------


@dataclass(frozen=True, slots=True)
class _Job:
    """What every worker is set up with (pickled once per worker)."""

    redacting: bool
    fmt: TableFormat
    name: str
    make: Callable[[], Any]  # the redactor (redacting) or the scanner
    policy: FilePolicy | None = None
    header: tuple[str, ...] = ()
    delimiter: str = ","
    schema: Any = None  # the output schema (Parquet)


@dataclass(slots=True)
class _Stats:
    rows: int = 0
    hits: Counter[int] = field(default_factory=Counter)  # rule order -> values
    entities: Counter[str] = field(default_factory=Counter)
    columns: dict[str, list[Any]] = field(default_factory=dict)  # scan: [values, found, with]


@dataclass(slots=True)
class _Result:
    output: Any = None
    stats: _Stats | None = None
    error: tuple[str, str, str, int | None] | None = None  # kind, message, field, line


class _TooDeep(Exception):
    pass


class _Slot:
    """A string (or integer) the scan redacts, and where its redacted text goes."""

    __slots__ = ("at", "into", "key", "number", "text")

    def __init__(self, text: str, key: str | None, number: int | None) -> None:
        self.text = text
        self.key = key
        self.number = number
        self.into: Any = None
        self.at: Any = None


#: How many keys found clean a worker remembers (then it starts again).
_CLEAN_KEYS = 4096


class _Worker:
    def __init__(self, job: _Job) -> None:
        self.job = job
        self.engine = job.make()
        policy = job.policy or FilePolicy()
        self.matcher = ColumnMatcher(policy.columns)
        self.scan_text = policy.scan_free_text
        # Parquet columns keep their types: only strings are rewritten by the scan.
        self.scan_ints = job.fmt is TableFormat.JSONL
        self.stringify = job.fmt is not TableFormat.JSONL
        self.line = 0  # the line (or row) being read, for errors
        self.memo: dict[str, Redacted] = {}
        # JSON Lines keys may hold personal data (a map keyed by phone numbers): shown as
        # `[<entity>]` in the scan's report, redacted in the output. CSV and Parquet column
        # names are the file's schema and stay as they are.
        self.keyed = job.fmt is TableFormat.JSONL
        # Keys in which nothing was found (`status`, `line1`): each row repeats them, so
        # they are scanned once. Keys that hold personal data are never kept.
        self.clean_keys: set[str] = set()

    def _clean(self, key: str) -> None:
        if len(self.clean_keys) >= _CLEAN_KEYS:
            self.clean_keys.clear()
        self.clean_keys.add(key)

    def shown_key(self, key: str) -> str:
        """A key as the scan's report shows it: each finding in it as `[<entity>]`."""
        if not self.keyed or key in self.clean_keys:
            return key
        findings = self.engine.scan(key)
        if not findings:
            self._clean(key)
        return marked(key, findings)

    def redacted_key(self, key: str, stats: _Stats) -> str:
        """A key as the redacted output writes it: its findings redacted by the policy."""
        if key in self.clean_keys:
            return key
        done: Redacted = self.engine.redact_text(key)
        if not done.findings:
            self._clean(key)
            return key
        stats.entities.update(f.entity.value for f in done.findings)
        return done.text

    def rows(self, chunk: _Chunk) -> Iterator[tuple[int, dict[str, Any]]]:
        job = self.job
        if job.fmt is TableFormat.JSONL:
            for offset, raw in enumerate(chunk.items):
                number = chunk.first + offset
                value = json_object_line(raw, job.name, number)
                if value is not None:
                    yield number, value
        elif job.fmt is TableFormat.CSV:
            header = job.header
            for number, record in chunk.items:
                yield number, dict(zip(header, record, strict=True))
        else:
            for offset, row in enumerate(chunk.items.to_pylist()):
                yield chunk.first + offset, row

    def run(self, chunk: _Chunk) -> _Result:
        stats = _Stats()
        unit = "row" if self.job.fmt is TableFormat.PARQUET else "line"
        self.line = number = chunk.first
        try:
            if not self.job.redacting:
                for number, row in self.rows(chunk):
                    self.line = number
                    self.scan_row(row, stats)
                return _Result(stats=stats)
            return _Result(output=self.serialise(self.redact_rows(chunk, stats)), stats=stats)
        except PayguardError as exc:
            number = self.line
            kind = "data" if isinstance(exc, DataSetUnreadable) else "validation"
            return _Result(error=(kind, exc.message, getattr(exc, "field", "file"), number))
        except _TooDeep:
            number = self.line
            message = f"{self.job.name} {unit} {number}: nested more than {MAX_DEPTH} levels"
            return _Result(error=("data", message, "file", number))
        except Exception as exc:  # its message may hold a value: name the type
            number = self.line
            message = (
                f"{self.job.name} {unit} {number}: could not be processed ({type(exc).__name__})"
            )
            return _Result(error=("data", message, "file", number))

    # -- scan

    def scan_row(self, row: dict[str, Any], stats: _Stats) -> None:
        stats.rows += 1
        columns = stats.columns
        flat = self.job.fmt is not TableFormat.JSONL
        stack: list[tuple[tuple[Segment, ...], Any]] = [((), row)]
        while stack:
            parts, value = stack.pop()
            if isinstance(value, dict):
                stack.extend(((*parts, self.shown_key(str(k))), v) for k, v in value.items())
            elif isinstance(value, list):
                stack.extend(((*parts, ANY_INDEX), v) for v in value)
            elif (isinstance(value, str) and value) or (
                isinstance(value, int) and not isinstance(value, bool) and abs(value) < _INT_MAX
            ):
                name = _display(parts, flat)
                entry = columns.get(name)
                if entry is None:
                    entry = columns[name] = [0, Counter(), Counter(), Counter()]
                entry[0] += 1
        seen: set[tuple[str, str]] = set()
        for found in self.engine.scan_document(row):
            name = _display(
                tuple(
                    ANY_INDEX if isinstance(part, int) else self.shown_key(part)
                    for part in found.location
                ),
                flat,
            )
            entity = found.finding.entity.value
            entry = columns.get(name)
            if entry is None:  # not counted above (cannot happen): count it now
                entry = columns[name] = [1, Counter(), Counter(), Counter()]
            entry[1][entity] += 1
            if (found.path, entity) not in seen:
                seen.add((found.path, entity))
                entry[2][entity] += 1
            span = found.finding.end - found.finding.start
            if span >= WHOLE * len(_at(row, found.location)) and (found.path, "") not in seen:
                seen.add((found.path, ""))
                entry[3][entity] += 1

    # -- redact

    def redact_rows(self, chunk: _Chunk, stats: _Stats) -> list[dict[str, Any]]:
        """The rows redacted: column rules applied as the walk meets them, every other string
        collected and redacted in one batch (one vault call per kind for the chunk)."""
        slots: list[_Slot] = []
        out = []
        for number, row in self.rows(chunk):
            self.line = number
            stats.rows += 1
            done = self.value(row, self.matcher.start, None, 0, stats, slots)
            assert isinstance(done, dict)
            out.append(done)
        if slots:
            self.line = chunk.first
            self.fill(slots, stats)
        return out

    def value(
        self,
        value: Any,
        states: States,
        key: str | None,
        depth: int,
        stats: _Stats,
        slots: list[_Slot],
    ) -> Any:
        if states:
            found = ColumnMatcher.rule(states)
            if found is not None:
                order, rule = found
                stats.hits[order] += 1
                if rule.action is Action.KEEP or value == "":  # nothing to hide in ""
                    return value
                result = self.engine.redact_value(value, rule.action, rule.entity)
                if self.stringify and result is not None and not isinstance(result, str):
                    return str(result)
                return result
        elif not self.scan_text:
            return value
        if isinstance(value, dict | list):
            if depth >= MAX_DEPTH:
                raise _TooDeep
            pairs = value.items() if isinstance(value, dict) else enumerate(value)
            copy: Any = {} if isinstance(value, dict) else [None] * len(value)
            for at, item in pairs:
                if not states:
                    inner: States = ()
                elif isinstance(at, int):
                    inner = ColumnMatcher.step_index(states, at)
                else:
                    inner = ColumnMatcher.step_key(states, at)
                done = self.value(
                    item, inner, at if isinstance(at, str) else key, depth + 1, stats, slots
                )
                name = at
                if self.keyed and self.scan_text and isinstance(at, str):
                    name = self.redacted_key(at, stats)
                    if name != at:
                        base, number = name, 2
                        while name in copy or (name in value and name != at):
                            name, number = f"{base}#{number}", number + 1
                if done.__class__ is _Slot:
                    done.into, done.at = copy, name
                copy[name] = done
            return copy
        if not self.scan_text:
            return value
        if isinstance(value, str):
            if not value:
                return value
            slot = _Slot(value, key, None)
        elif (
            self.scan_ints
            and isinstance(value, int)
            and not isinstance(value, bool)
            and abs(value) < _INT_MAX
        ):
            slot = _Slot(str(value), key, value)
        else:
            return value
        slots.append(slot)
        return slot

    def fill(self, slots: list[_Slot], stats: _Stats) -> None:
        """Each collected string redacted, read after its member's key as context (as
        `scan_document` reads it) unless something in the key itself is found.

        Short texts repeat (statuses, codes, countries): the results of texts of at most
        `MEMO_TEXT` characters are remembered, up to `MEMO_SIZE` of them; each distinct text
        of a chunk is redacted once."""
        redactor: TextRedactor = self.engine
        memo = self.memo
        keyed = [key_context(slot.key) + slot.text for slot in slots]
        found: dict[str, Redacted | None] = {}
        missing: list[str] = []
        for text in keyed:
            if text not in found:
                known = memo.get(text)
                if known is None:
                    missing.append(text)
                found[text] = known  # None: redacted below
        if missing:
            batch = getattr(redactor, "redact_texts", None)
            if batch is not None:
                done = batch(missing)
            else:
                done = [redactor.redact_text(text) for text in missing]
            fresh = dict(zip(missing, done, strict=True))
            found.update(fresh)
            if len(memo) + len(fresh) > MEMO_SIZE:
                memo.clear()
            memo.update((t, r) for t, r in fresh.items() if len(t) <= MEMO_TEXT)
        for slot, text in zip(slots, keyed, strict=True):
            result = found[text]
            assert result is not None
            shift = len(text) - len(slot.text)
            if shift and not (
                result.text.startswith(text[:shift])
                and all(f.start >= shift for f in result.findings)
            ):
                result, shift = redactor.redact_text(slot.text), 0
            stats.entities.update(f.entity.value for f in result.findings)
            out = result.text[shift:]
            if slot.number is not None and out == slot.text:
                slot.into[slot.at] = slot.number
            else:
                slot.into[slot.at] = out

    def serialise(self, rows: list[dict[str, Any]]) -> Any:
        job = self.job
        if job.fmt is TableFormat.JSONL:
            return b"".join(orjson.dumps(row) + b"\n" for row in rows)
        if job.fmt is TableFormat.CSV:
            buffer = io.StringIO()
            writer = csv.writer(buffer, delimiter=job.delimiter, lineterminator="\n")
            writer.writerows([_cell(row.get(name)) for name in job.header] for row in rows)
            return buffer.getvalue().encode()
        import pyarrow as pa

        return pa.RecordBatch.from_pylist(rows, schema=job.schema)


def _cell(value: object) -> str:
    return "" if value is None else value if isinstance(value, str) else str(value)


@lru_cache(maxsize=8192)
def _display(parts: tuple[Segment, ...], flat: bool) -> str:
    if flat and len(parts) == 1 and isinstance(parts[0], str) and not parts[0].startswith("$"):
        return parts[0]
    return render_path(parts, generalise=True)


def _at(row: Any, location: Sequence[str | int]) -> str:
    """The text of the value at a place `scan_document` reported in `row`."""
    value = row
    for part in location:
        value = value[part]
    return value if isinstance(value, str) else str(value)


_WORKER: _Worker | _Result | None = None


def _start(job: _Job) -> None:
    """A worker's initializer: builds its redactor or scanner once. A failure is kept and
    answered for every chunk (an initializer that raises makes the pool restart it forever)."""
    global _WORKER  # one worker state per process
    try:
        _WORKER = _Worker(job)
    except PayguardError as exc:
        _WORKER = _Result(error=("validation", exc.message, getattr(exc, "field", "file"), None))
    except Exception as exc:  # reported without its message
        _WORKER = _Result(
            error=("validation", f"the worker could not start ({type(exc).__name__})", "", None)
        )


def _work(chunk: _Chunk) -> _Result:
    worker = _WORKER
    if worker is None:
        return _Result(error=("validation", "the worker was not started", "", None))
    if isinstance(worker, _Result):
        return worker
    return worker.run(chunk)


def _raise(error: tuple[str, str, str, int | None]) -> None:
    kind, message, at, line = error
    if kind == "data":
        raise DataSetUnreadable(message, field=at or "file", line=line)
    raise ValidationFailed(message, field=at or "file")


def _pipeline(
    job: _Job,
    chunks: Iterator[_Chunk],
    workers: int,
    take: Callable[[_Result], None],
    progress: Callable[[int], None] | None,
) -> None:
    """Every chunk through `_work`, results to `take` in the input's order, with at most two
    chunks per worker in flight (the pool's own `imap` would read the whole input ahead)."""
    global _WORKER
    if workers <= 1:
        _start(job)
        try:
            for chunk in chunks:
                take(_work(chunk))
                if progress:
                    progress(chunk.size)
        finally:
            _WORKER = None
        return
    from concurrent.futures import Future, ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    # Not multiprocessing.Pool: a worker that dies (killed, out of memory) would leave its
    # result waited for forever; the executor reports it (BrokenProcessPool).
    context = multiprocessing.get_context("spawn")
    pending: deque[tuple[int, Future[_Result]]] = deque()
    pool = ProcessPoolExecutor(workers, mp_context=context, initializer=_start, initargs=(job,))
    with pool:
        try:

            def settle() -> None:
                size, future = pending.popleft()
                take(future.result())
                if progress:
                    progress(size)

            for chunk in chunks:
                pending.append((chunk.size, pool.submit(_work, chunk)))
                while len(pending) >= 2 * workers:
                    settle()
            while pending:
                settle()
        except BrokenProcessPool:
            raise ValidationFailed(
                "a worker process stopped unexpectedly (out of memory?): try fewer --workers",
                field="workers",
            ) from None
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise


def _workers(given: int | None) -> int:
    return max(1, min(given if given is not None else (os.cpu_count() or 1), 64))


# -- scan ------------------------------------------------------------------------------------


def scan_file(
    path: Path,
    scanner: Callable[[], Scanner] = Scanner.default,
    *,
    fmt: TableFormat | None = None,
    delimiter: str = ",",
    workers: int | None = 1,
    chunk_rows: int = CHUNK_ROWS,
    progress: Callable[[int, int], None] | None = None,
) -> ScanReport:
    """Scan every value of a CSV, JSON Lines or Parquet file and count what it holds per column
    (or JSONPath). `scanner` makes the scanner in each worker (picklable). `progress(done,
    total)` is called after each chunk, in bytes (rows for Parquet)."""
    chosen = fmt or format_of(path)
    count = _workers(workers)
    started = time.perf_counter()
    job, chunks, total = _source(path, chosen, delimiter, chunk_rows, redacting=False, make=scanner)
    merged: dict[str, list[Any]] = {}
    rows = 0
    done = 0

    def take(result: _Result) -> None:
        nonlocal rows
        if result.error is not None:
            _raise(result.error)
        assert result.stats is not None
        rows += result.stats.rows
        for name, (values, found, with_, whole) in result.stats.columns.items():
            entry = merged.setdefault(name, [0, Counter(), Counter(), Counter()])
            entry[0] += values
            entry[1].update(found)
            entry[2].update(with_)
            entry[3].update(whole)

    def advance(size: int) -> None:
        nonlocal done
        done += size
        if progress:
            progress(done, total)

    _pipeline(job, chunks, count, take, advance)
    if job.header:  # CSV: columns in header order, then any others
        order = {name: i for i, name in enumerate(job.header)}
        names = sorted(merged, key=lambda n: (order.get(n, len(order)), n))
    else:
        names = sorted(merged)
    columns = tuple(
        ColumnReport(name, m[0], dict(m[1]), dict(m[2]), dict(m[3]))
        for name in names
        for m in (merged[name],)
    )
    return ScanReport(
        path.name,
        chosen,
        rows,
        columns,
        done if chosen is not TableFormat.PARQUET else _size(path),
        time.perf_counter() - started,
        count,
    )


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _source(
    path: Path,
    fmt: TableFormat,
    delimiter: str,
    chunk_rows: int,
    *,
    redacting: bool,
    make: Callable[[], Any],
    policy: FilePolicy | None = None,
) -> tuple[_Job, Iterator[_Chunk], int]:
    if chunk_rows < 1:
        raise ValidationFailed("a chunk holds at least one row", field="chunk_rows")
    if fmt is TableFormat.JSONL:
        if not path.is_file():
            _open(path).close()  # the same error as any other unreadable file
        job = _Job(redacting, fmt, path.name, make, policy)
        return job, _jsonl_chunks(path, chunk_rows, CHUNK_BYTES), _size(path)
    if fmt is TableFormat.CSV:
        source = _CsvSource(path, delimiter)
        job = _Job(redacting, fmt, path.name, make, policy, source.header, delimiter)
        return job, source.chunks(chunk_rows, CHUNK_BYTES), _size(path)
    parquet = _ParquetSource(path)
    job = _Job(redacting, fmt, path.name, make, policy, schema=parquet.schema)
    return job, parquet.chunks(chunk_rows), parquet.rows


# -- redact ----------------------------------------------------------------------------------


def _same_file(a: Path, b: Path) -> bool:
    try:
        if b.exists():
            return os.path.samefile(a, b)
    except OSError:
        return False
    return a.resolve() == b.resolve()


def _known_columns(
    matcher: ColumnMatcher, fmt: TableFormat, header: Sequence[str], schema: Any
) -> set[int]:
    """The policy rules that can match something in a CSV header or a Parquet schema."""
    reached: set[int] = set()
    if fmt is TableFormat.CSV:  # flat: a rule is known when it names a column (or `$.*`)
        for order, rule in enumerate(matcher.rules):
            parts = ColumnMatcher.segments(rule.pattern)
            if len(parts) == 1 and (parts[0] is ANY_KEY or parts[0] in header):
                reached.add(order)
        return reached

    import pyarrow as pa

    def walk(kind: Any, states: States) -> None:
        for node in states:
            if node.rule is not None:
                reached.add(node.rule[0][1])
        if pa.types.is_struct(kind):
            for index in range(kind.num_fields):
                child = kind.field(index)
                walk(child.type, ColumnMatcher.step_key(states, child.name))
        elif pa.types.is_list(kind) or pa.types.is_large_list(kind):
            walk(kind.value_type, ColumnMatcher.step_index(states, None))

    for column in schema:
        walk(column.type, ColumnMatcher.step_key(matcher.start, column.name))
    return reached


def _output_schema(matcher: ColumnMatcher, schema: Any) -> Any:
    """The Parquet output schema: a value a column rule (other than keep) rewrites becomes a
    string, at whatever depth; every other type is kept."""
    import pyarrow as pa

    def convert(kind: Any, states: States) -> Any:
        found = ColumnMatcher.rule(states) if states else None
        if found is not None:
            return kind if found[1].action is Action.KEEP else pa.string()
        if pa.types.is_struct(kind) and states:
            return pa.struct(
                [
                    kind.field(i).with_type(
                        convert(
                            kind.field(i).type, ColumnMatcher.step_key(states, kind.field(i).name)
                        )
                    )
                    for i in range(kind.num_fields)
                ]
            )
        if (pa.types.is_list(kind) or pa.types.is_large_list(kind)) and states:
            item = convert(kind.value_type, ColumnMatcher.step_index(states, None))
            return pa.large_list(item) if pa.types.is_large_list(kind) else pa.list_(item)
        return kind

    fields = [
        column.with_type(convert(column.type, ColumnMatcher.step_key(matcher.start, column.name)))
        for column in schema
    ]
    return pa.schema(fields, metadata=schema.metadata)


def redact_file(
    path: Path,
    out: Path,
    policy: FilePolicy,
    redactor: Callable[[], TextRedactor],
    *,
    fmt: TableFormat | None = None,
    delimiter: str = ",",
    workers: int | None = 1,
    chunk_rows: int = CHUNK_ROWS,
    force: bool = False,
    allow_missing_columns: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> RedactReport:
    """Write `out`, a copy of `path` in the same format with `policy` applied, as a stream.

    `redactor` makes the redactor in each worker (picklable with more than one worker).
    The output is written beside `out` and moved into place only when the whole file is done,
    so a failure leaves nothing half-written. A policy column the file does not have is refused
    (ValidationFailed naming it) unless `allow_missing_columns`: CSV and Parquet before a row
    is read, JSON Lines (which has no header) at the end, when no row had it.
    """
    chosen = fmt or format_of(path)
    if _same_file(path, out):
        raise ValidationFailed("the output is the input file: name another file", field="out")
    if out.exists() and not force:
        raise ValidationFailed(
            f"{out.name} already exists: pass --force to replace it", field="out"
        )
    if out.is_dir():
        raise ValidationFailed(f"{out.name} is a directory", field="out")
    named = out.suffix.lower()
    if named in {".csv", ".jsonl", ".ndjson", ".parquet", ".pq"} and format_of(out) is not chosen:
        raise ValidationFailed(
            f"the output is written as {chosen.value}, like the input: name it accordingly",
            field="out",
        )
    count = _workers(workers)
    started = time.perf_counter()
    matcher = ColumnMatcher(policy.columns)
    job, chunks, total = _source(
        path, chosen, delimiter, chunk_rows, redacting=True, make=redactor, policy=policy
    )
    unmatched: list[str] = []
    if chosen is not TableFormat.JSONL:
        reached = _known_columns(matcher, chosen, job.header, job.schema)
        unmatched = [r.pattern for i, r in enumerate(matcher.rules) if i not in reached]
        if unmatched and not allow_missing_columns:
            if hasattr(chunks, "close"):
                chunks.close()
            raise ValidationFailed(
                f"the policy names a column {path.name} does not have: {unmatched[0]!r} "
                "(pass --allow-missing-columns to go on without it)",
                field=f"columns.{unmatched[0]}",
            )
        if chosen is TableFormat.PARQUET:
            job = _Job(
                True,
                chosen,
                path.name,
                redactor,
                policy,
                schema=_output_schema(matcher, job.schema),
            )
    temporary = out.with_name(f".{out.name}.{os.getpid()}.partial")
    try:
        sink = temporary.open("wb")
    except OSError as exc:
        raise ValidationFailed(f"cannot write {out.name}: {exc.strerror}", field="out") from None
    hits: Counter[int] = Counter()
    entities: Counter[str] = Counter()
    rows = 0
    done = 0
    writer: Any = None
    try:
        with sink:
            if chosen is TableFormat.CSV:
                head = io.StringIO()
                csv.writer(head, delimiter=delimiter, lineterminator="\n").writerow(job.header)
                sink.write(head.getvalue().encode())
            elif chosen is TableFormat.PARQUET:
                import pyarrow.parquet as pq

                writer = pq.ParquetWriter(sink, job.schema)

            def take(result: _Result) -> None:
                nonlocal rows
                if result.error is not None:
                    _raise(result.error)
                assert result.stats is not None
                rows += result.stats.rows
                hits.update(result.stats.hits)
                entities.update(result.stats.entities)
                if writer is not None:
                    if result.output.num_rows:
                        writer.write_batch(result.output)
                else:
                    sink.write(result.output)

            def advance(size: int) -> None:
                nonlocal done
                done += size
                if progress:
                    progress(done, total)

            try:
                _pipeline(job, chunks, count, take, advance)
            finally:
                if writer is not None:
                    writer.close()
        if chosen is TableFormat.JSONL:
            unmatched = [r.pattern for i, r in enumerate(matcher.rules) if not hits[i]]
            if unmatched and not allow_missing_columns:
                raise ValidationFailed(
                    f"the policy names a column no row of {path.name} has: {unmatched[0]!r} "
                    "(pass --allow-missing-columns to go on without it)",
                    field=f"columns.{unmatched[0]}",
                )
        os.replace(temporary, out)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return RedactReport(
        path.name,
        out.name,
        chosen,
        rows,
        {rule.pattern: hits[i] for i, rule in enumerate(matcher.rules)},
        dict(entities),
        tuple(unmatched),
        _size(path),
        time.perf_counter() - started,
        count,
    )
