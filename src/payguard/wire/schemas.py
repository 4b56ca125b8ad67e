"""API schemas (the wire shape partners code against) and their converters to domain types.

Storage rows, domain objects and these schemas are three separate types; nothing here is
returned from or handed to a store directly.
"""

from __future__ import annotations

import base64
import builtins
import math
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import orjson
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainValidator,
    StrictInt,
    StringConstraints,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from payguard.core.decisions import Decision, Outcome
from payguard.core.errors import ValidationFailed
from payguard.core.events import (
    AMOUNT_EVENTS,
    Card,
    Channel,
    Device,
    Event,
    EventType,
    Geo,
    Merchant,
    Payee,
)
from payguard.core.ids import IDENTIFIER_MAX, IDENTIFIER_PATTERN
from payguard.core.ip import canonical_address
from payguard.core.money import AMOUNT_PATTERN, CURRENCIES, Money, minor_units, parse_amount
from payguard.core.pan import mask_pan, replace_pans
from payguard.risk.interfaces import ListKind
from payguard.vault.interfaces import CardToken


def representable_utc(value: datetime) -> datetime:
    """An aware datetime in UTC; one whose UTC time falls outside years 1-9999 (e.g.
    9999-12-31T23:59-14:00) is refused instead of failing in the store."""
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("must be a time between the years 1 and 9999 in UTC") from None


#: An aware datetime, kept in UTC.
UtcTime = Annotated[AwareDatetime, AfterValidator(representable_utc)]

#: RFC 3339 date-time (section 5.6): date, "T", time, optional fraction, "Z" or an offset.
_RFC3339 = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,9})?"
    r"(?:[Zz]|[+-][0-9]{2}:[0-9]{2})"
)
RFC3339_EXAMPLE = "2026-03-02T09:30:00Z"


def rfc3339_text(value: Any) -> Any:
    """Let only RFC 3339 text with an offset (or an aware datetime from Python) through to
    the datetime parser, which on its own also reads epoch numbers ("1700000000", 1.7e9) and
    date-only strings."""
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str) or _RFC3339.fullmatch(value) is None:
        raise ValueError(
            f"must be an RFC 3339 date-time with an offset, e.g. {RFC3339_EXAMPLE!r} "
            "(not a number, a date alone or a time without offset)"
        )
    return value


#: A time as the API accepts it: RFC 3339 text with an offset only.
Rfc3339Time = Annotated[
    AwareDatetime,
    BeforeValidator(rfc3339_text),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]


def _amount_text(value: str) -> str:
    parse_amount(value)
    return value


def _storable(value: str) -> str:
    """Refuse text no store can hold: NUL (PostgreSQL) and lone surrogates (UTF-8)."""
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode text") from None
    return value


#: How a card number found in free text is written back, for the request at hand: the API
#: sets the caller's tenant's token beside the mask (`pans_in_text`, `card_in_text`);
#: without a tenant, the mask alone.
_PAN_IN_TEXT: ContextVar[Callable[[str], str]] = ContextVar("pan_in_text", default=mask_pan)


@contextmanager
def pans_in_text(replacement: Callable[[str], str]) -> Iterator[None]:
    """Within the block, card numbers in free text become `replacement(digits)`."""
    reset = _PAN_IN_TEXT.set(replacement)
    try:
        yield
    finally:
        _PAN_IN_TEXT.reset(reset)


def set_pans_in_text(replacement: Callable[[str], str]) -> None:
    """For the rest of the current task (one request), card numbers in free text become
    `replacement(digits)`: the API's authentication sets the tenant's tokenizer here, before
    the body is validated."""
    _PAN_IN_TEXT.set(replacement)


def card_in_text(card: CardToken) -> str:
    """How a tokenized card number reads in free text: `[card <first 6>******<last 4> token
    <token>]`, the mask for people and the deterministic token to join on. Neither part
    reads as a card number again (a token fails Luhn), so the form is stable."""
    return f"[card {card.masked} token {card.token}]"


