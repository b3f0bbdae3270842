"""``GET /studios/{sessionId}/connections``: who is in a studio now (our extension; docs/activity.md). The same
``activeConnections`` the studio's DTO shows, with what keeps the session alive."""

from __future__ import annotations

from fastapi import APIRouter

from services.gateway.access.auth import CurrentUser
from services.gateway.api.seqera import lookups
from services.gateway.api.seqera.dto import active_connections
from services.gateway.api.seqera.studios import access
from services.gateway.api.seqera.studios import models as m
from services.gateway.api.seqera.studios.context import ContextDep
from services.gateway.api.seqera.studios.requests import WorkspaceId

router = APIRouter(tags=["studios"])


@router.get("/studios/{sessionId}/connections", response_model=m.ActiveConnectionsResponse)
async def list_connections(sessionId: str, ctx: ContextDep, caller: CurrentUser,
                           workspace_id: WorkspaceId = None) -> m.ActiveConnectionsResponse:
    state = await access.studio(ctx.store.pool, caller, sessionId, workspace_id, "studio:read")
    found = await lookups.for_studios(ctx.store.pool, [state])
    connections = active_connections(state, found.users)
    return m.ActiveConnectionsResponse(active_connections=connections, total_size=len(connections),
                                       last_activity=state.last_activity)
