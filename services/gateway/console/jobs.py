"""The jobs page: a workspace's jobs by status (DataChain Studio's jobs API, a team being a workspace), submit,
cancel, and a job's log lines (the logs service's query, in process, once the API has shown the job to the user)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from libs.contracts.logs import QueryLogs
from services.gateway.console.api import Api, ApiError
from services.gateway.console.session import Who, who
from services.gateway.console.web import PREFIX, SameOrigin, SignedApi, redirect, render

router = APIRouter(prefix=f"{PREFIX}/jobs", include_in_schema=False)
JOBS = "/api/datachain/jobs/"
STATUSES = ("", "CREATED", "SCHEDULED", "QUEUED", "RUNNING", "COMPLETE", "FAILED", "CANCELED")
MOVING = ("CREATED", "SCHEDULED", "QUEUED", "INIT", "PROVISIONING", "RUNNING", "CANCELING", "TASK")
PANEL_LINES = 500
#: how long after a job ends its panel waits for the output's final line (a job that never ran has none)
SETTLE = timedelta(seconds=30)


def _team(me: Who) -> str | None:
    return str(me.workspace["name"]) if me.workspace else None


async def _list(api: Api, team: str | None, status: str) -> list[dict[str, Any]]:
    return await api.get(JOBS, team_name=team, status=status or None, limit=100)  # type: ignore[no-any-return]


@router.get("")
async def jobs_page(request: Request, api: SignedApi, workspaceId: int | None = None, status: str = "") -> Response:
    me = await who(api, workspaceId)
    jobs = await _list(api, _team(me), status)
    return render(request, "jobs.html", {"me": me, "jobs": jobs, "status": status, "statuses": STATUSES,
                                         "workspace_id": me.workspace_id, "error": None})


@router.get("/table")
async def jobs_table(request: Request, api: SignedApi, workspaceId: int | None = None, status: str = "") -> Response:
    me = await who(api, workspaceId)
    jobs = await _list(api, _team(me), status)
    return render(request, "_jobs_table.html", {"jobs": jobs, "status": status, "workspace_id": me.workspace_id})


@router.post("", dependencies=[SameOrigin])
async def submit_job(request: Request, api: SignedApi, workspaceId: Annotated[int, Form()],
                     query: Annotated[str, Form()], name: Annotated[str, Form()] = "",
                     requirements: Annotated[str, Form()] = "") -> Response:
    me = await who(api, workspaceId)
    body = {"query": query, "team_name": _team(me), "query_name": name or None, "requirements": requirements or None}
    try:
        job = await api.call("POST", JOBS, None, body)
    except ApiError as e:
        jobs = await _list(api, _team(me), "")
        return render(request, "jobs.html", {"me": me, "jobs": jobs, "status": "", "statuses": STATUSES,
                                             "workspace_id": me.workspace_id, "error": e.message}, status=400)
    return redirect(request, f"{PREFIX}/jobs/{job['id']}?workspaceId={workspaceId}")


async def _job(api: Api, me: Who, job_id: str) -> dict[str, Any]:
    found = await api.get(JOBS, team_name=_team(me), job_id=job_id, include_steps="true")
    if not found:
        raise ApiError(404, f"Job {job_id} not found in this workspace")
    return found[0]  # type: ignore[no-any-return]


@router.get("/{job_id}")
async def job_page(request: Request, api: SignedApi, job_id: str, workspaceId: int | None = None) -> Response:
    me = await who(api, workspaceId)
    return render(request, "job.html", {"me": me, "job": await _job(api, me, job_id),
                                        "workspace_id": me.workspace_id})


@router.get("/{job_id}/panel")
async def job_panel(request: Request, api: SignedApi, job_id: str, workspaceId: int | None = None) -> Response:
    me = await who(api, workspaceId)
    job = await _job(api, me, job_id)  # the API decides whether this user may see it, before any log line
    logs = request.app.state.logs
    lines = (await logs.query(QueryLogs(kind="job", id=job_id, limit=PANEL_LINES)))["lines"] if logs else []
    return render(request, "_job_panel.html", {"job": job, "lines": lines, "workspace_id": me.workspace_id,
                                               "notice": None, "moving": job["status"] in MOVING,
                                               "polling": polling(job, lines, datetime.now(UTC))})


def polling(job: dict[str, Any], lines: list[dict[str, Any]], now: datetime) -> bool:
    """Whether the panel asks again in a moment. A job's status and its output travel apart (the status as an
    event, the output through ``LOGS`` and the logs service), so a job is often COMPLETE before its last lines
    are stored: the panel keeps asking until the run's final line is there, or the page is full, or ``SETTLE``
    has passed since the job ended."""
    if job["status"] in MOVING:
        return True
    if len(lines) >= PANEL_LINES or any(line.get("final") for line in lines) or not job.get("finished_at"):
        return False
    ended = datetime.fromisoformat(str(job["finished_at"]).replace("Z", "+00:00"))
    return now - ended < SETTLE


@router.post("/{job_id}/cancel", dependencies=[SameOrigin])
async def cancel_job(request: Request, api: SignedApi, job_id: str, workspaceId: int | None = None) -> Response:
    me = await who(api, workspaceId)
    await api.call("POST", f"{JOBS}{job_id}/cancel", None, {"team_name": _team(me)})
    return await job_panel(request, api, job_id, workspaceId)
