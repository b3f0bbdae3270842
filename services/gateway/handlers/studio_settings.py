"""Command glue for the workspace Studios settings: ``execute`` the aggregate with the expected version, so two
concurrent PUTs never lose each other's fields (the second is decided again on top of the first)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from libs.contracts import studio_settings as ev
from libs.eventstore import EventStore, execute, load
from services.gateway.domain import studio_settings as settings


async def change_settings(store: EventStore, workspace_id: int, org_id: int, changes: Mapping[str, Any],
                          now: datetime, actor: str) -> int | None:
    """The global position appended; None when the change changed nothing."""
    cmd = settings.ChangeSettings(str(workspace_id), str(org_id), dict(changes), now, actor)
    done = await execute(store, ev.stream_name(str(workspace_id)), cmd, settings.decide, settings.evolve,
                         settings.INITIAL, metadata={"actor": actor, "source": "gateway"})
    return done.position


async def current(store: EventStore, workspace_id: int) -> settings.Values:
    """The workspace's settings folded from its own stream (a handful of events)."""
    state, _ = await load(store, ev.stream_name(str(workspace_id)), settings.evolve, settings.INITIAL)
    return state.values
