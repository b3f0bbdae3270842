"""A project's code studios are the studios of the workspace the project key names: ``/projects/{key}/code-studios/``.

Create (``{name, templateId}`` -> ``{"codeStudio": {...}}``, not started: Dataiku has no start, ``restart`` starts
a stopped one), list, settings, status (``STOPPED|STARTING|RUNNING|STOPPING``, ``lastStateChange`` in ms,
``syncedZones`` while it runs), stop and restart (futures on the run, ``futures.py``), delete (a running one is
stopped first). Every write is the same lifecycle command the Seqera dialect sends.
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Request, Response

from libs.contracts.errors import InvalidInput, NotFound, Unavailable
from libs.contracts.studio import StudioConfiguration, StudioStatus, StudioTemplate
from libs.contracts.studio_commands import ChangeStudioOwner, CreateStudio, DeleteStudio, StartStudio, StopStudio
from libs.contracts.studio_state import State
from libs.contracts.template import TemplateDefinition
from libs.platform.clock import now
from services.gateway.access import auth, policy
from services.gateway.access.deps import PoolDep
from services.gateway.api.dataiku import glue
from services.gateway.api.dataiku.futures import START_FAILED, start_id, state_of, stop_id, studio_future
from services.gateway.api.dataiku.wire import DataikuRoute, DataikuUser, json_body, text_field
from services.gateway.api.dataiku.zones import ZONES
from services.gateway.read import builds as template_queries
from services.gateway.read import codestudios as q
from services.gateway.read import identity as identity_queries
from services.gateway.read import studios as queries
from services.gateway.read import templates
from services.gateway.read.search import parse_search
from services.gateway.read.studios import Viewer

router = APIRouter(tags=["code studios"], route_class=DataikuRoute)
BASE = "/projects/{project_key}/code-studios"
STATES = {StudioStatus.STARTING: "STARTING", StudioStatus.BUILDING: "STARTING", StudioStatus.RUNNING: "RUNNING",
          StudioStatus.STOPPING: "STOPPING"}
UP = (StudioStatus.STARTING, StudioStatus.BUILDING, StudioStatus.RUNNING, StudioStatus.STOPPING)
STOP_WAIT = 120.0  # a restart or delete of a running studio waits this long for its stop


def dss_state(s: State) -> str:
    return STATES.get(s.status, "STOPPED") if s.status is not None else "STOPPED"


async def _template_id(pool: PoolDep, t: StudioTemplate | None) -> str | None:
    row = await template_queries.template_by_repository(pool, t.repository) if t is not None else None
    return row["id"] if row is not None else (t.repository if t is not None else None)


async def settings_of(pool: PoolDep, key: str, s: State) -> dict[str, Any]:
    owner = await q.user_name(pool, int(s.user_id)) if s.user_id.isdigit() else None
    template_id = await _template_id(pool, s.template)
    return {"id": s.session_id, "name": s.name, "projectKey": key, "owner": owner or s.user_id,
            "templateId": template_id, "libName": s.session_id, "description": s.description,
            "desc": {"label": template_id, "shortDesc": s.template.repository if s.template else ""},
            "creationTag": {"lastModifiedOn": _ms(s.updated_at), "versionNumber": s.run}}


def _ms(at: Any) -> int:
    return int(at.timestamp() * 1000) if at is not None else 0


def status_of(s: State) -> dict[str, Any]:
    state = dss_state(s)
    return {"state": state, "lastStateChange": _ms(s.last_update) if s.run else 0,
            "syncedZones": [{"id": z} for z in ZONES] if state == "RUNNING" else [],
            "exposed": [{"label": "tool", "url": f"/connect/{s.session_id}/"}] if state == "RUNNING" else []}


def _definition(row: dict[str, Any]) -> tuple[StudioTemplate, StudioConfiguration]:
    """The studio template and configuration a code studio of this template starts with (its environment is
    built at start, as for a Seqera studio naming the template)."""
    d = TemplateDefinition.model_validate(row["definition"])
    config = StudioConfiguration(conda_environment=templates.environment_yml(d))
    if d.command and d.tool == "custom":
        config = config.model_copy(update={"command": d.command})
    return StudioTemplate(repository=d.repository, tool=d.tool, icon=d.icon, status=d.status.value,
                          base_path=d.base_path), config




@router.get(f"{BASE}/")
async def list_code_studios(project_key: str, pool: PoolDep, caller: DataikuUser) -> list[dict[str, Any]]:
    ws = await glue.project(pool, caller, project_key, "studio:read")
    admin_of = await queries.administered_workspace_ids(pool, caller.user_id, ("admin", "owner"))
    viewer = Viewer(str(caller.user_id), admin_of, everything=caller.is_admin)
    states, _ = await queries.list_studios(pool, [str(ws)], viewer, parse_search(None), None, None)
    return [await settings_of(pool, project_key, s) for s in states]


CREATE_BODY = {"requestBody": {"required": True, "content": {"application/json": {"schema": {
    "type": "object", "required": ["name", "templateId"],
    "properties": {"name": {"type": "string"}, "templateId": {"type": "string"}}}}}}}


@router.post(f"{BASE}/", openapi_extra=CREATE_BODY)
async def create_code_studio(request: Request, project_key: str, pool: PoolDep, caller: DataikuUser
                             ) -> dict[str, Any]:
    body = await json_body(request)
    name, template_id = text_field(body, "name"), text_field(body, "templateId")
    ws = await glue.project(pool, caller, project_key, "studio:create")
    row = await template_queries.template(pool, str(template_id))
    if row is None:
        raise InvalidInput(f"Code studio template {template_id} does not exist")
    ce = await q.first_compute_env_id(pool, ws)
    if ce is None:
        raise InvalidInput(f"Project {project_key} has no compute environment to run code studios on")
    template, config = _definition(row)
    cmd = CreateStudio(session_id=uuid.uuid4().hex[:8], now=now(), actor=caller.actor, workspace_id=str(ws),
                       user_id=str(caller.user_id), studio_name=str(name), compute_env_id=ce, template=template,
                       configuration=config, auto_start=False)
    s = await glue.studio_after(request, pool, cmd.session_id, cmd, caller.actor)
    return {"codeStudio": await settings_of(pool, project_key, s)}


@router.get(f"{BASE}/{{studio_id}}")
async def get_code_studio(project_key: str, studio_id: str, pool: PoolDep, caller: DataikuUser) -> dict[str, Any]:
    return await settings_of(pool, project_key,
                             await glue.code_studio(pool, caller, project_key, studio_id, "studio:read"))


@router.get(f"{BASE}/{{studio_id}}/status")
async def get_status(project_key: str, studio_id: str, pool: PoolDep, caller: DataikuUser) -> dict[str, Any]:
    return status_of(await glue.code_studio(pool, caller, project_key, studio_id, "studio:read"))


async def _stopped(request: Request, pool: PoolDep, s: State, actor: str) -> State:
    """Stop ``s`` if it is up and wait (bounded) until it is down."""
    if s.status in (StudioStatus.STARTING, StudioStatus.BUILDING, StudioStatus.RUNNING):
        s = await glue.studio_after(request, pool, s.session_id,
                                    StopStudio(session_id=s.session_id, now=now(), actor=actor), actor)
    down = await glue.wait_studio(pool, s.session_id, lambda x: x.status not in UP, STOP_WAIT)
    if down is None:
        raise NotFound(f"Code studio {s.session_id} was deleted")
    if down.status in UP:
        raise Unavailable(f"Code studio {s.session_id} is still {down.status}; retry shortly")
    return down


@router.post(f"{BASE}/{{studio_id}}/stop")
async def stop(request: Request, project_key: str, studio_id: str, pool: PoolDep, caller: DataikuUser
               ) -> dict[str, Any]:
    s = await glue.code_studio(pool, caller, project_key, studio_id, "studio:stop")
    if s.status not in UP:
        return {"hasResult": True, "result": {"state": "STOPPED"}}  # already stopped: no future (Dataiku's None)
    if s.status is not StudioStatus.STOPPING:
        s = await glue.studio_after(request, pool, studio_id,
                                    StopStudio(session_id=studio_id, now=now(), actor=caller.actor), caller.actor)
    return studio_future(stop_id(studio_id, s.run), "stop", s.run, s)


@router.post(f"{BASE}/{{studio_id}}/restart")
async def restart(request: Request, project_key: str, studio_id: str, pool: PoolDep, caller: DataikuUser
                  ) -> dict[str, Any]:
    s = await glue.code_studio(pool, caller, project_key, studio_id, "studio:start")
    s = await _stopped(request, pool, s, caller.actor)
    settings = await queries.workspace_settings(pool, s.workspace_id) or {}
    s = await glue.studio_after(request, pool, studio_id, StartStudio(
        session_id=studio_id, now=now(), actor=caller.actor,
        workspace_default_lifespan_hours=settings.get("lifespan_hours")), caller.actor)
    if s.status in START_FAILED:
        return studio_future(start_id(studio_id, s.run), "start", s.run, s)
    return state_of(start_id(studio_id, s.run), False, None, "Starting")


@router.delete(f"{BASE}/{{studio_id}}", status_code=204)
async def delete(request: Request, project_key: str, studio_id: str, pool: PoolDep, caller: DataikuUser
                 ) -> Response:
    s = await glue.code_studio(pool, caller, project_key, studio_id, "studio:delete")
    s = await _stopped(request, pool, s, caller.actor)
    reply = await glue.send(request, DeleteStudio(session_id=studio_id, now=now(), actor=caller.actor), caller.actor)
    await glue.settle(pool, glue.STUDIOS, reply)
    return Response(status_code=204)


@router.post(f"{BASE}/{{studio_id}}/change-owner")
async def change_owner(request: Request, project_key: str, studio_id: str, pool: PoolDep, caller: DataikuUser,
                       newOwner: str = "") -> dict[str, Any]:  # Dataiku's query name
    """Give the code studio to another user of the project (by login or email): its owner or an admin may."""
    s = await glue.code_studio(pool, caller, project_key, studio_id, "studio:read")
    if not policy.is_creator(caller, s):
        policy.check(caller, await auth.role_in(pool, caller, int(s.workspace_id)), s, "studio:admin")
    user_id = await identity_queries.user_id_by_name_or_email(pool, glue.require_text(newOwner, "newOwner"))
    member = await identity_queries.access(pool, int(s.workspace_id), user_id) if user_id is not None else None
    if user_id is None or member is None or (member["participant_role"] is None and member["org_role"] is None):
        raise InvalidInput(f"{newOwner} is not a user of project {project_key}")
    s = await glue.studio_after(request, pool, studio_id, ChangeStudioOwner(
        session_id=studio_id, now=now(), actor=caller.actor, user_id=str(user_id)), caller.actor)
    return await settings_of(pool, project_key, s)
