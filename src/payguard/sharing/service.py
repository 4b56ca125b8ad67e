"""Governed data sharing: register recipients and data requests, record consents, export
only what a live consent covers (minimised, k-anonymous for the recipient), and report to a
data subject what was shared with whom, when and why.

An export (`export`) takes the partner's records for one request and:
1. keeps the records of subjects with a live consent to the request (the others are dropped
   and counted);
2. keeps only the request's fields, each minimised by its `Method` (raw, generalised, keyed
   hash, or the vault's deterministic token);
3. measures k over the recipient's quasi-identifiers among those fields (with none of them,
   the whole export is one group: k is the number of records) and refuses the export below
   the recipient's `min_k` (`KAnonymityTooLow`): nothing is stored or returned;
4. stores the export and one row per subject in one transaction, and audits it.

k is measured before tokenizing, on the values as given: equal values get equal tokens, and
values spelled differently may get the same token, so the k of what leaves is never below
the k measured (deny when unsure). Nothing here logs or audits a value.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from payguard.audit.interfaces import Actor, AuditAction, AuditWriter
from payguard.core.clock import Clock
from payguard.core.errors import (
    Conflict,
    NotFound,
    PayguardError,
    PayloadTooLarge,
    ValidationFailed,
)
from payguard.core.ids import is_identifier, is_purpose, new_id
from payguard.sharing.interfaces import (
    Consent,
    DataRequest,
    Export,
    Hasher,
    KAnonymityTooLow,
    KMeasure,
    LegalBasis,
    Method,
    Recipient,
    RequestClosed,
    SharingRepository,
    Tokenizer,
)
from payguard.sharing.minimise import generalize, kind_of

__all__ = [
    "DEFAULT_MIN_K",
    "MAX_CONSENT_DAYS",
    "MAX_FIELDS",
    "MAX_MIN_K",
    "MAX_RECORDS",
    "MAX_RETENTION_DAYS",
    "MAX_VALUE_LENGTH",
    "REPORT_LIMIT",
    "ExportResult",
    "SharingService",
    "SubjectReport",
]

DEFAULT_MIN_K = 5
MAX_MIN_K = 1000
#: The most fields a request may name, and quasi-identifiers a recipient may have.
MAX_FIELDS = 64
MAX_RETENTION_DAYS = 3650
#: The longest a consent may run.
MAX_CONSENT_DAYS = 3650
#: The most records one export call may carry.
MAX_RECORDS = 10_000
#: The longest text value a record's field may hold.
MAX_VALUE_LENGTH = 256
#: The most values handed to the vault in one call (`vault.service.MAX_VALUES`).
_TOKENIZE_BATCH = 1000
#: The most entries one subject report lists of each kind.
REPORT_LIMIT = 1000

FIELD = re.compile(r"[a-z][a-z0-9_]{0,63}")
_NAME_MAX = 128
#: Kinds whose values never leave in clear: a card number is tokenized or hashed.
_NEVER_RAW = frozenset({"pan"})


@dataclass(frozen=True, slots=True)
class ExportResult:
    """An export made: what was stored, and the minimised records (never stored)."""

    export: Export
    records: list[dict[str, object]]
    min_k: int


@dataclass(frozen=True, slots=True)
class SubjectReport:
    """What a data subject agreed to and what was shared about them: each consent with its
    request, and each export (not yet past its retention) with its request."""

    subject_id: str
    consents: list[tuple[Consent, DataRequest | None]]
    exports: list[Export]


def _identifier(value: object, field: str) -> str:
    if not is_identifier(value):
        raise ValidationFailed(
            f"{field} must be 1 to 128 letters, digits and . _ : @ + -, starting with a "
            "letter or digit",
            field=field,
        )
    return value


def _field_name(value: object, field: str) -> str:
    if not isinstance(value, str) or FIELD.fullmatch(value) is None:
        raise ValidationFailed(
            f"{field} must be a field name: 1 to 64 lower-case letters, digits or _, "
            "starting with a letter",
            field=field,
        )
    return value


def _whole(value: object, field: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValidationFailed(f"{field} must be a whole number from {low} to {high}", field=field)
    return value


def _text(value: object, field: str) -> str:
    if (
        not isinstance(value, str)
        or not value.strip()
        or len(value) > _NAME_MAX
        or not value.isprintable()
    ):
        raise ValidationFailed(
            f"{field} must be 1 to {_NAME_MAX} printable characters", field=field
        )
    return value


def _scalar(value: object, field: str) -> object:
    """A record's value as the export reads it: text, a number, a boolean or null."""
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise ValidationFailed(f"{field} must be a finite number", field=field)
        return value
    if isinstance(value, str):
        if len(value) > MAX_VALUE_LENGTH:
            raise ValidationFailed(
                f"{field} must be at most {MAX_VALUE_LENGTH} characters", field=field
            )
        return value
    raise ValidationFailed(f"{field} must be a string, number, boolean or null", field=field)


