"""`/v1/vault/policy`: read and replace the tenant's vault policy (admins only)."""

from __future__ import annotations

from fastapi import APIRouter, Request

from payguard.api.deps import Admin, VaultPolicies, actor_of
from payguard.vault.policy import ActivePolicy, document_of
from payguard.wire.vault_policy import VaultPolicyIn, VaultPolicyPublic

router = APIRouter(prefix="/v1/vault/policy", tags=["tokens"])


def policy_out(active: ActivePolicy) -> VaultPolicyPublic:
    return VaultPolicyPublic.model_validate(
        {
            **document_of(active.policy),
            "version": active.version,
            "created_at": active.created_at,
            "created_by": active.created_by,
        }
    )


@router.get(
    "",
    response_model=VaultPolicyPublic,
    summary="The vault policy in force: token styles, who may detokenize, the rate limit",
)
async def get_policy(principal: Admin, policies: VaultPolicies) -> VaultPolicyPublic:
    return policy_out(policies.active(principal.tenant_id))


@router.put(
    "",
    response_model=VaultPolicyPublic,
    summary="Replace the vault policy (a new version, in force at once)",
)
async def put_policy(
    body: VaultPolicyIn, principal: Admin, policies: VaultPolicies, request: Request
) -> VaultPolicyPublic:
    active = policies.set_policy(
        principal.tenant_id, body.document(), actor=actor_of(principal, request)
    )
    return policy_out(active)
