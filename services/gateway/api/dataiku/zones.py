"""Dataiku's file-sync zones of a code studio, on the checkpoints service's zones (``libs.contracts.zone``):
``check_conflicts`` -> ``GET …/conflicts/{zone}``, ``pull_from_code_studio`` -> ``GET …/pull/{zone}``,
``push_to_code_studio`` -> ``GET …/push/{zone}`` (GETs, as the client sends them; push and pull still change
things, so they need the right to update the studio). Zones sync only while the studio runs."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from libs.contracts.zone import ZONES
from libs.contracts.zone_commands import CheckZoneConflicts, PullZone, PushZone, ZoneCommand
from libs.platform.clock import now
from services.gateway.access.deps import PoolDep
from services.gateway.api.dataiku import glue
from services.gateway.api.dataiku.wire import DataikuRoute, DataikuUser
from services.gateway.read import codestudios as q

router = APIRouter(tags=["code studio zones"], route_class=DataikuRoute)
BASE = "/projects/{project_key}/code-studios/{studio_id}"

__all__ = ["ZONES", "router"]


async def _send(request: Request, pool: PoolDep, caller: DataikuUser, key: str, studio_id: str, zone: str,
                kind: type[ZoneCommand], permission: str) -> dict[str, Any]:
    await glue.code_studio(pool, caller, key, studio_id, permission)
    reply = await glue.send(request, kind(session_id=studio_id, zone=zone, now=now(), actor=caller.actor),
                            caller.actor)
    return dict(reply.result or {})


@router.get(f"{BASE}/conflicts/{{zone}}")
async def check_conflicts(request: Request, project_key: str, studio_id: str, zone: str, pool: PoolDep,
                          caller: DataikuUser) -> dict[str, Any]:
    """``{zone: {authors, added, modified, deleted, studio, stored, commitFrom, commitTo}}``: the paths both
    sides changed since this studio's last sync (``studio``/``stored``: each side's changes)."""
    found = await _send(request, pool, caller, project_key, studio_id, zone, CheckZoneConflicts, "studio:read")
    for summary in found.values():  # authors are user ids in events; Dataiku shows logins
        ids = summary.get("authors") or []
        summary["authors"] = [await q.user_name(pool, int(a)) or a if str(a).isdigit() else a for a in ids]
    return found


@router.get(f"{BASE}/pull/{{zone}}")
async def pull(request: Request, project_key: str, studio_id: str, zone: str, pool: PoolDep,
               caller: DataikuUser) -> dict[str, Any]:
    """The studio's zone folder becomes the stored copy: ``{count, size}`` of the files that changed."""
    return await _send(request, pool, caller, project_key, studio_id, zone, PullZone, "studio:update")


@router.get(f"{BASE}/push/{{zone}}")
async def push(request: Request, project_key: str, studio_id: str, zone: str, pool: PoolDep,
               caller: DataikuUser) -> dict[str, Any]:
    """The stored copy is written into the studio's zone folder: ``{count, size}`` of the files written."""
    return await _send(request, pool, caller, project_key, studio_id, zone, PushZone, "studio:update")
