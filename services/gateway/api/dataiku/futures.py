"""Dataiku futures over what Studios already tracks: a template build is the builder's operation
(``build-<buildId>-<attempt>``); a code studio's start or stop is its run (``codestudio-start-<id>-<run>``,
``codestudio-stop-<id>-<run>``), followed on the studios read model. No state of their own.

``GET /futures/{id}?peek=`` answers ``{jobId, hasResult, alive, aborted, progress, result}``; a task that failed
answers an HTTP error in Dataiku's shape (409, ``errorType`` ``…FutureAbortedException``) so the client stops
polling. ``DELETE /futures/{id}`` aborts: a build is cancelled (system administrators: builds are shared), a start
is stopped.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from libs.contracts.build_commands import CancelBuild
from libs.contracts.errors import NotFound, StudiosError
from libs.contracts.studio import StudioStatus
from libs.contracts.studio_commands import StopStudio
from libs.contracts.studio_state import State
from libs.platform.clock import now
from services.gateway.access.auth import require_admin
from services.gateway.access.deps import PoolDep
from services.gateway.api.dataiku import glue
from services.gateway.api.dataiku.wire import DataikuRoute, DataikuUser
from services.gateway.read import builds as build_queries
from services.gateway.read import codestudios as q
from services.gateway.read import studios as queries
from services.gateway.read.projections import BUILDS

router = APIRouter(tags=["futures"], route_class=DataikuRoute)
BUILD_DONE = {"succeeded", "failed", "cancelled"}
START_FAILED = {StudioStatus.ERRORED, StudioStatus.BUILD_FAILED}


class TaskFailed(StudiosError):
    code, status, title = "task_failed", 409, "Task failed"


def start_id(session_id: str, run: int) -> str:
    return f"codestudio-start-{session_id}-{run}"


def stop_id(session_id: str, run: int) -> str:
    return f"codestudio-stop-{session_id}-{run}"


def state_of(job_id: str, done: bool, result: Any = None, label: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {"jobId": job_id, "hasResult": done, "alive": not done, "aborted": False,
                           "progress": {"states": [{"name": label, "unit": "NONE", "target": 1,
                                                    "cur": 1 if done else 0}]}}
    if done:
        out["result"] = result
    return out


def _build(op: dict[str, Any]) -> dict[str, Any]:
    status = op["status"]
    if status in ("failed", "cancelled"):
        raise TaskFailed(f"Build {op['build_id']} {status}: {op.get('message') or 'no message'}")
    result = {"buildId": op["build_id"], "artifact": op["artifact"]} if status == "succeeded" else None
    return state_of(op["operation_id"], status == "succeeded", result, f"Building ({status})")


def studio_future(job_id: str, kind: str, run: int, s: State | None) -> dict[str, Any]:
    """A start is done once its run is running; it failed if the run errored, failed to build or stopped first.
    A stop is done once the run is no longer up (or a later run began)."""
    if s is None:
        if kind == "stop":
            return state_of(job_id, True, {"state": "STOPPED"}, "Stopping")
        raise TaskFailed(f"Code studio of {job_id} was deleted")
    later = s.run > run
    if kind == "start":
        if not later and s.status in START_FAILED:
            raise TaskFailed(f"Code studio {s.session_id} failed to start: {s.status_message or s.status}")
        if not later and s.status is StudioStatus.STOPPED:
            raise TaskFailed(f"Code studio {s.session_id} stopped before it ran: {s.status_message or 'stopped'}")
        return state_of(job_id, later or s.status is StudioStatus.RUNNING, {"state": "RUNNING"}, "Starting")
    down = later or s.status in (StudioStatus.STOPPED, *START_FAILED)
    return state_of(job_id, down, {"state": "STOPPED"}, "Stopping")


def _parse(job_id: str) -> tuple[str, str, int] | None:
    """``codestudio-<kind>-<sessionId>-<run>`` -> (kind, sessionId, run)."""
    parts = job_id.split("-")
    if len(parts) == 4 and parts[0] == "codestudio" and parts[1] in ("start", "stop") and parts[3].isdigit():
        return parts[1], parts[2], int(parts[3])
    return None


async def _studio_for(pool: PoolDep, caller: DataikuUser, job_id: str, permission: str
                      ) -> tuple[str, int, State | None]:
    parsed = _parse(job_id)
    if parsed is None:
        raise NotFound(f"Future {job_id} does not exist")
    kind, session_id, run = parsed
    s = await queries.studio(pool, session_id)
    if s is None and not await q.studio_ever_existed(pool, session_id):
        raise NotFound(f"Future {job_id} does not exist")
    if s is not None:
        s = await glue.code_studio(pool, caller, s.workspace_id, session_id, permission)
    return kind, run, s


@router.get("/futures/{job_id}")
async def get_future(job_id: str, pool: PoolDep, caller: DataikuUser, peek: bool = False) -> dict[str, Any]:
    # ``peek`` only leaves the result out in DSS; ours are small, so both answer the same
    if job_id.startswith("build-"):
        op = await build_queries.operation(pool, job_id)
        if op is None:
            raise NotFound(f"Future {job_id} does not exist")
        return _build(op)
    kind, run, s = await _studio_for(pool, caller, job_id, "studio:read")
    return studio_future(job_id, kind, run, s)


@router.delete("/futures/{job_id}")
async def abort_future(request: Request, job_id: str, pool: PoolDep, caller: DataikuUser) -> dict[str, Any]:
    if job_id.startswith("build-"):
        require_admin(caller)
        op = await build_queries.operation(pool, job_id)
        if op is None:
            raise NotFound(f"Future {job_id} does not exist")
        if op["status"] not in BUILD_DONE:
            reply = await glue.send(request, CancelBuild(build_id=op["build_id"], actor=caller.actor,
                                                         reason="aborted through the Dataiku API"), caller.actor)
            await glue.settle(pool, BUILDS, reply)
        return {"jobId": job_id, "aborted": True}
    kind, run, s = await _studio_for(pool, caller, job_id, "studio:stop")
    if kind == "start" and s is not None and s.run == run and s.status not in (StudioStatus.STOPPED, *START_FAILED):
        await glue.studio_after(request, pool, s.session_id, StopStudio(
            session_id=s.session_id, now=now(), actor=caller.actor, reason="aborted through the Dataiku API"),
            caller.actor)
    return {"jobId": job_id, "aborted": True}
