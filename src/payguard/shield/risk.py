"""Re-identification risk of a table before it leaves: k-anonymity, l-diversity, and the
least generalisation of the quasi-identifiers that reaches a target k.

Terms. The *quasi-identifiers* (QIs) are the columns an outsider can link to other data (age,
postcode, gender). Rows that agree on every QI form an *equivalence class*; the data set is
*k-anonymous* for the size of its smallest class. A *sensitive* column is *l-diverse* for the
least number of distinct sensitive values any class holds.

Missing values. `None`, an empty or blank string and a float NaN are all one value of their
own, "(missing)": rows missing the same QI fall in the same class, and a missing sensitive
value counts as one distinct value.

Memory. `assess_risk` streams its rows once and keeps one counter per equivalence class (a
tuple of QI values) plus, with a sensitive column, at most `l + 1` distinct sensitive values
per class: enough to decide l-diversity for the target `l`, so the `l` it reports is exact
below `l + 1` and a lower bound from there (`RiskReport.l_at_least`). Memory grows with the
number of distinct classes, never with the number of rows.

Generalisation. `suggest` searches per-column hierarchies, one level at a time from the
value as given to `*` (the column suppressed): numbers into bands (ages of 5, 10, 20 and 50
years; other numbers by powers of ten), ISO dates to the day, month and year, codes such as
postcodes keep fewer leading characters (the rest become `*`), other categories go straight
to `*`. Information loss is the sum of the levels chosen. A generalisation maps each class to
a coarser one, so the search works on the class counts and never re-reads the rows: it tries
every combination of levels in order of loss and keeps the first loss at which one reaches
k (fewest records suppressed, then most classes, wins a tie), so its answer has the least
loss. When the combinations to try exceed `budget` (combinations x classes), it falls back to a
greedy climb (the level that leaves fewest records in small classes, one step at a time)
and then lowers any level it can. With `max_suppress` > 0, records in classes still smaller
than k may be dropped, up to that share of the rows. Rules are described by their parameters
("bands of 10", "first 3 characters kept"), never by values from the data.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import ROUND_FLOOR, Decimal, InvalidOperation
from enum import StrEnum
from typing import Literal

import numpy as np
import numpy.typing as npt

from payguard.core.errors import ValidationFailed

__all__ = [
    "DEFAULT_BUDGET",
    "MISSING",
    "ColumnKind",
    "ColumnRule",
    "EquivalenceClasses",
    "RiskReport",
    "Step",
    "Suggestion",
    "assess_risk",
    "cell_of",
    "generalise",
    "hierarchy",
    "meets",
    "suggest",
]

#: How a missing value is shown.
MISSING = "(missing)"

#: A generalised-away value.
SUPPRESSED = "*"

#: The search's work limit: combinations of levels tried x equivalence classes.
DEFAULT_BUDGET = 20_000_000

#: One QI or sensitive value as the risk measures see it: text, or None when missing.
Cell = str | None
Key = tuple[Cell, ...]

_NUMBER = re.compile(r"[+-]?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?")
_INTEGER = re.compile(r"[+-]?(?:0|[1-9]\d*)")
_DATE = re.compile(
    r"\d{4}-(?:0[1-9]|1[0-2])(?:-(?:0[1-9]|[12]\d|3[01])"
    r"(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?)?"
)
_CODE = re.compile(r"[0-9A-Za-z][0-9A-Za-z \-]{2,}")
_POSTCODE_NAMES = ("zip", "postcode", "postal", "post_code")
_AGE_NAME = re.compile(r"(?:^|[^a-z])age(?:$|[^a-z])")


def cell_of(value: object) -> Cell:
    """A value as the risk measures compare it: None when missing, else its text (numbers in
    their shortest form, so 34, 34.0 and "34" from different file formats agree)."""
    if value is None:
        return None
    if isinstance(value, str):
        return value if value.strip() else None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return None
        if value.is_integer() and abs(value) < 2**53:
            return str(int(value))
        return repr(value)
    if isinstance(value, Decimal):
        if value.is_nan():
            return None
        if value == value.to_integral_value():
            return str(int(value))
        return format(value.normalize(), "f")
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, dict | list | tuple):
        return json.dumps(value, sort_keys=True, default=str, ensure_ascii=False)
    return str(value)


# -- equivalence classes and the report --------------------------------------------------------


class EquivalenceClasses:
    """The rows counted by their QI values, with up to `cap` distinct sensitive values each.

    The one structure that grows with the data: one entry per distinct QI combination.
    """

    def __init__(self, quasi_identifiers: Sequence[str], sensitive: str | None, cap: int) -> None:
        self.quasi_identifiers = tuple(quasi_identifiers)
        self.sensitive = sensitive
        self.cap = cap
        self.rows = 0
        self.counts: dict[Key, int] = {}
        self.values: dict[Key, set[Cell]] = {}
        self._unseen = set(self.quasi_identifiers) | ({sensitive} if sensitive else set())

    def add(self, row: Mapping[str, object]) -> None:
        """Count one row."""
        if self._unseen:
            self._unseen -= row.keys()
        key = tuple(cell_of(row.get(column)) for column in self.quasi_identifiers)
        self.rows += 1
        self.counts[key] = self.counts.get(key, 0) + 1
        if self.sensitive is not None:
            self._merge(key, (cell_of(row.get(self.sensitive)),))

    def _merge(self, key: Key, values: Iterable[Cell]) -> None:
        held = self.values.get(key)
        if held is None:
            held = self.values[key] = set()
        for value in values:
            if len(held) >= self.cap:
                break
            held.add(value)

    def check_columns(self) -> None:
        """Refuse a QI or sensitive column that no row had (nothing to check in no rows)."""
        if self.rows and self._unseen:
            column = sorted(self._unseen)[0]
            raise ValidationFailed(f"no row has a column named {column!r}", field=column)

    def report(self, k: int, l: int) -> RiskReport:  # noqa: E741 - l of l-diversity
        """The risk measures of these classes against a target k and l."""
        self.check_columns()
        sizes = self.counts.values()
        smallest = min(sizes, default=0)
        small = [size for size in sizes if size < k]
        missing = {
            column: sum(count for key, count in self.counts.items() if key[index] is None)
            for index, column in enumerate(self.quasi_identifiers)
        }
        least: int | None = None
        classes_below_l = records_below_l = 0
        if self.sensitive is not None:
            for key, count in self.counts.items():
                distinct = len(self.values[key])
                least = distinct if least is None else min(least, distinct)
                if distinct < l:
                    classes_below_l += 1
                    records_below_l += count
        return RiskReport(
            rows=self.rows,
            quasi_identifiers=self.quasi_identifiers,
            sensitive=self.sensitive,
            target_k=k,
            target_l=l,
            classes=len(self.counts),
            k=smallest,
            classes_below_k=len(small),
            records_below_k=sum(small),
            share_below_k=sum(small) / self.rows if self.rows else 0.0,
            l=least,
            l_at_least=least is not None and least >= self.cap,
            classes_below_l=classes_below_l,
            records_below_l=records_below_l,
            share_below_l=records_below_l / self.rows if self.rows else 0.0,
            missing=missing,
            equivalence=self,
        )


@dataclass(frozen=True, slots=True)
class RiskReport:
    """How identifiable a table is, for a target k (and l with a sensitive column).

    `k` is the smallest class's size (0 for no rows); `l` the least number of distinct
    sensitive values in a class (None without a sensitive column), a lower bound when
    `l_at_least`. `missing` counts the rows missing each QI. Carries no value from the data
    except through `equivalence`, the class counts `suggest` works on.
    """

    rows: int
    quasi_identifiers: tuple[str, ...]
    sensitive: str | None
    target_k: int
    target_l: int
    classes: int
    k: int
    classes_below_k: int
    records_below_k: int
    share_below_k: float
    l: int | None  # noqa: E741 - l of l-diversity
    l_at_least: bool
    classes_below_l: int
    records_below_l: int
    share_below_l: float
    missing: Mapping[str, int] = field(hash=False)
    equivalence: EquivalenceClasses = field(repr=False, compare=False, hash=False)

    def summary(self) -> dict[str, object]:
        """The measures as a JSON-ready dict (no data values)."""
        return {
            "rows": self.rows,
            "quasi_identifiers": list(self.quasi_identifiers),
            "sensitive": self.sensitive,
            "target_k": self.target_k,
            "target_l": self.target_l,
            "classes": self.classes,
            "k": self.k,
            "classes_below_k": self.classes_below_k,
            "records_below_k": self.records_below_k,
            "share_below_k": self.share_below_k,
            "l": self.l,
            "l_at_least": self.l_at_least,
            "classes_below_l": self.classes_below_l,
            "records_below_l": self.records_below_l,
            "share_below_l": self.share_below_l,
            "missing": dict(self.missing),
            "meets_k": meets(self, self.target_k),
            "meets_l": None if self.sensitive is None else meets(self, 1, self.target_l),
        }


def _checked(
    quasi_identifiers: Sequence[str],
    sensitive: str | None,
    k: int,
    l: int,  # noqa: E741 - l of l-diversity
) -> tuple[str, ...]:
    columns = tuple(quasi_identifiers)
    if not columns:
        raise ValidationFailed("name at least one quasi-identifier", field="quasi_identifiers")
    for column in columns:
        if not column:
            raise ValidationFailed("a quasi-identifier name is empty", field="quasi_identifiers")
    if len(set(columns)) != len(columns):
        raise ValidationFailed("a quasi-identifier is named twice", field="quasi_identifiers")
    if sensitive is not None and sensitive in columns:
        raise ValidationFailed(
            f"the sensitive column {sensitive!r} is also a quasi-identifier", field="sensitive"
        )
    if k < 1:
        raise ValidationFailed("k must be at least 1", field="k")
    if l < 1:
        raise ValidationFailed("l must be at least 1", field="l")
    return columns


def assess_risk(
    rows: Iterable[Mapping[str, object]],
    quasi_identifiers: Sequence[str],
    sensitive: str | None = None,
    k: int = 5,
    l: int = 2,  # noqa: E741 - l of l-diversity
) -> RiskReport:
    """Measure k-anonymity and l-diversity of `rows` in one pass (memory: one entry per class).

    A QI or sensitive column that no row has is refused (ValidationFailed naming it); a row
    without a column that others have reads as missing there.
    """
    columns = _checked(quasi_identifiers, sensitive, k, l)
    classes = EquivalenceClasses(columns, sensitive, l + 1)
    for row in rows:
        classes.add(row)
    return classes.report(k, l)


def meets(report: RiskReport, k: int, l: int | None = None) -> bool:  # noqa: E741 - l-diversity
    """Whether the data set is k-anonymous for `k` (and l-diverse for `l`, when given and the
    report has a sensitive column). An empty data set meets any k. An `l` above what the
    report could measure (its target l + 1) is not met: deny when unsure."""
    if report.rows == 0:
        return True
    if report.k < k:
        return False
    if l is None or report.sensitive is None or report.l is None:
        return True
    if report.l_at_least and l > report.l:
        return False
    return report.l >= l


# -- hierarchies -------------------------------------------------------------------------------


class ColumnKind(StrEnum):
    """How a QI column generalises."""

    NUMBER = "number"  # bands of widening width
    DATE = "date"  # ISO dates: day, month, year
    CODE = "code"  # postcodes and other codes: fewer leading characters kept
    CATEGORY = "category"  # kept or suppressed


@dataclass(frozen=True, slots=True)
class Step:
    """One level of a column's hierarchy: what it does to a value."""

    op: Literal["keep", "band", "truncate", "date", "suppress"]
    width: Decimal = Decimal(0)  # band
    keep: int = 0  # truncate: leading characters kept
    part: Literal["", "day", "month", "year"] = ""  # date

    def apply(self, cell: Cell) -> Cell:
        """The value at this level; missing stays missing until the column is suppressed, and
        a value the step cannot read (not a number, not an ISO date) becomes `*`."""
        if self.op == "suppress":
            return SUPPRESSED
        if cell is None or self.op == "keep":
            return cell
        if self.op == "truncate":
            if len(cell) <= self.keep:
                return cell
            return cell[: self.keep] + SUPPRESSED * (len(cell) - self.keep)
        if self.op == "date":
            if not _DATE.fullmatch(cell) or (self.part == "day" and len(cell) < 10):
                return SUPPRESSED
            return cell[: {"year": 4, "month": 7, "day": 10}[self.part]]
        if not _NUMBER.fullmatch(cell):
            return SUPPRESSED
        try:
            low = (Decimal(cell) / self.width).to_integral_value(ROUND_FLOOR) * self.width
        except InvalidOperation:  # pragma: no cover - the pattern admits only finite numbers
            return SUPPRESSED
        return f"[{low:f}, {low + self.width:f})"

    def describe(self) -> str:
        """The rule in words, from its parameters only."""
        if self.op == "keep":
            return "kept as is"
        if self.op == "suppress":
            return "suppressed (*)"
        if self.op == "truncate":
            return f"first {self.keep} character{'s' * (self.keep != 1)} kept, the rest *"
        if self.op == "date":
            return f"to the {self.part}"
        return f"bands of {self.width:f}"


