"""A compute environment's warm pool (``warmPool: {template, cpu, memory, size}``): pure rules, on the compute
environment's own stream (``computeenv-<id>``), so lifecycle learns the setting from the events it already reads.

Only a system administrator sets it: every pooled process holds memory and counts against the host's capacity
whether anyone uses it or not. Only JupyterLab templates can be pooled (lifecycle pre-imports the tool; see
docs/pools.md), and only on ``local-platform``, the backend that runs them.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from libs.contracts.errors import Forbidden, InvalidInput, NotFound
from libs.contracts.events import Event
from libs.contracts.identity import ComputeEnvCreated, ComputeEnvDeleted, ComputeEnvWarmPoolSet
from libs.contracts.studio import StudioTemplate

MAX_SIZE = 32  # per compute environment: a pool is a few processes kept warm, not a cluster
MIN_MEMORY, MAX_MEMORY = 256, 1_048_576  # MiB; below ~256 MiB JupyterLab does not start
MAX_CPU = 256
POOLED_TOOLS = frozenset({"jupyter"})
POOLED_PLATFORMS = frozenset({"local-platform"})


@dataclass(frozen=True)
class WarmPool:
    template: str
    cpu: int
    memory: int
    size: int


@dataclass(frozen=True)
class PoolEnv:
    """What the rules need of the compute environment: that it exists, where, on which platform, its pool."""

    exists: bool = False
    deleted: bool = False
    workspace_id: int = 0
    platform: str = ""
    pool: WarmPool | None = None


@dataclass(frozen=True)
class SetWarmPool:
    compute_env_id: str
    pool: WarmPool
    template: StudioTemplate | None  # the template ``pool.template`` names; None: no such template
    actor_is_admin: bool
    now: datetime
    actor: str


INITIAL = PoolEnv()


def validate(pool: WarmPool, template: StudioTemplate | None) -> None:
    """Each bad value is a 400 that names it."""
    if template is None:
        raise InvalidInput(f"warmPool.template: no template {pool.template!r}")
    if template.tool not in POOLED_TOOLS:
        raise InvalidInput(f"warmPool.template: {pool.template!r} runs {template.tool!r}; only "
                           f"{sorted(POOLED_TOOLS)} templates can be kept warm")
    if not 0 <= pool.size <= MAX_SIZE:
        raise InvalidInput(f"warmPool.size must be between 0 and {MAX_SIZE}")
    if not 1 <= pool.cpu <= MAX_CPU:
        raise InvalidInput(f"warmPool.cpu must be between 1 and {MAX_CPU}")
    if not MIN_MEMORY <= pool.memory <= MAX_MEMORY:
        raise InvalidInput(f"warmPool.memory must be between {MIN_MEMORY} and {MAX_MEMORY} MiB")


def decide(state: PoolEnv, c: SetWarmPool) -> list[Event]:
    if not state.exists or state.deleted:
        raise NotFound(f"Compute environment {c.compute_env_id} not found")
    if not c.actor_is_admin:
        raise Forbidden("Only a system administrator may set a compute environment's warm pool")
    validate(c.pool, c.template)
    if c.pool.size and state.platform not in POOLED_PLATFORMS:
        raise InvalidInput(f"warmPool: compute environment {c.compute_env_id} is {state.platform}; pools run on "
                           f"{sorted(POOLED_PLATFORMS)} only")
    if state.pool == c.pool:
        return []  # a repeated PUT records nothing
    return [ComputeEnvWarmPoolSet(compute_env_id=c.compute_env_id, workspace_id=state.workspace_id,
                                  template=c.pool.template, cpu=c.pool.cpu, memory=c.pool.memory, size=c.pool.size,
                                  at=c.now, actor=c.actor)]


def evolve(state: PoolEnv, e: Event) -> PoolEnv:
    if isinstance(e, ComputeEnvCreated):
        return PoolEnv(True, False, e.workspace_id, e.platform, None)
    if isinstance(e, ComputeEnvDeleted):
        return replace(state, deleted=True)
    if isinstance(e, ComputeEnvWarmPoolSet):
        return replace(state, pool=WarmPool(e.template, e.cpu, e.memory, e.size))
    return state
