"""`event_digest`: what counts as "the same event" for an idempotent repeat."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from payguard.core.events import (
    Device,
    Event,
    EventType,
    Payee,
    event_digest,
    event_from_document,
    event_to_document,
)
from payguard.core.money import Money

T0 = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)

events = st.builds(
    Event,
    event_id=st.from_regex(r"[a-z0-9]{1,12}", fullmatch=True),
    event_type=st.sampled_from(EventType),
    occurred_at=st.datetimes(
        min_value=datetime(2000, 1, 2), max_value=datetime(2099, 1, 1), timezones=st.just(UTC)
    ),
    account_id=st.from_regex(r"[a-z0-9]{1,12}", fullmatch=True),
    amount=st.none()
    | st.builds(
        Money,
        st.decimals(min_value=0, max_value=10**9, places=2),
        st.sampled_from(["SGD", "USD", "EUR"]),
    ),
    payee=st.none() | st.builds(Payee, st.from_regex(r"[a-z0-9]{1,8}", fullmatch=True)),
    device=st.none() | st.builds(Device, st.from_regex(r"[a-z0-9]{1,8}", fullmatch=True)),
    attributes=st.dictionaries(st.sampled_from(["a", "b"]), st.integers(-5, 5) | st.booleans()),
)


@given(events, st.integers(-14 * 60, 14 * 60))
def test_the_same_instant_at_any_offset_is_the_same_event(event: Event, minutes: int) -> None:
    document = event_to_document(event)
    shifted = dict(document)
    shifted["occurred_at"] = event.occurred_at.astimezone(
        timezone(timedelta(minutes=minutes))
    ).isoformat()
    assert event_digest(shifted) == event_digest(document)


@given(events)
def test_an_amount_written_with_fewer_decimals_is_the_same_event(event: Event) -> None:
    document = event_to_document(event)
    if event.amount is None:
        return
    short = dict(document)
    short["amount"] = {
        "value": str(event.amount.value.normalize() if event.amount.value else Decimal(0)),
        "currency": event.amount.currency,
    }
    assert event_digest(short) == event_digest(document)


@given(events)
def test_the_digest_survives_storage_and_key_order(event: Event) -> None:
    document = event_to_document(event)
    stored = event_to_document(event_from_document(document))
    assert event_digest(stored) == event_digest(document)
    assert event_digest(dict(reversed(document.items()))) == event_digest(document)


@given(events, st.data())
def test_any_change_of_content_is_another_event(event: Event, data: st.DataObject) -> None:
    document = event_to_document(event)
    changes: list[tuple[str, Any]] = [
        ("account_id", event.account_id + "x"),
        ("event_id", event.event_id + "x"),
        ("occurred_at", (event.occurred_at + timedelta(microseconds=1)).isoformat()),
        ("payee", {"id": "someone-else"}),
        ("attributes", {**event.attributes, "c": 1}),
        ("amount", {"value": "0.01", "currency": "KES"}),
    ]
    key, value = data.draw(st.sampled_from(changes))
    changed = {**document, key: value}
    assert event_digest(changed) != event_digest(document)
