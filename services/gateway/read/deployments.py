"""Plain SQL reads of the deployments read model (``read.deployments``: one row per run of a studio)."""

from __future__ import annotations

from typing import Any, Literal

from services.gateway.read import Db

Row = dict[str, Any]
_COLUMNS = """session_id, run, user_id, template, cpu, memory, status, message, max_memory_mb, max_cpu_millicores,
  created_at, updated_at"""


async def page(db: Db, session_id: str, limit: int, offset: int,
               direction: Literal["asc", "desc"] = "desc") -> list[Row]:
    order = "ASC" if direction == "asc" else "DESC"  # one of two literals: never the caller's text
    rows = await db.fetch(
        f"""SELECT {_COLUMNS} FROM read.deployments WHERE session_id = $1
             ORDER BY created_at {order}, run {order} LIMIT $2 OFFSET $3""", session_id, limit, offset)
    return [dict(r) for r in rows]


async def one(db: Db, session_id: str, run: int) -> Row | None:
    r = await db.fetchrow(f"SELECT {_COLUMNS} FROM read.deployments WHERE session_id = $1 AND run = $2",
                          session_id, run)
    return dict(r) if r is not None else None


async def latest(db: Db, session_ids: list[str]) -> dict[str, Row]:
    """Each studio's most recent run, by session id (a studio never started has none)."""
    rows = await db.fetch(
        f"""SELECT DISTINCT ON (session_id) {_COLUMNS} FROM read.deployments WHERE session_id = ANY($1::text[])
             ORDER BY session_id, run DESC""", session_ids)
    return {r["session_id"]: dict(r) for r in rows}


async def token_hash(db: Db, token_id: int) -> str | None:
    """The hash a connect ticket is issued against (a display link names its token by id, never by value)."""
    v = await db.fetchval("SELECT token_hash FROM read.tokens WHERE id = $1 AND NOT revoked", token_id)
    return str(v) if v is not None else None
