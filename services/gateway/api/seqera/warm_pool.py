"""``warmPool`` on a compute environment (our extension, admins only; docs/pools.md):
``PUT /compute-envs/{id}/warm-pool`` with ``{"warmPool": {"template", "cpu", "memory", "size"}}`` and ``GET``
of the same path. Bad values are a 400 naming the field; a non-admin a 403; an unknown environment a 404."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import Field

from libs.contracts.errors import NotFound
from services.gateway.access.auth import CurrentUser, require
from services.gateway.access.deps import StoreDep
from services.gateway.api.seqera.common import now, settle
from services.gateway.api.seqera.models import Body
from services.gateway.api.seqera.wire import SeqeraJSONResponse
from services.gateway.domain import warm_pool as wp
from services.gateway.handlers import warm_pool as h

router = APIRouter(tags=["compute-envs"], default_response_class=SeqeraJSONResponse)


class WarmPoolIn(Body):
    template: str = Field(min_length=1, max_length=500)
    cpu: int = 2
    memory: int = 8192
    size: int = 0


class SetWarmPoolRequest(Body):
    warm_pool: WarmPoolIn


def _dto(pool: wp.WarmPool | None) -> dict[str, Any]:
    if pool is None:
        return {"warmPool": {"template": None, "cpu": None, "memory": None, "size": 0}}
    return {"warmPool": {"template": pool.template, "cpu": pool.cpu, "memory": pool.memory, "size": pool.size}}


async def _env(store: StoreDep, user: CurrentUser, compute_env_id: str, permission: str) -> wp.PoolEnv:
    state = await h.warm_pool(store, compute_env_id)
    if not state.exists or state.deleted:
        raise NotFound(f"Compute environment {compute_env_id} not found")
    await require(store.pool, user, state.workspace_id, permission)
    return state


@router.get("/compute-envs/{computeEnvId}/warm-pool")
async def describe_warm_pool(computeEnvId: str, user: CurrentUser, store: StoreDep) -> dict[str, Any]:
    return _dto((await _env(store, user, computeEnvId, "computeenv:read")).pool)


@router.put("/compute-envs/{computeEnvId}/warm-pool")
async def set_warm_pool(computeEnvId: str, body: SetWarmPoolRequest, user: CurrentUser,
                        store: StoreDep) -> dict[str, Any]:
    await _env(store, user, computeEnvId, "computeenv:read")
    p = body.warm_pool
    pool = wp.WarmPool(p.template.strip(), p.cpu, p.memory, p.size)
    position = await h.set_warm_pool(store, compute_env_id=computeEnvId, pool=pool, actor_is_admin=user.is_admin,
                                     actor=user.actor, now=now())
    await settle(store.pool, position)
    return _dto(pool)