_KEEP = Step("keep")
_SUPPRESS = Step("suppress")


def _kind_of(column: str, values: Sequence[str]) -> ColumnKind:
    name = column.lower()
    if any(hint in name for hint in _POSTCODE_NAMES):
        return ColumnKind.CODE
    if not values:
        return ColumnKind.CATEGORY
    if all(_DATE.fullmatch(value) for value in values):
        return ColumnKind.DATE
    if all(_NUMBER.fullmatch(value) for value in values):
        return ColumnKind.NUMBER
    if all(_CODE.fullmatch(value) and any(c.isdigit() for c in value) for value in values):
        return ColumnKind.CODE
    return ColumnKind.CATEGORY


def _number_steps(column: str, values: Sequence[str]) -> list[Step]:
    numbers = [Decimal(value) for value in values if _NUMBER.fullmatch(value)]
    if not numbers:
        return []
    whole = all(_INTEGER.fullmatch(value) for value in values)
    if whole and _AGE_NAME.search(column.lower()) and min(numbers) >= 0 and max(numbers) <= 150:
        return [Step("band", width=Decimal(width)) for width in (5, 10, 20, 50)]
    magnitude = max(abs(number) for number in numbers)
    top = magnitude.adjusted() + 1 if magnitude else 1  # 10**top > magnitude
    lowest = max(top - 4, 1) if whole else top - 4
    return [
        Step("band", width=Decimal(10) ** exponent)
        for exponent in range(lowest, max(top, lowest) + 1)
    ]


