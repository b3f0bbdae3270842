"""Who may do what to which studio: workspace roles (``services.gateway.domain.permissions``) and private studios.

A private studio is invisible (404) to everyone but its creator and the admins/owners of its workspace; those
admins may start, stop and delete it but not connect to it (``can_connect``).
"""

from __future__ import annotations

from libs.contracts.errors import Forbidden, InvalidInput, NotFound
from libs.contracts.studio_state import State
from services.gateway.access import auth
from services.gateway.access.auth import Principal as Caller
from services.gateway.access.auth import require, role_in
from services.gateway.domain.permissions import Role, can
from services.gateway.read import identity as queries_identity
from services.gateway.read import studios as queries
from services.gateway.read.studios import Db, Viewer

__all__ = ["Caller", "can_connect", "readable_workspaces", "require", "role_in", "studio", "viewer",
           "workspace_of"]


async def workspace_of(db: Db, caller: Caller, workspace_id: int | None) -> int:
    """The workspace a request is about: the one named, else the caller's own (Seqera's user context)."""
    if workspace_id is not None:
        return workspace_id
    found = await queries_identity.default_workspace_id(db, caller.user_id)
    if found is None:
        raise InvalidInput("workspaceId is required: you belong to no workspace")
    return found


async def viewer(db: Db, caller: Caller, workspace_ids: list[str]) -> Viewer:
    rows = await db.fetch(
        """SELECT p.workspace_id FROM read.participants p WHERE p.user_id = $1 AND p.role IN ('admin', 'owner')
           UNION SELECT w.id FROM read.workspaces w JOIN read.org_members m ON m.org_id = w.org_id
            WHERE m.user_id = $1 AND m.role = 'owner'""", caller.user_id)
    return Viewer(str(caller.user_id), [str(r[0]) for r in rows], everything=caller.is_admin)


async def readable_workspaces(db: Db, caller: Caller) -> list[str] | None:
    """Where the caller may list studios (None: everywhere, for a system administrator)."""
    if caller.is_admin:
        return None
    rows = await db.fetch(
        """SELECT p.workspace_id FROM read.participants p WHERE p.user_id = $1
           UNION SELECT w.id FROM read.workspaces w JOIN read.org_members m ON m.org_id = w.org_id
            WHERE m.user_id = $1 AND m.role = 'owner'""", caller.user_id)
    return [str(r[0]) for r in rows]


async def studio(db: Db, caller: Caller, session_id: str, workspace_id: int | None, permission: str) -> State:
    """The studio if the caller may see it and has ``permission`` in its workspace (404 hides, 403 refuses)."""
    s = await queries.studio(db, session_id)
    missing = NotFound(f"Studio {session_id} not found")
    if s is None or (workspace_id is not None and str(workspace_id) != s.workspace_id):
        raise missing
    try:
        role = await auth.role_in(db, caller, int(s.workspace_id))
    except (NotFound, ValueError):
        raise missing from None
    if role is None or not can(role, "studio:read"):
        raise missing
    if s.is_private and str(caller.user_id) != s.user_id and not can(role, "studio:admin"):
        raise missing
    if not can(role, permission) or not caller.allows(permission):
        raise Forbidden(f"Your role '{role}' does not allow {permission} on studio {session_id}")
    return s


def can_connect(caller: Caller, role: Role | None, s: State) -> bool:
    """For the proxy: a private studio is its creator's alone, even for workspace admins."""
    if s.is_private:
        return str(caller.user_id) == s.user_id
    return can(role, "studio:connect")
