"""``/api/datachain/clusters/``: the team's compute environments as DataChain compute clusters. The first
(oldest) is the default; ``max_workers`` is the config's ``maxWorkers`` (else this host's cores)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from libs.contracts.errors import InvalidInput
from services.gateway.access.deps import PoolDep
from services.gateway.api.datachain.auth import team
from services.gateway.api.datachain.context import DataChainContext, context
from services.gateway.read import Db
from services.gateway.read import jobs as q

router = APIRouter(prefix="/datachain", tags=["datachain"])
PROVIDERS = {"local-platform": "LOCAL", "docker-platform": "DOCKER", "k8s-platform": "KUBERNETES"}


@router.get("/clusters/")
async def list_clusters(request: Request, pool: PoolDep, ctx: Annotated[DataChainContext, Depends(context)],
                        team_name: str | None = None) -> list[dict[str, Any]]:
    t = await team(pool, request.headers, team_name, "job:read")
    rows = await q.clusters(pool, t.workspace_id)
    return [_cluster(r, i == 0, ctx.default_max_workers) for i, r in enumerate(rows)]


def _cluster(r: dict[str, Any], default: bool, fallback: int) -> dict[str, Any]:
    active = r["status"] == "AVAILABLE"
    return {"id": r["id"], "name": r["name"], "status": "ACTIVE" if active else r["status"],
            "cloud_provider": PROVIDERS.get(r["platform"], r["platform"]), "cloud_credentials": r["credentials_id"],
            "cloud_region": None, "instance_type": None, "compute_class": None, "disk_size": None,
            "is_active": active, "default": default, "max_workers": q.max_workers(r["config"], fallback),
            "busy_workers": int(r["busy"]), "active_workers": int(r["busy"])}


async def resolve_cluster(db: Db, workspace_id: int, name: str | None, cluster_id: str | int | None,
                          fallback: int) -> tuple[str, str, int]:
    """``(id, name, max_workers)`` of the cluster asked for, or of the team's default when none is."""
    rows = await q.clusters(db, workspace_id)
    if name is not None:
        found = [r for r in rows if r["name"] == name]
    elif cluster_id is not None:
        found = [r for r in rows if r["id"] == str(cluster_id)]
    else:
        found = rows[:1]
    if not found:
        asked = f"'{name}'" if name is not None else f"{cluster_id}" if cluster_id is not None else "(default)"
        raise InvalidInput(f"Compute cluster {asked} not found in this team", field="compute_cluster_name")
    r = found[0]
    return str(r["id"]), str(r["name"]), q.max_workers(r["config"], fallback)
