"""What `MemoryEntityStateStore` does beyond the shared contract."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from payguard.adapters.kv.memory import MemoryEntityStateStore
from payguard.risk.interfaces import EntityState, EntityStateStore


def test_it_is_an_entity_state_store() -> None:
    store: EntityStateStore = MemoryEntityStateStore()
    assert store.load("t", []) == {}


def test_data_that_is_not_json_is_refused_with_nothing_written() -> None:
    store = MemoryEntityStateStore()

    with pytest.raises(TypeError):
        store.apply(
            "t",
            "m1",
            [
                EntityState("account:a1", 0, {"n": 1}),
                EntityState("account:a2", 0, {"at": object()}),
            ],
        )

    assert store.load("t", ["account:a1"])["account:a1"].version == 0
    assert store.apply("t", "m1", []) is True  # the marker was not used either


def test_data_comes_back_as_json_would_bring_it_back() -> None:
    store = MemoryEntityStateStore()
    store.apply(
        "t", "m1", [EntityState("k", 0, {"pair": (1, 2), "at": datetime(2026, 3, 2, tzinfo=UTC)})]
    )

    assert store.load("t", ["k"])["k"].data == {"pair": [1, 2], "at": "2026-03-02T00:00:00+00:00"}


def test_only_the_most_recent_markers_are_remembered() -> None:
    store = MemoryEntityStateStore(max_markers=2)
    for marker in ("m1", "m2", "m3"):
        store.apply("t", marker, [])

    assert store.apply("t", "m3", []) is False
    assert store.apply("t", "m1", []) is True  # forgotten: the oldest of three


def test_a_key_written_twice_in_one_write_is_refused() -> None:
    store = MemoryEntityStateStore()

    with pytest.raises(ValueError, match="at most once"):
        store.apply("t", "m1", [EntityState("k", 0, {"n": 1}), EntityState("k", 0, {"n": 2})])

    assert store.load("t", ["k"])["k"].version == 0
