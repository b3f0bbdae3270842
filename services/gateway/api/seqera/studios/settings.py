"""Workspace Studios settings: ``GET/PUT /orgs/{orgId}/workspaces/{workspaceId}/settings/studios``.

Decided by the ``studiosettings-<workspaceId>`` aggregate (``services.gateway.domain.studio_settings``, the
gateway's own stream) and read from ``read.workspace_studio_settings``. A PUT changes only the fields it sends.
"""

from __future__ import annotations

from fastapi import APIRouter, Response

from libs.contracts.errors import NotFound
from libs.platform.clock import now
from services.gateway.access.auth import CurrentUser, Principal
from services.gateway.api.seqera.studios import access
from services.gateway.api.seqera.studios import models as m
from services.gateway.api.seqera.studios.context import ContextDep, StudiosContext
from services.gateway.domain.studio_settings import FIELDS
from services.gateway.handlers.studio_settings import change_settings, current
from services.gateway.read import identity as queries_identity
from services.gateway.read import studios as queries
from services.gateway.read.projections import STUDIOS, wait_for_position

router = APIRouter(tags=["workspaces"])
PATH = "/orgs/{org_id}/workspaces/{workspace_id}/settings/studios"


async def _check(ctx: StudiosContext, caller: Principal, org_id: int, workspace_id: int, permission: str) -> None:
    ws = await queries_identity.workspace(ctx.store.pool, workspace_id)
    if ws is None or ws["orgId"] != org_id:
        raise NotFound(f"Workspace {workspace_id} not found in organization {org_id}")
    await access.require(ctx.store.pool, caller, workspace_id, permission)


@router.get(PATH, response_model=m.DataStudioWorkspaceSettingsResponse)
async def get_settings(org_id: int, workspace_id: int, ctx: ContextDep,
                       caller: CurrentUser) -> m.DataStudioWorkspaceSettingsResponse:
    await _check(ctx, caller, org_id, workspace_id, "workspace:read")
    row = await queries.workspace_settings(ctx.store.pool, str(workspace_id)) or {}
    # not a column of the read model (yet): from the settings' own stream
    row = {**row, "idle_timeout_minutes": (await current(ctx.store, workspace_id)).idle_timeout_minutes}
    return m.DataStudioWorkspaceSettingsResponse(org_id=org_id, wsp_id=workspace_id,
                                                 **{f: row[f] for f in FIELDS if row.get(f) is not None})


@router.put(PATH, status_code=204)
async def put_settings(org_id: int, workspace_id: int, body: m.DataStudioWorkspaceSettingsRequest,
                       ctx: ContextDep, caller: CurrentUser) -> Response:
    await _check(ctx, caller, org_id, workspace_id, "workspace:admin")
    position = await change_settings(ctx.store, workspace_id, org_id, body.model_dump(exclude_unset=True), now(),
                                     caller.actor)
    if position is not None:
        await wait_for_position(ctx.store.pool, STUDIOS, position, ctx.consistency_timeout)
    return Response(status_code=204)
