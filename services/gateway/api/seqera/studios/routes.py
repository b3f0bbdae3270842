"""Seqera's Studios REST API: list, create, validate, templates, mounted data links, describe, update, start,
stop, extend and delete. Routes translate requests into commands and answer from the read model."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from libs.contracts.errors import Conflict, NotFound
from libs.contracts.naming import validate_name
from libs.contracts.studio_commands import CreateStudio, DeleteStudio, ExtendLifespan, StopStudio
from libs.platform.clock import now
from services.gateway.access.auth import CurrentUser
from services.gateway.api.seqera.studios import access, writes
from services.gateway.api.seqera.studios import models as m
from services.gateway.api.seqera.studios.context import ContextDep
from services.gateway.api.seqera.studios.reads import dto_of, page_of
from services.gateway.api.seqera.studios.requests import Max, Offset, WorkspaceId
from services.gateway.domain import templates
from services.gateway.read import Db
from services.gateway.read import resources as queries_resources
from services.gateway.read import studios as queries
from services.gateway.read import templates as registry
from services.gateway.read.search import parse_search

router = APIRouter(tags=["studios"])


@router.get("/studios", response_model=m.DataStudioListResponse)
async def list_studios(request: Request, ctx: ContextDep, caller: CurrentUser, workspace_id: WorkspaceId = None,
                       search: str | None = None, max: Max = None, offset: Offset = None,
                       attributes: Annotated[list[str] | None, Query()] = None) -> m.DataStudioListResponse:
    db = ctx.store.pool
    if workspace_id is not None:
        await access.require(db, caller, workspace_id, "studio:read")
        where: list[str] | None = [str(workspace_id)]
    else:
        where = await access.readable_workspaces(db, caller)
    viewer = await access.viewer(db, caller)
    states, total = await queries.list_studios(db, where, viewer, parse_search(search), max, offset)
    return await page_of(request, ctx, states, total, attributes)


@router.post("/studios", response_model=m.DataStudioCreateResponse)
async def create_studio(request: Request, body: m.DataStudioCreateRequest, ctx: ContextDep, caller: CurrentUser,
                        workspace_id: WorkspaceId = None,
                        auto_start: Annotated[bool | None, Query(alias="autoStart")] = None,
                        autostart: bool | None = None) -> m.DataStudioCreateResponse:
    db = ctx.store.pool
    ws = await access.workspace_of(db, caller, workspace_id)
    await access.require(db, caller, ws, "studio:create")
    ce = await queries_resources.compute_env(db, body.compute_env_id)
    if ce is None or ce["workspaceId"] != ws:
        raise NotFound(f"Compute environment {body.compute_env_id} not found in workspace {ws}")
    # the template registry (the builder's), else the built-in catalogue; a template's environment is built at start
    template, config = await registry.resolve(db, body.data_studio_tool_url, writes.configuration(body.configuration))
    templates.check_command(template.tool, config.command, bool(ce["allowCustomCommands"]))
    await _check_data_links(db, ws, config.mount_data)
    settings = await queries.workspace_settings(db, str(ws)) or {}
    is_private = body.is_private if body.is_private is not None else settings.get("private_studio_by_default")
    start = next((v for v in (auto_start, autostart) if v is not None), True)
    cmd = CreateStudio(
        session_id=writes.new_session_id(), now=now(), actor=caller.actor, workspace_id=str(ws),
        user_id=str(caller.user_id), studio_name=body.name, description=body.description,
        compute_env_id=body.compute_env_id, template=template, configuration=config,
        workspace_default_lifespan_hours=settings.get("lifespan_hours"), is_private=bool(is_private),
        label_ids=tuple(str(i) for i in body.label_ids or ()), spot=bool(body.spot),
        remote_config=body.remote_config.model_dump() if body.remote_config else None,
        initial_checkpoint_id=str(body.initial_checkpoint_id) if body.initial_checkpoint_id is not None else None,
        auto_start=start,
    )
    state = await writes.create(ctx, cmd)
    return m.DataStudioCreateResponse(studio=await dto_of(request, ctx, state))


async def _check_data_links(db: Db, ws: int, ids: tuple[str, ...]) -> None:
    for link_id in ids:
        link = await queries_resources.data_link(db, link_id)
        if link is None or link["workspaceId"] != ws:
            raise NotFound(f"Data link {link_id} not found in workspace {ws}")


@router.get("/studios/validate", status_code=204)
async def validate_studio_name(ctx: ContextDep, caller: CurrentUser, workspace_id: WorkspaceId = None,
                               name: str | None = None) -> Response:
    ws = await access.workspace_of(ctx.store.pool, caller, workspace_id)
    await access.require(ctx.store.pool, caller, ws, "studio:read")
    validate_name(name or "")
    if await queries.name_in_use(ctx.store.pool, str(ws), name or ""):
        raise Conflict(f"A studio named '{name}' already exists in this workspace")
    return Response(status_code=204)


@router.get("/studios/templates", response_model=m.DataStudioTemplatesListResponse)
async def list_templates(ctx: ContextDep, caller: CurrentUser, workspace_id: WorkspaceId = None, max: Max = None,
                         offset: Offset = None) -> m.DataStudioTemplatesListResponse:
    if workspace_id is not None:
        await access.require(ctx.store.pool, caller, workspace_id, "studio:read")
    items, total = await registry.page(ctx.store.pool, max, offset)
    shown = [m.DataStudioTemplate(repository=t.repository, tool=t.tool, icon=t.icon, status=t.status)  # type: ignore[arg-type]
             for t in items]
    return m.DataStudioTemplatesListResponse(templates=shown, total_size=total)


@router.get("/studios/data-links", response_model=m.DataStudioMountedLinksResponse)
async def list_mounted_data_links(ctx: ContextDep, caller: CurrentUser, workspace_id: WorkspaceId = None,
                                  org_id: Annotated[int | None, Query(alias="orgId")] = None,
                                  status: str | None = None, exclude: str | None = None
                                  ) -> m.DataStudioMountedLinksResponse:
    db = ctx.store.pool
    if workspace_id is not None:
        await access.require(db, caller, workspace_id, "studio:read")
        where: list[str] | None = [str(workspace_id)]
    else:
        where = await access.readable_workspaces(db, caller)
    if org_id is not None:
        in_org = await queries.org_workspace_ids(db, org_id)
        where = [w for w in where if w in in_org] if where is not None else sorted(in_org)
    viewer = await access.viewer(db, caller)
    ids = await queries.mounted_data_link_ids(db, where, viewer, status, exclude)
    return m.DataStudioMountedLinksResponse(data_link_ids=ids)


@router.get("/studios/{session_id}", response_model=m.DataStudioDto)
async def describe_studio(request: Request, session_id: str, ctx: ContextDep, caller: CurrentUser,
                          workspace_id: WorkspaceId = None) -> m.DataStudioDto:
    state = await access.studio(ctx.store.pool, caller, session_id, workspace_id, "studio:read")
    return await dto_of(request, ctx, state, with_labels=True)


@router.put("/studios/{session_id}/stop", response_model=m.DataStudioStopResponse)
async def stop_studio(request: Request, session_id: str, ctx: ContextDep, caller: CurrentUser,
                      workspace_id: WorkspaceId = None) -> m.DataStudioStopResponse:
    await access.studio(ctx.store.pool, caller, session_id, workspace_id, "studio:stop")
    state = await writes.send(ctx, StopStudio(session_id=session_id, now=now(), actor=caller.actor))
    dto = await dto_of(request, ctx, state)
    return m.DataStudioStopResponse(job_submitted=True, session_id=session_id, status_info=dto.status_info)


@router.post("/studios/{session_id}/lifespan", response_model=m.DataStudioDto)
async def extend_lifespan(request: Request, session_id: str, ctx: ContextDep, caller: CurrentUser,
                          workspace_id: WorkspaceId = None) -> m.DataStudioDto:
    await access.studio(ctx.store.pool, caller, session_id, workspace_id, "studio:start")
    state = await writes.send(ctx, ExtendLifespan(session_id=session_id, now=now(), actor=caller.actor))
    return await dto_of(request, ctx, state, with_labels=True)


@router.delete("/studios/{session_id}", status_code=204)
async def delete_studio(session_id: str, ctx: ContextDep, caller: CurrentUser,
                        workspace_id: WorkspaceId = None) -> Response:
    await access.studio(ctx.store.pool, caller, session_id, workspace_id, "studio:delete")
    await writes.send(ctx, DeleteStudio(session_id=session_id, now=now(), actor=caller.actor))
    return Response(status_code=204)


__all__ = ["router"]
