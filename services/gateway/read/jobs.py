"""Plain SQL reads for jobs: the jobs read model, the uploaded files, and compute environments as clusters."""

from __future__ import annotations

from typing import Any

from libs.contracts.job import ACTIVE, State
from services.gateway.read import Db
from services.gateway.read.identity import Row


async def workspace_by_name(db: Db, name: str, user_id: int) -> int | None:
    """A team is a workspace, by name; where several share it, the one the caller takes part in first."""
    v = await db.fetchval(
        """SELECT w.id FROM read.workspaces w WHERE w.name = $1
            ORDER BY EXISTS (SELECT 1 FROM read.participants p WHERE p.workspace_id = w.id AND p.user_id = $2) DESC,
                     w.id LIMIT 1""", name, user_id)
    return int(v) if v is not None else None


async def jobs(db: Db, workspace_id: int, *, status: str | None = None, limit: int = 20,
               job_id: str | None = None) -> list[State]:
    rows = await db.fetch(
        """SELECT state FROM read.jobs WHERE workspace_id = $1 AND ($2::text IS NULL OR status = $2)
              AND ($3::text IS NULL OR job_id = $3) ORDER BY created DESC, job_id LIMIT $4""",
        str(workspace_id), status, job_id, limit)
    return [State.model_validate(r["state"]) for r in rows]


async def job(db: Db, job_id: str) -> State | None:
    v = await db.fetchval("SELECT state FROM read.jobs WHERE job_id = $1", job_id)
    return State.model_validate(v) if v is not None else None


async def add_file(db: Db, workspace_id: int, filename: str, uri: str, sha256: str, size: int,
                   user_id: int) -> int:
    return int(await db.fetchval(
        """INSERT INTO jobs.files (workspace_id, filename, uri, sha256, size, uploaded_by)
           VALUES ($1, $2, $3, $4, $5, $6) RETURNING id""", workspace_id, filename, uri, sha256, size, user_id))


async def files(db: Db, workspace_id: int, ids: list[int]) -> list[Row]:
    rows = await db.fetch("""SELECT id, filename, uri, sha256, size FROM jobs.files
                              WHERE workspace_id = $1 AND id = ANY($2::bigint[]) ORDER BY id""", workspace_id, ids)
    return [dict(r) for r in rows]


async def clusters(db: Db, workspace_id: int) -> list[Row]:
    """The workspace's compute environments, oldest first (the first is the default), with their busy slots."""
    rows = await db.fetch(
        """SELECT c.id, c.name, c.platform, c.status, c.config, c.credentials_id, c.deleted,
                  (SELECT count(*) FROM read.jobs j WHERE j.cluster_id = c.id AND j.status = ANY($2::text[]))
                    AS busy
             FROM read.compute_envs c WHERE c.workspace_id = $1 AND NOT c.deleted
            ORDER BY c.date_created, c.id""", workspace_id, [s.value for s in ACTIVE])
    return [dict(r) for r in rows]


def max_workers(config: dict[str, Any] | None, fallback: int) -> int:
    value = (config or {}).get("maxWorkers")
    return int(value) if isinstance(value, int) and value > 0 else fallback
