"""Seqera's identity API: ``/user-info``, ``/tokens``, plus the self-hosted ``/users`` (admin) routes.

``router`` here also carries the organization/workspace and resource routers, so the composition root needs
``app.include_router(router)`` and ``install_error_handlers(app)`` (from ``common``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Response

from libs.contracts.errors import Forbidden, NotFound
from libs.eventstore import EventStore
from services.gateway.access.auth import CurrentUser, Principal, require_admin
from services.gateway.access.deps import PoolDep, StoreDep
from services.gateway.api.seqera.common import now, settle
from services.gateway.api.seqera.models import CreateTokenRequest, CreateUserRequest
from services.gateway.api.seqera.orgs import router as orgs_router
from services.gateway.api.seqera.resources import router as resources_router
from services.gateway.api.seqera.wire import SeqeraJSONResponse
from services.gateway.handlers import identity as h
from services.gateway.read import identity as q

router = APIRouter(tags=["identity"], default_response_class=SeqeraJSONResponse)


def _user_dto(row: dict[str, Any]) -> dict[str, Any]:
    return {**row, "avatar": None, "notification": False, "termsOfUseConsent": True, "marketingConsent": False}


@router.get("/user-info")
async def user_info(user: CurrentUser, pool: PoolDep) -> dict[str, Any]:
    row = await q.user(pool, user.user_id)
    if row is None:
        raise NotFound("User not found")
    return {"user": _user_dto(row), "needConsent": False,
            "defaultWorkspaceId": await q.default_workspace_id(pool, user.user_id)}


@router.post("/users")
async def create_user(body: CreateUserRequest, user: CurrentUser, store: StoreDep) -> dict[str, Any]:
    require_admin(user)
    uid, position = await h.create_user(store, user_name=body.user_name, email=body.email, actor=user.actor,
                                        now=now(), first_name=body.first_name, last_name=body.last_name,
                                        is_admin=body.admin)
    await settle(store.pool, position)
    row = await q.user(store.pool, uid)
    return {"user": _user_dto(row or {})}


def _token_dto(row: dict[str, Any]) -> dict[str, Any]:
    return {"id": row["id"], "name": row["name"], "dateCreated": row["dateCreated"],
            "lastUsed": row["lastUsed"], "expiry": row["expiry"], "scopes": list(row["scopes"] or [])}


async def _issue(store: EventStore, user: Principal, owner_id: int, body: CreateTokenRequest) -> dict[str, Any]:
    if user.scopes and (not body.scopes or not set(body.scopes) <= set(user.scopes)):
        raise Forbidden("A scoped token can only create tokens with a subset of its scopes")
    token_id, token, position = await h.issue_token(store, user_id=owner_id, name=body.name, actor=user.actor,
                                                    now=now(), expiry=body.expiry, scopes=body.scopes)
    await settle(store.pool, position)
    rows = [r for r in await q.tokens(store.pool, owner_id) if r["id"] == token_id]
    return {"accessKey": token, "token": _token_dto(rows[0]) if rows else {"id": token_id, "name": body.name}}


@router.post("/users/{userId}/tokens")
async def create_user_token(userId: int, body: CreateTokenRequest, user: CurrentUser,
                            store: StoreDep) -> dict[str, Any]:
    require_admin(user)
    if await q.user(store.pool, userId) is None:
        raise NotFound(f"User {userId} not found")
    return await _issue(store, user, userId, body)


@router.get("/tokens")
async def list_tokens(user: CurrentUser, pool: PoolDep) -> dict[str, Any]:
    return {"tokens": [_token_dto(r) for r in await q.tokens(pool, user.user_id)]}


@router.post("/tokens")
async def create_token(body: CreateTokenRequest, user: CurrentUser, store: StoreDep) -> dict[str, Any]:
    return await _issue(store, user, user.user_id, body)


async def _revoke(store: EventStore, user: Principal, token_id: int, at: datetime) -> int | None:
    return await h.revoke_token(store, token_id=token_id, actor=user.actor, now=at)


@router.delete("/tokens/delete-all", status_code=204)
async def delete_all_tokens(user: CurrentUser, store: StoreDep) -> Response:
    position = None
    for row in await q.tokens(store.pool, user.user_id):
        position = await _revoke(store, user, row["id"], now()) or position
    await settle(store.pool, position)
    return Response(status_code=204)


@router.delete("/tokens/{tokenId}", status_code=204)
async def delete_token(tokenId: int, user: CurrentUser, store: StoreDep) -> Response:
    owner = await q.token_owner(store.pool, tokenId)
    if owner is None or (owner != user.user_id and not user.is_admin):
        raise NotFound(f"Token {tokenId} not found")
    await settle(store.pool, await _revoke(store, user, tokenId, now()))
    return Response(status_code=204)


router.include_router(orgs_router)
router.include_router(resources_router)
