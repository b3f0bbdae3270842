"""File-sync zones of a studio (ours; Seqera has none): named folders of the workspace that sync with a stored
copy the checkpoints service keeps (``libs.contracts.zone``). The Dataiku dialect maps its client's calls onto the
same commands (``api/dataiku/zones.py``).

Directions are the commands' own, from the studio's side of the copy as in Dataiku: ``push`` writes the stored copy
into the studio's folder, ``pull`` takes the studio's folder into the stored copy; both answer ``{count, size}``.
``conflicts`` compares three ways against this studio's last sync. Zones sync only while the studio runs.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from libs.contracts.errors import NotFound
from libs.contracts.zone import ZONES, SyncDirection
from libs.contracts.zone_commands import CheckZoneConflicts, PullZone, PushZone, ZoneCommand
from libs.platform.clock import now
from services.gateway.access.auth import CurrentUser
from services.gateway.api.seqera.studios import access
from services.gateway.api.seqera.studios.context import ContextDep
from services.gateway.api.seqera.studios.requests import WorkspaceId
from services.gateway.commands import checked

router = APIRouter(tags=["studios"])


async def _send(ctx: ContextDep, caller: CurrentUser, session_id: str, zone: str, workspace_id: int | None,
                kind: type[ZoneCommand], permission: str) -> dict[str, Any]:
    await access.studio(ctx.store.pool, caller, session_id, workspace_id, permission)  # 404 before the zone
    if zone not in ZONES:
        raise NotFound(f"Zone {zone!r} not found; a studio's zones are {', '.join(ZONES)}")
    actor = str(caller.user_id)
    reply = checked(await ctx.sender.send(kind(session_id=session_id, zone=zone, now=now(), actor=actor),
                                          ctx.trace.meta(actor)))
    return dict(reply.result or {})


@router.get("/studios/{session_id}/zones")
async def list_zones(session_id: str, ctx: ContextDep, caller: CurrentUser,
                     workspace_id: WorkspaceId = None) -> dict[str, Any]:
    """The studio's zones and the two directions each syncs in."""
    await access.studio(ctx.store.pool, caller, session_id, workspace_id, "studio:read")
    return {"zones": [{"name": z, "folder": z, "directions": [d.value for d in SyncDirection]} for z in ZONES]}


@router.get("/studios/{session_id}/zones/{zone}/conflicts")
async def zone_conflicts(session_id: str, zone: str, ctx: ContextDep, caller: CurrentUser,
                         workspace_id: WorkspaceId = None) -> dict[str, Any]:
    """``{zone: {authors, added, modified, deleted, studio, stored, …}}``: the paths both sides changed since this
    studio's last sync (``studio`` / ``stored``: each side's own changes)."""
    return await _send(ctx, caller, session_id, zone, workspace_id, CheckZoneConflicts, "studio:read")


@router.post("/studios/{session_id}/zones/{zone}/push")
async def push_zone(session_id: str, zone: str, ctx: ContextDep, caller: CurrentUser,
                    workspace_id: WorkspaceId = None) -> dict[str, Any]:
    """The stored copy is written into the studio's zone folder: ``{count, size}`` of the files written."""
    return await _send(ctx, caller, session_id, zone, workspace_id, PushZone, "studio:update")


@router.post("/studios/{session_id}/zones/{zone}/pull")
async def pull_zone(session_id: str, zone: str, ctx: ContextDep, caller: CurrentUser,
                    workspace_id: WorkspaceId = None) -> dict[str, Any]:
    """The studio's zone folder becomes the stored copy: ``{count, size}`` of the files that changed."""
    return await _send(ctx, caller, session_id, zone, workspace_id, PullZone, "studio:update")