def hierarchy(
    column: str, values: Iterable[Cell], kind: ColumnKind | None = None
) -> tuple[ColumnKind, tuple[Step, ...]]:
    """A column's generalisation levels, from the values it holds (kind inferred unless
    given): level 0 keeps the value, the last suppresses it."""
    present = sorted({value for value in values if value is not None})
    chosen = _kind_of(column, present) if kind is None else kind
    steps: list[Step] = []
    if chosen is ColumnKind.NUMBER:
        steps = _number_steps(column, present)
    elif chosen is ColumnKind.DATE:
        if any(len(value) > 10 for value in present):
            steps.append(Step("date", part="day"))
        if any(len(value) > 7 for value in present):
            steps.append(Step("date", part="month"))
        steps.append(Step("date", part="year"))
    elif chosen is ColumnKind.CODE:
        longest = max((len(value) for value in present), default=0)
        steps = [Step("truncate", keep=keep) for keep in range(longest - 1, 0, -1)][:8]
    return chosen, (_KEEP, *steps, _SUPPRESS)


@dataclass(frozen=True, slots=True)
class ColumnRule:
    """The generalisation chosen for one QI column: level `level` of `levels` (the top one
    suppresses it)."""

    column: str
    kind: ColumnKind
    level: int
    levels: int
    step: Step

    def describe(self) -> str:
        return f"{self.column}: {self.step.describe()}"


