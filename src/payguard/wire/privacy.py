"""Wire shapes of `/v1/privacy`: text or a JSON document in; findings (never the matched
text) or the redacted text or document, with counts, out."""

from __future__ import annotations

import math
import unicodedata
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, model_validator

from payguard.shield.interfaces import Action
from payguard.wire.schemas import Strict

#: The largest text, in bytes of UTF-8 (the app's body limit applies first).
MAX_TEXT_BYTES = 1024 * 1024
#: How deeply a document's objects and arrays may nest.
MAX_DOCUMENT_DEPTH = 32
#: The kinds of entity (`shield.interfaces.Entity`; a test checks the two agree).
EntityName = Literal[
    "card",
    "iban",
    "bank_account",
    "cn_resident_id",
    "phone",
    "email",
    "ip_address",
    "passport",
    "person",
    "address",
    "date_of_birth",
    "secret",
    "payguard_token",
    "custom",
]
_ALLOWED_CONTROLS = frozenset("\t\n\r")


def _text(value: str) -> str:
    if len(value) > MAX_TEXT_BYTES or len(value.encode("utf-8", "surrogatepass")) > MAX_TEXT_BYTES:
        raise ValueError(f"text is at most {MAX_TEXT_BYTES} bytes of UTF-8")
    _check_string(value, "text")
    return value


def _check_string(value: str, what: str) -> None:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(f"{what} must be valid Unicode text (no lone surrogates)") from None
    if not value.isprintable():
        for char in value:
            if char not in _ALLOWED_CONTROLS and unicodedata.category(char) == "Cc":
                raise ValueError(
                    f"{what} must not contain control characters other than tab and newlines"
                )


def _document(value: dict[str, Any]) -> dict[str, Any]:
    """A document nested at most `MAX_DOCUMENT_DEPTH` levels, its keys and strings valid
    Unicode without control characters (checked without recursion)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth > MAX_DOCUMENT_DEPTH:
                raise ValueError(f"is nested more than {MAX_DOCUMENT_DEPTH} levels deep")
            if isinstance(item, dict):
                for key, member in item.items():
                    _check_string(key, "a key")
                    stack.append((member, depth + 1))
            else:
                stack.extend((member, depth + 1) for member in item)
        elif isinstance(item, str):
            _check_string(item, "a string")
        elif isinstance(item, float) and not math.isfinite(item):
            raise ValueError("numbers must be finite")
    return value


PrivacyText = Annotated[str, AfterValidator(_text)]
Document = Annotated[dict[str, Any], AfterValidator(_document)]
Threshold = Annotated[float, Field(ge=0.0, le=1.0)]


class EntityActionsIn(Strict):
    """The action for each entity; one left out keeps its default (`card`, `iban`,
    `bank_account`, `cn_resident_id`: tokenize; `phone`, `email`, `ip_address`: mask;
    `date_of_birth`: generalize; `payguard_token`: keep; the rest: redact)."""

    card: Action | None = None
    iban: Action | None = None
    bank_account: Action | None = None
    cn_resident_id: Action | None = None
    phone: Action | None = None
    email: Action | None = None
    ip_address: Action | None = None
    passport: Action | None = None
    person: Action | None = None
    address: Action | None = None
    date_of_birth: Action | None = None
    secret: Action | None = None
    payguard_token: Action | None = None
    custom: Action | None = None


class EntityThresholdsIn(Strict):
    """The score (0-1) a finding of each entity needs to count; 0.5 when left out."""

    card: Threshold | None = None
    iban: Threshold | None = None
    bank_account: Threshold | None = None
    cn_resident_id: Threshold | None = None
    phone: Threshold | None = None
    email: Threshold | None = None
    ip_address: Threshold | None = None
    passport: Threshold | None = None
    person: Threshold | None = None
    address: Threshold | None = None
    date_of_birth: Threshold | None = None
    secret: Threshold | None = None
    payguard_token: Threshold | None = None
    custom: Threshold | None = None


class RedactionPolicyIn(Strict):
    """What to do with each entity, and the scores they need (`shield.redact`)."""

    entities: EntityActionsIn | None = None
    thresholds: EntityThresholdsIn | None = None

    def document(self) -> dict[str, Any]:
        """The policy as `RedactionPolicy.from_dict` reads it (parts left out omitted)."""
        return self.model_dump(mode="json", exclude_none=True)


class _TextOrDocument(Strict):
    text: PrivacyText | None = Field(
        default=None, description="Text to read (UTF-8, at most 1 MiB): give this or document"
    )
    document: Document | None = Field(
        default=None,
        description="A JSON object to read: every string and integer in it, at any depth up to "
        f"{MAX_DOCUMENT_DEPTH}; keys are context, not scanned",
    )

    @model_validator(mode="after")
    def _one_of(self) -> _TextOrDocument:
        if (self.text is None) == (self.document is None):
            raise ValueError("give exactly one of 'text' and 'document'")
        return self


class ScanIn(_TextOrDocument):
    entities: list[EntityName] | None = Field(
        default=None, min_length=1, max_length=14, description="Only these entities"
    )
    thresholds: EntityThresholdsIn | None = None


class RedactIn(_TextOrDocument):
    policy: RedactionPolicyIn | None = Field(
        default=None, description="What to do with each entity; the defaults if absent"
    )


class FindingPublic(Strict):
    """One finding: `[start, end)` in code points of the text (or of the string at `path`),
    never the text itself."""

    entity: EntityName
    start: int
    end: int
    score: float
    recognizer: str
    path: str | None = Field(default=None, description="The JSONPath of the string, documents")
    key: bool | None = Field(
        default=None,
        description="True when the finding is in the member's key (the last part of `path`, "
        "offsets into the key); keys holding a finding are shown as `[<entity>]` in paths",
    )


class ScanOut(Strict):
    findings: list[FindingPublic]


class RedactOut(Strict):
    text: str | None = Field(description="The redacted text, when text was given")
    document: dict[str, Any] | None = Field(description="The redacted document, when given")
    findings: int = Field(description="How many findings were read")
    counts: dict[str, dict[str, int]] = Field(
        description="Per entity, how many values got each action (as applied)"
    )
    vault_refused: dict[str, int] = Field(
        description="Per entity, values the vault would not tokenize: redacted instead"
    )
