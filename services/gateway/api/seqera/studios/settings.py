"""Workspace Studios settings: ``GET/PUT /orgs/{orgId}/workspaces/{workspaceId}/settings/studios``.

Stored as ``StudioWorkspaceSettingsChanged`` events on ``studiosettings-<workspaceId>`` (the gateway's own stream)
and read from ``read.workspace_studio_settings``. A PUT changes only the fields it sends.
"""

from __future__ import annotations

from fastapi import APIRouter, Response

from libs.contracts import studio_settings as ss
from libs.contracts.errors import NotFound
from libs.eventstore import Expected, to_new_events
from services.gateway.api.seqera.studios import access
from services.gateway.api.seqera.studios import models as m
from services.gateway.api.seqera.studios.context import Caller, CallerDep, ContextDep, StudiosContext, now
from services.gateway.read import identity as queries_identity
from services.gateway.read import studios as queries
from services.gateway.read.projections import STUDIOS, wait_for_position

router = APIRouter(tags=["workspaces"])
PATH = "/orgs/{org_id}/workspaces/{workspace_id}/settings/studios"
FIELDS = ("lifespan_hours", "private_studio_by_default", "container_repository", "name_strategy")


async def _check(ctx: StudiosContext, caller: Caller, org_id: int, workspace_id: int, permission: str) -> None:
    ws = await queries_identity.workspace(ctx.store.pool, workspace_id)
    if ws is None or ws["orgId"] != org_id:
        raise NotFound(f"Workspace {workspace_id} not found in organization {org_id}")
    await access.require(ctx.store.pool, caller, workspace_id, permission)


@router.get(PATH, response_model=m.DataStudioWorkspaceSettingsResponse)
async def get_settings(org_id: int, workspace_id: int, ctx: ContextDep,
                       caller: CallerDep) -> m.DataStudioWorkspaceSettingsResponse:
    await _check(ctx, caller, org_id, workspace_id, "workspace:read")
    row = await queries.workspace_settings(ctx.store.pool, str(workspace_id)) or {}
    return m.DataStudioWorkspaceSettingsResponse(org_id=org_id, wsp_id=workspace_id,
                                                 **{f: row[f] for f in FIELDS if row.get(f) is not None})


@router.put(PATH, status_code=204)
async def put_settings(org_id: int, workspace_id: int, body: m.DataStudioWorkspaceSettingsRequest,
                       ctx: ContextDep, caller: CallerDep) -> Response:
    await _check(ctx, caller, org_id, workspace_id, "workspace:admin")
    stream = ss.stream_name(str(workspace_id))
    records = await ctx.store.read_stream(stream)
    current = dict(records[-1].data) if records else {}
    sent = body.model_dump(exclude_unset=True)
    merged = {f: v for f in FIELDS if (v := sent.get(f, current.get(f))) is not None}
    event = ss.StudioWorkspaceSettingsChanged(workspace_id=str(workspace_id), org_id=str(org_id), at=now(),
                                              actor=caller.actor, **merged)
    expected = records[-1].stream_position if records else Expected.NO_STREAM
    result = await ctx.store.append(stream, to_new_events([event], {"actor": caller.actor, "source": "gateway"}),
                                    expected)
    await wait_for_position(ctx.store.pool, STUDIOS, result.position, ctx.consistency_timeout)
    return Response(status_code=204)
