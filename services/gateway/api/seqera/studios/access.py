"""Who may do what to which studio, for the Studios routes: the caller's workspace role (``access.auth``) and the
one studio policy (``access.policy``: 404 hides, 403 refuses)."""

from __future__ import annotations

from libs.contracts.errors import InvalidInput, NotFound
from libs.contracts.studio_state import State
from services.gateway.access import auth, policy
from services.gateway.access.auth import Principal, require, role_in
from services.gateway.read import Db
from services.gateway.read import identity as queries_identity
from services.gateway.read import studios as queries
from services.gateway.read.studios import Viewer

__all__ = ["readable_workspaces", "require", "role_in", "studio", "viewer", "workspace_of"]


async def workspace_of(db: Db, caller: Principal, workspace_id: int | None) -> int:
    """The workspace a request is about: the one named, else the caller's own (Seqera's user context)."""
    if workspace_id is not None:
        return workspace_id
    found = await queries_identity.default_workspace_id(db, caller.user_id)
    if found is None:
        raise InvalidInput("workspaceId is required: you belong to no workspace")
    return found


async def viewer(db: Db, caller: Principal) -> Viewer:
    """The caller as studio lists see them: ``policy.visible`` in the terms the SQL filter takes."""
    admin_of = await queries.administered_workspace_ids(db, caller.user_id, policy.ADMINISTERING_ROLES)
    return Viewer(str(caller.user_id), admin_of, everything=caller.is_admin)


async def readable_workspaces(db: Db, caller: Principal) -> list[str] | None:
    """Where the caller may list studios (None: everywhere, for a system administrator)."""
    if caller.is_admin:
        return None
    return await queries.participating_workspace_ids(db, caller.user_id)


async def studio(db: Db, caller: Principal, session_id: str, workspace_id: int | None, permission: str) -> State:
    """The studio if the caller may see it and has ``permission`` in its workspace (404 hides, 403 refuses)."""
    s = await queries.studio(db, session_id)
    if s is None or (workspace_id is not None and str(workspace_id) != s.workspace_id):
        raise NotFound(f"Studio {session_id} not found")
    try:
        role = await auth.role_in(db, caller, int(s.workspace_id))
    except (NotFound, ValueError):
        raise NotFound(f"Studio {session_id} not found") from None
    policy.check(caller, role, s, permission)
    return s
