"""Seqera's organizations, members, workspaces and participants routes."""

from __future__ import annotations

from typing import Any

import asyncpg
from fastapi import APIRouter, Response

from libs.contracts.errors import Forbidden, InvalidInput, NotFound
from services.gateway.access.auth import CurrentUser, Principal, require, role_in
from services.gateway.access.deps import PoolDep, StoreDep
from services.gateway.api.seqera.common import now, settle
from services.gateway.api.seqera.models import (
    AddMemberRequest,
    AddParticipantRequest,
    CreateOrganizationRequest,
    CreateWorkspaceRequest,
    UpdateParticipantRoleRequest,
)
from services.gateway.api.seqera.wire import SeqeraJSONResponse
from services.gateway.handlers import identity as h
from services.gateway.read import identity as q

router = APIRouter(tags=["orgs", "workspaces"], default_response_class=SeqeraJSONResponse)
WS = "/orgs/{orgId}/workspaces/{workspaceId}"


async def _org_role(pool: asyncpg.Pool, user: Principal, org_id: int) -> str:
    """The caller's org role ('owner' for system admins); 404 for no such org, 403 for a non-member."""
    row = await q.org(pool, org_id, user.user_id)
    if row is None:
        raise NotFound(f"Organization {org_id} not found")
    if user.is_admin:
        return "owner"
    if row["memberRole"] is None:
        raise Forbidden(f"You are not a member of organization {org_id}")
    return str(row["memberRole"])


async def _org_owner(pool: asyncpg.Pool, user: Principal, org_id: int) -> None:
    if await _org_role(pool, user, org_id) != "owner":
        raise Forbidden("Only an owner of the organization may do this")


@router.get("/orgs")
async def list_orgs(user: CurrentUser, pool: PoolDep) -> dict[str, Any]:
    rows = await q.orgs(pool, user.user_id, user.is_admin)
    return {"organizations": rows, "totalSize": len(rows)}


@router.post("/orgs")
async def create_org(body: CreateOrganizationRequest, user: CurrentUser, store: StoreDep) -> dict[str, Any]:
    o = body.organization
    org_id, position = await h.create_org(store, name=o.name, full_name=o.full_name, owner_user_id=user.user_id,
                                          actor=user.actor, now=now(), description=o.description,
                                          location=o.location, website=o.website)
    await settle(store.pool, position)
    return {"organization": await q.org(store.pool, org_id, user.user_id)}


@router.get("/orgs/{orgId}")
async def describe_org(orgId: int, user: CurrentUser, pool: PoolDep) -> dict[str, Any]:
    visible = {r["orgId"]: r for r in await q.orgs(pool, user.user_id, user.is_admin)}
    if orgId not in visible:
        if await q.org(pool, orgId, user.user_id) is None:
            raise NotFound(f"Organization {orgId} not found")
        raise Forbidden(f"You are not a member of organization {orgId}")
    return {"organization": visible[orgId]}


@router.get("/orgs/{orgId}/members")
async def list_members(orgId: int, user: CurrentUser, pool: PoolDep,
                       search: str | None = None) -> dict[str, Any]:
    await _org_role(pool, user, orgId)
    rows = await q.members(pool, orgId, search)
    return {"members": rows, "totalSize": len(rows)}


@router.put("/orgs/{orgId}/members/add")
@router.post("/orgs/{orgId}/members")
async def add_member(orgId: int, body: AddMemberRequest, user: CurrentUser,
                     store: StoreDep) -> dict[str, Any]:
    await _org_owner(store.pool, user, orgId)
    user_id = await q.user_id_by_name_or_email(store.pool, body.user)
    if user_id is None:
        raise NotFound(f"User '{body.user}' not found")
    member_id, position = await h.add_member(store, org_id=orgId, user_id=user_id, role="member",
                                             actor=user.actor, now=now())
    await settle(store.pool, position)
    return {"member": await q.member(store.pool, member_id)}


@router.get("/orgs/{orgId}/workspaces")
async def list_workspaces(orgId: int, user: CurrentUser, pool: PoolDep) -> dict[str, Any]:
    role = await _org_role(pool, user, orgId)
    return {"workspaces": await q.workspaces(pool, orgId, user.user_id, role == "owner")}


