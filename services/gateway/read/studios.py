"""Plain SQL reads of the studios read model (``read.studios``, ``read.workspace_studio_settings``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from libs.contracts.studio_state import State
from services.gateway.read import Db
from services.gateway.read.search import Search


@dataclass(frozen=True)
class Viewer:
    """Who is looking: private studios show to their creator and to admins of their workspace only."""

    user_id: str
    admin_of: Sequence[str] = ()  # workspace ids where the viewer is admin or owner
    everything: bool = False  # a system administrator


def _like(word: str) -> str:
    return "%" + word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


class _Where:
    def __init__(self) -> None:
        self.parts: list[str] = ["NOT s.deleted"]
        self.args: list[Any] = []

    def add(self, sql: str, *args: Any) -> None:
        names = []
        for a in args:
            self.args.append(a)
            names.append(f"${len(self.args)}")
        self.parts.append(sql.format(*names))

    def sql(self) -> str:
        return " AND ".join(self.parts)


def _filters(workspace_ids: Sequence[str] | None, viewer: Viewer, search: Search) -> _Where:
    w = _Where()
    if workspace_ids is not None:
        w.add("s.workspace_id = ANY({0}::text[])", list(workspace_ids))
    if not viewer.everything:
        w.add("(NOT s.is_private OR s.user_id = {0} OR s.workspace_id = ANY({1}::text[]))",
              viewer.user_id, list(viewer.admin_of))
    if search.statuses:
        w.add("s.status = ANY({0}::text[])", list(search.statuses))
    if search.user_ids:
        w.add("s.user_id = ANY({0}::text[])", list(search.user_ids))
    if search.compute_env_ids:
        w.add("s.compute_env_id = ANY({0}::text[])", list(search.compute_env_ids))
    for word in search.words:
        w.add("(s.name ILIKE {0} OR s.template_url ILIKE {0})", _like(word))
    return w


async def list_studios(db: Db, workspace_ids: Sequence[str] | None, viewer: Viewer, search: Search,
                       max_: int | None, offset: int | None) -> tuple[list[State], int]:
    """One page (newest first) and the total size of the filtered list."""
    w = _filters(workspace_ids, viewer, search)
    total = await db.fetchval(f"SELECT count(*) FROM read.studios s WHERE {w.sql()}", *w.args)
    n = len(w.args)
    rows = await db.fetch(
        f"""SELECT s.state FROM read.studios s WHERE {w.sql()}
             ORDER BY s.created DESC, s.session_id LIMIT ${n + 1} OFFSET ${n + 2}""",
        *w.args, max_, offset or 0)
    return [State.model_validate(r["state"]) for r in rows], int(total)


async def studio(db: Db, session_id: str) -> State | None:
    """A studio that exists and is not deleted (visibility is the caller's business)."""
    row = await db.fetchrow("SELECT state FROM read.studios WHERE session_id = $1 AND NOT deleted", session_id)
    return State.model_validate(row["state"]) if row is not None else None


async def name_in_use(db: Db, workspace_id: str, name: str) -> bool:
    return bool(await db.fetchval(
        "SELECT EXISTS (SELECT 1 FROM read.studios WHERE workspace_id = $1 AND lower(name) = lower($2) "
        "AND NOT deleted)", workspace_id, name))


async def mounted_data_link_ids(db: Db, workspace_ids: Sequence[str] | None, viewer: Viewer, status: str | None,
                                exclude: str | None) -> list[str]:
    w = _filters(workspace_ids, viewer, Search(statuses=(status,) if status else ()))
    if exclude:
        w.add("s.session_id <> {0}", exclude)
    rows = await db.fetch(
        f"""SELECT DISTINCT link FROM read.studios s,
                   jsonb_array_elements_text(s.state->'configuration'->'mount_data') AS link
             WHERE {w.sql()} ORDER BY link""", *w.args)
    return [r["link"] for r in rows]


async def administered_workspace_ids(db: Db, user_id: int, roles: Sequence[str]) -> list[str]:
    """Workspaces where the user has one of ``roles``, or owns the organization (``access.policy``'s admins)."""
    rows = await db.fetch(
        """SELECT p.workspace_id FROM read.participants p WHERE p.user_id = $1 AND p.role = ANY($2::text[])
           UNION SELECT w.id FROM read.workspaces w JOIN read.org_members m ON m.org_id = w.org_id
            WHERE m.user_id = $1 AND m.role = 'owner'""", user_id, list(roles))
    return [str(r[0]) for r in rows]


async def participating_workspace_ids(db: Db, user_id: int) -> list[str]:
    """Workspaces where the user takes part, or whose organization they own."""
    rows = await db.fetch(
        """SELECT p.workspace_id FROM read.participants p WHERE p.user_id = $1
           UNION SELECT w.id FROM read.workspaces w JOIN read.org_members m ON m.org_id = w.org_id
            WHERE m.user_id = $1 AND m.role = 'owner'""", user_id)
    return [str(r[0]) for r in rows]


async def org_workspace_ids(db: Db, org_id: int) -> set[str]:
    return {str(r[0]) for r in await db.fetch("SELECT id FROM read.workspaces WHERE org_id = $1", org_id)}


async def workspace_settings(db: Db, workspace_id: str) -> dict[str, Any] | None:
    row = await db.fetchrow(
        """SELECT workspace_id, org_id, lifespan_hours, private_studio_by_default, container_repository,
                  name_strategy FROM read.workspace_studio_settings WHERE workspace_id = $1""", workspace_id)
    return dict(row) if row is not None else None