@dataclass(frozen=True, slots=True)
class Suggestion:
    """The least generalisation found that reaches `target_k`, and the data's risk after it.

    `suppressed_classes` holds the generalised QI values of the classes to drop (never
    shown); `generalise` drops their rows. `least_loss` is False when the search fell back to
    the greedy climb, so a smaller loss may exist.
    """

    rules: tuple[ColumnRule, ...]
    target_k: int
    information_loss: int
    suppressed_records: int
    share_suppressed: float
    least_loss: bool
    report: RiskReport
    suppressed_classes: frozenset[Key] = field(repr=False, compare=False, hash=False)

    def key(self, row: Mapping[str, object]) -> Key:
        """A row's generalised QI values."""
        return tuple(rule.step.apply(cell_of(row.get(rule.column))) for rule in self.rules)

    def summary(self) -> dict[str, object]:
        """The suggestion as a JSON-ready dict: rules and measures, no data values."""
        return {
            "target_k": self.target_k,
            "rules": [
                {
                    "column": rule.column,
                    "kind": rule.kind.value,
                    "level": rule.level,
                    "levels": rule.levels,
                    "rule": rule.step.describe(),
                }
                for rule in self.rules
            ],
            "information_loss": self.information_loss,
            "least_loss": self.least_loss,
            "suppressed_records": self.suppressed_records,
            "share_suppressed": self.share_suppressed,
            "after": self.report.summary(),
        }


