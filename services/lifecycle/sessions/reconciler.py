"""Reconciliation: make what runs agree with what the store says, after a restart and every so often.

- ``starting`` with no task under way: start it again (the runner adopts a live process of the same run).
- ``running`` whose process is gone: recorded stopped (``RECONCILED``); past its lifespan: stopped
  (``LIFESPAN_EXPIRED``).
- ``stopping`` with no task under way: stop it again; stuck there longer than the force-stop delay: forced.
- a live process that no studio wants (deleted, stopped, another run): stopped. No orphans.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from datetime import datetime, timedelta

from libs.contracts.studio import StopReason, StudioStatus
from libs.contracts.studio_commands import RecordSessionStopped, StopStudio
from libs.contracts.studio_state import State, due_for_lifespan_stop
from libs.eventstore import EventStore
from libs.platform.metrics import LifecycleMetrics
from services.lifecycle.backends.base import ComputeBackend, Handle
from services.lifecycle.handlers import Clock, StudioHandlers, utcnow
from services.lifecycle.sessions.runner import SessionRunner
from services.lifecycle.studio.rules import FORCE_STOP_AFTER

log = logging.getLogger("studios.lifecycle.reconcile")
ACTOR = "lifecycle"
METRICS = LifecycleMetrics()
ACTIVE = (StudioStatus.STARTING, StudioStatus.RUNNING, StudioStatus.STOPPING, StudioStatus.BUILDING)


class Reconciler:
    def __init__(self, store: EventStore, handlers: StudioHandlers, runner: SessionRunner,
                 backend: ComputeBackend, interval: float = 15.0, clock: Clock = utcnow,
                 idle_timeout: timedelta | None = None) -> None:
        self.store, self.handlers, self.runner, self.backend = store, handlers, runner, backend
        self.interval, self.clock, self.idle_timeout = interval, clock, idle_timeout

    async def active_studios(self) -> list[State]:
        # Lifecycle's own streams; one fold per studio keeps this simple at the scale of one machine.
        names = await self.store.pool.fetch(
            "SELECT substr(stream_name, 8) AS id FROM es.streams WHERE category = 'studio'")
        states = [await self.handlers.state(r["id"]) for r in names]
        return [s for s in states if s.exists and not s.deleted and s.status in ACTIVE]

    async def run_once(self) -> None:
        # The store first, the processes second: a studio read as running was running before the processes were
        # listed, so a process missing from that list really is gone. The other order would take a session that
        # became running during the pass for a vanished one, record it stopped and then kill it as an orphan.
        studios = await self.active_studios()
        METRICS.observe_sessions(Counter(s.status.value for s in studios if s.status), [a.value for a in ACTIVE])
        live = {h.session_id: h for h in await self.backend.list_sessions()}
        now = self.clock()
        wanted = {state.run_key for state in studios}
        for state in studios:
            if not self.runner.busy(state.session_id):
                await self._reconcile(state, live.get(state.run_key), now)
        for key, handle in live.items():
            if key not in wanted and not await self._wanted(key):
                log.warning("stopping orphan session process %s", key)
                await self.backend.stop(handle, grace=5.0)

    async def _wanted(self, run_key: str) -> bool:
        """Whether a process outside the pass's snapshot belongs to a studio that started after the snapshot."""
        session_id = run_key.rsplit("-", 1)[0]
        if self.runner.busy(session_id):
            return True
        state = await self.handlers.state(session_id)
        return state.exists and not state.deleted and state.status in ACTIVE and state.run_key == run_key

    async def _reconcile(self, state: State, handle: Handle | None, now: datetime) -> None:
        sid, run = state.session_id, state.run
        if state.status is StudioStatus.STARTING:
            self.runner.start(sid, run)
        elif state.status is StudioStatus.RUNNING and handle is None:
            log.warning("session %s run %s is gone; recording it stopped", sid, run)
            await self.handlers.handle(RecordSessionStopped(
                session_id=sid, now=now, actor=ACTOR, run=run, stop_reason=StopReason.RECONCILED,
                message="the session's process was no longer running"))
        elif state.status is StudioStatus.RUNNING and due_for_lifespan_stop(state, now):
            await self.handlers.handle(StopStudio(session_id=sid, now=now, actor=ACTOR, run=run,
                                                  stop_reason=StopReason.LIFESPAN_EXPIRED))
            self.runner.stop(sid, run)
        elif state.status is StudioStatus.RUNNING and self._idle(state, now):
            await self.handlers.handle(StopStudio(session_id=sid, now=now, actor=ACTOR, run=run,
                                                  stop_reason=StopReason.IDLE_TIMEOUT,
                                                  reason=f"no connection for {self.idle_timeout}"))
            self.runner.stop(sid, run)
        elif state.status is StudioStatus.STOPPING:
            if state.last_update and now - state.last_update >= FORCE_STOP_AFTER:
                await self.handlers.handle(StopStudio(session_id=sid, now=now, actor=ACTOR,
                                                      stop_reason=StopReason.ADMIN, reason="stop took too long"))
            self.runner.stop(sid, run)

    def _idle(self, state: State, now: datetime) -> bool:
        """Nobody connected, and nothing happened to the studio (a connection closing included) for the timeout."""
        if self.idle_timeout is None or state.active_connections or state.updated_at is None:
            return False
        return now - state.updated_at >= self.idle_timeout

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.run_once()
                METRICS.reconcile_passes(outcome="ok").inc()
            except Exception:
                METRICS.reconcile_passes(outcome="failed").inc()
                log.exception("reconciliation failed; retrying")
            try:
                await asyncio.wait_for(stop.wait(), self.interval)
            except TimeoutError:
                pass

    async def stop_all(self, reason: str) -> None:
        """On a graceful shutdown: stop every session this service runs, recorded as an admin stop."""
        for state in await self.active_studios():
            # A start under way is only interrupted: the next start-up's reconciliation resumes it.
            if state.status is StudioStatus.RUNNING:
                try:
                    await self.handlers.handle(StopStudio(session_id=state.session_id, now=utcnow(), actor=ACTOR,
                                                          stop_reason=StopReason.ADMIN, reason=reason))
                except Exception:
                    log.exception("could not record the stop of %s", state.session_id)
            self.runner.stop(state.session_id, state.run)
        await self.runner.drain()
        for handle in await self.backend.list_sessions():  # whatever no studio accounted for
            await self.backend.stop(handle, grace=5.0)
