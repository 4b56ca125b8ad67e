"""What a partner tells us happened: the events an assessment judges."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from payguard.core.money import Money


class EventType(StrEnum):
    LOGIN = "login"
    PAYMENT = "payment"
    PAYEE_ADD = "payee_add"
    CREDENTIAL_CHANGE = "credential_change"
    ACCOUNT_OPEN = "account_open"
    WITHDRAWAL = "withdrawal"


#: Event types that move money and therefore must carry an amount.
MONEY_EVENTS = frozenset({EventType.PAYMENT, EventType.WITHDRAWAL})


class Channel(StrEnum):
    APP = "app"
    WEB = "web"
    QR = "qr"
    NFC = "nfc"


@dataclass(frozen=True, slots=True)
class Payee:
    id: str
    name: str | None = None
    account: str | None = None


@dataclass(frozen=True, slots=True)
class Merchant:
    id: str
    mcc: str | None = None
    name: str | None = None


@dataclass(frozen=True, slots=True)
class Device:
    id: str
    fingerprint: str | None = None


@dataclass(frozen=True, slots=True)
class Geo:
    lat: float | None = None
    lon: float | None = None
    country: str | None = None


@dataclass(frozen=True, slots=True)
class Event:
    """One login, payment, payee change, credential change, account opening or withdrawal."""

    event_id: str
    event_type: EventType
    occurred_at: datetime
    account_id: str
    amount: Money | None = None
    payee: Payee | None = None
    merchant: Merchant | None = None
    device: Device | None = None
    ip: str | None = None
    geo: Geo | None = None
    channel: Channel | None = None
    attributes: dict[str, Any] = field(default_factory=dict)
