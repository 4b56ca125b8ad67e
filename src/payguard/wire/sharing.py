"""Wire shapes of `/v1/sharing`: recipients, data requests, consents, exports and the
data-subject report. The sharing service checks every value again (`sharing.service`): what
is said across fields (a card number field never raw, a consent's expiry in the future) is
its to say."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any

from pydantic import Field, PlainValidator, StrictInt, StringConstraints, WithJsonSchema

from payguard.core.ids import PURPOSE_MAX, PURPOSE_PATTERN
from payguard.sharing.interfaces import (
    Consent,
    DataRequest,
    Export,
    LegalBasis,
    Method,
    Recipient,
)
from payguard.wire.schemas import (
    SAFE_INT,
    Identifier,
    Rfc3339Time,
    Strict,
    _storable,
    json_scalar,
)

#: The most records one export carries (`sharing.service.MAX_RECORDS`).
MAX_RECORDS = 10_000
#: The most fields a request names, and quasi-identifiers a recipient has.
MAX_FIELDS = 64
#: The longest text value of a record's field (`sharing.service.MAX_VALUE_LENGTH`).
MAX_VALUE_LENGTH = 256
#: The most members one record may have (its subject id and its fields).
MAX_RECORD_MEMBERS = 128

FIELD_PATTERN = r"^[a-z][a-z0-9_]{0,63}$"
FieldName = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=FIELD_PATTERN)]
Purpose = Annotated[
    str, StringConstraints(min_length=1, max_length=PURPOSE_MAX, pattern=PURPOSE_PATTERN)
]
_FIELD = re.compile(FIELD_PATTERN)
_METHODS = ", ".join(method.value for method in Method)


def _name(value: Any) -> str:
    if not isinstance(value, str) or not 1 <= len(value) <= 128:
        raise ValueError("must be 1 to 128 characters")
    if not value.strip() or not value.isprintable():
        raise ValueError("must be printable text, not only spaces")
    return _storable(value)


Name = Annotated[
    Any,
    PlainValidator(_name),
    WithJsonSchema({"type": "string", "minLength": 1, "maxLength": 128}),
]


def _member(key: Any) -> str:
    """How an error names a record's member or a request's field: by name when it is a
    valid field name, else by nothing the caller sent."""
    return repr(key) if isinstance(key, str) and _FIELD.fullmatch(key) else "a member"


def _fields(value: Any) -> dict[str, Method]:
    """A request's fields: valid names to methods (checked here so that an error never
    quotes a name the caller sent that is not a field name)."""
    if not isinstance(value, dict):
        raise ValueError(f"must be an object of field names to {_METHODS}")
    if not 1 <= len(value) <= MAX_FIELDS:
        raise ValueError(f"must name 1 to {MAX_FIELDS} fields")
    fields: dict[str, Method] = {}
    for key, method in value.items():
        if not isinstance(key, str) or _FIELD.fullmatch(key) is None:
            raise ValueError(
                "each field name must be 1 to 64 lower-case letters, digits or _, starting "
                "with a letter"
            )
        try:
            fields[key] = Method(method)
        except ValueError:
            raise ValueError(f"field {key!r} must be one of {_METHODS}") from None
    return fields


Fields = Annotated[
    Any,
    PlainValidator(_fields),
    WithJsonSchema(
        {
            "type": "object",
            "minProperties": 1,
            "maxProperties": MAX_FIELDS,
            "propertyNames": {"pattern": FIELD_PATTERN, "maxLength": 64},
            "additionalProperties": {"type": "string", "enum": [m.value for m in Method]},
        }
    ),
]


def _value(value: Any) -> str | bool | int | float | None:
    """One value of a record: text, a number, a boolean or null. Text is kept as sent (the
    export minimises it by the request's fields), only checked to be storable."""
    return json_scalar(value, max_text=MAX_VALUE_LENGTH, text=_storable)


def _record(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValueError("must be an object with a subject_id and the fields")
    if len(value) > MAX_RECORD_MEMBERS:
        raise ValueError(f"must have at most {MAX_RECORD_MEMBERS} members")
    record: dict[str, Any] = {}
    for key, member in value.items():
        if not isinstance(key, str) or len(key) > 64:
            raise ValueError("member names must be at most 64 characters")
        try:
            record[key] = _value(member)
        except ValueError as exc:
            raise ValueError(f"{_member(key)}: {exc}") from None
    return record


#: One subject's record: `subject_id` and the partner's fields (those the request does not
#: name are dropped).
Record = Annotated[
    Any,
    PlainValidator(_record),
    WithJsonSchema(
        {
            "type": "object",
            "required": ["subject_id"],
            "maxProperties": MAX_RECORD_MEMBERS,
            "properties": {"subject_id": {"type": "string", "maxLength": 128}},
            "additionalProperties": {
                "anyOf": [
                    {"type": "string", "maxLength": MAX_VALUE_LENGTH},
                    {"type": "boolean"},
                    {"type": "integer", "minimum": -SAFE_INT, "maximum": SAFE_INT},
                    {"type": "number"},
                    {"type": "null"},
                ]
            },
        }
    ),
]


class RecipientIn(Strict):
    id: Identifier
    name: Name
    min_k: StrictInt = Field(
        default=5, ge=1, le=1000, description="Exports to it keep at least this k-anonymity"
    )
    quasi_identifiers: list[FieldName] = Field(
        default_factory=list,
        max_length=MAX_FIELDS,
        description="Fields it could link to other data: k is measured over them",
    )


class RecipientPublic(Strict):
    id: str
    name: str
    min_k: int
    quasi_identifiers: list[str]
    created_at: datetime
    created_by: str


class RecipientsPublic(Strict):
    recipients: list[RecipientPublic]


class DataRequestIn(Strict):
    id: Identifier
    recipient: Identifier = Field(description="The recipient's id")
    purpose: Purpose = Field(description="Why the data is needed, such as fraud_review")
    fields: Fields = Field(
        description="Each field needed and how it is minimised: raw, tokenize, generalize, hash",
    )
    retention_days: StrictInt = Field(ge=1, le=3650, description="How long the recipient keeps it")
    legal_basis: LegalBasis = LegalBasis.CONSENT


class DataRequestPublic(Strict):
    id: str
    recipient: str
    purpose: str
    fields: dict[str, Method]
    retention_days: int
    legal_basis: LegalBasis
    created_at: datetime
    created_by: str
    closed_at: datetime | None


class DataRequestsPublic(Strict):
    requests: list[DataRequestPublic]


class ConsentIn(Strict):
    subject_id: Identifier
    request_id: Identifier
    expires_at: Rfc3339Time = Field(description="The consent lapses then (at most 10 years)")


class ConsentPublic(Strict):
    subject_id: str
    request_id: str
    given_at: datetime
    expires_at: datetime
    revoked_at: datetime | None


class ExportIn(Strict):
    request_id: Identifier
    records: list[Record] = Field(
        description=f"At most {MAX_RECORDS:,} records, each with its subject_id (larger: 413)"
    )


class ExportPublic(Strict):
    export_id: str
    request_id: str
    recipient: str
    purpose: str
    fields: dict[str, Method]
    created_at: datetime
    records: list[dict[str, Any]] = Field(description="The minimised records, never stored")
    exported: int = Field(description="Records exported (of subjects with a live consent)")
    dropped_without_consent: int
    k: int | None = Field(description="The export's k-anonymity (None: no records)")
    min_k: int


class ConsentReport(Strict):
    request_id: str
    recipient: str | None
    purpose: str | None
    given_at: datetime
    expires_at: datetime
    revoked_at: datetime | None


class ExportReport(Strict):
    export_id: str
    at: datetime
    request_id: str
    recipient: str
    purpose: str
    fields: list[str]


class SubjectReportPublic(Strict):
    subject_id: str
    consents: list[ConsentReport]
    exports: list[ExportReport]


# -- converters ------------------------------------------------------------------------------


def recipient_out(recipient: Recipient) -> RecipientPublic:
    return RecipientPublic(
        id=recipient.id,
        name=recipient.name,
        min_k=recipient.min_k,
        quasi_identifiers=list(recipient.quasi_identifiers),
        created_at=recipient.created_at,
        created_by=recipient.created_by,
    )


def request_out(request: DataRequest) -> DataRequestPublic:
    return DataRequestPublic(
        id=request.id,
        recipient=request.recipient_id,
        purpose=request.purpose,
        fields=dict(request.fields),
        retention_days=request.retention_days,
        legal_basis=request.legal_basis,
        created_at=request.created_at,
        created_by=request.created_by,
        closed_at=request.closed_at,
    )


def consent_out(consent: Consent) -> ConsentPublic:
    return ConsentPublic(
        subject_id=consent.subject_id,
        request_id=consent.request_id,
        given_at=consent.given_at,
        expires_at=consent.expires_at,
        revoked_at=consent.revoked_at,
    )


def consent_report(consent: Consent, request: DataRequest | None) -> ConsentReport:
    return ConsentReport(
        request_id=consent.request_id,
        recipient=None if request is None else request.recipient_id,
        purpose=None if request is None else request.purpose,
        given_at=consent.given_at,
        expires_at=consent.expires_at,
        revoked_at=consent.revoked_at,
    )


def export_report(export: Export) -> ExportReport:
    return ExportReport(
        export_id=export.id,
        at=export.created_at,
        request_id=export.request_id,
        recipient=export.recipient_id,
        purpose=export.purpose,
        fields=sorted(export.fields),
    )
