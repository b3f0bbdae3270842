"""Seqera's checkpoint routes: list (search, paging, newest first), get, rename (409 on a duplicate name), and
ours: delete. Reads answer from ``read.checkpoints``; writes are commands to the checkpoints service, read back
once the projection has passed the position they appended."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Response

from libs.contracts.checkpoint_commands import DeleteCheckpoint, RenameCheckpoint
from libs.contracts.errors import NotFound
from libs.platform.clock import now
from services.gateway.access.auth import CurrentUser
from services.gateway.api.seqera import lookups
from services.gateway.api.seqera.base import SeqeraModel, SeqeraResponse
from services.gateway.api.seqera.studios import access
from services.gateway.api.seqera.studios import models as m
from services.gateway.api.seqera.studios.context import ContextDep, StudiosContext
from services.gateway.api.seqera.studios.requests import Max, Offset, WorkspaceId
from services.gateway.commands import checked
from services.gateway.read import checkpoints as queries
from services.gateway.read.projections.base import wait_for_position
from services.gateway.read.projections.checkpoints import CHECKPOINTS

router = APIRouter(tags=["studios"])


class DataStudioCheckpointDto(SeqeraResponse):
    author: m.UserInfo
    date_created: datetime
    date_saved: datetime
    id: int
    name: str
    path: str
    status: str


class DataStudioListCheckpointsResponse(SeqeraResponse):
    checkpoints: list[DataStudioCheckpointDto]
    total_size: int


class DataStudioCheckpointUpdateRequest(SeqeraModel):
    name: str | None = None


async def _dtos(ctx: StudiosContext, rows: list[dict[str, Any]]) -> list[DataStudioCheckpointDto]:
    users = await lookups.users(ctx.store.pool, {r["author_id"] for r in rows})
    return [DataStudioCheckpointDto(
        author=users.get(r["author_id"]) or m.UserInfo(id=int(r["author_id"]) if r["author_id"].isdigit() else None),
        date_created=r["date_created"], date_saved=r["date_saved"], id=r["checkpoint_id"], name=r["name"],
        path=r["path"], status=r["status"]) for r in rows]


async def _one(ctx: StudiosContext, session_id: str, checkpoint_id: int) -> DataStudioCheckpointDto:
    row = await queries.checkpoint(ctx.store.pool, session_id, checkpoint_id)
    if row is None:
        raise NotFound(f"Checkpoint {checkpoint_id} not found for studio {session_id}")
    return (await _dtos(ctx, [row]))[0]


@router.get("/studios/{session_id}/checkpoints", response_model=DataStudioListCheckpointsResponse)
async def list_checkpoints(session_id: str, ctx: ContextDep, caller: CurrentUser, workspace_id: WorkspaceId = None,
                           search: str | None = None, max: Max = None,
                           offset: Offset = None) -> DataStudioListCheckpointsResponse:
    await access.studio(ctx.store.pool, caller, session_id, workspace_id, "checkpoint:read")
    rows, total = await queries.list_checkpoints(ctx.store.pool, session_id, queries.parse(search), max, offset)
    return DataStudioListCheckpointsResponse(checkpoints=await _dtos(ctx, rows), total_size=total)


@router.get("/studios/{session_id}/checkpoints/{checkpoint_id}", response_model=DataStudioCheckpointDto)
async def get_checkpoint(session_id: str, checkpoint_id: int, ctx: ContextDep, caller: CurrentUser,
                         workspace_id: WorkspaceId = None) -> DataStudioCheckpointDto:
    await access.studio(ctx.store.pool, caller, session_id, workspace_id, "checkpoint:read")
    return await _one(ctx, session_id, checkpoint_id)


@router.put("/studios/{session_id}/checkpoints/{checkpoint_id}", response_model=DataStudioCheckpointDto)
async def rename_checkpoint(session_id: str, checkpoint_id: int,
                            body: DataStudioCheckpointUpdateRequest, ctx: ContextDep, caller: CurrentUser,
                            workspace_id: WorkspaceId = None) -> DataStudioCheckpointDto:
    await access.studio(ctx.store.pool, caller, session_id, workspace_id, "checkpoint:update")
    await _one(ctx, session_id, checkpoint_id)  # 404 before anything is sent
    if body.name is None:
        return await _one(ctx, session_id, checkpoint_id)
    actor = str(caller.user_id)
    cmd = RenameCheckpoint(session_id=session_id, now=now(), actor=actor, checkpoint_id=checkpoint_id,
                           new_name=body.name)
    reply = checked(await ctx.sender.send(cmd, ctx.trace.meta(actor)))
    await wait_for_position(ctx.store.pool, CHECKPOINTS, reply.position, ctx.consistency_timeout)
    return await _one(ctx, session_id, checkpoint_id)


@router.delete("/studios/{session_id}/checkpoints/{checkpoint_id}", status_code=204)
async def delete_checkpoint(session_id: str, checkpoint_id: int, ctx: ContextDep, caller: CurrentUser,
                            workspace_id: WorkspaceId = None) -> Response:
    """Ours (Seqera has none): deleting one never breaks another; the studio's latest good one is kept (409)."""
    await access.studio(ctx.store.pool, caller, session_id, workspace_id, "studio:delete")
    await _one(ctx, session_id, checkpoint_id)
    actor = str(caller.user_id)
    cmd = DeleteCheckpoint(session_id=session_id, now=now(), actor=actor, checkpoint_id=checkpoint_id)
    reply = checked(await ctx.sender.send(cmd, ctx.trace.meta(actor)))
    await wait_for_position(ctx.store.pool, CHECKPOINTS, reply.position, ctx.consistency_timeout)
    return Response(status_code=204)