def generalise(
    rows: Iterable[Mapping[str, object]], plan: Suggestion
) -> Iterator[dict[str, object]]:
    """The rows with their QI values generalised by `plan` (as text; missing stays None), and
    the rows of suppressed classes dropped; other columns pass through unchanged."""
    for row in rows:
        key = plan.key(row)
        if key in plan.suppressed_classes:
            continue
        out = dict(row)
        for rule, value in zip(plan.rules, key, strict=True):
            out[rule.column] = value
        yield out


# -- the search --------------------------------------------------------------------------------

Levels = tuple[int, ...]
_Array = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class _Outcome:
    levels: Levels
    below: int  # records in classes smaller than k
    classes: int

    def fits(self, allowed: int, rows: int) -> bool:
        return self.below <= allowed and self.below < rows


class _Lattice:
    """The classes' QI values as integer codes per column and level, to count the classes of
    any combination of levels with numpy instead of Python dicts."""

    def __init__(self, classes: EquivalenceClasses, ladders: Sequence[tuple[Step, ...]]) -> None:
        keys = list(classes.counts)
        self.sizes = np.fromiter(classes.counts.values(), dtype=np.int64, count=len(keys))
        self.codes: list[list[_Array]] = []
        self.cardinality: list[list[int]] = []
        for position, ladder in enumerate(ladders):
            distinct = sorted({key[position] for key in keys}, key=lambda c: (c is None, c or ""))
            index = {value: number for number, value in enumerate(distinct)}
            per_class = np.fromiter(
                (index[key[position]] for key in keys), dtype=np.int64, count=len(keys)
            )
            codes, counts = [], []
            for step in ladder:
                mapped = [step.apply(value) for value in distinct]
                numbering = {value: number for number, value in enumerate(dict.fromkeys(mapped))}
                table = np.array([numbering[value] for value in mapped], dtype=np.int64)
                codes.append(table[per_class])
                counts.append(len(numbering))
            self.codes.append(codes)
            self.cardinality.append(counts)

    def evaluate(self, levels: Levels, k: int) -> _Outcome:
        combined = np.zeros(len(self.sizes), dtype=np.int64)
        span = 1
        for position, level in enumerate(levels):
            width = self.cardinality[position][level]
            if width == 1:
                continue
            if span * width >= 2**62:
                _, combined = np.unique(combined, return_inverse=True)
                combined = combined.astype(np.int64).reshape(-1)
                span = int(combined.max()) + 1
            combined = combined * width + self.codes[position][level]
            span *= width
        _, inverse = np.unique(combined, return_inverse=True)
        totals = np.bincount(inverse.reshape(-1), weights=self.sizes).astype(np.int64)
        below = int(totals[totals < k].sum())
        return _Outcome(levels, below, len(totals))


def _by_loss(tops: Sequence[int], loss: int) -> Iterator[Levels]:
    """Every combination of levels (each at most its top) whose sum is `loss`."""
    if not tops:
        if loss == 0:
            yield ()
        return
    rest = sum(tops[1:])
    for first in range(max(0, loss - rest), min(tops[0], loss) + 1):
        for tail in _by_loss(tops[1:], loss - first):
            yield (first, *tail)


def _better(a: _Outcome, b: _Outcome | None) -> bool:
    return b is None or (a.below, -a.classes) < (b.below, -b.classes)


