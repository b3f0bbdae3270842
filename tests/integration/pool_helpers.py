"""Helpers for the warm-pool tests: set a pool on the ``local`` compute environment, read the pool's status."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from libs.contracts import identity as ev
from libs.contracts.studio import StudioConfiguration, StudioTemplate
from libs.eventstore import EventStore, to_new_events

JUPYTER = StudioTemplate(repository="studios/jupyter:4", tool="jupyter", base_path=True)
CPU, MEMORY = 1, 1024
CONFIG = StudioConfiguration(cpu=CPU, memory=MEMORY)


async def set_pool(store: EventStore, size: int, env: str = "local") -> None:
    """What the gateway appends for ``PUT /compute-envs/local/warm-pool`` (and, once, the environment itself)."""
    stream = ev.stream(ev.COMPUTE_ENV, env)
    now = datetime.now(UTC)
    events: list[ev.Event] = []
    if not await store.read_stream(stream):
        events.append(ev.ComputeEnvCreated(compute_env_id=env, workspace_id=1, name=env, platform="local-platform",
                                           config={"workDir": "/tmp"}, at=now, actor="1"))
    events.append(ev.ComputeEnvWarmPoolSet(compute_env_id=env, workspace_id=1, template=JUPYTER.repository,
                                           cpu=CPU, memory=MEMORY, size=size, at=now, actor="1"))
    await store.append(stream, to_new_events(events))


def pool_status(state_dir: Path) -> dict[str, Any]:
    try:
        return dict(json.loads((state_dir / "pool" / "status.json").read_text()))
    except (OSError, ValueError):
        return {"pools": []}


def ready_members(state_dir: Path) -> list[dict[str, Any]]:
    return [m for p in pool_status(state_dir)["pools"] for m in p["members"] if m["status"] == "ready"]


def session_record(state_dir: Path, run_key: str) -> dict[str, Any]:
    return dict(json.loads((state_dir / "sessions" / f"{run_key}.json").read_text()))


def cpu_weight(record: dict[str, Any]) -> tuple[int, int] | None:
    """A session record's cgroup cpu weight and that cgroup version's weight of one plain process; None without
    a cgroup."""
    group = record.get("cgroup")
    if not isinstance(group, dict):
        return None
    v2 = int(group["version"]) == 2
    weight = Path(str(group["cpu"])) / ("cpu.weight" if v2 else "cpu.shares")
    return int(weight.read_text()), 100 if v2 else 1024


def member_record(state_dir: Path, member_id: str) -> dict[str, Any]:
    return session_record(state_dir / "pool", member_id)
