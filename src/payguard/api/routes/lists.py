"""`/v1/lists/{name}/items`: block and allow lists consulted by rules."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request

from payguard.api.deps import Admin, Analyst, Lists, actor_of
from payguard.wire.schemas import (
    ListChangePublic,
    ListItemPublic,
    ListItemsIn,
    ListItemsRemove,
    ListPagePublic,
)

router = APIRouter(prefix="/v1/lists", tags=["lists"])

ListName = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9_]{0,63}$")]


@router.put("/{name}/items", response_model=ListChangePublic, summary="Add items to a list")
async def add_items(
    name: ListName, body: ListItemsIn, principal: Admin, lists: Lists, request: Request
) -> ListChangePublic:
    added = lists.add(
        tenant_id=principal.tenant_id,
        list_name=name,
        kind=body.kind,
        values=body.items,
        expires_at=body.expires_at,
        note=body.note,
        actor=actor_of(principal, request),
    )
    return ListChangePublic(list=name, changed=added)


@router.delete("/{name}/items", response_model=ListChangePublic, summary="Remove items")
async def remove_items(
    name: ListName, body: ListItemsRemove, principal: Admin, lists: Lists, request: Request
) -> ListChangePublic:
    removed = lists.remove(
        tenant_id=principal.tenant_id,
        list_name=name,
        values=body.items,
        actor=actor_of(principal, request),
    )
    return ListChangePublic(list=name, changed=removed)


@router.get("/{name}/items", response_model=ListPagePublic, summary="Page through a list")
async def list_items(
    name: ListName,
    principal: Analyst,
    lists: Lists,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    after: Annotated[str | None, Query(max_length=256)] = None,
) -> ListPagePublic:
    items = lists.items(principal.tenant_id, name, limit=limit, after=after)
    return ListPagePublic(
        list=name,
        kind=(kind.value if (kind := lists.kind_of(principal.tenant_id, name)) else None),
        items=[
            ListItemPublic(
                value=item.value,
                kind=item.kind.value,
                added_at=item.added_at,
                expires_at=item.expires_at,
                note=item.note,
            )
            for item in items
        ],
        next_after=items[-1].value if len(items) == limit else None,
    )