class SharingService:
    """Recipients, data requests, consents, exports and subject reports, per tenant."""

    def __init__(
        self,
        repository: SharingRepository,
        *,
        audit: AuditWriter,
        clock: Clock,
        tokenize: Tokenizer,
        hash_values: Hasher,
        measure_k: KMeasure,
    ) -> None:
        self._repository = repository
        self._audit = audit
        self._clock = clock
        self._tokenize = tokenize
        self._hash = hash_values
        self._measure_k = measure_k

    # -- recipients ------------------------------------------------------------------------

    def add_recipient(
        self,
        tenant_id: str,
        *,
        recipient_id: str,
        name: str,
        min_k: int = DEFAULT_MIN_K,
        quasi_identifiers: Sequence[str] = (),
        actor: Actor,
    ) -> Recipient:
        """Register a recipient; Conflict if the id is taken. Audited."""
        try:
            _identifier(recipient_id, "id")
            _text(name, "name")
            _whole(min_k, "min_k", 1, MAX_MIN_K)
            if isinstance(quasi_identifiers, str) or len(quasi_identifiers) > MAX_FIELDS:
                raise ValidationFailed(
                    f"quasi_identifiers must be a list of at most {MAX_FIELDS} field names",
                    field="quasi_identifiers",
                )
            seen: list[str] = []
            for index, column in enumerate(quasi_identifiers):
                at = f"quasi_identifiers[{index}]"
                if _field_name(column, at) in seen:
                    raise ValidationFailed(f"{at} is listed twice", field=at)
                seen.append(column)
            recipient = Recipient(
                tenant_id,
                recipient_id,
                name,
                min_k,
                tuple(seen),
                self._clock.now(),
                actor.name,
            )
            self._repository.add_recipient(recipient)
        except PayguardError as exc:
            self._refused(AuditAction.SHARING_RECIPIENT, actor, tenant_id, "recipient", exc)
            raise
        self._audit.success(
            AuditAction.SHARING_RECIPIENT,
            actor,
            f"recipient:{recipient_id}",
            tenant_id=tenant_id,
            details={"min_k": min_k, "quasi_identifiers": list(seen)},
        )
        return recipient

    def recipient(self, tenant_id: str, recipient_id: str) -> Recipient:
        found = self._repository.recipient(tenant_id, recipient_id)
        if found is None:
            raise NotFound("no such recipient")
        return found

    def recipients(self, tenant_id: str) -> list[Recipient]:
        return self._repository.recipients(tenant_id)

    # -- data requests ---------------------------------------------------------------------

    def add_request(
        self,
        tenant_id: str,
        *,
        request_id: str,
        recipient_id: str,
        purpose: str,
        fields: Mapping[str, Method | str],
        retention_days: int,
        legal_basis: LegalBasis | str = LegalBasis.CONSENT,
        actor: Actor,
    ) -> DataRequest:
        """Register a data request to a known recipient; Conflict if the id is taken. A card
        number field may not be shared raw. Audited."""
        try:
            _identifier(request_id, "id")
            _identifier(recipient_id, "recipient")
            if not is_purpose(purpose):
                raise ValidationFailed(
                    "purpose must be 1 to 32 lower-case letters and _, such as fraud_review",
                    field="purpose",
                )
            methods = self._methods(fields)
            _whole(retention_days, "retention_days", 1, MAX_RETENTION_DAYS)
            try:
                basis = LegalBasis(legal_basis)
            except ValueError:
                raise ValidationFailed(
                    "legal_basis must be consent (the only basis so far)", field="legal_basis"
                ) from None
            if self._repository.recipient(tenant_id, recipient_id) is None:
                raise NotFound("no such recipient")
            request = DataRequest(
                tenant_id,
                request_id,
                recipient_id,
                purpose,
                methods,
                retention_days,
                basis,
                self._clock.now(),
                actor.name,
            )
            self._repository.add_request(request)
        except PayguardError as exc:
            self._refused(AuditAction.SHARING_REQUEST, actor, tenant_id, "request", exc)
            raise
        self._audit.success(
            AuditAction.SHARING_REQUEST,
            actor,
            f"request:{request_id}",
            tenant_id=tenant_id,
            details={
                "operation": "create",
                "recipient": recipient_id,
                "purpose": purpose,
                "fields": {name: method.value for name, method in methods.items()},
                "retention_days": retention_days,
                "legal_basis": basis.value,
            },
        )
        return request

    @staticmethod
    def _methods(fields: Mapping[str, Method | str]) -> dict[str, Method]:
        if not isinstance(fields, Mapping) or not 1 <= len(fields) <= MAX_FIELDS:
            raise ValidationFailed(
                f"fields must map 1 to {MAX_FIELDS} field names to raw, tokenize, "
                "generalize or hash",
                field="fields",
            )
        methods: dict[str, Method] = {}
        for name, method in fields.items():
            _field_name(name, "fields")
            at = f"fields.{name}"
            try:
                chosen = Method(method)
            except ValueError:
                raise ValidationFailed(
                    f"{at} must be one of raw, tokenize, generalize, hash", field=at
                ) from None
            if chosen is Method.RAW and kind_of(name) in _NEVER_RAW:
                raise ValidationFailed(
                    f"{at} is a card number field: share it tokenized or hashed, never raw",
                    field=at,
                )
            methods[name] = chosen
        return dict(sorted(methods.items()))

    def request(self, tenant_id: str, request_id: str) -> DataRequest:
        found = self._repository.request(tenant_id, request_id)
        if found is None:
            raise NotFound("no such data request")
        return found

    def requests(self, tenant_id: str) -> list[DataRequest]:
        return self._repository.requests(tenant_id)

    def close_request(self, tenant_id: str, request_id: str, *, actor: Actor) -> DataRequest:
        """Close a request: no consents or exports under it from now on. Audited."""
        closed = self._repository.close_request(tenant_id, request_id, self._clock.now())
        if closed is None:
            self._audit.failure(
                AuditAction.SHARING_REQUEST,
                actor,
                f"request:{request_id}",
                tenant_id=tenant_id,
                details={"operation": "close", "error": "no such data request"},
            )
            raise NotFound("no such data request")
        self._audit.success(
            AuditAction.SHARING_REQUEST,
            actor,
            f"request:{request_id}",
            tenant_id=tenant_id,
            details={"operation": "close"},
        )
        return closed

    # -- consents --------------------------------------------------------------------------

    def give_consent(
        self,
        tenant_id: str,
        *,
        subject_id: str,
        request_id: str,
        expires_at: datetime,
        actor: Actor,
    ) -> Consent:
        """Record a subject's consent to an open request until `expires_at` (in the future,
        at most `MAX_CONSENT_DAYS` away); it replaces an earlier one. Audited."""
        now = self._clock.now()
        try:
            _identifier(subject_id, "subject_id")
            _identifier(request_id, "request_id")
            if not isinstance(expires_at, datetime) or expires_at.tzinfo is None:
                raise ValidationFailed(
                    "expires_at must be a date-time with an offset", field="expires_at"
                )
            if not now < expires_at <= now + timedelta(days=MAX_CONSENT_DAYS):
                raise ValidationFailed(
                    f"expires_at must be in the future, at most {MAX_CONSENT_DAYS} days away",
                    field="expires_at",
                )
            request = self.request(tenant_id, request_id)
            if request.closed_at is not None:
                raise RequestClosed("the data request is closed")
            consent = Consent(tenant_id, subject_id, request_id, now, expires_at, actor.name)
            self._repository.put_consent(consent)
        except PayguardError as exc:
            self._refused(AuditAction.SHARING_CONSENT, actor, tenant_id, "consent", exc)
            raise
        self._audit.success(
            AuditAction.SHARING_CONSENT,
            actor,
            f"consent:{request_id}",
            tenant_id=tenant_id,
            details={"subject": subject_id, "expires_at": expires_at.isoformat()},
        )
        return consent

    def revoke_consent(
        self, tenant_id: str, *, subject_id: str, request_id: str, actor: Actor
    ) -> Consent:
        """Revoke a consent: no export carries the subject under the request from now on.
        Audited."""
        revoked = self._repository.revoke_consent(
            tenant_id, subject_id, request_id, self._clock.now()
        )
        if revoked is None:
            self._audit.failure(
                AuditAction.SHARING_CONSENT_REVOKE,
                actor,
                f"consent:{request_id}",
                tenant_id=tenant_id,
                details={"subject": subject_id, "error": "no such consent"},
            )
            raise NotFound("no such consent")
        self._audit.success(
            AuditAction.SHARING_CONSENT_REVOKE,
            actor,
            f"consent:{request_id}",
            tenant_id=tenant_id,
            details={"subject": subject_id},
        )
        return revoked

    # -- exports ---------------------------------------------------------------------------

    def export(
        self,
        tenant_id: str,
        *,
        request_id: str,
        records: Sequence[Mapping[str, object]],
        actor: Actor,
    ) -> ExportResult:
        """The records of consenting subjects, minimised for the request, if the recipient's
        k holds; stored (never the values) and audited. See the module's docstring."""
        if len(records) > MAX_RECORDS:
            raise PayloadTooLarge(
                f"an export carries at most {MAX_RECORDS:,} records, not {len(records):,}"
            )
        request = self.request(tenant_id, request_id)
        if request.closed_at is not None:
            raise RequestClosed("the data request is closed")
        recipient = self.recipient(tenant_id, request.recipient_id)
        subjects = [self._subject(record, index) for index, record in enumerate(records)]
        now = self._clock.now()
        consents = self._repository.consents_to(tenant_id, request_id, sorted(set(subjects)))
        kept = [
            index
            for index, subject in enumerate(subjects)
            if (consent := consents.get(subject)) is not None and consent.live(now)
        ]
        rows = [self._minimised(request, records[index], index) for index in kept]
        quasi = [column for column in recipient.quasi_identifiers if column in request.fields]
        k = (self._measure_k(rows, quasi) if quasi else len(rows)) if rows else None
        target = f"request:{request_id}"
        if k is not None and k < recipient.min_k:
            self._audit.denied(
                AuditAction.SHARING_EXPORT_REFUSED,
                actor,
                target,
                tenant_id=tenant_id,
                details={
                    "recipient": recipient.id,
                    "purpose": request.purpose,
                    "k": k,
                    "min_k": recipient.min_k,
                    "quasi_identifiers": quasi,
                    "records": len(rows),
                },
            )
            raise KAnonymityTooLow(
                f"the export is {k}-anonymous over {', '.join(quasi) or 'its records'}; "
                f"recipient {recipient.id} needs at least k={recipient.min_k}: nothing was "
                "exported (generalize more fields or export more records)",
                k=k,
                min_k=recipient.min_k,
            )
        self._pseudonymised(tenant_id, request, rows, kept, actor)
        export = Export(
            tenant_id=tenant_id,
            id=f"exp_{new_id()}",
            request_id=request_id,
            recipient_id=recipient.id,
            purpose=request.purpose,
            fields=request.fields,
            created_at=now,
            created_by=actor.name,
            records=len(rows),
            dropped=len(records) - len(rows),
            k=k,
            retain_until=now + timedelta(days=request.retention_days),
        )
        exported = list(dict.fromkeys(subjects[index] for index in kept))
        self._repository.add_export(export, exported)
        self._audit.success(
            AuditAction.SHARING_EXPORT,
            actor,
            target,
            tenant_id=tenant_id,
            details={
                "export": export.id,
                "recipient": recipient.id,
                "purpose": request.purpose,
                "fields": {name: method.value for name, method in request.fields.items()},
                "records": export.records,
                "subjects": len(exported),
                "dropped_without_consent": export.dropped,
                "k": k,
                "min_k": recipient.min_k,
            },
        )
        return ExportResult(export, rows, recipient.min_k)

    @staticmethod
    def _subject(record: Mapping[str, object], index: int) -> str:
        if not isinstance(record, Mapping):
            raise ValidationFailed(
                f"records[{index}] must be an object with a subject_id", field=f"records[{index}]"
            )
        return _identifier(record.get("subject_id"), f"records[{index}].subject_id")

    def _minimised(
        self, request: DataRequest, record: Mapping[str, object], index: int
    ) -> dict[str, object]:
        """The record's requested fields, raw or generalised; tokenized and hashed fields
        keep their value as text until `_pseudonymised`."""
        row: dict[str, object] = {}
        for name, method in request.fields.items():
            at = f"records[{index}].{name}"
            value = _scalar(record.get(name), at)
            if value is None or method is Method.RAW:
                row[name] = value
            elif method is Method.GENERALIZE:
                row[name] = generalize(name, value)
            else:
                if method is Method.TOKENIZE and isinstance(value, bool | float):
                    raise ValidationFailed(f"{at} must be text or a whole number", field=at)
                row[name] = value if isinstance(value, str) else str(value)
        return row

    def _pseudonymised(
        self,
        tenant_id: str,
        request: DataRequest,
        rows: list[dict[str, object]],
        indexes: Sequence[int],
        actor: Actor,
    ) -> None:
        """Replace each tokenized field's values by the vault's deterministic tokens and each
        hashed field's by their keyed digests, each distinct value once."""
        for name, method in request.fields.items():
            if method not in (Method.TOKENIZE, Method.HASH):
                continue
            kind = kind_of(name)
            first: dict[str, int] = {}
            for position, row in enumerate(rows):
                value = row[name]
                if isinstance(value, str):
                    first.setdefault(value, position)
            values = list(first)
            replaced: dict[str, str] = {}
            for start in range(0, len(values), _TOKENIZE_BATCH):
                chunk = values[start : start + _TOKENIZE_BATCH]
                if method is Method.HASH:
                    replaced.update(zip(chunk, self._hash(tenant_id, chunk), strict=True))
                    continue
                try:
                    made = self._tokenize(tenant_id, kind, chunk, actor)
                except ValidationFailed as exc:
                    where = _index_of(exc.field)
                    position = first[chunk[where]] if where is not None else 0
                    at = f"records[{indexes[position]}].{name}"
                    raise ValidationFailed(
                        f"{at} cannot be tokenized as {kind}: {exc.message}", field=at
                    ) from None
                replaced.update(zip(chunk, made, strict=True))
            for row in rows:
                value = row[name]
                if isinstance(value, str):
                    row[name] = replaced[value]

    # -- the subject report and retention --------------------------------------------------

    def subject_report(self, tenant_id: str, subject_id: str) -> SubjectReport:
        """The subject's consents (with their requests) and exports, within the tenant."""
        _identifier(subject_id, "subject_id")
        consents = self._repository.consents_of(tenant_id, subject_id)[:REPORT_LIMIT]
        requests = {request.id: request for request in self._repository.requests(tenant_id)}
        exports = self._repository.exports_of(tenant_id, subject_id)[-REPORT_LIMIT:]
        return SubjectReport(
            subject_id,
            [(consent, requests.get(consent.request_id)) for consent in consents],
            exports,
        )

    def purge(self, *, now: datetime) -> dict[str, int]:
        """Forget which subjects exports carried once their request's retention has ended
        (the export's summary stays; it holds no subject)."""
        return {"exported_subjects": self._repository.purge_exported_subjects(now)}

    # -- audit -----------------------------------------------------------------------------

    def _refused(
        self, action: AuditAction, actor: Actor, tenant_id: str, target: str, exc: PayguardError
    ) -> None:
        details: dict[str, Any] = {"error": exc.code}
        if isinstance(exc, ValidationFailed):
            details["field"] = exc.field
        elif isinstance(exc, Conflict | NotFound):
            details["message"] = exc.message
        self._audit.failure(action, actor, target, tenant_id=tenant_id, details=details)


def _index_of(field: str) -> int | None:
    """`3` of the vault's `values[3]`."""
    match = re.fullmatch(r"values\[(\d+)\]", field)
    return int(match.group(1)) if match else None
