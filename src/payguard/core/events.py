"""What a partner tells us happened: the events an assessment judges."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

import orjson

from payguard.core.money import Money, minor_units


class EventType(StrEnum):
    LOGIN = "login"
    PAYMENT = "payment"
    PAYEE_ADD = "payee_add"
    CREDENTIAL_CHANGE = "credential_change"
    ACCOUNT_OPEN = "account_open"
    WITHDRAWAL = "withdrawal"
    #: Money credited to the account: a salary, a top-up, an incoming transfer or a refund.
    #: Its `payee`, when given, is the counterparty who sent the money.
    DEPOSIT = "deposit"


#: Event types that move money out of the account (payments and withdrawals).
MONEY_EVENTS = frozenset({EventType.PAYMENT, EventType.WITHDRAWAL})
#: Event types that must carry an amount: money out, and money in (deposits).
AMOUNT_EVENTS = MONEY_EVENTS | {EventType.DEPOSIT}


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
class Card:
    """The card an event was paid with, as payguard keeps it: never the card number, only
    its deterministic token (the vault's, same card and key version: same token), the
    masked number (first six, last four), the BIN (first six), the issuing country (ISO
    3166 alpha-2) and the expiry (`YYYY-MM`) when sent. `domain_violation`: the card came
    as a payment token that may not be used here (revoked, expired, or bound to another
    merchant, device or channel)."""

    token: str
    masked: str
    bin: str
    bin_country: str | None = None
    expiry: str | None = None
    domain_violation: bool = False


@dataclass(frozen=True, slots=True)
class Event:
    """One login, payment, payee change, credential change, account opening, withdrawal or
    deposit."""

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
    card: Card | None = None


def event_to_document(event: Event) -> dict[str, Any]:
    """The event in wire format (amount as a decimal string), as stored with its decision."""
    doc: dict[str, Any] = {
        "event_id": event.event_id,
        "event_type": event.event_type.value,
        "occurred_at": event.occurred_at.isoformat(),
        "account_id": event.account_id,
    }
    if event.amount is not None:
        doc["amount"] = {"value": str(event.amount.value), "currency": event.amount.currency}
    if event.payee is not None:
        doc["payee"] = _compact(
            {"id": event.payee.id, "name": event.payee.name, "account": event.payee.account}
        )
    if event.merchant is not None:
        doc["merchant"] = _compact(
            {"id": event.merchant.id, "mcc": event.merchant.mcc, "name": event.merchant.name}
        )
    if event.device is not None:
        doc["device"] = _compact({"id": event.device.id, "fingerprint": event.device.fingerprint})
    if event.ip is not None:
        doc["ip"] = event.ip
    if event.geo is not None:
        doc["geo"] = _compact(
            {"lat": event.geo.lat, "lon": event.geo.lon, "country": event.geo.country}
        )
    if event.channel is not None:
        doc["channel"] = event.channel.value
    if event.attributes:
        doc["attributes"] = event.attributes
    card = event.card
    if card is not None:  # the token and masked form only: the card number never gets here
        doc["card"] = _compact(
            {
                "token": card.token,
                "masked": card.masked,
                "bin": card.bin,
                "bin_country": card.bin_country,
                "expiry": card.expiry,
                # Only when set: the documents (and digests) of other cards stay as they were.
                "domain_violation": card.domain_violation or None,
            }
        )
    return doc


def event_from_document(doc: dict[str, Any]) -> Event:
    """Inverse of `event_to_document` for documents payguard stored itself (trusted input)."""
    amount = doc.get("amount")
    payee = doc.get("payee")
    merchant = doc.get("merchant")
    device = doc.get("device")
    geo = doc.get("geo")
    channel = doc.get("channel")
    card = doc.get("card")
    return Event(
        event_id=doc["event_id"],
        event_type=EventType(doc["event_type"]),
        occurred_at=datetime.fromisoformat(doc["occurred_at"]),
        account_id=doc["account_id"],
        amount=None if amount is None else Money(Decimal(amount["value"]), amount["currency"]),
        payee=None if payee is None else Payee(**payee),
        merchant=None if merchant is None else Merchant(**merchant),
        device=None if device is None else Device(**device),
        ip=doc.get("ip"),
        geo=None if geo is None else Geo(**geo),
        channel=None if channel is None else Channel(channel),
        attributes=dict(doc.get("attributes") or {}),
        card=None if card is None else Card(**card),
    )


def event_digest(document: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of an event document in canonical form: what makes two requests with
    one event_id "the same event" for idempotency.

    Keys are sorted; `occurred_at` is compared as an instant (in UTC, whatever offset was
    sent) and an amount as a number in its currency's minor units ("12.5" = "12.50"). Every
    other field counts as sent (after validation, e.g. an IP in its normal form).
    """
    canonical = dict(document)
    occurred = document.get("occurred_at")
    if isinstance(occurred, str):
        canonical["occurred_at"] = datetime.fromisoformat(occurred).astimezone(UTC).isoformat()
    amount = document.get("amount")
    if isinstance(amount, Mapping) and "value" in amount and "currency" in amount:
        currency = amount["currency"]
        value = Decimal(amount["value"]).quantize(Decimal(1).scaleb(-minor_units(currency)))
        canonical["amount"] = {"value": str(value), "currency": currency}
    return hashlib.sha256(orjson.dumps(canonical, option=orjson.OPT_SORT_KEYS)).hexdigest()


def _compact(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}
