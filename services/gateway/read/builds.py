"""Queries of the builds read model (``projections/builds.py``): templates, their versions, builds."""

from __future__ import annotations

from typing import Any

from services.gateway.read import Db


def _template(row: Any) -> dict[str, Any]:
    return {"id": row["template_id"], "version": row["version"], "definition": row["definition"],
            "created": row["created"], "updated": row["updated"]}


async def list_templates(db: Db, max_: int | None, offset: int | None) -> tuple[list[dict[str, Any]], int]:
    rows = await db.fetch("SELECT * FROM read.templates ORDER BY template_id LIMIT $1 OFFSET $2",
                          max_, offset or 0)
    total = await db.fetchval("SELECT count(*) FROM read.templates")
    return [_template(r) for r in rows], int(total)


async def template(db: Db, template_id: str) -> dict[str, Any] | None:
    row = await db.fetchrow("SELECT * FROM read.templates WHERE template_id = $1", template_id)
    return _template(row) if row is not None else None


async def template_by_repository(db: Db, repository: str) -> dict[str, Any] | None:
    row = await db.fetchrow("SELECT * FROM read.templates WHERE repository = $1 ORDER BY template_id LIMIT 1",
                            repository)
    return _template(row) if row is not None else None


async def template_versions(db: Db, template_id: str) -> list[dict[str, Any]]:
    rows = await db.fetch("SELECT * FROM read.template_versions WHERE template_id = $1 ORDER BY version",
                          template_id)
    return [{"id": r["template_id"], "version": r["version"], "definition": r["definition"], "actor": r["actor"],
             "created": r["created"]} for r in rows]


async def build(db: Db, build_id: str) -> dict[str, Any] | None:
    row = await db.fetchrow("SELECT * FROM read.builds WHERE build_id = $1", build_id)
    return dict(row) if row is not None else None


async def operation(db: Db, operation_id: str) -> dict[str, Any] | None:
    row = await db.fetchrow("SELECT * FROM read.operations WHERE operation_id = $1", operation_id)
    return dict(row) if row is not None else None
