"""Seqera's update (``PUT /studios/{sessionId}``) and start (``PUT /studios/{sessionId}/start``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Request

from libs.contracts.errors import NotFound
from libs.contracts.studio_commands import StartStudio, UpdateStudio
from libs.platform.clock import now
from services.gateway.access.auth import CurrentUser
from services.gateway.api.seqera.studios import access, writes
from services.gateway.api.seqera.studios import models as m
from services.gateway.api.seqera.studios.context import ContextDep
from services.gateway.api.seqera.studios.reads import dto_of
from services.gateway.api.seqera.studios.requests import WorkspaceId
from services.gateway.read import resources as queries_resources
from services.gateway.read import studios as queries

router = APIRouter(tags=["studios"])


def _labels(ids: list[int] | None) -> tuple[str, ...] | None:
    return tuple(str(i) for i in ids) if ids is not None else None


@router.put("/studios/{session_id}", response_model=m.DataStudioDto)
async def update_studio(request: Request, session_id: str, body: m.DataStudioUpdateRequest, ctx: ContextDep,
                        caller: CurrentUser, workspace_id: WorkspaceId = None) -> m.DataStudioDto:
    db = ctx.store.pool
    state = await access.studio(db, caller, session_id, workspace_id, "studio:update")
    if body.compute_env_id is not None:
        ce = await queries_resources.compute_env(db, body.compute_env_id)
        if ce is None or str(ce["workspaceId"]) != state.workspace_id:
            raise NotFound(f"Compute environment {body.compute_env_id} not found in the studio's workspace")
    config = writes.configuration(body.configuration, state.configuration) if body.configuration else None
    cmd = UpdateStudio(session_id=session_id, now=now(), actor=caller.actor, studio_name=body.name,
                       description=body.description, compute_env_id=body.compute_env_id, configuration=config,
                       label_ids=_labels(body.label_ids))
    state = await writes.send_renaming(ctx, cmd, body.name)
    return await dto_of(request, ctx, state, with_labels=True)


@router.put("/studios/{session_id}/start", response_model=m.DataStudioStartResponse)
async def start_studio(request: Request, session_id: str, ctx: ContextDep, caller: CurrentUser,
                       workspace_id: WorkspaceId = None,
                       body: Annotated[m.DataStudioStartRequest | None, Body()] = None) -> m.DataStudioStartResponse:
    db = ctx.store.pool
    state = await access.studio(db, caller, session_id, workspace_id, "studio:start")
    body = body or m.DataStudioStartRequest()
    settings = await queries.workspace_settings(db, state.workspace_id) or {}
    config = writes.configuration(body.configuration, state.configuration) if body.configuration else None
    cmd = StartStudio(session_id=session_id, now=now(), actor=caller.actor, configuration=config,
                      description=body.description, label_ids=_labels(body.label_ids), spot=body.spot,
                      workspace_default_lifespan_hours=settings.get("lifespan_hours"))
    state = await writes.send(ctx, cmd)
    dto = await dto_of(request, ctx, state)
    return m.DataStudioStartResponse(job_submitted=True, session_id=session_id, status_info=dto.status_info)
