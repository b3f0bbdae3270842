"""Civis's ``/studios``: create, list, get, replace/update and archive, as our studio commands.

A Civis create makes a studio without starting it (a deployment starts it). Archiving is our delete: the session
stops, the name is free again, and the studio is gone from every dialect (there is no un-archive; ``status=false``
on a studio that is not archived changes nothing). A studio's image and git repository are fixed at create (our
update has no field for them): a request to change them is a 400.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from libs.contracts.errors import InvalidInput
from libs.contracts.studio import RemoteConfig, StudioConfiguration
from libs.contracts.studio_commands import CreateStudio, DeleteStudio, UpdateStudio
from libs.contracts.studio_state import State
from libs.platform.clock import now
from services.gateway.access.auth import require
from services.gateway.api.civis import glue, views
from services.gateway.api.civis import translate as t
from services.gateway.api.civis.context import CivisCaller, CivisDep
from services.gateway.api.civis.errors import CivisRoute
from services.gateway.api.civis.requests import ArchiveBody, StudioBody
from services.gateway.domain import templates
from services.gateway.read import Db
from services.gateway.read import deployments as deployment_queries
from services.gateway.read import studios as queries
from services.gateway.read import templates as registry
from services.gateway.read.search import Search

router = APIRouter(route_class=CivisRoute)
Limit = Annotated[int, Query(ge=1, le=1000)]
PageNum = Annotated[int, Query(ge=1)]


async def _template(db: Db, name: str | None, tag: str | None, config: StudioConfiguration) -> Any:
    """The template ``name:tag`` names; tag ``latest`` (or none) means the first registered tag of that image."""
    wanted = t.image(name, tag)
    if wanted is not None and (tag or t.DEFAULT_TAG) == t.DEFAULT_TAG:
        known, _ = await registry.page(db, None, None)
        tags = [x.repository for x in known if t.split_image(x.repository)[0] == name]
        if wanted not in tags and tags:
            wanted = tags[0]
    return await registry.resolve(db, wanted, config)


def _extra(body: StudioBody) -> dict[str, Any]:
    return {"instanceType": body.instance_type, "gitCredentialId": body.git_credential_id}


@router.post("/studios", status_code=201)
@router.post("/studios/", status_code=201, include_in_schema=False)
async def create_studio(request: Request, body: StudioBody, ctx: CivisDep, caller: CivisCaller) -> dict[str, Any]:
    db = ctx.store.pool
    ws, ce = await glue.placement(ctx, caller, body.partition_label)
    await require(db, caller, ws, "studio:create")
    config = t.configure(StudioConfiguration(), body.required_resources, body.params, _extra(body))
    template, config = await _template(db, body.docker_image_name, body.docker_image_tag, config)
    templates.check_command(template.tool, config.command, bool(ce["allowCustomCommands"]))
    settings = await queries.workspace_settings(db, str(ws)) or {}
    remote = RemoteConfig(repository=body.git_repo_url, revision=body.git_ref) if body.git_repo_url else None
    meta = ctx.trace.meta(caller.actor)
    # with an Idempotency-Key the id derives from it: a retried create finds its studio, not a 409 for its name
    session_id = uuid.uuid5(meta.command_id, "session").hex[:8] if ctx.trace.idempotency_key else uuid.uuid4().hex[:8]
    cmd = CreateStudio(
        session_id=session_id, now=now(), actor=caller.actor, workspace_id=str(ws), user_id=str(caller.user_id),
        studio_name=body.name or f"studio-{session_id}", compute_env_id=str(ce["id"]), template=template,
        configuration=config, workspace_default_lifespan_hours=settings.get("lifespan_hours"),
        is_private=bool(settings.get("private_studio_by_default")), remote_config=remote, auto_start=False)
    state = await glue.send(ctx, cmd, meta)
    return await views.studio(ctx, request, state, caller, look_up=False)


@router.get("/studios")
@router.get("/studios/", include_in_schema=False)
async def list_studios(request: Request, ctx: CivisDep, caller: CivisCaller, limit: Limit = 20,
                       page_num: PageNum = 1, archived: bool = False) -> list[dict[str, Any]]:
    if archived:
        return []  # archived studios are deleted ones: nothing to list
    db = ctx.store.pool
    where, viewer = await glue.listing(ctx, caller)
    states, _ = await queries.list_studios(db, where, viewer, Search(), limit, (page_num - 1) * limit)
    shown = [s for s in states if t.studio_id(s.session_id) is not None]
    latest = await deployment_queries.latest(db, [s.session_id for s in shown])
    memo = views.Memo(ctx, caller)
    return [await views.studio(ctx, request, s, caller, latest.get(s.session_id), look_up=False, memo=memo)
            for s in shown]


@router.get("/studios/{studio_id}")
async def get_studio(request: Request, studio_id: int, ctx: CivisDep, caller: CivisCaller) -> dict[str, Any]:
    state = await glue.studio(ctx, caller, studio_id, "studio:read")
    return await views.studio(ctx, request, state, caller)


async def _update(request: Request, studio_id: int, body: StudioBody, ctx: CivisDep, caller: CivisCaller,
                  replace: bool) -> dict[str, Any]:
    state = await glue.studio(ctx, caller, studio_id, "studio:update")
    _fixed_at_create(state, body)
    ce_id = None
    if body.partition_label is not None:
        ws, ce = await glue.placement(ctx, caller, body.partition_label)
        if str(ws) != state.workspace_id:
            raise InvalidInput("partition_label names a compute environment of another workspace",
                               field="partition_label")
        ce_id = str(ce["id"])
    base = StudioConfiguration(environment={}) if replace else state.configuration
    config = t.configure(base, body.required_resources, body.params, _extra(body))
    if replace:  # what PUT leaves out takes its default; our own fields (lifespan, mounts...) are kept
        config = state.configuration.model_copy(update={
            "cpu": config.cpu, "memory": config.memory, "environment": config.environment})
    cmd = UpdateStudio(session_id=state.session_id, now=now(), actor=caller.actor,
                       studio_name=body.name if body.name != state.name else None, compute_env_id=ce_id,
                       configuration=config if config != state.configuration else None)
    if cmd.studio_name is None and cmd.compute_env_id is None and cmd.configuration is None:
        return await views.studio(ctx, request, state, caller)
    return await views.studio(ctx, request, await glue.send(ctx, cmd), caller)


def _fixed_at_create(state: State, body: StudioBody) -> None:
    current = state.template.repository if state.template else ""
    name, tag = t.split_image(current)
    if body.docker_image_name is not None and (body.docker_image_name, body.docker_image_tag or tag) != (name, tag):
        raise InvalidInput("A studio's docker image cannot change: create a new studio", field="docker_image_name")
    remote = state.remote_config
    if body.git_repo_url is not None and body.git_repo_url != (remote.repository if remote else None):
        raise InvalidInput("A studio's git repository cannot change: create a new studio", field="git_repo_url")


@router.put("/studios/{studio_id}")
async def replace_studio(request: Request, studio_id: int, body: StudioBody, ctx: CivisDep,
                         caller: CivisCaller) -> dict[str, Any]:
    return await _update(request, studio_id, body, ctx, caller, replace=True)


@router.patch("/studios/{studio_id}")
async def update_studio(request: Request, studio_id: int, body: StudioBody, ctx: CivisDep,
                        caller: CivisCaller) -> dict[str, Any]:
    return await _update(request, studio_id, body, ctx, caller, replace=False)


@router.put("/studios/{studio_id}/archive")
async def archive_studio(request: Request, studio_id: int, body: ArchiveBody, ctx: CivisDep,
                         caller: CivisCaller) -> dict[str, Any]:
    state = await glue.studio(ctx, caller, studio_id, "studio:delete" if body.status else "studio:read")
    shown = await views.studio(ctx, request, state, caller)
    if not body.status:
        return shown
    await glue.send(ctx, DeleteStudio(session_id=state.session_id, now=now(), actor=caller.actor))
    return {**shown, "archived": "true"}
