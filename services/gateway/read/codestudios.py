"""Reads the Dataiku dialect needs beyond the shared ones: a project (workspace) by name, a workspace's first
compute environment, and when each template was last built. Plain SQL over the ``read`` schema, nothing else."""

from __future__ import annotations

from datetime import datetime

from services.gateway.read import Db


async def workspace_id_by_name(db: Db, name: str) -> int | None:
    """The workspace a project key names; the oldest one when several organisations use the name."""
    v = await db.fetchval("SELECT id FROM read.workspaces WHERE name = $1 ORDER BY id LIMIT 1", name)
    return int(v) if v is not None else None


async def first_compute_env_id(db: Db, workspace_id: int) -> str | None:
    """Where a code studio runs: Dataiku has no compute environment in its request, so the workspace's first."""
    v = await db.fetchval("SELECT id FROM read.compute_envs WHERE workspace_id = $1 AND NOT deleted "
                          "ORDER BY date_created, id LIMIT 1", workspace_id)
    return str(v) if v is not None else None


async def last_built(db: Db, template_ids: list[str]) -> dict[str, datetime]:
    """The latest successful build of each template (Dataiku's ``lastBuilt``)."""
    rows = await db.fetch("SELECT template_id, max(finished) AS at FROM read.builds WHERE template_id = ANY($1) "
                          "AND status = 'succeeded' GROUP BY template_id", template_ids)
    return {r["template_id"]: r["at"] for r in rows if r["at"] is not None}


async def user_name(db: Db, user_id: int) -> str | None:
    v = await db.fetchval("SELECT user_name FROM read.users WHERE id = $1", user_id)
    return str(v) if v is not None else None


async def studio_ever_existed(db: Db, session_id: str) -> bool:
    """Deleted studios included: a future on a deleted studio failed, one on an unknown studio does not exist."""
    return bool(await db.fetchval("SELECT EXISTS (SELECT 1 FROM read.studios WHERE session_id = $1)", session_id))