def tokenized_in_text(tokenize: Callable[[str], CardToken]) -> Callable[[str], str]:
    """The replacement for `pans_in_text` / `set_pans_in_text` that writes each card number
    found in free text as `card_in_text(tokenize(its ASCII digits))`. The detector also reads
    other scripts' digits (full-width, Arabic-Indic): they are tokenized by their values."""

    def replacement(digits: str) -> str:
        ascii_digits = digits if digits.isascii() else "".join(str(int(c)) for c in digits)
        return card_in_text(tokenize(ascii_digits))

    return replacement


def free_text(value: str) -> str:
    """Text a person typed, as it may be stored: storable (see `_storable`) and with every
    card number in it tokenized and masked (`card_in_text`), or masked where no tenant is
    known (`core.pan`). Every free-text field of the API goes through this, after its
    length check: `Annotated[str, StringConstraints(max_length=...),
    AfterValidator(free_text)]`, so none stores a card number in clear.
    """
    return replace_pans(_storable(value), _PAN_IN_TEXT.get())


Identifier = Annotated[
    str,
    StringConstraints(min_length=1, max_length=IDENTIFIER_MAX, pattern=IDENTIFIER_PATTERN),
]
Text = Annotated[str, StringConstraints(max_length=256), AfterValidator(free_text)]
#: Integers JSON readers everywhere agree on (±2^53).
SAFE_INT = 2**53
MAX_ATTRIBUTE_TEXT = 512


