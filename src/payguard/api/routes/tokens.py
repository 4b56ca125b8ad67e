"""`/v1/tokens`: tokenize, detokenize (by role and declared purpose), metadata, revoke, and
crypto-shred a subject's values."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Path, Request

from payguard.api.deps import Admin, Assessor, Reader, Tokens, actor_of
from payguard.core.errors import ValidationFailed
from payguard.vault.interfaces import TokenRecord, TokenStyle
from payguard.vault.kinds import Kind
from payguard.vault.service import Shredded, Token
from payguard.wire.vault import (
    TOKEN_PATTERN,
    DetokenizedPublic,
    DetokenizeIn,
    DetokenizeOut,
    ShredIn,
    ShredOut,
    TokenizeIn,
    TokenizeOut,
    TokenMetadataPublic,
    TokenPublic,
)

router = APIRouter(prefix="/v1/tokens", tags=["tokens"])

TokenPath = Annotated[str, Path(min_length=1, max_length=128, pattern=TOKEN_PATTERN)]


def token_out(token: Token) -> TokenPublic:
    return TokenPublic(
        token=token.token,
        masked=token.masked,
        kind=token.kind.value,
        style=token.style,
        scope=token.scope or None,
        key_version=token.key_version,
        created_at=token.created_at,
        expires_at=token.expires_at,
        revoked=token.revoked,
    )


def metadata_out(record: TokenRecord) -> TokenMetadataPublic:
    return TokenMetadataPublic(
        token=record.token,
        kind=Kind(record.kind).value,
        style=record.style,
        scope=record.scope or None,
        key_version=record.key_version,
        created_at=record.created_at,
        expires_at=record.expires_at,
        revoked_at=record.revoked_at,
        subject=record.subject_id,
        shredded=record.style is not TokenStyle.FPE_DETERMINISTIC and record.sealed is None,
    )


def shred_out(done: Shredded) -> ShredOut:
    return ShredOut(subject=done.subject, tokens=done.tokens, key_versions=done.key_versions)


@router.post(
    "",
    response_model=TokenizeOut,
    status_code=201,
    summary="Tokenize one value or a batch of up to 1,000 values of one kind",
)
async def tokenize(
    body: TokenizeIn, principal: Assessor, tokens: Tokens, request: Request
) -> TokenizeOut:
    values = body.values if body.values is not None else [body.value or ""]
    try:
        made = tokens.tokenize(
            principal.tenant_id,
            body.kind,
            values,
            actor=actor_of(principal, request),
            style=body.style,
            scope=body.scope or "",
            ttl=None if body.ttl_seconds is None else timedelta(seconds=body.ttl_seconds),
            subject=body.subject,
        )
    except ValidationFailed as exc:
        if body.value is not None and exc.field == "values[0]":
            raise type(exc)(exc.message, field="value") from None
        raise
    return TokenizeOut(tokens=[token_out(token) for token in made])


@router.post(
    "/detokenize",
    response_model=DetokenizeOut,
    summary="The values behind tokens, for a purpose the vault policy allows your role",
)
async def detokenize(
    body: DetokenizeIn, principal: Reader, tokens: Tokens, request: Request
) -> DetokenizeOut:
    values = tokens.detokenize(
        principal.tenant_id,
        body.tokens,
        purpose=body.purpose,
        role=principal.role,
        actor=actor_of(principal, request),
        scope=body.scope or "",
    )
    return DetokenizeOut(
        values=[
            DetokenizedPublic(token=token, value=value)
            for token, value in zip(body.tokens, values, strict=True)
        ]
    )


@router.post(
    "/shred",
    response_model=ShredOut,
    summary="Crypto-shred a subject: its tokens resolve to nothing from now on",
)
async def shred(body: ShredIn, principal: Admin, tokens: Tokens, request: Request) -> ShredOut:
    done = tokens.shred(principal.tenant_id, body.subject, actor=actor_of(principal, request))
    return shred_out(done)


@router.get(
    "/{token}",
    response_model=TokenMetadataPublic,
    summary="A token's metadata: kind, style, scope, times, key version, revocation",
)
async def metadata(token: TokenPath, principal: Reader, tokens: Tokens) -> TokenMetadataPublic:
    return metadata_out(tokens.metadata(principal.tenant_id, token))


@router.delete(
    "/{token}",
    response_model=TokenMetadataPublic,
    summary="Revoke a token: it no longer detokenizes",
)
async def revoke(
    token: TokenPath, principal: Admin, tokens: Tokens, request: Request
) -> TokenMetadataPublic:
    return metadata_out(
        tokens.revoke(principal.tenant_id, token, actor=actor_of(principal, request))
    )
