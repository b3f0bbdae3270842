"""``/templates``: the template registry (every version kept). Anyone signed in reads it; system administrators
write it. ``POST /templates/{id}/build`` (in ``builds.py``) builds a template's environment."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from libs.contracts.build_commands import SaveTemplate
from libs.contracts.errors import NotFound
from libs.contracts.template import SupportStatus, TemplateDefinition
from services.gateway.access.auth import CurrentUser, require_admin
from services.gateway.access.deps import PoolDep
from services.gateway.api.native.common import Body, send, settle
from services.gateway.api.native.problems import ProblemRoute
from services.gateway.read import builds as queries

router = APIRouter(tags=["templates"], route_class=ProblemRoute)


class TemplateIn(Body):
    repository: str
    tool: str
    description: str | None = None
    icon: str | None = None
    status: SupportStatus = SupportStatus.RECOMMENDED
    conda_environment: str | None = None
    requirements: tuple[str, ...] = ()
    command: tuple[str, ...] | None = None
    port: int | None = None
    base_path: bool | None = None
    build_for: tuple[str, ...] = ("local",)

    def definition(self) -> TemplateDefinition:
        return TemplateDefinition(**self.model_dump())


class TemplateCreate(TemplateIn):
    id: str


def template_out(row: dict[str, Any]) -> dict[str, Any]:
    d = TemplateDefinition.model_validate(row["definition"])
    body = TemplateIn.model_validate(d.model_dump()).model_dump(by_alias=True, mode="json")
    out = {"id": row["id"], "version": row["version"], **body}
    for k in ("created", "updated"):
        if row.get(k) is not None:
            out[k] = row[k].isoformat()
    return out


async def _saved(request: Request, pool: PoolDep, caller: CurrentUser, template_id: str, body: TemplateIn,
                 create: bool) -> dict[str, Any]:
    require_admin(caller)
    reply = await send(request, SaveTemplate(template_id=template_id, definition=body.definition(), create=create,
                                             actor=caller.actor), caller.actor)
    await settle(pool, reply.position)
    row = await queries.template(pool, template_id)
    if row is None:
        raise NotFound(f"template {template_id} not found")
    return template_out(row)


@router.get("/templates")
async def list_templates(pool: PoolDep, caller: CurrentUser, max: Annotated[int | None, Query(ge=0, le=1000)] = None,
                         offset: Annotated[int | None, Query(ge=0)] = None) -> dict[str, Any]:
    rows, total = await queries.list_templates(pool, max, offset)
    return {"templates": [template_out(r) for r in rows], "totalSize": total}


@router.post("/templates", status_code=201)
async def create_template(request: Request, body: TemplateCreate, pool: PoolDep, caller: CurrentUser
                          ) -> dict[str, Any]:
    definition = TemplateIn.model_validate(body.model_dump(exclude={"id"}))
    return await _saved(request, pool, caller, body.id, definition, create=True)


@router.put("/templates/{template_id}")
async def update_template(request: Request, template_id: str, body: TemplateIn, pool: PoolDep,
                          caller: CurrentUser) -> dict[str, Any]:
    return await _saved(request, pool, caller, template_id, body, create=False)


@router.get("/templates/{template_id}")
async def describe_template(template_id: str, pool: PoolDep, caller: CurrentUser) -> dict[str, Any]:
    row = await queries.template(pool, template_id)
    if row is None:
        raise NotFound(f"template {template_id} not found")
    return template_out(row)


@router.get("/templates/{template_id}/versions")
async def template_versions(template_id: str, pool: PoolDep, caller: CurrentUser) -> dict[str, Any]:
    rows = await queries.template_versions(pool, template_id)
    if not rows:
        raise NotFound(f"template {template_id} not found")
    return {"versions": [{**template_out(r), "actor": r["actor"]} for r in rows]}
