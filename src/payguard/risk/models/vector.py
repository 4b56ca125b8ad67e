"""Feature vectors: the engine's feature dict as the row of numbers a model reads.

Training (`payguard.ml`) and online scoring build rows with the same `Vectorizer`, from the
same feature dicts the engine computes, so a model sees identical inputs in both places.

Layout, from the feature catalog (`FEATURES`) in catalog order:
- numbers are taken as they are and flags as 0/1;
- `event_type` and `channel` are one-hot columns (`event_type=payment`, ...);
- list memberships (`device_lists`, ...) become a count (`device_lists_count`);
- `currency` and `country` are left out: they are partner-specific and better learnt as
  "new country", "foreign currency" and the like, which the catalog already has.

Partner features (`feature.NAME`, `feature.NAME=VALUE`: the event's own attributes) are
read by `partner.PartnerReader`.

A model stores the columns it was trained on; a column the catalog no longer has reads as 0,
and features added after training are ignored, so old models keep working.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from operator import itemgetter
from typing import Any

import numpy as np
import numpy.typing as npt

from payguard.core.events import Channel, EventType
from payguard.risk.features.extractor import FEATURES
from payguard.risk.models.partner import PartnerReader, is_partner

#: Text features expanded into one-hot columns, with their possible values.
ONE_HOT: Mapping[str, tuple[str, ...]] = {
    "event_type": tuple(t.value for t in EventType),
    "channel": tuple(c.value for c in Channel),
}
#: Text features left out of the vector.
EXCLUDED = frozenset({"currency", "country"})
LIST_SUFFIX = "_count"


def catalog_columns() -> tuple[str, ...]:
    """The vector layout for the current feature catalog."""
    columns: list[str] = []
    for name, neutral in FEATURES.items():
        if name in ONE_HOT:
            columns.extend(f"{name}={value}" for value in ONE_HOT[name])
        elif name in EXCLUDED:
            continue
        elif isinstance(neutral, list):
            columns.append(name + LIST_SUFFIX)
        elif isinstance(neutral, bool | int | float):
            columns.append(name)
        else:  # pragma: no cover - a new text feature must be given a place above
            raise TypeError(f"feature {name!r} has no vector encoding")
    return tuple(columns)


#: How to read one column: (0, name) a number or flag, (1, name) a list's length,
#: (2, name, value) a one-hot match, (3,) a column the catalog no longer has (always 0),
#: (4, column) a partner feature (filled by `PartnerReader`).
_Reader = tuple[Any, ...]


def _reader(column: str) -> _Reader:
    if is_partner(column):  # a partner's own attribute (`partner.py`)
        return (4, column)
    if "=" in column:
        name, value = column.split("=", 1)
        if name in ONE_HOT:
            return (2, name, value)
        return (3,)
    if column.endswith(LIST_SUFFIX) and isinstance(FEATURES.get(column[: -len(LIST_SUFFIX)]), list):
        return (1, column[: -len(LIST_SUFFIX)])
    neutral = FEATURES.get(column)
    if isinstance(neutral, bool | int | float) and column not in EXCLUDED:
        return (0, column)
    return (3,)


class Vectorizer:
    """Builds float32 rows in a fixed column order from feature dicts."""

    def __init__(self, columns: Sequence[str] | None = None) -> None:
        self.columns: tuple[str, ...] = tuple(columns) if columns is not None else catalog_columns()
        self._readers = tuple(_reader(c) for c in self.columns)
        # Numbers and flags are most of the row: read in one comprehension, stored with one
        # fancy-index assignment (cell-by-cell numpy writes cost more than the reading).
        numeric = [(i, r[1]) for i, r in enumerate(self._readers) if r[0] == 0]
        self._numeric_at = np.array([i for i, _ in numeric], dtype=np.intp)
        self._numeric = tuple((name, FEATURES[name]) for _, name in numeric)
        self._read_numeric = itemgetter(*(name for _, name in numeric)) if numeric else None
        self._other = tuple((i, r) for i, r in enumerate(self._readers) if r[0] in (1, 2))
        partner = PartnerReader(self.columns)
        # None when the layout has no partner column: `fill` then skips it outright.
        self._partner = partner if partner else None

    def __len__(self) -> int:
        return len(self.columns)

    def fill(self, features: Mapping[str, Any], out: npt.NDArray[np.float32]) -> None:
        """Write the row for `features` into `out` (1-D, one cell per column).

        A feature missing from `features` reads as its neutral value (the catalog's), so
        sparse stored vectors can be filled directly.
        """
        out[:] = 0.0
        get = features.get
        if self._read_numeric is not None:
            try:  # the engine's feature dicts are dense: one C-level read of every number
                values = self._read_numeric(features)
            except KeyError:  # a sparse (stored) vector: missing features are neutral
                values = [get(name, neutral) for name, neutral in self._numeric]
            out[self._numeric_at] = values
        for i, reader in self._other:
            if reader[0] == 1:
                value = get(reader[1])
                if value:
                    out[i] = len(value)
            elif get(reader[1]) == reader[2]:
                out[i] = 1.0
        if self._partner is not None:
            self._partner.fill(features, out)

    def row(self, features: Mapping[str, Any]) -> npt.NDArray[np.float32]:
        """One row as a (1, columns) array, the shape a single-row model call takes."""
        out = np.zeros((1, len(self.columns)), dtype=np.float32)
        self.fill(features, out[0])
        return out

    def matrix(
        self, rows: Iterable[Mapping[str, Any]], count: int | None = None
    ) -> npt.NDArray[np.float32]:
        """Rows for many feature dicts; `count`, when known, avoids a copy."""
        if count is not None:
            out = np.zeros((count, len(self.columns)), dtype=np.float32)
            n = 0
            for n, features in enumerate(rows, start=1):
                self.fill(features, out[n - 1])
            return out[:n]
        built = [self.row(features)[0] for features in rows]
        if not built:
            return np.zeros((0, len(self.columns)), dtype=np.float32)
        return np.stack(built)