@router.post("/orgs/{orgId}/workspaces")
async def create_workspace(orgId: int, body: CreateWorkspaceRequest, user: CurrentUser,
                           store: StoreDep) -> dict[str, Any]:
    await _org_owner(store.pool, user, orgId)
    w = body.workspace
    wid, position = await h.create_workspace(store, org_id=orgId, name=w.name, full_name=w.full_name,
                                             owner_user_id=user.user_id, actor=user.actor, now=now(),
                                             description=w.description, visibility=w.visibility)
    await settle(store.pool, position)
    return {"workspace": await q.workspace(store.pool, wid)}


async def _workspace(pool: asyncpg.Pool, user: Principal, org_id: int, workspace_id: int,
                     permission: str) -> Any:
    row = await q.workspace(pool, workspace_id)
    if row is None or row["orgId"] != org_id:
        raise NotFound(f"Workspace {workspace_id} not found in organization {org_id}")
    return await require(pool, user, workspace_id, permission)


@router.get(WS)
async def describe_workspace(orgId: int, workspaceId: int, user: CurrentUser,
                             pool: PoolDep) -> dict[str, Any]:
    await _workspace(pool, user, orgId, workspaceId, "workspace:read")
    return {"workspace": await q.workspace(pool, workspaceId)}


@router.get(WS + "/participants")
async def list_participants(orgId: int, workspaceId: int, user: CurrentUser, pool: PoolDep,
                            search: str | None = None) -> dict[str, Any]:
    await _workspace(pool, user, orgId, workspaceId, "workspace:read")
    rows = await q.participants(pool, workspaceId, search)
    return {"participants": rows, "totalSize": len(rows)}


@router.put(WS + "/participants/add")
async def add_participant(orgId: int, workspaceId: int, body: AddParticipantRequest,
                          user: CurrentUser, store: StoreDep) -> dict[str, Any]:
    granter = await _workspace(store.pool, user, orgId, workspaceId, "workspace:admin")
    if body.member_id is not None:
        m = await q.member(store.pool, body.member_id)
        user_id = m["userId"] if m is not None and m["orgId"] == orgId else None
    elif body.user_name_or_email:
        user_id = await q.user_id_by_name_or_email(store.pool, body.user_name_or_email)
    else:
        raise InvalidInput("Give memberId or userNameOrEmail (teams are not supported)")
    if user_id is None:
        raise NotFound("No such user or member")
    pid, position = await h.add_participant(store, workspace_id=workspaceId, user_id=user_id, role=body.role,
                                            granter=granter, actor=user.actor, now=now())
    await settle(store.pool, position)
    return {"participant": await q.participant(store.pool, workspaceId, pid)}


@router.put(WS + "/participants/{participantId}/role", status_code=204)
async def change_role(orgId: int, workspaceId: int, participantId: int,
                      body: UpdateParticipantRoleRequest, user: CurrentUser, store: StoreDep) -> Response:
    granter = await _workspace(store.pool, user, orgId, workspaceId, "workspace:admin")
    position = await h.change_role(store, workspace_id=workspaceId, participant_id=participantId,
                                   role=body.role, granter=granter, actor=user.actor, now=now())
    await settle(store.pool, position)
    return Response(status_code=204)


@router.delete(WS + "/participants/{participantId}", status_code=204)
async def remove_participant(orgId: int, workspaceId: int, participantId: int,
                             user: CurrentUser, store: StoreDep) -> Response:
    granter = await _workspace(store.pool, user, orgId, workspaceId, "workspace:admin")
    position = await h.remove_participant(store, workspace_id=workspaceId, participant_id=participantId,
                                          granter=granter, actor=user.actor, now=now())
    await settle(store.pool, position)
    return Response(status_code=204)


@router.delete(WS + "/participants", status_code=204)
async def leave_workspace(orgId: int, workspaceId: int, user: CurrentUser,
                          store: StoreDep) -> Response:
    role = await role_in(store.pool, user, workspaceId)
    me = await q.participant_of(store.pool, workspaceId, user.user_id)
    if me is None:
        raise NotFound("You are not a participant of this workspace")
    position = await h.remove_participant(store, workspace_id=workspaceId, participant_id=me["participantId"],
                                          granter=role, actor=user.actor, now=now(), leaving=True)
    await settle(store.pool, position)
    return Response(status_code=204)
