"""Governed data sharing (issue 15), the service on the real stores: only live consents
export, only requested fields leave and minimised, tokens agree across exports, k-anonymity
below the recipient's k refuses the export (nothing stored), the subject report, retention,
tenant isolation, and audit records that never hold a value."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from payguard.audit.interfaces import Actor, AuditAction, AuditOutcome
from payguard.core.clock import FrozenClock
from payguard.core.errors import Conflict, NotFound, PayloadTooLarge, ValidationFailed
from payguard.services import Services, build_services
from payguard.settings import Settings
from payguard.sharing.interfaces import KAnonymityTooLow, Method, RequestClosed
from payguard.sharing.minimise import generalize, kind_of
from payguard.sharing.service import MAX_RECORDS

ADMIN = Actor.api_key("x", "key-admin", None)


@pytest.fixture
def services(tmp_path: Path, clock: FrozenClock) -> Iterator[Services]:
    built = build_services(
        Settings(database_url=f"sqlite:///{tmp_path}/sharing.db", cache_ttl_seconds=0),
        clock=clock,
    )
    yield built
    built.close()


def _tenant(services: Services, name: str) -> str:
    tenant, _ = services.tenants.create_tenant(name, actor=Actor.system("test"))
    return tenant.id


@pytest.fixture
def tenant(services: Services) -> str:
    return _tenant(services, "acme")


def _setup(
    services: Services,
    tenant: str,
    *,
    min_k: int = 2,
    fields: dict[str, str] | None = None,
    subjects: int = 4,
    days: int = 30,
) -> None:
    sharing = services.sharing
    sharing.add_recipient(
        tenant,
        recipient_id="insurer",
        name="Insurer",
        min_k=min_k,
        quasi_identifiers=["age", "zip"],
        actor=ADMIN,
    )
    sharing.add_request(
        tenant,
        request_id="claims",
        recipient_id="insurer",
        purpose="claims_review",
        fields=fields
        or {"age": "generalize", "zip": "generalize", "email": "tokenize", "total": "raw"},
        retention_days=days,
        actor=ADMIN,
    )
    now = services.clock.now()
    for number in range(subjects):
        sharing.give_consent(
            tenant,
            subject_id=f"cust-{number}",
            request_id="claims",
            expires_at=now + timedelta(days=10),
            actor=ADMIN,
        )


def _records(count: int = 4, **extra: Any) -> list[dict[str, Any]]:
    return [
        {
            "subject_id": f"cust-{number}",
            "age": 31 + number % 2,
            "zip": "018956",
            "email": f"user{number}@example.com",
            "total": 100 + number,
            "name": f"Secret Name {number}",
            **extra,
        }
        for number in range(count)
    ]


def test_an_export_keeps_only_the_requested_fields_minimised(
    services: Services, tenant: str
) -> None:
    _setup(services, tenant)
    made = services.sharing.export(tenant, request_id="claims", records=_records(), actor=ADMIN)
    assert made.export.records == 4 and made.export.dropped == 0 and made.export.k == 4
    for row in made.records:
        assert set(row) == {"age", "zip", "email", "total"}  # name and subject_id dropped
        assert row["age"] == "[30, 40)"
        assert row["zip"] == "018***"
        assert isinstance(row["email"], str) and row["email"].startswith("tok_email_")
    assert [row["total"] for row in made.records] == [100, 101, 102, 103]
    assert "Secret Name" not in json.dumps(made.records)


def test_subjects_without_live_consent_are_dropped_and_counted(
    services: Services, tenant: str, clock: FrozenClock
) -> None:
    _setup(services, tenant, min_k=1, subjects=3)
    services.sharing.revoke_consent(tenant, subject_id="cust-1", request_id="claims", actor=ADMIN)
    made = services.sharing.export(tenant, request_id="claims", records=_records(), actor=ADMIN)
    # cust-1 revoked, cust-3 never consented.
    assert made.export.records == 2 and made.export.dropped == 2
    # Consent expires: nothing more leaves.
    clock.advance(timedelta(days=11))
    later = services.sharing.export(tenant, request_id="claims", records=_records(), actor=ADMIN)
    assert later.records == [] and later.export.dropped == 4 and later.export.k is None


def test_revoking_consent_stops_future_exports_of_that_subject(
    services: Services, tenant: str
) -> None:
    _setup(services, tenant, min_k=1, subjects=2)
    first = services.sharing.export(tenant, request_id="claims", records=_records(2), actor=ADMIN)
    assert first.export.records == 2
    services.sharing.revoke_consent(tenant, subject_id="cust-0", request_id="claims", actor=ADMIN)
    second = services.sharing.export(tenant, request_id="claims", records=_records(2), actor=ADMIN)
    assert second.export.records == 1
    report = services.sharing.subject_report(tenant, "cust-0")
    assert [e.id for e in report.exports] == [first.export.id]


def test_tokens_are_the_same_across_exports_and_hashes_too(services: Services, tenant: str) -> None:
    _setup(
        services,
        tenant,
        min_k=1,
        fields={"email": "tokenize", "phone": "tokenize", "account": "hash", "age": "generalize"},
    )
    records = _records(2, phone="+6591234567", account="12345678")
    one = services.sharing.export(tenant, request_id="claims", records=records, actor=ADMIN)
    two = services.sharing.export(tenant, request_id="claims", records=records, actor=ADMIN)
    assert one.records == two.records
    assert one.records[0]["email"] != one.records[1]["email"]
    assert one.records[0]["phone"] == one.records[1]["phone"]
    assert "6591234567" not in json.dumps(one.records)
    assert one.records[0]["account"] != "12345678"
    assert str(one.records[0]["account"]).startswith("h1_")


def test_below_the_recipients_k_nothing_leaves_and_nothing_is_stored(
    services: Services, tenant: str
) -> None:
    _setup(services, tenant, min_k=3, fields={"age": "raw", "zip": "generalize", "email": "hash"})
    with pytest.raises(KAnonymityTooLow) as refused:
        services.sharing.export(tenant, request_id="claims", records=_records(), actor=ADMIN)
    assert refused.value.k == 2 and refused.value.min_k == 3
    assert refused.value.code == "k_anonymity_too_low"
    assert services.sharing.subject_report(tenant, "cust-0").exports == []
    denied = services.audit.list(tenant_id=tenant, action=AuditAction.SHARING_EXPORT_REFUSED)
    assert len(denied) == 1 and denied[0].outcome is AuditOutcome.DENIED
    assert denied[0].details["k"] == 2 and denied[0].details["min_k"] == 3
    assert services.audit.list(tenant_id=tenant, action=AuditAction.SHARING_EXPORT) == []


def test_without_quasi_identifiers_in_the_output_k_is_the_number_of_records(
    services: Services, tenant: str
) -> None:
    _setup(services, tenant, min_k=5, fields={"total": "raw"})
    with pytest.raises(KAnonymityTooLow) as refused:
        services.sharing.export(tenant, request_id="claims", records=_records(), actor=ADMIN)
    assert refused.value.k == 4


def test_the_subject_report_says_what_went_to_whom_when_and_why(
    services: Services, tenant: str, clock: FrozenClock
) -> None:
    _setup(services, tenant, min_k=1)
    made = services.sharing.export(tenant, request_id="claims", records=_records(), actor=ADMIN)
    report = services.sharing.subject_report(tenant, "cust-2")
    assert report.subject_id == "cust-2"
    [(consent, request)] = report.consents
    assert consent.request_id == "claims" and consent.revoked_at is None
    assert request is not None and request.recipient_id == "insurer"
    assert request.purpose == "claims_review"
    [export] = report.exports
    assert export.id == made.export.id and export.recipient_id == "insurer"
    assert export.purpose == "claims_review" and export.created_at == clock.now()
    assert set(export.fields) == {"age", "zip", "email", "total"}
    assert services.sharing.subject_report(tenant, "cust-99").exports == []


def test_retention_purges_the_subject_rows(
    services: Services, tenant: str, clock: FrozenClock
) -> None:
    _setup(services, tenant, min_k=1, days=7)
    services.sharing.export(tenant, request_id="claims", records=_records(), actor=ADMIN)
    assert services.sharing.purge(now=clock.now() + timedelta(days=6)) == {"exported_subjects": 0}
    assert services.sharing.purge(now=clock.now() + timedelta(days=8)) == {"exported_subjects": 4}
    assert services.sharing.subject_report(tenant, "cust-0").exports == []


def test_another_tenant_sees_nothing(services: Services, tenant: str) -> None:
    _setup(services, tenant, min_k=1)
    services.sharing.export(tenant, request_id="claims", records=_records(), actor=ADMIN)
    other = _tenant(services, "globex")
    assert services.sharing.recipients(other) == []
    assert services.sharing.requests(other) == []
    with pytest.raises(NotFound):
        services.sharing.request(other, "claims")
    with pytest.raises(NotFound):
        services.sharing.export(other, request_id="claims", records=_records(), actor=ADMIN)
    with pytest.raises(NotFound):
        services.sharing.revoke_consent(
            other, subject_id="cust-0", request_id="claims", actor=ADMIN
        )
    with pytest.raises(NotFound):
        services.sharing.give_consent(
            other,
            subject_id="cust-0",
            request_id="claims",
            expires_at=services.clock.now() + timedelta(days=1),
            actor=ADMIN,
        )
    report = services.sharing.subject_report(other, "cust-0")
    assert report.consents == [] and report.exports == []
    # The other tenant's own request of the same id is its own.
    services.sharing.add_recipient(other, recipient_id="insurer", name="I", actor=ADMIN)
    assert services.sharing.recipient(other, "insurer").min_k == 5


def test_every_action_is_audited_and_no_value_is_in_the_audit(
    services: Services, tenant: str
) -> None:
    _setup(services, tenant, min_k=1)
    services.sharing.export(tenant, request_id="claims", records=_records(), actor=ADMIN)
    services.sharing.revoke_consent(tenant, subject_id="cust-0", request_id="claims", actor=ADMIN)
    services.sharing.close_request(tenant, "claims", actor=ADMIN)
    records = services.audit.list(tenant_id=tenant, limit=1000)
    actions = {record.action for record in records}
    assert {
        AuditAction.SHARING_RECIPIENT,
        AuditAction.SHARING_REQUEST,
        AuditAction.SHARING_CONSENT,
        AuditAction.SHARING_CONSENT_REVOKE,
        AuditAction.SHARING_EXPORT,
    } <= actions
    [export] = [r for r in records if r.action is AuditAction.SHARING_EXPORT]
    assert export.details["records"] == 4 and export.details["recipient"] == "insurer"
    text = json.dumps([r.details for r in records])
    for value in ("user0@example.com", "018956", "Secret Name", "100"):
        assert value not in text


def test_a_closed_request_takes_no_consent_or_export(services: Services, tenant: str) -> None:
    _setup(services, tenant, min_k=1)
    services.sharing.close_request(tenant, "claims", actor=ADMIN)
    with pytest.raises(RequestClosed):
        services.sharing.export(tenant, request_id="claims", records=_records(), actor=ADMIN)
    with pytest.raises(RequestClosed):
        services.sharing.give_consent(
            tenant,
            subject_id="cust-9",
            request_id="claims",
            expires_at=services.clock.now() + timedelta(days=1),
            actor=ADMIN,
        )


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"recipient_id": "bad id"}, "recipient"),
        ({"request_id": ""}, "id"),
        ({"purpose": "Claims"}, "purpose"),
        ({"fields": {}}, "fields"),
        ({"fields": {"Email": "raw"}}, "fields"),
        ({"fields": {"email": "encrypt"}}, "fields.email"),
        ({"fields": {"card_number": "raw"}}, "fields.card_number"),
        ({"retention_days": 0}, "retention_days"),
        ({"retention_days": 3651}, "retention_days"),
        ({"legal_basis": "contract"}, "legal_basis"),
    ],
)
def test_a_bad_request_is_refused_naming_the_field(
    services: Services, tenant: str, change: dict[str, Any], field: str
) -> None:
    services.sharing.add_recipient(tenant, recipient_id="insurer", name="I", actor=ADMIN)
    given: dict[str, Any] = {
        "request_id": "claims",
        "recipient_id": "insurer",
        "purpose": "claims_review",
        "fields": {"email": "tokenize"},
        "retention_days": 30,
        **change,
    }
    with pytest.raises(ValidationFailed) as refused:
        services.sharing.add_request(tenant, actor=ADMIN, **given)
    assert refused.value.field == field
    assert services.sharing.requests(tenant) == []


def test_duplicates_unknowns_and_bad_records_are_refused(services: Services, tenant: str) -> None:
    _setup(services, tenant, min_k=1)
    with pytest.raises(Conflict):
        services.sharing.add_recipient(tenant, recipient_id="insurer", name="I", actor=ADMIN)
    with pytest.raises(NotFound):
        services.sharing.add_request(
            tenant,
            request_id="other",
            recipient_id="nobody",
            purpose="x",
            fields={"a": "raw"},
            retention_days=1,
            actor=ADMIN,
        )
    with pytest.raises(ValidationFailed) as refused:
        services.sharing.export(tenant, request_id="claims", records=[{"age": 3}], actor=ADMIN)
    assert refused.value.field == "records[0].subject_id"
    bad_email = _records(2)
    bad_email[1]["email"] = "not an email"
    with pytest.raises(ValidationFailed) as refused:
        services.sharing.export(tenant, request_id="claims", records=bad_email, actor=ADMIN)
    assert refused.value.field == "records[1].email"
    with pytest.raises(ValidationFailed) as refused:
        services.sharing.export(
            tenant, request_id="claims", records=_records(1, total=[1, 2]), actor=ADMIN
        )
    assert refused.value.field == "records[0].total"
    with pytest.raises(PayloadTooLarge):
        services.sharing.export(
            tenant, request_id="claims", records=[{}] * (MAX_RECORDS + 1), actor=ADMIN
        )
    assert services.audit.list(tenant_id=tenant, action=AuditAction.SHARING_EXPORT) == []
    with pytest.raises(ValidationFailed) as refused:
        services.sharing.give_consent(
            tenant,
            subject_id="cust-1",
            request_id="claims",
            expires_at=services.clock.now() - timedelta(seconds=1),
            actor=ADMIN,
        )
    assert refused.value.field == "expires_at"


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("birth_date", "1987-06-15", "1987"),
        ("signed_up", "2024-01-02T10:00:00Z", "2024"),
        ("age", 37, "[30, 40)"),
        ("age", "37", "[30, 40)"),
        ("amount", 1234.5, "[1000, 2000)"),
        ("amount", 0.4, "[0, 1)"),
        ("amount", -15, "[-20, -10)"),
        ("postcode", "SW1A 1AA", "SW1*****"),
        ("city", "Singapore", "*"),
        ("flag", True, True),
        ("flag", None, None),
    ],
)
def test_generalize(field: str, value: object, expected: object) -> None:
    assert generalize(field, value) == expected


@pytest.mark.parametrize(
    ("field", "kind"),
    [
        ("pan", "pan"),
        ("card_number", "pan"),
        ("iban", "account"),
        ("payee_account", "account"),
        ("phone", "phone"),
        ("mobile_phone", "phone"),
        ("email", "email"),
        ("id_number", "id_number"),
        ("customer_ref", "generic"),
        ("cardinal", "generic"),
    ],
)
def test_the_vault_kind_of_a_field(field: str, kind: str) -> None:
    assert kind_of(field) == kind


def test_methods_are_the_four() -> None:
    assert {m.value for m in Method} == {"raw", "tokenize", "generalize", "hash"}
