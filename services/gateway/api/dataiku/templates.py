"""Code studio templates are the builder's templates (``read.templates``): ``/admin/code-studios/``.

A template's settings are its ``TemplateDefinition`` in Dataiku's names beside ours: ``allContainerConfs`` /
``containerConfs`` are its ``buildFor`` (the compute-environment kinds it is built for: local, docker, kubernetes).
``PUT`` saves a new version (system administrators); ``POST …/build`` asks the builder and answers a future on
the build's operation (``futures.py``).
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request, Response

from libs.contracts.build_commands import RequestBuild, SaveTemplate
from libs.contracts.errors import InvalidInput, NotFound
from libs.contracts.template import TemplateDefinition
from services.gateway.access.auth import require_admin
from services.gateway.access.deps import PoolDep
from services.gateway.api.dataiku import glue
from services.gateway.api.dataiku.futures import state_of
from services.gateway.api.dataiku.wire import DataikuRoute, DataikuUser, json_body
from services.gateway.read import builds as queries
from services.gateway.read import codestudios as q
from services.gateway.read.projections import BUILDS
from services.gateway.read.projections.base import wake
from services.gateway.read.projections.builds import operation_id

router = APIRouter(tags=["code studio templates"], route_class=DataikuRoute)
CONTAINER_CONFS = ("local", "docker", "kubernetes")
#: settings keys that are ours (the definition), in the camelCase the native dialect uses
OURS = {"repository": "repository", "tool": "tool", "description": "description", "icon": "icon",
        "condaEnvironment": "conda_environment", "requirements": "requirements", "command": "command",
        "port": "port", "basePath": "base_path"}


def _ms(at: Any) -> int:
    return int(at.timestamp() * 1000) if at is not None else 0


def list_item(row: dict[str, Any], built: Any) -> dict[str, Any]:
    d = TemplateDefinition.model_validate(row["definition"])
    return {"id": row["id"], "label": d.description or row["id"], "type": d.tool, "buildFor": list(d.build_for),
            "lastBuilt": _ms(built), "version": row["version"],
            "desc": {"label": d.description or row["id"], "shortDesc": d.repository}}


def settings_of(row: dict[str, Any]) -> dict[str, Any]:
    d = TemplateDefinition.model_validate(row["definition"])
    out: dict[str, Any] = {"id": row["id"], "label": d.description or row["id"], "type": d.tool,
                           "version": row["version"], "status": d.status.value,
                           "allContainerConfs": set(CONTAINER_CONFS) <= set(d.build_for),
                           "containerConfs": list(d.build_for)}
    for wire, field in OURS.items():
        value = getattr(d, field)
        out[wire] = list(value) if isinstance(value, tuple) else value
    return out


def definition_from(settings: dict[str, Any], current: TemplateDefinition) -> TemplateDefinition:
    """The settings a client PUTs back over the current definition: Dataiku's keys, then ours."""
    changes: dict[str, Any] = {f: settings[w] for w, f in OURS.items() if w in settings}
    if settings.get("allContainerConfs") is True:
        changes["build_for"] = CONTAINER_CONFS
    elif "containerConfs" in settings:
        confs = settings["containerConfs"]
        if not isinstance(confs, list) or not all(c in CONTAINER_CONFS for c in confs):
            raise InvalidInput(f"containerConfs must be a list of {', '.join(CONTAINER_CONFS)}")
        changes["build_for"] = tuple(confs)
    try:
        return TemplateDefinition.model_validate({**current.model_dump(), **changes})
    except ValueError as e:
        raise InvalidInput(f"Invalid template settings: {e}") from None


async def _template(pool: PoolDep, template_id: str) -> dict[str, Any]:
    row = await queries.template(pool, template_id)
    if row is None:
        raise NotFound(f"Code studio template {template_id} does not exist")
    return row


@router.get("/admin/code-studios/")
async def list_templates(pool: PoolDep, caller: DataikuUser) -> list[dict[str, Any]]:
    rows, _ = await queries.list_templates(pool, None, None)
    built = await q.last_built(pool, [r["id"] for r in rows])
    return [list_item(r, built.get(r["id"])) for r in rows]


@router.get("/admin/code-studios/{template_id}")
async def get_template(template_id: str, pool: PoolDep, caller: DataikuUser) -> dict[str, Any]:
    return settings_of(await _template(pool, template_id))


SETTINGS_BODY = {"requestBody": {"required": True, "content": {"application/json": {"schema": {
    "type": "object", "description": "the settings GET answers, changed",
    "properties": {"allContainerConfs": {"type": "boolean"}, "containerConfs": {"type": "array",
                                                                                 "items": {"type": "string"}}}}}}}}


@router.put("/admin/code-studios/{template_id}", status_code=204, openapi_extra=SETTINGS_BODY)
async def save_template(request: Request, template_id: str, pool: PoolDep, caller: DataikuUser) -> Response:
    require_admin(caller)
    body = await json_body(request)
    row = await _template(pool, template_id)
    definition = definition_from(body, TemplateDefinition.model_validate(row["definition"]))
    reply = await glue.send(request, SaveTemplate(template_id=template_id, definition=definition,
                                                  actor=caller.actor), caller.actor)
    await glue.settle(pool, BUILDS, reply)
    return Response(status_code=204)


@router.post("/admin/code-studios/{template_id}/build")
async def build_template(request: Request, template_id: str, pool: PoolDep, caller: DataikuUser,
                         withNoCache: bool = False) -> dict[str, Any]:
    # withNoCache: a build of the same spec is the same content-addressed environment, so it is reused
    d = TemplateDefinition.model_validate((await _template(pool, template_id))["definition"])
    reply = await glue.send(request, RequestBuild(conda_environment=d.conda_environment, requirements=d.requirements,
                                                  template_id=template_id, requested_for=f"template-{template_id}",
                                                  actor=caller.actor), caller.actor)
    await glue.settle(pool, BUILDS, reply)
    result = reply.result or {}
    op_id = operation_id(str(result["buildId"]), int(result["attempt"]))
    for _ in range(50):  # a joined build's operation may be a moment behind its reply
        if await queries.operation(pool, op_id) is not None:
            break
        wake(BUILDS)
        await asyncio.sleep(glue.POLL)
    return state_of(op_id, False, None, "Building")