def json_scalar(
    value: Any, *, max_text: int, text: Callable[[str], str]
) -> str | bool | int | float | None:
    """A JSON scalar checked in one step, so that an error names the member itself
    (`attributes.x`), not a member of a union of types: null, a boolean, an integer within
    ±2^53, a finite number, or text of at most `max_text` characters passed through `text`."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        if abs(value) > SAFE_INT:
            raise ValueError("integers must be within ±2^53")
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError("numbers must be finite")
        return value
    if isinstance(value, str):
        if len(value) > max_text:
            raise ValueError(f"text must be at most {max_text} characters")
        return text(value)
    raise ValueError("must be a string, number, boolean or null")


def _attribute_value(value: Any) -> str | bool | int | float | None:
    """A scalar attribute value; its text is free text (card numbers tokenized)."""
    return json_scalar(value, max_text=MAX_ATTRIBUTE_TEXT, text=free_text)


AttributeValue = Annotated[
    Any,
    PlainValidator(_attribute_value),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "maxLength": MAX_ATTRIBUTE_TEXT},
                {"type": "boolean"},
                {"type": "integer", "minimum": -SAFE_INT, "maximum": SAFE_INT},
                {"type": "number"},
                {"type": "null"},
            ]
        }
    ),
]

#: How far ahead of the server's clock an event may claim to have happened.
MAX_CLOCK_SKEW = timedelta(minutes=5)
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
MAX_ATTRIBUTES = 32


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AmountIn(Strict):
    value: Annotated[
        str,
        AfterValidator(_amount_text),
        WithJsonSchema({"type": "string", "pattern": AMOUNT_PATTERN}),
    ] = Field(description='Decimal string of ASCII digits, e.g. "12.50"; never a JSON number')
    currency: Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")] = Field(
        description="ISO 4217 code"
    )

    @field_validator("currency")
    @classmethod
    def _known_currency(cls, value: str) -> str:
        if value not in CURRENCIES:
            raise ValueError("not an active ISO 4217 currency code")
        return value


class PayeeIn(Strict):
    id: Identifier
    name: Text | None = None
    account: Annotated[str, StringConstraints(max_length=64), AfterValidator(free_text)] | None = (
        None
    )


class MerchantIn(Strict):
    id: Identifier
    mcc: Annotated[str, StringConstraints(pattern=r"^\d{4}$")] | None = None
    name: Text | None = None


class DeviceIn(Strict):
    id: Identifier
    fingerprint: Text | None = None


class GeoIn(Strict):
    lat: Annotated[float, Field(ge=-90, le=90, allow_inf_nan=False)] | None = None
    lon: Annotated[float, Field(ge=-180, le=180, allow_inf_nan=False)] | None = None
    country: Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")] | None = None


#: `MM/YY` or `YYYY-MM`.
_EXPIRY = re.compile(r"(?P<m1>[0-9]{2})/(?P<y1>[0-9]{2})|(?P<y2>[0-9]{4})-(?P<m2>[0-9]{2})")
#: A card number as sent: digits with spaces or hyphens between them; checked (and its
#: Luhn digit) when tokenized, with an error that never repeats it.
MAX_PAN_TEXT = 32


_PAN_TEXT = re.compile(r"[0-9][0-9 -]*")


def _pan_text(value: str) -> str:
    """ASCII digits with spaces or hyphens between them (the length and Luhn check come when
    the number is tokenized); the message never repeats the value."""
    if _PAN_TEXT.fullmatch(value) is None:
        raise ValueError("must be the card number's digits, with spaces or hyphens between them")
    return value


def _expiry(value: str) -> str:
    """`MM/YY` or `YYYY-MM` as `YYYY-MM` (month 1-12; years 20YY for the short form)."""
    found = _EXPIRY.fullmatch(value)
    if found is None:
        raise ValueError("must be a card expiry as MM/YY or YYYY-MM")
    month = int(found["m1"] or found["m2"])
    year = int(found["y2"]) if found["y2"] else 2000 + int(found["y1"])
    if not 1 <= month <= 12:
        raise ValueError("the expiry month must be 01 to 12")
    return f"{year:04d}-{month:02d}"


#: The longest payment token (`vault.service`'s limit).
MAX_CARD_TOKEN = 128


class CardIn(Strict):
    """The card a payment is made with: its number (`pan`) or a payment token of it
    (`token`, from `POST /v1/tokens`), exactly one. The card number is tokenized at the edge
    (`vault.cards`): it is never stored, logged or returned; decisions keep its token and
    masked form."""

    pan: (
        Annotated[
            str,
            StringConstraints(min_length=1, max_length=MAX_PAN_TEXT),
            AfterValidator(_pan_text),
        ]
        | None
    ) = Field(
        default=None,
        repr=False,  # out of reprs, tracebacks and logs
        description="The card number: 13-19 digits passing the Luhn check, spaces and "
        "hyphens allowed; tokenized on receipt, never stored",
    )
    token: Annotated[str, StringConstraints(min_length=1, max_length=MAX_CARD_TOKEN)] | None = (
        Field(
            default=None,
            description="A payment token of kind pan (`POST /v1/tokens`) in place of `pan`; "
            "one bound to a domain, revoked or expired is reported to the engine "
            "(`token_domain_violation`)",
        )
    )
    expiry: Annotated[str, StringConstraints(max_length=7), AfterValidator(_expiry)] | None = Field(
        default=None, description="MM/YY or YYYY-MM"
    )
    bin_country: Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")] | None = Field(
        default=None, description="The issuer's country, ISO 3166 alpha-2"
    )

    @model_validator(mode="after")
    def _one_of(self) -> CardIn:
        if (self.pan is None) == (self.token is None):
            raise ValueError("a card is sent as exactly one of pan or token")
        return self


class AssessmentRequest(Strict):
    """One event to decide."""

    event_id: Identifier = Field(
        description=(
            "Your id for the event; a repeat of the same event returns the first decision, "
            "another event under the same id is refused (409 idempotency_mismatch)"
        )
    )
    event_type: EventType
    occurred_at: Rfc3339Time = Field(description="RFC 3339 with offset")
    account_id: Identifier
    amount: AmountIn | None = None
    payee: PayeeIn | None = None
    merchant: MerchantIn | None = None
    device: DeviceIn | None = None
    ip: Annotated[str, StringConstraints(max_length=45)] | None = None
    geo: GeoIn | None = None
    channel: Channel | None = None
    attributes: dict[
        Annotated[str, StringConstraints(min_length=1, max_length=64), AfterValidator(free_text)],
        AttributeValue,
    ] = Field(default_factory=dict, description=f"At most {MAX_ATTRIBUTES} scalar values")
    card: CardIn | None = Field(
        default=None,
        description="The card paid with; its number is tokenized and never stored in clear",
    )

    @field_validator("ip")
    @classmethod
    def _ip(cls, value: str | None) -> str | None:
        """One canonical spelling per address, so velocity and lists see one entity."""
        if value is None:
            return None
        return canonical_address(value)

    @field_validator("attributes")
    @classmethod
    def _attributes(cls, value: dict[str, Any]) -> dict[str, Any]:
        if len(value) > MAX_ATTRIBUTES:
            raise ValueError(f"at most {MAX_ATTRIBUTES} attributes")
        return value

    def to_event(
        self,
        *,
        now: datetime,
        zero_amounts: bool = False,
        cards: Callable[[str], CardToken] | None = None,
        tokens: Callable[[str], CardToken] | None = None,
    ) -> Event:
        """The domain event; cross-field rules are checked here and name the field at fault.

        `zero_amounts`: accept a zero amount on a money event. Live traffic may not send one,
        but a history being imported records what happened (card verifications of 0.00).
        `cards`: the tenant's card tokenizer (`vault.interfaces.CardTokenizing`, bound to the
        tenant); a request with a card is refused (on `card`) where there is none.
        `tokens`: the tenant's payment-token resolver (`CardTokenizing.resolve`), likewise
        for a card sent as a token."""
        if self.occurred_at > now + MAX_CLOCK_SKEW:
            raise ValidationFailed("occurred_at is in the future", field="occurred_at")
        if self.occurred_at < EARLIEST:
            raise ValidationFailed("occurred_at is before 2000-01-01", field="occurred_at")
        money = None
        if self.amount is not None:
            try:
                value = parse_amount(self.amount.value)
            except ValueError as exc:
                raise ValidationFailed(str(exc), field="amount.value") from None
            if not value and not zero_amounts and self.event_type in AMOUNT_EVENTS:
                raise ValidationFailed(
                    f"a {self.event_type.value} must move more than zero", field="amount.value"
                )
            digits = minor_units(self.amount.currency)
            exponent = value.as_tuple().exponent
            assert isinstance(exponent, int)
            if -exponent > digits:
                raise ValidationFailed(
                    f"{self.amount.currency} allows {digits} decimal places", field="amount.value"
                )
            money = Money(value, self.amount.currency)
        elif self.event_type in AMOUNT_EVENTS:
            raise ValidationFailed(f"a {self.event_type.value} needs an amount", field="amount")
        geo = self.geo
        if geo is not None and (geo.lat is None) != (geo.lon is None):
            raise ValidationFailed("lat and lon come together", field="geo.lat")
        payee = self.payee
        merchant = self.merchant
        device = self.device
        card = None
        if self.card is not None:
            tokenize = cards if self.card.pan is not None else tokens
            if tokenize is None:
                raise ValidationFailed(
                    "card data is taken by POST /v1/assessments and `payguard assess` only, "
                    "where the card number is tokenized on receipt",
                    field="card",
                )
            given = self.card.pan if self.card.pan is not None else self.card.token
            assert given is not None  # exactly one of the two (`CardIn`)
            token = tokenize(given)
            card = Card(
                token=token.token,
                masked=token.masked,
                bin=token.bin,
                bin_country=self.card.bin_country,
                expiry=self.card.expiry,
                domain_violation=token.revoked
                or (token.expires_at is not None and token.expires_at <= now)
                or not _in_domain(token.scope, merchant, device, self.channel),
            )
        return Event(
            event_id=self.event_id,
            event_type=self.event_type,
            occurred_at=self.occurred_at,
            account_id=self.account_id,
            amount=money,
            # Free text (names, the payee account, the fingerprint, attribute keys and text
            # values) was rewritten by `free_text` when the request was validated: no card
            # number reaches the event in clear.
            payee=None if payee is None else Payee(payee.id, payee.name, payee.account),
            merchant=None
            if merchant is None
            else Merchant(merchant.id, merchant.mcc, merchant.name),
            device=None if device is None else Device(device.id, device.fingerprint),
            ip=self.ip,
            geo=None if geo is None else Geo(lat=geo.lat, lon=geo.lon, country=geo.country),
            channel=self.channel,
            attributes=dict(self.attributes),
            card=card,
        )


def _in_domain(
    scope: str, merchant: MerchantIn | None, device: DeviceIn | None, channel: Channel | None
) -> bool:
    """Whether an event with this merchant, device and channel is inside a token's domain
    (`merchant:<id>`, `device:<id>`, `channel:<id>`; "" is everywhere, anything else
    nowhere)."""
    if not scope:
        return True
    kind, _, value = scope.partition(":")
    if kind == "merchant":
        return merchant is not None and merchant.id == value
    if kind == "device":
        return device is not None and device.id == value
    if kind == "channel":
        return channel is not None and channel.value == value
    return False


class ReasonOut(BaseModel):
    code: str
    message: str


class StepUpOut(BaseModel):
    level: str = Field(description="AAL1, AAL2 or AAL3")
    methods: list[str]


class RuleHitOut(BaseModel):
    rule_id: str
    action: str
    score: int
    reason: str


class ModelOut(BaseModel):
    version: str
    score: float


class CardPublic(BaseModel):
    """The card of an assessed event as payguard shows it: never its number."""

    token: str = Field(description="The card's deterministic token (same card, same token)")
    masked: str = Field(description="First six and last four digits")


class AssessmentPublic(BaseModel):
    assessment_id: str
    event_id: str
    decision: str = Field(description="allow | challenge | review | block")
    score: int = Field(ge=0, le=1000)
    reasons: list[ReasonOut]
    warnings: list[str]
    step_up: StepUpOut | None
    rule_hits: list[RuleHitOut]
    model: ModelOut | None
    shadow: ModelOut | None = Field(
        description="The shadow model's score: recorded to compare models, never acted on"
    )
    rule_set_version: int
    occurred_at: datetime
    decided_at: datetime
    outcome: str | None
    final: str | None = Field(
        description="For a challenge: allow once its step-up passed, block once it failed"
    )
    final_at: datetime | None
    replayed: bool = Field(description="True when this event_id was decided before")
    card: CardPublic | None = Field(
        default=None, description="The event's card, when it had one: its token and masked form"
    )


def assessment_public(decision: Decision, *, replayed: bool) -> dict[str, Any]:
    """The response document for a decision (built by hand: this is the hot path)."""
    step_up = decision.step_up
    model = decision.model
    shadow = decision.shadow
    card = decision.event.get("card")
    return {
        "assessment_id": decision.assessment_id,
        "event_id": decision.event_id,
        "decision": decision.decision.value,
        "score": decision.score,
        "reasons": [{"code": r.code, "message": r.message} for r in decision.reasons],
        "warnings": list(decision.warnings),
        "step_up": None
        if step_up is None
        else {"level": step_up.level.name, "methods": list(step_up.methods)},
        "rule_hits": [
            {
                "rule_id": h.rule_id,
                "action": h.action.value,
                "score": h.score,
                "reason": h.reason_code,
            }
            for h in decision.rule_hits
        ],
        "model": None if model is None else {"version": model.version, "score": model.score},
        "shadow": None if shadow is None else {"version": shadow.version, "score": shadow.score},
        "rule_set_version": decision.rule_set_version,
        "occurred_at": decision.occurred_at.isoformat(),
        "decided_at": decision.decided_at.isoformat(),
        "outcome": None if decision.outcome is None else decision.outcome.value,
        "final": None if decision.final is None else decision.final.value,
        "final_at": None if decision.final_at is None else decision.final_at.isoformat(),
        "replayed": replayed,
        "card": None if card is None else {"token": card["token"], "masked": card["masked"]},
    }


class OutcomeIn(Strict):
    outcome: Outcome
    note: Annotated[str, StringConstraints(max_length=500), AfterValidator(free_text)] | None = None


class RuleSetIn(Strict):
    source: Annotated[str, StringConstraints(min_length=1, max_length=256 * 1024)] = Field(
        description="The rule set as YAML"
    )


class RuleSetPublic(BaseModel):
    version: int
    source: str
    rules: list[str]
    thresholds: dict[str, int]


class BacktestIn(Strict):
    source: Annotated[str, StringConstraints(min_length=1, max_length=256 * 1024)]
    since: AwareDatetime | None = None
    until: AwareDatetime | None = None
    limit: Annotated[int, Field(ge=1, le=100_000)] = 10_000


class BacktestPublic(BaseModel):
    events: int
    changed: int
    current: dict[str, int]
    candidate: dict[str, int]
    transitions: list[dict[str, Any]]
    rule_hits: dict[str, int]
    labelled: dict[str, int]
    examples: list[dict[str, str]]


ListValue = Annotated[
    str, StringConstraints(min_length=1, max_length=256), AfterValidator(_storable)
]


class ListItemsIn(Strict):
    kind: ListKind
    items: Annotated[list[ListValue], Field(min_length=1, max_length=1000)]
    expires_at: UtcTime | None = None
    note: Annotated[str, StringConstraints(max_length=500), AfterValidator(free_text)] | None = None


class ListItemsRemove(Strict):
    items: Annotated[list[ListValue], Field(min_length=1, max_length=1000)]


class ListChangePublic(BaseModel):
    list: str
    changed: int


class ListItemPublic(BaseModel):
    value: str
    kind: str
    added_at: datetime
    expires_at: datetime | None
    note: str | None


class ListPagePublic(BaseModel):
    list: str
    kind: str | None
    items: builtins.list[ListItemPublic]
    next_after: str | None


class AuditRecordPublic(BaseModel):
    id: str
    at: datetime
    actor: str
    action: str
    target: str
    outcome: str
    source_ip: str | None
    details: dict[str, Any]


#: Model versions as the API accepts them (a tenant's versions count up from 1).
MAX_MODEL_VERSION = 2**31 - 1
ModelVersion = Annotated[StrictInt, Field(ge=1, le=MAX_MODEL_VERSION)]


class ModelPublic(BaseModel):
    """A registered model version, without its blobs."""

    version: int
    status: str = Field(description="candidate | champion | shadow | retired")
    created_at: datetime
    created_by: str
    trained_at: datetime
    data_hash: str = Field(description="sha256 of the training data")
    columns: int = Field(description="How many feature columns the model reads")
    metrics: dict[str, Any]


class ModelDetailPublic(ModelPublic):
    column_names: builtins.list[str]
    params: dict[str, Any]


class ModelListPublic(BaseModel):
    champion: int | None
    shadow: int | None
    models: builtins.list[ModelPublic]


class ShadowIn(Strict):
    version: ModelVersion | None = Field(
        description="The version to run in shadow mode; null stops shadowing"
    )


class ServingPublic(BaseModel):
    champion: int | None
    shadow: int | None


class DriftDayPublic(BaseModel):
    day: str
    events: int
    score_psi: float | None
    features: dict[str, float | None]


class DriftPublic(BaseModel):
    version: int = Field(description="The champion whose scores and inputs were compared")
    days: int
    since: datetime
    by_day: builtins.list[DriftDayPublic]


class AssessmentPagePublic(BaseModel):
    """One page of `GET /v1/assessments`, newest first."""

    items: builtins.list[AssessmentPublic]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null on the last page"
    )


def assessment_cursor(decision: Decision) -> str:
    """An opaque page cursor: the keyset position (occurred_at, assessment_id) of the last
    decision on a page, as unpadded base64url JSON."""
    position = [decision.occurred_at.astimezone(UTC).isoformat(), decision.assessment_id]
    return base64.urlsafe_b64encode(orjson.dumps(position)).rstrip(b"=").decode()


#: Longest cursor `assessment_cursor` writes, with room to spare.
MAX_CURSOR = 256


def assessment_position(cursor: str) -> tuple[datetime, str]:
    """The keyset position in a cursor from `assessment_cursor`; `ValidationFailed` naming
    `cursor` for anything else (a cursor is opaque: a changed one is refused, not guessed)."""
    refused = ValidationFailed("not a cursor this API returned", field="cursor")
    if len(cursor) > MAX_CURSOR or _BASE64URL.fullmatch(cursor) is None:
        raise refused
    try:
        position = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        at, assessment_id = position
        if not isinstance(at, str) or not isinstance(assessment_id, str):
            raise refused
        when = datetime.fromisoformat(at)
    except (ValueError, TypeError, orjson.JSONDecodeError):
        raise refused from None
    if when.tzinfo is None or _CURSOR_ID.fullmatch(assessment_id) is None:
        raise refused
    return when, assessment_id


_CURSOR_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_BASE64URL = re.compile(r"[A-Za-z0-9_-]+")
