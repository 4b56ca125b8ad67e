"""Partner features: a partner's own signals as model inputs, with no code.

A model's columns may name event attributes besides the catalog's features:

- `feature.NAME`: a number, the event's attribute `NAME` (a number, a boolean as 1/0, or
  numeric text). Missing, empty or not a number reads as NaN, LightGBM's missing value.
- `feature.NAME=VALUE`: a category, one-hot: 1 when the attribute's text (`category_text`)
  equals `VALUE`, else 0.

`NAME` is lower-case letters, digits and `_` (`NAME_PATTERN`). Training puts a partner
file's columns into each event's `attributes` under these names (`payguard.ml.dataset`), and
the engine scores the assessment's own `attributes`; both reach the `Vectorizer` through
`with_attributes`, so a value is read by the same code in both places.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

#: Column prefix of a partner feature.
PREFIX = "feature."
#: A partner feature's name: the attribute it is read from.
NAME_PATTERN = re.compile(r"[a-z0-9_]{1,48}")
#: Feature-dict key under which `with_attributes` passes the event's attributes; not a
#: catalog name, so rules never see it.
ATTRIBUTES = "~attributes"
#: Most one-hot values kept per categorical feature (the most frequent in the training data).
MAX_CATEGORIES = 32
#: Longest category value kept (an attribute's text is at most 512 characters).
MAX_CATEGORY_TEXT = 64


def is_partner(column: str) -> bool:
    """Whether a vector column is a partner feature."""
    return column.startswith(PREFIX)


def split_column(column: str) -> tuple[str, str | None]:
    """`feature.v1` → ("v1", None); `feature.mcc=5411` → ("mcc", "5411")."""
    name, sep, value = column[len(PREFIX) :].partition("=")
    return name, (value if sep else None)


def number(value: Any) -> float:
    """A numeric attribute as a float; NaN when it is missing or not a number."""
    if value is None:
        return math.nan
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, int | float):
        result = float(value)
    else:
        try:
            result = float(str(value).strip())
        except ValueError:
            return math.nan
    return result if math.isfinite(result) else math.nan


def category_text(value: Any) -> str | None:
    """A categorical attribute as the text its one-hot columns compare: text stripped,
    booleans `true`/`false`, whole numbers without `.0`; None when missing or empty."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    text = str(value).strip()
    return text or None


def with_attributes(
    features: Mapping[str, Any], attributes: Mapping[str, Any]
) -> Mapping[str, Any]:
    """The feature dict a model reads: `features` plus the event's attributes (under
    `ATTRIBUTES`), so partner columns can be filled. `features` itself when there are none."""
    if not attributes:
        return features
    return {**features, ATTRIBUTES: attributes}


class PartnerReader:
    """Fills the partner columns of a vector layout (the `Vectorizer` calls it)."""

    def __init__(self, columns: Sequence[str]) -> None:
        numeric: list[tuple[int, str]] = []
        categorical: list[tuple[int, str, str]] = []
        for i, column in enumerate(columns):
            if not is_partner(column):
                continue
            name, value = split_column(column)
            if value is None:
                numeric.append((i, name))
            else:
                categorical.append((i, name, value))
        self._numeric = tuple(numeric)
        self._categorical = tuple(categorical)

    def __bool__(self) -> bool:
        return bool(self._numeric or self._categorical)

    def fill(self, features: Mapping[str, Any], out: npt.NDArray[np.float32]) -> None:
        """Write the partner cells of `out` from `features[ATTRIBUTES]` (missing: NaN for
        numbers, 0 for categories)."""
        attributes = features.get(ATTRIBUTES) or {}
        for i, name in self._numeric:
            out[i] = number(attributes.get(name))
        for i, name, value in self._categorical:
            out[i] = 1.0 if category_text(attributes.get(name)) == value else 0.0
