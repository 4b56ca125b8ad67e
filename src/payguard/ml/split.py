"""Time-based train/test split with a label-delay gap, so nothing leaks from the future.

The model is trained as if at `train_until`: a training event counts as fraud only if its
label was known by then (`label_at <= train_until`), and events of the last
`label_delay_days` before `train_until` are left out altogether (their labels are mostly
not in yet, so they would be taught as legitimate). The test period starts at or after
`train_until`, and is scored against the ground truth, whether or when it was reported.
Periods are half-open: `[from, until)`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt

from payguard.core.errors import ValidationFailed
from payguard.ml.replay import FeatureTable

DEFAULT_TEST_SHARE = 0.2
DEFAULT_LABEL_DELAY_DAYS = 7.0


@dataclass(frozen=True, slots=True)
class TimeSplit:
    train_from: datetime
    train_until: datetime
    test_from: datetime
    test_until: datetime
    label_delay_days: float

    @property
    def train_events_until(self) -> datetime:
        """Training events occurred before this: `train_until` less the label delay."""
        return self.train_until - timedelta(days=self.label_delay_days)

    def to_dict(self) -> dict[str, Any]:
        return {
            "train_from": self.train_from.isoformat(),
            "train_until": self.train_until.isoformat(),
            "train_events_until": self.train_events_until.isoformat(),
            "test_from": self.test_from.isoformat(),
            "test_until": self.test_until.isoformat(),
            "label_delay_days": self.label_delay_days,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TimeSplit:
        return cls(
            train_from=datetime.fromisoformat(data["train_from"]),
            train_until=datetime.fromisoformat(data["train_until"]),
            test_from=datetime.fromisoformat(data["test_from"]),
            test_until=datetime.fromisoformat(data["test_until"]),
            label_delay_days=float(data["label_delay_days"]),
        )


def choose_split(
    first: datetime,
    last: datetime,
    *,
    train_from: datetime | None = None,
    train_until: datetime | None = None,
    test_from: datetime | None = None,
    test_until: datetime | None = None,
    label_delay_days: float = DEFAULT_LABEL_DELAY_DAYS,
) -> TimeSplit:
    """The split for data spanning `first`..`last`; unset bounds default to: training from
    the start, the last 20 % of the time range as the test period, training until it starts."""
    if label_delay_days < 0:
        raise ValidationFailed("must be 0 or more", field="--label-delay-days")
    end = last + timedelta(seconds=1)  # half-open: the last event is inside
    if test_from is None:
        test_from = (
            train_until
            if train_until is not None
            else first + (last - first) * (1 - DEFAULT_TEST_SHARE)
        )
    split = TimeSplit(
        train_from=_aware(train_from or first),
        train_until=_aware(train_until or test_from),
        test_from=_aware(test_from),
        test_until=_aware(test_until or end),
        label_delay_days=float(label_delay_days),
    )
    if split.test_from < split.train_until:
        raise ValidationFailed(
            "the test period must start at or after train-until (else labels leak)",
            field="--test-from",
        )
    if split.test_until <= split.test_from:
        raise ValidationFailed("the test period is empty", field="--test-until")
    if split.train_events_until <= split.train_from:
        span = (split.train_until - split.train_from).total_seconds() / 86_400
        raise ValidationFailed(
            "no training period is left before train-until less the label delay: "
            + (
                f"training spans {span:.1f} days here and the label delay is "
                f"{label_delay_days:g} days; give --label-delay-days {int(span * 5) / 10:g} "
                "(half the training span, or less) or more days of data"
                if span > 0
                else "train-until is not after train-from"
            ),
            field="--train-until",
        )
    return split


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def training_rows(
    table: FeatureTable, split: TimeSplit
) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.bool_]]:
    """Indices of the training events and their labels as known at `train_until`."""
    at = table.occurred_at
    chosen = (at >= split.train_from.timestamp()) & (at < split.train_events_until.timestamp())
    rows = np.flatnonzero(chosen)
    known = table.fraud[rows] & (table.label_at[rows] <= split.train_until.timestamp())
    return rows, known


def held_out_rows(table: FeatureTable, split: TimeSplit) -> npt.NDArray[np.intp]:
    """Indices of the test period's events (scored against the ground truth)."""
    at = table.occurred_at
    return np.flatnonzero((at >= split.test_from.timestamp()) & (at < split.test_until.timestamp()))


def table_span(table: FeatureTable) -> tuple[datetime, datetime]:
    """First and last event time of a (time-ordered, non-empty) table."""
    if len(table) == 0:
        raise ValidationFailed("the data holds no events", field="--data")
    return (
        datetime.fromtimestamp(float(table.occurred_at.min()), tz=UTC),
        datetime.fromtimestamp(float(table.occurred_at.max()), tz=UTC),
    )
