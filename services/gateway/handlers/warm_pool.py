"""Command glue for a compute environment's warm pool: resolve the template, ``execute`` on the env's stream."""

from __future__ import annotations

from datetime import datetime

from libs.contracts import identity as ev
from libs.contracts.errors import InvalidInput
from libs.contracts.studio import StudioConfiguration, StudioTemplate
from libs.eventstore import EventStore, execute, load
from services.gateway.domain import warm_pool as wp
from services.gateway.handlers.identity import meta
from services.gateway.read import templates


async def pooled_template(store: EventStore, repository: str) -> StudioTemplate | None:
    """The template a pool names, or None when there is none or it has an environment built at start (a start
    from it is never a pool's: lifecycle would run it in the built environment)."""
    try:
        template, config = await templates.resolve(store.pool, repository, StudioConfiguration())
    except InvalidInput:
        return None
    if config.conda_environment:
        raise InvalidInput(f"warmPool.template: {repository!r} has its own environment, built at each start; "
                           "such templates cannot be kept warm")
    return template


async def set_warm_pool(store: EventStore, *, compute_env_id: str, pool: wp.WarmPool, actor_is_admin: bool,
                        actor: str, now: datetime) -> int | None:
    template = await pooled_template(store, pool.template)
    command = wp.SetWarmPool(compute_env_id, pool, template, actor_is_admin, now, actor)
    done = await execute(store, ev.stream(ev.COMPUTE_ENV, compute_env_id), command, wp.decide, wp.evolve,
                         wp.INITIAL, metadata=meta(actor))
    return done.position


async def warm_pool(store: EventStore, compute_env_id: str) -> wp.PoolEnv:
    """The compute environment as the pool rules see it, folded from its own stream."""
    state, _ = await load(store, ev.stream(ev.COMPUTE_ENV, compute_env_id), wp.evolve, wp.INITIAL)
    return state
