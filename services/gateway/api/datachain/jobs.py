"""``/api/datachain/jobs/``: create, list, cancel, upload files; and the dataset versions a job created.

A create resolves what lifecycle must not look up itself (the team's workspace, the cluster and its
``max_workers``, the uploaded files) and sends ``SubmitJob``; the answer is read back from the jobs read model
once it has passed the appended position (read-your-writes)."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import tempfile
import uuid
from pathlib import Path
from typing import Annotated, Any

import asyncpg
from fastapi import APIRouter, Depends, File, Query, Request, UploadFile

from libs.contracts.errors import InvalidInput, NotFound, Unavailable
from libs.contracts.job import JobFile, JobSpec
from libs.contracts.job_commands import CancelJob, SubmitJob
from libs.platform.clock import now
from services.gateway.access.deps import PoolDep
from services.gateway.api.datachain.auth import Team, team
from services.gateway.api.datachain.clusters import resolve_cluster
from services.gateway.api.datachain.context import DataChainContext, context
from services.gateway.api.datachain.models import CancelInput, JobInput, aware, environment, job_output
from services.gateway.commands import RequestTrace
from services.gateway.read import jobs as q
from services.gateway.read.projections.base import wait_for_position
from services.gateway.read.projections.jobs import JOBS

router = APIRouter(prefix="/datachain", tags=["datachain"])
Ctx = Annotated[DataChainContext, Depends(context)]


async def _settled(pool: asyncpg.Pool, position: int | None) -> None:
    if not await wait_for_position(pool, JOBS, position, within=10.0):
        raise Unavailable("The job was saved but the jobs read model is behind; read it again shortly")


@router.get("/jobs/")
async def list_jobs(request: Request, pool: PoolDep, ctx: Ctx, team_name: str | None = None,
                    status: str | None = None, limit: Annotated[int, Query(ge=1, le=1000)] = 20,
                    job_id: str | None = None, include_steps: bool = False) -> list[dict[str, Any]]:
    t = await team(pool, request.headers, team_name, "job:read")
    found = await q.jobs(pool, t.workspace_id, status=status.upper() if status else None, limit=limit,
                         job_id=job_id)
    return [job_output(s, ctx.public_url, include_steps) for s in found]


@router.post("/jobs/")
async def create_job(request: Request, body: JobInput, pool: PoolDep, ctx: Ctx) -> dict[str, Any]:
    t = await team(pool, request.headers, body.team_name, "job:create")
    if body.compute_cluster_name is not None and body.compute_cluster_id is not None:
        raise InvalidInput("compute_cluster_name and compute_cluster_id are mutually exclusive",
                           field="compute_cluster_name")
    cluster_id, cluster_name, max_workers = await resolve_cluster(pool, t.workspace_id, body.compute_cluster_name,
                                                                  body.compute_cluster_id, ctx.default_max_workers)
    spec = JobSpec(query=body.query, query_type=body.query_type, name=body.query_name,
                   environment=environment(body.environment), workers=body.workers or 1,
                   files=tuple(await _files(pool, t, body.files or [])), python_version=body.python_version,
                   requirements=body.requirements or None, repository=body.repository or None,
                   priority=5 if body.priority is None else body.priority, cluster_id=cluster_id,
                   cluster_name=cluster_name, max_workers=max_workers, start_after=aware(body.start_after),
                   cron_expression=body.cron_expression or None, credentials_name=body.credentials_name)
    trace = RequestTrace.of(request.headers)
    meta = trace.meta(t.user.actor)
    # a keyed retry names the same job; without a key every create is a new job with a unique id
    job_id = str(uuid.uuid5(meta.command_id, "job")) if trace.idempotency_key else str(uuid.uuid4())
    reply = await ctx.sender.send(SubmitJob(job_id=job_id, now=now(), actor=t.user.actor,
                                            workspace_id=str(t.workspace_id), team=t.name,
                                            created_by=t.user.user_name, spec=spec), meta)
    await _settled(pool, reply.position)
    state = await q.job(pool, job_id)
    if state is None:
        raise Unavailable("The job was saved but is not readable yet")
    return job_output(state, ctx.public_url)


async def _files(pool: PoolDep, t: Team, ids: list[str | int]) -> list[JobFile]:
    try:
        wanted = [int(i) for i in ids]
    except ValueError:
        raise InvalidInput("files: file ids are numbers, as the upload answered", field="files") from None
    rows = {r["id"]: r for r in await q.files(pool, t.workspace_id, wanted)}
    missing = [i for i in wanted if i not in rows]
    if missing:
        raise InvalidInput(f"files: no uploaded file {', '.join(map(str, missing))} in team '{t.name}'",
                           field="files")
    return [JobFile(**rows[i]) for i in wanted]


@router.post("/jobs/{job_id}/cancel")
async def cancel_job(request: Request, job_id: str, pool: PoolDep, ctx: Ctx,
                     body: CancelInput | None = None) -> dict[str, Any]:
    team_name = (body.team_name if body else None) or request.query_params.get("team_name")
    t = await team(pool, request.headers, team_name, "job:cancel")
    state = await q.job(pool, job_id)
    if state is None or state.workspace_id != str(t.workspace_id):
        raise NotFound(f"Job {job_id} not found")
    meta = RequestTrace.of(request.headers).meta(t.user.actor)
    reply = await ctx.sender.send(CancelJob(job_id=job_id, now=now(), actor=t.user.actor), meta)
    await _settled(pool, reply.position)
    return {"message": "Successfully canceled"}


@router.post("/jobs/files")
async def upload_file(request: Request, pool: PoolDep, ctx: Ctx, file: Annotated[UploadFile, File()],
                      team_name: str | None = None) -> dict[str, Any]:
    t = await team(pool, request.headers, team_name, "job:create")
    filename = Path(file.filename or "").name
    if not filename or filename in (".", ".."):
        raise InvalidInput("file: the upload has no file name", field="file")
    digest, size, path = await _store(file, ctx.files_dir)
    file_id = await q.add_file(pool, t.workspace_id, filename, path.as_uri(), digest, size, t.user.user_id)
    return {"id": file_id, "filename": filename, "size": size, "state": "uploaded", "error": None}


async def _store(file: UploadFile, into: Path) -> tuple[str, int, Path]:
    """Into ``into/<sha256>`` by way of a temporary file (a half-written upload is never found by its hash)."""
    h, size = hashlib.sha256(), 0
    fd, tmp = tempfile.mkstemp(dir=into, prefix=".upload-")
    try:
        with os.fdopen(fd, "wb") as out:
            while chunk := await file.read(1 << 20):
                h.update(chunk)
                size += len(chunk)
                await asyncio.to_thread(out.write, chunk)
        final = into / h.hexdigest()
        os.replace(tmp, final)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return h.hexdigest(), size, final


@router.get("/datasets/dataset_job_versions")
async def dataset_job_versions(request: Request, pool: PoolDep, job_id: str | None = None,
                               team_name: str | None = None) -> dict[str, Any]:
    """Dataset versions a job created: Studios keeps no DataChain datasets, so none (the client asks after every
    followed job and needs a 2xx)."""
    await team(pool, request.headers, team_name, "job:read")
    return {"dataset_versions": []}
