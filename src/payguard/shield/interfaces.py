"""The shield's value types and ports.

A *recognizer* finds one or more kinds of entity in text and says how sure it is of each
finding (`Finding.score`, 0-1). The *scanner* runs the registered recognizers over a text,
drops findings under each entity's threshold, and resolves overlaps. Offsets are always
into the text as given (normalisation of full-width digits and separators maps one
character to one character, so it never moves an offset).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from payguard.core.errors import ValidationFailed

__all__ = [
    "STRUCTURED",
    "Action",
    "DataSetUnreadable",
    "DocumentFinding",
    "Entity",
    "Finding",
    "Recognizer",
    "Redacted",
    "TextRedactor",
    "entity_of",
    "marked",
]


class Entity(StrEnum):
    """The kinds of personal data (and look-alikes) the shield recognises."""

    CARD = "card"  # payment card number (Luhn)
    IBAN = "iban"  # IBAN (mod-97 check digits)
    BANK_ACCOUNT = "bank_account"  # domestic account number, near context words
    CN_RESIDENT_ID = "cn_resident_id"  # Chinese resident identity number (check digit)
    PHONE = "phone"  # Chinese and international phone numbers
    EMAIL = "email"
    IP_ADDRESS = "ip_address"  # IPv4 and IPv6
    PASSPORT = "passport"  # passport-like numbers, near context words
    PERSON = "person"  # names, where context words make them likely
    ADDRESS = "address"  # postal addresses, where context words make them likely
    DATE_OF_BIRTH = "date_of_birth"  # dates near birth context words
    SECRET = "secret"  # noqa: S105 - API keys and secrets: known prefixes, high entropy
    PAYGUARD_TOKEN = "payguard_token"  # noqa: S105 - payguard tokens, recognised as such
    CUSTOM = "custom"  # a partner's own identifier (YAML recognizer; `Finding.recognizer` names it)


#: The structured identifiers the benchmark's headline figure is measured on.
STRUCTURED = frozenset(
    {Entity.CARD, Entity.IBAN, Entity.CN_RESIDENT_ID, Entity.PHONE, Entity.EMAIL}
)


@dataclass(frozen=True, slots=True)
class Finding:
    """One entity found in a text: `text[start:end]`, its kind, how sure (0-1), and which
    recognizer found it. Never carries the matched text itself (callers slice it when they
    must), so a finding can be logged."""

    start: int
    end: int
    entity: Entity
    score: float
    recognizer: str


def entity_of(value: object, field: str) -> Entity:
    """The entity named `value`; ValidationFailed on `field` listing the entities when it
    names none (at most 32 characters of it quoted)."""
    try:
        return Entity(value) if isinstance(value, str) else Entity("")
    except ValueError:
        known = ", ".join(e.value for e in Entity)
        raise ValidationFailed(
            f"unknown entity {str(value)[:32]!r}: one of {known}", field=field
        ) from None


def marked(text: str, findings: Iterable[Finding]) -> str:
    """`text` with each finding (sorted by start, not overlapping, as the scanner gives them)
    written as `[<entity>]`: how logs, paths and report columns show personal data."""
    parts: list[str] = []
    last = 0
    for finding in findings:
        parts.append(text[last : finding.start])
        parts.append(f"[{finding.entity.value}]")
        last = finding.end
    if not parts:
        return text
    parts.append(text[last:])
    return "".join(parts)


class Recognizer(Protocol):
    """Finds entities in text. One small class each; a partner adds its own from YAML."""

    @property
    def name(self) -> str: ...

    @property
    def entities(self) -> frozenset[Entity]: ...

    def find(self, text: str) -> Iterable[Finding]: ...


class DataSetUnreadable(ValidationFailed):
    """A data file (CSV, JSON Lines, Parquet) that cannot be read as a table: the message names
    the file's line or row and the column at fault, never a value from the data."""

    def __init__(self, message: str, *, field: str = "file", line: int | None = None) -> None:
        super().__init__(message, field=field)
        self.line = line


@dataclass(frozen=True, slots=True)
class DocumentFinding:
    """A finding in one string (or integer) of a JSON document: where it is (`path`, a
    JSONPath such as `$.customer.phone` or `$.items[0]['e-mail']`) and the finding, whose
    offsets are into that string. With `in_key`, the finding is in the member's key (the
    last segment of `path`), offsets into the key. `location` is the path as its raw
    segments (keys and indexes), for code that walks the document again."""

    path: str
    finding: Finding
    in_key: bool = False
    location: tuple[str | int, ...] = field(default=(), compare=False, repr=False)


class Action(StrEnum):
    """What a redaction policy does with an entity (or a column) it finds."""

    MASK = "mask"  # keep the shape, hide most characters (`411111******1111`, `j***@x.com`)
    HASH = "hash"  # keyed HMAC-SHA-256 under the tenant's key: the same value, the same hash
    TOKENIZE = "tokenize"  # the vault's deterministic token: consistent pseudonyms, reversible
    REDACT = "redact"  # replaced by `[<entity>]`
    GENERALIZE = "generalize"  # coarser: a birth date to its year, an amount to a band
    KEEP = "keep"  # left as it is


@dataclass(frozen=True, slots=True)
class Redacted:
    """A text after redaction, and what was found in the text before it (offsets into the
    original text, so they must not be applied to `text`)."""

    text: str
    findings: tuple[Finding, ...]


class TextRedactor(Protocol):
    """Applies a redaction policy to text and JSON values (`shield.redact.Redactor`)."""

    def redact_text(self, text: str) -> Redacted: ...

    def redact_value(self, value: object, action: Action, entity: Entity | None = None) -> object:
        """One value (a whole column's cell or a JSON member) under `action`, whatever it
        holds; `entity` says what it is when known (for `tokenize`, `generalize`, `mask`)."""
        ...


__all__ += ["RecognizerRepository", "StoredRecognizerSet"]


@dataclass(frozen=True, slots=True)
class StoredRecognizerSet:
    """One version of a tenant's own recognizers as stored: the YAML source as the partner
    gave it (validated before it was stored), when and by whom."""

    tenant_id: str
    version: int
    document: str
    created_at: datetime
    created_by: str


class RecognizerRepository(Protocol):
    """Storage of tenants' recognizer versions 1, 2, 3... Versions are never changed or
    deleted; the highest is the one in force. Every call names its tenant."""

    def add(
        self, tenant_id: str, document: str, created_at: datetime, created_by: str
    ) -> StoredRecognizerSet:
        """Store `document` as the tenant's next version (the highest + 1, taken again if a
        concurrent writer took it first)."""
        ...

    def current(self, tenant_id: str) -> StoredRecognizerSet | None:
        """The highest version; None if the tenant never stored recognizers."""
        ...

    def current_version(self, tenant_id: str) -> int:
        """The highest version's number (0: none stored), without reading the document."""
        ...

    def get(self, tenant_id: str, version: int) -> StoredRecognizerSet | None: ...
