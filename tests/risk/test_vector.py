from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from payguard.risk.engine import dense, sparse
from payguard.risk.features.extractor import FEATURES
from payguard.risk.models.vector import Vectorizer, catalog_columns


def test_layout_covers_the_catalog() -> None:
    columns = catalog_columns()
    assert len(columns) == len(set(columns))
    assert "event_type=payment" in columns and "channel=qr" in columns
    assert "device_lists_count" in columns
    assert "currency" not in columns and "country" not in columns
    numeric = [n for n, v in FEATURES.items() if isinstance(v, bool | int | float)]
    assert set(numeric) <= set(columns)


def test_row_reads_numbers_flags_one_hots_and_list_lengths() -> None:
    vectorizer = Vectorizer()
    features = dict(FEATURES)
    features.update(
        event_type="payment",
        channel="qr",
        amount=12.5,
        new_device=True,
        device_lists=["blocked_devices", "watch"],
        country="SG",
    )
    row = vectorizer.row(features)
    assert row.shape == (1, len(vectorizer))
    values = dict(zip(vectorizer.columns, row[0].tolist(), strict=True))
    assert values["event_type=payment"] == 1.0 and values["event_type=login"] == 0.0
    assert values["channel=qr"] == 1.0
    assert values["amount"] == 12.5
    assert values["new_device"] == 1.0
    assert values["device_lists_count"] == 2.0
    assert values["secs_since_deposit"] == -1.0  # neutral values are kept, not zeroed


def test_old_models_keep_working_when_the_catalog_changes() -> None:
    """A stored model's columns may name features the catalog dropped (read as 0) and lack
    ones added since (ignored)."""
    vectorizer = Vectorizer(["amount", "a_feature_since_removed", "colour=red"])
    row = vectorizer.row({**FEATURES, "amount": 3.0, "colour": "red"})
    assert row.tolist() == [[3.0, 0.0, 0.0]]


@given(
    st.fixed_dictionaries(
        {},
        optional={
            "amount": st.floats(0, 1e6, allow_nan=False),
            "account_events_1h": st.integers(0, 10_000),
            "new_payee": st.booleans(),
            "event_type": st.sampled_from(["payment", "login", "deposit"]),
            "payee_lists": st.lists(st.text(min_size=1, max_size=5), max_size=3),
        },
    )
)
def test_a_stored_sparse_vector_gives_the_same_row_as_the_dense_one(values) -> None:
    """Training from the store reads sparse stored features: they must encode exactly as
    the dense features the engine scored."""
    vectorizer = Vectorizer()
    full = {**FEATURES, **values}
    assert np.array_equal(vectorizer.row(full), vectorizer.row(dense(sparse(full))))
    many = vectorizer.matrix([full, full], count=2)
    assert np.array_equal(many[1], vectorizer.row(full)[0])


def test_missing_features_read_as_their_neutral_value() -> None:
    vectorizer = Vectorizer()
    assert np.array_equal(vectorizer.row({}), vectorizer.row(dict(FEATURES)))
    assert np.array_equal(vectorizer.row({"amount": 5.0}), vectorizer.row(dense({"amount": 5.0})))
