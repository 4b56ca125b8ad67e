"""`/v1/sharing`: governed data sharing. Admins register recipients and data requests;
a partner's backend (service) or an admin records consents, exports and reads a subject's
report."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, status

from payguard.api.deps import Admin, IdentifierPath, Reader, Sharing, actor_of, require
from payguard.tenancy.interfaces import Principal, Role
from payguard.wire.sharing import (
    ConsentIn,
    ConsentPublic,
    DataRequestIn,
    DataRequestPublic,
    DataRequestsPublic,
    ExportIn,
    ExportPublic,
    RecipientIn,
    RecipientPublic,
    RecipientsPublic,
    SubjectReportPublic,
    consent_out,
    consent_report,
    export_report,
    recipient_out,
    request_out,
)

router = APIRouter(prefix="/v1/sharing", tags=["sharing"])

#: A partner's backend or an admin: consents, exports, subject reports.
Partner = Annotated[Principal, Depends(require(Role.ADMIN, Role.SERVICE))]
Id = IdentifierPath


@router.post(
    "/recipients",
    response_model=RecipientPublic,
    status_code=status.HTTP_201_CREATED,
    summary="Register a recipient: who data goes to, and the k-anonymity it must keep",
)
async def add_recipient(
    body: RecipientIn, principal: Admin, sharing: Sharing, request: Request
) -> RecipientPublic:
    made = sharing.add_recipient(
        principal.tenant_id,
        recipient_id=body.id,
        name=body.name,
        min_k=body.min_k,
        quasi_identifiers=body.quasi_identifiers,
        actor=actor_of(principal, request),
    )
    return recipient_out(made)


@router.get("/recipients", response_model=RecipientsPublic, summary="The tenant's recipients")
async def list_recipients(principal: Reader, sharing: Sharing) -> RecipientsPublic:
    return RecipientsPublic(
        recipients=[recipient_out(r) for r in sharing.recipients(principal.tenant_id)]
    )


@router.post(
    "/requests",
    response_model=DataRequestPublic,
    status_code=status.HTTP_201_CREATED,
    summary="Register a data request: recipient, purpose, fields and how each is minimised",
)
async def add_request(
    body: DataRequestIn, principal: Admin, sharing: Sharing, request: Request
) -> DataRequestPublic:
    made = sharing.add_request(
        principal.tenant_id,
        request_id=body.id,
        recipient_id=body.recipient,
        purpose=body.purpose,
        fields=body.fields,
        retention_days=body.retention_days,
        legal_basis=body.legal_basis,
        actor=actor_of(principal, request),
    )
    return request_out(made)


@router.get("/requests", response_model=DataRequestsPublic, summary="The tenant's data requests")
async def list_requests(principal: Reader, sharing: Sharing) -> DataRequestsPublic:
    return DataRequestsPublic(
        requests=[request_out(r) for r in sharing.requests(principal.tenant_id)]
    )


@router.get("/requests/{request_id}", response_model=DataRequestPublic, summary="A data request")
async def get_request(request_id: Id, principal: Reader, sharing: Sharing) -> DataRequestPublic:
    return request_out(sharing.request(principal.tenant_id, request_id))


@router.delete(
    "/requests/{request_id}",
    response_model=DataRequestPublic,
    summary="Close a data request: no more consents or exports under it",
)
async def close_request(
    request_id: Id, principal: Admin, sharing: Sharing, request: Request
) -> DataRequestPublic:
    closed = sharing.close_request(
        principal.tenant_id, request_id, actor=actor_of(principal, request)
    )
    return request_out(closed)


@router.post(
    "/consents",
    response_model=ConsentPublic,
    status_code=status.HTTP_201_CREATED,
    summary="Record a subject's consent to a data request, until it expires",
)
async def give_consent(
    body: ConsentIn, principal: Partner, sharing: Sharing, request: Request
) -> ConsentPublic:
    consent = sharing.give_consent(
        principal.tenant_id,
        subject_id=body.subject_id,
        request_id=body.request_id,
        expires_at=body.expires_at,
        actor=actor_of(principal, request),
    )
    return consent_out(consent)


@router.delete(
    "/consents/{subject_id}/{request_id}",
    response_model=ConsentPublic,
    summary="Revoke a consent: no export carries the subject under the request from now on",
)
async def revoke_consent(
    subject_id: Id, request_id: Id, principal: Partner, sharing: Sharing, request: Request
) -> ConsentPublic:
    consent = sharing.revoke_consent(
        principal.tenant_id,
        subject_id=subject_id,
        request_id=request_id,
        actor=actor_of(principal, request),
    )
    return consent_out(consent)


@router.post(
    "/exports",
    response_model=ExportPublic,
    status_code=status.HTTP_201_CREATED,
    summary="Export the consented, minimised records for a data request (k-anonymity kept)",
)
async def export(
    body: ExportIn, principal: Partner, sharing: Sharing, request: Request
) -> ExportPublic:
    made = sharing.export(
        principal.tenant_id,
        request_id=body.request_id,
        records=body.records,
        actor=actor_of(principal, request),
    )
    return ExportPublic(
        export_id=made.export.id,
        request_id=made.export.request_id,
        recipient=made.export.recipient_id,
        purpose=made.export.purpose,
        fields=dict(made.export.fields),
        created_at=made.export.created_at,
        records=made.records,
        exported=made.export.records,
        dropped_without_consent=made.export.dropped,
        k=made.export.k,
        min_k=made.min_k,
    )


@router.get(
    "/subjects/{subject_id}",
    response_model=SubjectReportPublic,
    summary="The data-subject report: consents, and what was shared with whom, when and why",
)
async def subject_report(
    subject_id: Id, principal: Partner, sharing: Sharing
) -> SubjectReportPublic:
    report = sharing.subject_report(principal.tenant_id, subject_id)
    return SubjectReportPublic(
        subject_id=report.subject_id,
        consents=[consent_report(consent, req) for consent, req in report.consents],
        exports=[export_report(made) for made in report.exports],
    )
