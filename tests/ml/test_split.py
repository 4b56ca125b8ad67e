"""Time splits: nothing from after train-until reaches training."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from payguard.core.errors import ValidationFailed
from payguard.ml.replay import FeatureTable
from payguard.ml.split import choose_split, held_out_rows, table_span, training_rows

T0 = datetime(2026, 1, 1, tzinfo=UTC)
DAY = 86400.0


def table(occurred: list[float], fraud: list[bool], label_at: list[float]) -> FeatureTable:
    n = len(occurred)
    return FeatureTable(
        columns=("x",),
        matrix=np.zeros((n, 1), dtype=np.float32),
        fraud=np.array(fraud),
        label_at=np.array(label_at, dtype=np.float64),
        occurred_at=np.array(occurred, dtype=np.float64),
        account=np.array([f"a{i}" for i in range(n)]),
        event_id=np.array([f"e{i}" for i in range(n)]),
        event_type=np.array(["payment"] * n),
        typology=np.array(["" for _ in range(n)]),
    )


def test_default_split_is_the_last_fifth_with_a_label_delay_gap() -> None:
    first, last = T0, T0 + timedelta(days=50)
    split = choose_split(first, last)
    assert split.test_from == T0 + timedelta(days=40) == split.train_until
    assert split.train_events_until == T0 + timedelta(days=33)
    assert split.test_until > last


def test_no_label_from_after_train_until_is_used() -> None:
    t0 = T0.timestamp()
    nan = float("nan")
    occurred = [t0 + d * DAY for d in (1, 2, 3, 20, 34, 35, 41, 45)]
    fraud = [True, True, True, False, True, True, True, False]
    label_at = [
        t0 + 5 * DAY,  # known well before train-until: a fraud in training
        t0 + 39 * DAY,  # known just before train-until: a fraud in training
        t0 + 42 * DAY,  # known only after train-until: legitimate as far as training knows
        nan,
        t0 + 36 * DAY,  # inside the label-delay gap: not trained on at all
        nan,  # inside the gap
        t0 + 44 * DAY,  # test period
        nan,
    ]
    data = table(occurred, fraud, label_at)
    split = choose_split(*table_span(data), train_until=T0 + timedelta(days=40))
    rows, labels = training_rows(data, split)
    assert rows.tolist() == [0, 1, 2, 3]
    assert labels.tolist() == [True, True, False, False]
    assert (data.label_at[rows][labels] <= split.train_until.timestamp()).all()
    assert (data.occurred_at[rows] < split.train_events_until.timestamp()).all()
    test = held_out_rows(data, split)
    assert test.tolist() == [6, 7]
    assert data.occurred_at[test].min() >= split.train_until.timestamp()


@pytest.mark.parametrize(
    ("bounds", "field"),
    [
        (
            {"train_until": T0 + timedelta(days=30), "test_from": T0 + timedelta(days=20)},
            "--test-from",
        ),
        (
            {"test_from": T0 + timedelta(days=30), "test_until": T0 + timedelta(days=30)},
            "--test-until",
        ),
        ({"train_until": T0 + timedelta(days=3)}, "--train-until"),
        ({"label_delay_days": -1}, "--label-delay-days"),
    ],
)
def test_impossible_splits_are_refused(bounds: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        choose_split(T0, T0 + timedelta(days=50), **bounds)  # type: ignore[arg-type]
    assert caught.value.field == field


def test_split_round_trips_as_stored_in_the_model() -> None:
    from payguard.ml.split import TimeSplit

    split = choose_split(T0, T0 + timedelta(days=10), label_delay_days=2)
    assert TimeSplit.from_dict(split.to_dict()) == split
