"""Civis's deployments: a deployment is a run of the studio's session. ``POST`` starts the studio (a new run),
``DELETE`` stops the run if it is still going (a run that ended stays listed: runs are history), and the logs are
the run's lines from the logs service (``QueryLogs`` over NATS)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response

from libs.contracts.errors import InvalidInput, NotFound, Unavailable
from libs.contracts.logs import MAX_LIMIT, QueryLogs
from libs.contracts.studio_commands import StartStudio, StopStudio
from libs.platform.clock import now
from services.gateway.api.civis import glue, views
from services.gateway.api.civis.context import CivisCaller, CivisContext, CivisDep
from services.gateway.api.civis.errors import CivisRoute
from services.gateway.api.civis.requests import DeploymentBody
from services.gateway.read import deployments as queries

router = APIRouter(route_class=CivisRoute)
Limit = Annotated[int, Query(ge=1, le=50)]
PageNum = Annotated[int, Query(ge=1)]
LogLimit = Annotated[int, Query(ge=1, le=MAX_LIMIT)]


async def _run(ctx: CivisContext, session_id: str, deployment_id: int) -> dict[str, Any]:
    row = await queries.one(ctx.store.pool, session_id, deployment_id)
    if row is None:
        raise NotFound(f"Deployment {deployment_id} not found")
    return row


@router.get("/studios/{studio_id}/deployments")
async def list_deployments(request: Request, studio_id: int, ctx: CivisDep, caller: CivisCaller,
                           deployment_id: int | None = None, limit: Limit = 20, page_num: PageNum = 1,
                           order: Literal["created_at"] = "created_at",
                           order_dir: Literal["asc", "desc"] = "desc") -> list[dict[str, Any]]:
    state = await glue.studio(ctx, caller, studio_id, "studio:read")
    if deployment_id is not None:
        row = await queries.one(ctx.store.pool, state.session_id, deployment_id)
        rows = [row] if row is not None and page_num == 1 else []
    else:
        rows = await queries.page(ctx.store.pool, state.session_id, limit, (page_num - 1) * limit, order_dir)
    return [views.deployment(ctx, request, state, r, None) for r in rows]


@router.post("/studios/{studio_id}/deployments", status_code=201)
async def deploy(request: Request, studio_id: int, ctx: CivisDep, caller: CivisCaller,
                 body: DeploymentBody | None = None) -> dict[str, Any]:
    state = await glue.studio(ctx, caller, studio_id, "studio:start")
    state = await glue.send(ctx, StartStudio(session_id=state.session_id, now=now(), actor=caller.actor))
    return views.deployment(ctx, request, state, await _run(ctx, state.session_id, state.run), caller)


@router.get("/studios/{studio_id}/deployments/{deployment_id}")
async def get_deployment(request: Request, studio_id: int, deployment_id: int, ctx: CivisDep,
                         caller: CivisCaller) -> dict[str, Any]:
    state = await glue.studio(ctx, caller, studio_id, "studio:read")
    return views.deployment(ctx, request, state, await _run(ctx, state.session_id, deployment_id), caller)


@router.delete("/studios/{studio_id}/deployments/{deployment_id}", status_code=204)
async def delete_deployment(studio_id: int, deployment_id: int, ctx: CivisDep, caller: CivisCaller) -> Response:
    state = await glue.studio(ctx, caller, studio_id, "studio:stop")
    row = await _run(ctx, state.session_id, deployment_id)
    # an earlier run, or one already stopping or over: its session is not there to stop
    if state.run == deployment_id and row["status"] not in ("stopping", "stopped", "errored", "buildFailed"):
        await glue.send(ctx, StopStudio(session_id=state.session_id, now=now(), actor=caller.actor,
                                        run=deployment_id))
    return Response(status_code=204)


@router.get("/studios/{studio_id}/deployments/{deployment_id}/logs")
async def deployment_logs(request: Request, studio_id: int, deployment_id: int, ctx: CivisDep, caller: CivisCaller,
                          start_at: datetime | None = None, end_at: datetime | None = None,
                          limit: LogLimit = MAX_LIMIT) -> list[dict[str, Any]]:
    state = await glue.studio(ctx, caller, studio_id, "studio:read")
    await _run(ctx, state.session_id, deployment_id)
    for name, value in (("start_at", start_at), ("end_at", end_at)):
        if value is not None and value.tzinfo is None:
            raise InvalidInput(f"{name} needs a time zone (e.g. 2024-01-01T00:00:00Z)", field=name)
    if start_at and end_at and end_at < start_at:
        raise InvalidInput("end_at is before start_at", field="end_at")
    client = getattr(request.app.state, "logs", None)
    if client is None:
        raise Unavailable("the logs service is not connected")
    result = await client.query(QueryLogs(id=state.session_id, run=deployment_id, start_at=start_at, end_at=end_at,
                                          limit=limit))
    return [{k: v for k, v in line.items() if k != "final"} for line in result["lines"]]
