"""Governed data sharing: its value types, ports and errors.

A *recipient* is a third party data goes to, with the least k-anonymity an export to it
must keep (`min_k`) over the fields it could link to other data (`quasi_identifiers`). A
*data request* names a recipient, a purpose, the fields it needs and how each is minimised
(`Method`), and how long the recipient may keep what it gets (`retention_days`). A
*consent* is one subject's agreement to one request, until it expires or is revoked. An
*export* is one minimised hand-over: the store keeps who got it, when, why, which fields
and which subjects (one row per subject, until the request's retention ends), never a value.

Errors (each a `core.errors` class, so the API maps them with no new code):
`KAnonymityTooLow` (422), `RequestClosed` (409); unknown ids are `NotFound` (404).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from payguard.audit.interfaces import Actor
from payguard.core.errors import Conflict, ValidationFailed

__all__ = [
    "Consent",
    "DataRequest",
    "Export",
    "Hasher",
    "KAnonymityTooLow",
    "KMeasure",
    "LegalBasis",
    "Method",
    "Recipient",
    "RequestClosed",
    "SharingRepository",
    "Tokenizer",
]


class Method(StrEnum):
    """How a requested field is minimised before it leaves."""

    RAW = "raw"  # as given
    TOKENIZE = "tokenize"  # the vault's deterministic token: the same value, the same token
    GENERALIZE = "generalize"  # coarser: a date to its year, a number to a band
    HASH = "hash"  # keyed HMAC-SHA-256 under the tenant's sharing key


class LegalBasis(StrEnum):
    """Why the sharing is lawful. Only consent this round."""

    CONSENT = "consent"


@dataclass(frozen=True, slots=True)
class Recipient:
    tenant_id: str
    id: str
    name: str
    min_k: int
    quasi_identifiers: tuple[str, ...]
    created_at: datetime
    created_by: str


@dataclass(frozen=True, slots=True)
class DataRequest:
    """What a recipient asks for, why, and for how long. `fields` maps each field to its
    minimisation; a closed request exports nothing more."""

    tenant_id: str
    id: str
    recipient_id: str
    purpose: str
    fields: Mapping[str, Method]
    retention_days: int
    legal_basis: LegalBasis
    created_at: datetime
    created_by: str
    closed_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Consent:
    """One subject's consent to one request: live from `given_at` until `expires_at`,
    unless `revoked_at`."""

    tenant_id: str
    subject_id: str
    request_id: str
    given_at: datetime
    expires_at: datetime
    recorded_by: str
    revoked_at: datetime | None = None

    def live(self, at: datetime) -> bool:
        return self.revoked_at is None and self.given_at <= at < self.expires_at


@dataclass(frozen=True, slots=True)
class Export:
    """One export as stored: who got which fields of how many subjects, when and why;
    never a value. `retain_until`: when its subject rows are purged."""

    tenant_id: str
    id: str
    request_id: str
    recipient_id: str
    purpose: str
    fields: Mapping[str, Method]
    created_at: datetime
    created_by: str
    records: int
    dropped: int
    k: int | None
    retain_until: datetime


class KAnonymityTooLow(ValidationFailed):
    """An export whose smallest group of records alike on the recipient's quasi-identifiers
    is smaller than the recipient's `min_k`: nothing leaves and nothing is stored."""

    code = "k_anonymity_too_low"

    def __init__(self, message: str, *, k: int, min_k: int) -> None:
        super().__init__(message, field="records")
        self.k = k
        self.min_k = min_k


class RequestClosed(Conflict):
    """The data request was closed: no more consents or exports under it."""

    code = "request_closed"


# -- ports ---------------------------------------------------------------------------------


class Tokenizer(Protocol):
    """The vault's deterministic tokens for `values` of one kind (`pan`, `account`, `phone`,
    `email`, `id_number`, `generic`), in order; ValidationFailed naming `values[i]` for a
    value the kind refuses."""

    def __call__(
        self, tenant_id: str, kind: str, values: Sequence[str], actor: Actor
    ) -> list[str]: ...


class Hasher(Protocol):
    """Keyed digests of `values` under the tenant's sharing key, in order."""

    def __call__(self, tenant_id: str, values: Sequence[str]) -> list[str]: ...


class KMeasure(Protocol):
    """The k of `rows` over `quasi_identifiers`: the size of the smallest group of rows alike
    on all of them (0 for no rows)."""

    def __call__(
        self, rows: Iterable[Mapping[str, object]], quasi_identifiers: Sequence[str]
    ) -> int: ...


class SharingRepository(Protocol):
    """Storage of recipients, requests, consents and exports; every call within one tenant."""

    def add_recipient(self, recipient: Recipient) -> None:
        """Store a new recipient; Conflict if the id is taken in the tenant."""
        ...

    def recipient(self, tenant_id: str, recipient_id: str) -> Recipient | None: ...

    def recipients(self, tenant_id: str) -> list[Recipient]: ...

    def add_request(self, request: DataRequest) -> None:
        """Store a new data request; Conflict if the id is taken in the tenant."""
        ...

    def request(self, tenant_id: str, request_id: str) -> DataRequest | None: ...

    def requests(self, tenant_id: str) -> list[DataRequest]: ...

    def close_request(self, tenant_id: str, request_id: str, at: datetime) -> DataRequest | None:
        """Close an open request (a closed one stays as it was); None if unknown."""
        ...

    def put_consent(self, consent: Consent) -> None:
        """Record a consent, replacing the subject's earlier one to the same request."""
        ...

    def revoke_consent(
        self, tenant_id: str, subject_id: str, request_id: str, at: datetime
    ) -> Consent | None:
        """Revoke a consent (a revoked one keeps its first revocation); None if unknown."""
        ...

    def consents_of(self, tenant_id: str, subject_id: str) -> list[Consent]: ...

    def consents_to(
        self, tenant_id: str, request_id: str, subject_ids: Sequence[str]
    ) -> dict[str, Consent]:
        """The consents to one request of those subjects who have one, by subject."""
        ...

    def add_export(self, export: Export, subject_ids: Sequence[str]) -> None:
        """Store an export and its subjects in one transaction: all of it or nothing."""
        ...

    def exports_of(self, tenant_id: str, subject_id: str) -> list[Export]:
        """The exports that carried the subject (and are not yet purged), oldest first."""
        ...

    def purge_exported_subjects(self, before: datetime) -> int:
        """Delete the subject rows of exports whose retention ended before `before`."""
        ...
