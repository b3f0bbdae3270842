"""The interim timer (a running session's checkpoint is saved every N minutes) and the collection timer.

One checkpoints process acts at a time (a session advisory lock held on a connection of its own); the others
wait for it to go. A running session is found from the facts: an open checkpoint (created, not finalized) whose
studio is running that very run.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from datetime import timedelta

from libs.contracts.checkpoint import CheckpointStatus, SaveKind
from libs.contracts.checkpoint_commands import SaveCheckpoint
from libs.contracts.errors import StudiosError
from libs.contracts.studio import StudioStatus
from libs.eventstore import EventStore
from libs.platform.clock import Clock
from libs.platform.clock import now as utcnow
from services.checkpoints import gc, queries
from services.checkpoints.handlers import CheckpointHandlers
from services.checkpoints.storage.engine import Engine

log = logging.getLogger("studios.checkpoints.timers")
LEADER_KEY = int.from_bytes(hashlib.sha256(b"studios:checkpoints:timers").digest()[:8], "big", signed=True)
OPEN = (CheckpointStatus.EMPTY, CheckpointStatus.INTERIM)


async def interim_round(store: EventStore, handlers: CheckpointHandlers, every: timedelta,
                        clock: Clock = utcnow) -> int:
    """Save each running session whose checkpoint is older than ``every``; returns how many were saved."""
    now, saved = clock(), 0
    for state in await queries.everything(store):
        if state.deleted or state.status not in OPEN or not state.workspace:
            continue
        if state.date_saved is not None and now - state.date_saved < every:
            continue
        studio = await queries.studio_state(store, state.session_id)
        if studio.status is not StudioStatus.RUNNING or studio.run != state.run:
            continue
        try:
            await handlers.save(SaveCheckpoint(
                session_id=state.session_id, now=now, actor="checkpoints", run=state.run, kind=SaveKind.INTERIM,
                workspace=state.workspace, workspace_id=state.workspace_id, author_id=state.author_id,
                exclude=state.exclude))
            saved += 1
        except StudiosError as e:
            log.warning("interim checkpoint of %s run %s: %s", state.session_id, state.run, e)
    return saved


async def run(store: EventStore, handlers: CheckpointHandlers, engine: Engine, stop: asyncio.Event, *,
              interim_minutes: float, gc_interval_seconds: float, gc_grace_seconds: float) -> None:
    every = timedelta(minutes=interim_minutes)
    tick = max(1.0, min(60.0, every.total_seconds() / 5))
    last_gc = 0.0
    loop = asyncio.get_running_loop()
    async with store.pool.acquire() as conn:
        leader = False
        while not stop.is_set():
            try:
                leader = leader or bool(await conn.fetchval("SELECT pg_try_advisory_lock($1)", LEADER_KEY))
                if leader and interim_minutes > 0:
                    await interim_round(store, handlers, every)
                if leader and gc_interval_seconds > 0 and loop.time() - last_gc >= gc_interval_seconds:
                    last_gc = loop.time()
                    done = await gc.collect(store, engine, gc_grace_seconds, utcnow())
                    log.info("garbage collection: %s", done)
            except Exception:
                log.exception("checkpoint timers")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), tick)
        if leader:
            await conn.execute("SELECT pg_advisory_unlock($1)", LEADER_KEY)
