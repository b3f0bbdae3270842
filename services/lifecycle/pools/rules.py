"""Which starts a pool may honour, and what the compute environments ask for. Pure.

A pooled process was started before anyone asked for it, so it can only serve a start that asks for nothing it
could not have had at its own start: the exact class (template, compute environment, cpu, memory), no
environment variables, no data links (mounted at launch), no environment of its own (``condaEnvironment``: the
tool runs in a built venv), no custom command, no GPU. A clone source and a checkpoint are fine: they are put into
the studio's workspace before the binding, as for a cold start.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from libs.contracts.studio_state import State
from services.lifecycle.pools.model import PoolClass

POOLED_TOOL = "jupyter"


def poolable(state: State, classes: Iterable[PoolClass]) -> PoolClass | None:
    """The class a start of ``state`` is, if some pool keeps that class warm; else None (a cold start)."""
    template, cfg = state.template, state.configuration
    if template is None or template.tool != POOLED_TOOL:
        return None
    if cfg.environment or cfg.mount_data or cfg.conda_environment or cfg.command or cfg.gpu:
        return None
    wanted = PoolClass(state.compute_env_id, template.repository, cfg.cpu, cfg.memory)
    return wanted if wanted in set(classes) else None


def desired(events: Iterable[tuple[str, str, Mapping[str, Any]]]) -> dict[PoolClass, int]:
    """Each compute environment's pool from its events, ``(stream, type, data)`` in stream order: the last
    ``ComputeEnvWarmPoolSet`` counts, on a ``local-platform`` environment that is not deleted."""
    pools: dict[str, PoolClass | None] = {}
    sizes: dict[str, int] = {}
    local: dict[str, bool] = {}
    for stream, kind, data in events:
        env = stream.partition("-")[2]
        if kind == "ComputeEnvCreated":
            local[env] = str(data.get("platform", "local-platform")) == "local-platform"
        elif kind == "ComputeEnvDeleted":
            local[env] = False
        elif kind == "ComputeEnvWarmPoolSet":
            pools[env] = PoolClass(env, str(data["template"]), int(data["cpu"]), int(data["memory"]))
            sizes[env] = int(data["size"])
    return {cls: sizes[env] for env, cls in pools.items()
            if cls is not None and local.get(env, False) and sizes.get(env, 0) > 0}
