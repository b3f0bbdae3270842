"""Builds and their operation handles.

``POST /templates/{id}/build`` asks the builder for the template's environment and answers ``202`` with an
operation: one attempt of one build (``build-<buildId>-<attempt>``). A spec built before answers an operation that
is already ``succeeded``. ``GET /operations/{id}?wait=N`` long-polls up to N seconds (at most 60) for it to end;
``DELETE /operations/{id}`` aborts it (system administrators: a build may be shared by many requests).
``GET /builds/{id}/logs`` pages the build's output; ``follow=true`` streams it as NDJSON until the build ends.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, StreamingResponse

from libs.contracts.build_commands import CancelBuild, GetBuildLog, RequestBuild
from libs.contracts.errors import NotFound
from libs.contracts.template import TemplateDefinition
from services.gateway.access.auth import CurrentUser, require_admin
from services.gateway.access.deps import PoolDep
from services.gateway.api.native.common import send, settle
from services.gateway.api.native.problems import ProblemRoute
from services.gateway.read import Db
from services.gateway.read import builds as queries
from services.gateway.read.projections.base import wake
from services.gateway.read.projections.builds import BUILDS, operation_id

router = APIRouter(tags=["builds"], route_class=ProblemRoute)
TERMINAL = {"succeeded", "failed", "cancelled"}
MAX_WAIT = 60.0
POLL = 0.1


def _iso(row: dict[str, Any], key: str) -> str | None:
    return row[key].isoformat() if row.get(key) is not None else None


def _progress(status: str) -> list[dict[str, str]]:
    """Three steps, like a studio's ``progress[]``: queued, building, done."""
    current = {"queued": 0, "running": 1, "failed": 1, "cancelled": 1, "succeeded": 3}[status]
    steps = []
    for i, label in enumerate(("Queued", "Building", "Done")):
        if i < current:
            state = "succeeded"
        elif i == current:
            state = "errored" if status in ("failed", "cancelled") else "in-progress"
        else:
            state = "pending"
        steps.append({"message": label, "status": state})
    return steps


def operation_out(row: dict[str, Any]) -> dict[str, Any]:
    """``{id, kind, state, done, result, error, progress}``: the one shape of every long action's handle."""
    status = row["status"]
    progress = _progress(status)
    out: dict[str, Any] = {"id": row["operation_id"], "kind": row["kind"], "state": status,
                           "done": status in TERMINAL, "progress": progress,
                           "buildId": row["build_id"], "attempt": row["attempt"],
                           "logsUrl": f"/builds/{row['build_id']}/logs?attempt={row['attempt']}",
                           "created": _iso(row, "created"), "started": _iso(row, "started"),
                           "finished": _iso(row, "finished")}
    if status == "succeeded":
        out["result"] = {"buildId": row["build_id"], "artifact": row["artifact"]}
    elif status in ("failed", "cancelled"):
        out["error"] = {"code": f"build_{status}", "message": row["message"]}
    return {k: v for k, v in out.items() if v is not None}


def build_out(row: dict[str, Any]) -> dict[str, Any]:
    out = {"id": row["build_id"], "key": row["key"], "status": row["status"], "attempt": row["attempt"],
           "spec": row["spec"], "platform": row["platform"], "templateId": row["template_id"],
           "requestedFor": row["requested_for"], "artifact": row["artifact"], "message": row["message"],
           "durationSeconds": row["duration_seconds"], "builds": row["builds"],
           "operationId": operation_id(row["build_id"], row["attempt"]), "logsUrl": f"/builds/{row['build_id']}/logs",
           "created": _iso(row, "created"), "requested": _iso(row, "requested"), "started": _iso(row, "started"),
           "finished": _iso(row, "finished")}
    return {k: v for k, v in out.items() if v is not None}


async def _operation(db: Db, op_id: str) -> dict[str, Any]:
    row = await queries.operation(db, op_id)
    if row is None:
        raise NotFound(f"operation {op_id} not found")
    return row


@router.post("/templates/{template_id}/build", status_code=202)
async def build_template(request: Request, template_id: str, pool: PoolDep, caller: CurrentUser) -> dict[str, Any]:
    row = await queries.template(pool, template_id)
    if row is None:
        raise NotFound(f"template {template_id} not found")
    d = TemplateDefinition.model_validate(row["definition"])
    reply = await send(request, RequestBuild(conda_environment=d.conda_environment, requirements=d.requirements,
                                             template_id=template_id, requested_for=f"template-{template_id}",
                                             actor=caller.actor), caller.actor)
    result = reply.result or {}
    await settle(pool, reply.position)
    op_id = operation_id(str(result["buildId"]), int(result["attempt"]))
    op = await _wait(pool, op_id, 5.0, lambda r: r is not None)  # a joined build may be a moment behind
    return operation_out(op)


async def _wait(pool: PoolDep, op_id: str, seconds: float, done: Any) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + min(max(seconds, 0.0), MAX_WAIT)
    while True:
        row = await queries.operation(pool, op_id)
        if done(row) or loop.time() >= deadline:
            if row is None:
                raise NotFound(f"operation {op_id} not found")
            return row
        wake(BUILDS)
        await asyncio.sleep(POLL)


@router.get("/operations/{op_id}")
async def get_operation(op_id: str, pool: PoolDep, caller: CurrentUser,
                        wait: Annotated[float, Query(ge=0, le=MAX_WAIT)] = 0) -> dict[str, Any]:
    await _operation(pool, op_id)
    row = await _wait(pool, op_id, wait, lambda r: r is not None and r["status"] in TERMINAL)
    return operation_out(row)


@router.delete("/operations/{op_id}")
async def abort_operation(request: Request, op_id: str, pool: PoolDep, caller: CurrentUser) -> dict[str, Any]:
    require_admin(caller)
    row = await _operation(pool, op_id)
    if row["status"] not in TERMINAL:
        reply = await send(request, CancelBuild(build_id=row["build_id"], actor=caller.actor,
                                                reason="aborted through the API"), caller.actor)
        await settle(pool, reply.position)
    return operation_out(await _operation(pool, op_id))


@router.get("/builds/{build_id}")
async def describe_build(build_id: str, pool: PoolDep, caller: CurrentUser) -> dict[str, Any]:
    row = await queries.build(pool, build_id)
    if row is None:
        raise NotFound(f"build {build_id} not found")
    return build_out(row)


@router.get("/builds/{build_id}/logs", response_model=None)
async def build_logs(request: Request, build_id: str, pool: PoolDep, caller: CurrentUser,
                     attempt: Annotated[int | None, Query(ge=1)] = None,
                     offset: Annotated[int, Query(ge=0)] = 0, max: Annotated[int, Query(ge=1, le=10_000)] = 1000,
                     follow: bool = False) -> JSONResponse | StreamingResponse:
    async def page(at: int) -> dict[str, Any]:
        cmd = GetBuildLog(build_id=build_id, attempt=attempt, offset=at, limit=max, actor=caller.actor)
        return (await send(request, cmd, caller.actor)).result or {}

    first = await page(offset)
    if not follow:
        return JSONResponse(first)

    async def lines() -> AsyncIterator[bytes]:
        current = first
        while True:
            for line in current.get("lines", []):
                yield (json.dumps(line) + "\n").encode()
            if current.get("finished") and not current.get("lines"):
                return
            if await request.is_disconnected():
                return
            if not current.get("lines"):
                await asyncio.sleep(0.25)
            current = await page(int(current.get("next", 0)))

    return StreamingResponse(lines(), media_type="application/x-ndjson")
