from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from payguard.core.events import Channel, Device, Event, EventType, Geo, Merchant, Payee
from payguard.core.money import Money

EventFactory = Callable[..., Event]
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def make_event() -> EventFactory:
    counter = iter(range(1_000_000))

    def build(
        *,
        event_type: EventType = EventType.PAYMENT,
        at: datetime | None = None,
        seconds: float = 0,
        account: str = "acct-1",
        amount: str | None = "25.00",
        currency: str = "SGD",
        payee: str | None = "payee-1",
        merchant: str | None = None,
        device: str | None = "dev-1",
        ip: str | None = "198.51.100.7",
        lat: float | None = 1.3521,
        lon: float | None = 103.8198,
        country: str | None = "SG",
        **attributes: Any,
    ) -> Event:
        when = (at or T0) + timedelta(seconds=seconds)
        return Event(
            event_id=f"evt-{next(counter)}",
            event_type=event_type,
            occurred_at=when,
            account_id=account,
            amount=Money(Decimal(amount), currency) if amount is not None else None,
            payee=Payee(payee) if payee else None,
            merchant=Merchant(merchant) if merchant else None,
            device=Device(device) if device else None,
            ip=ip,
            geo=Geo(lat, lon, country),
            channel=Channel.APP,
            attributes=attributes,
        )

    return build