def _search(
    lattice: _Lattice, tops: Sequence[int], k: int, allowed: int, rows: int, budget: int
) -> tuple[_Outcome, bool]:
    tries = max(1, budget // max(1, len(lattice.sizes)))
    tried = 0
    for loss in range(sum(tops) + 1):
        best: _Outcome | None = None
        for levels in _by_loss(tops, loss):
            if tried >= tries:
                return _greedy(lattice, tops, k, allowed, rows), False
            tried += 1
            outcome = lattice.evaluate(levels, k)
            if outcome.fits(allowed, rows) and _better(outcome, best):
                best = outcome
        if best is not None:
            return best, True
    raise AssertionError("suppressing every column always reaches k")  # pragma: no cover


def _greedy(lattice: _Lattice, tops: Sequence[int], k: int, allowed: int, rows: int) -> _Outcome:
    current = lattice.evaluate(tuple(0 for _ in tops), k)
    while not current.fits(allowed, rows):
        best: _Outcome | None = None
        for position, top in enumerate(tops):
            if current.levels[position] < top:
                levels = list(current.levels)
                levels[position] += 1
                outcome = lattice.evaluate(tuple(levels), k)
                if _better(outcome, best):
                    best = outcome
        assert best is not None  # below the top, some level can still rise
        current = best
    lowered = True
    while lowered:  # then give back any level not needed
        lowered = False
        for position in range(len(tops)):
            if current.levels[position]:
                levels = list(current.levels)
                levels[position] -= 1
                outcome = lattice.evaluate(tuple(levels), k)
                if outcome.fits(allowed, rows):
                    current, lowered = outcome, True
    return current


def suggest(
    report: RiskReport,
    k: int | None = None,
    *,
    max_suppress: float = 0.0,
    kinds: Mapping[str, ColumnKind] | None = None,
    budget: int = DEFAULT_BUDGET,
) -> Suggestion | None:
    """The least generalisation of the QIs (sum of levels) that makes the data k-anonymous
    (`k` defaults to the report's target), dropping at most `max_suppress` of the rows in
    classes still too small; None when no generalisation can (fewer rows than k).

    `kinds` overrides the inferred kind of a column (number, date, code, category).
    """
    target = report.target_k if k is None else k
    if target < 1:
        raise ValidationFailed("k must be at least 1", field="k")
    if not 0.0 <= max_suppress <= 1.0:
        raise ValidationFailed("max_suppress must be between 0 and 1", field="max_suppress")
    classes = report.equivalence
    classes.check_columns()
    for column in kinds or {}:
        if column not in classes.quasi_identifiers:
            raise ValidationFailed(f"{column!r} is not a quasi-identifier", field="kinds")
    if classes.rows < target:
        return None
    ladders: list[tuple[Step, ...]] = []
    column_kinds: list[ColumnKind] = []
    for position, column in enumerate(classes.quasi_identifiers):
        kind, ladder = hierarchy(
            column, (key[position] for key in classes.counts), (kinds or {}).get(column)
        )
        column_kinds.append(kind)
        ladders.append(ladder)
    tops = [len(ladder) - 1 for ladder in ladders]
    allowed = math.floor(max_suppress * classes.rows)
    outcome, least = _search(
        _Lattice(classes, ladders), tops, target, allowed, classes.rows, budget
    )
    rules = tuple(
        ColumnRule(column, kind, level, top, ladder[level])
        for column, kind, level, top, ladder in zip(
            classes.quasi_identifiers, column_kinds, outcome.levels, tops, ladders, strict=True
        )
    )
    after, dropped = _generalised(classes, rules, target)
    return Suggestion(
        rules=rules,
        target_k=target,
        information_loss=sum(outcome.levels),
        suppressed_records=classes.rows - after.rows,
        share_suppressed=(classes.rows - after.rows) / classes.rows,
        least_loss=least,
        report=after.report(target, report.target_l),
        suppressed_classes=dropped,
    )


def _generalised(
    classes: EquivalenceClasses, rules: Sequence[ColumnRule], k: int
) -> tuple[EquivalenceClasses, frozenset[Key]]:
    """The classes after `rules`, less those still smaller than k (and those dropped)."""
    out = EquivalenceClasses(classes.quasi_identifiers, classes.sensitive, classes.cap)
    memo: list[dict[Cell, Cell]] = [{} for _ in rules]
    for key, count in classes.counts.items():
        coarse = tuple(
            memo[position][value]
            if value in memo[position]
            else memo[position].setdefault(value, rule.step.apply(value))
            for position, (rule, value) in enumerate(zip(rules, key, strict=True))
        )
        out.rows += count
        out.counts[coarse] = out.counts.get(coarse, 0) + count
        if classes.sensitive is not None:
            out._merge(coarse, classes.values[key])
    dropped = frozenset(key for key, count in out.counts.items() if count < k)
    for key in dropped:
        out.rows -= out.counts.pop(key)
        out.values.pop(key, None)
    out._unseen = set()
    return out, dropped
