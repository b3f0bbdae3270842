"""Reconciliation: make what runs agree with what the store says, after a restart and every so often.

- ``starting`` with no task under way: start it again (the runner adopts a live process of the same run).
- ``running`` whose process is gone: recorded stopped (``RECONCILED``); past its lifespan: stopped
  (``LIFESPAN_EXPIRED``).
- ``stopping`` with no task under way: stop it again; stuck there longer than the force-stop delay: forced.
- a live process that no studio wants (deleted, stopped, another run): stopped. No orphans.
- a deleted studio's workspace folder, data-link copies and engine volume: removed (``reclaim.py``; every replica,
  for its own host).

Only the holder of the leader lock (``leadership.py``) acts, so two lifecycle processes never both reconcile: the
others' passes do nothing until the leader goes. A service restart leaves sessions alone (the next process adopts
them); only ``shutdown()``, on a whole-system shutdown, stops them, each recorded with ``StopReason.SHUTDOWN``.
"""

from __future__ import annotations

import asyncio
import contextlib
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
from services.lifecycle.sessions.activity import ActivityProbe
from services.lifecycle.sessions.idling import IdleWatch
from services.lifecycle.sessions.leadership import LeaderLock
from services.lifecycle.sessions.reclaim import Reclaimer
from services.lifecycle.sessions.runner import SessionRunner
from services.lifecycle.studio.rules import FORCE_STOP_AFTER

log = logging.getLogger("studios.lifecycle.reconcile")
ACTOR = "lifecycle"
METRICS = LifecycleMetrics()
ACTIVE = (StudioStatus.STARTING, StudioStatus.RUNNING, StudioStatus.STOPPING, StudioStatus.BUILDING)


class Reconciler:
    def __init__(self, store: EventStore, handlers: StudioHandlers, runner: SessionRunner,
                 backend: ComputeBackend, interval: float = 15.0, clock: Clock = utcnow,
                 idle_timeout: timedelta | None = None, leader: LeaderLock | None = None) -> None:
        self.store, self.handlers, self.runner, self.backend = store, handlers, runner, backend
        self.interval, self.clock, self.idle_timeout = interval, clock, idle_timeout
        #: None: this reconciler is the only one (tests, a single process); else it acts only while leading
        self.leader = leader
        #: idle stops that never stop real work: connections, and work seen in the tool (docs/activity.md)
        self.idling = IdleWatch(handlers, ActivityProbe(backend, runner.provisioner.secret))
        #: what deleted studios left on this host: workspace folders, data-link copies, engine volumes
        self.reclaimer = Reclaimer(store, runner.provisioner.workspaces, runner.provisioner.datalinks.copies, backend)

    async def active_studios(self) -> list[State]:
        # Lifecycle's own streams; one fold per studio keeps this simple at the scale of one machine.
        names = await self.store.pool.fetch(
            "SELECT substr(stream_name, 8) AS id FROM es.streams WHERE category = 'studio'")
        states = [await self.handlers.state(r["id"]) for r in names]
        return [s for s in states if s.exists and not s.deleted and s.status in ACTIVE]

    async def leading(self) -> bool:
        return self.leader is None or await self.leader.hold()

    async def run_once(self) -> bool:
        """One pass, if this reconciler leads; True when it did."""
        await self.reclaimer.run_once()  # every replica, for its own host: reclaim.py
        if not await self.leading():
            return False
        # The store first, the processes second: a studio read as running was running before the processes were
        # listed, so a process missing from that list really is gone. The other order would take a session that
        # became running during the pass for a vanished one, record it stopped and then kill it as an orphan.
        studios = await self.active_studios()
        METRICS.observe_sessions(Counter(s.status.value for s in studios if s.status), [a.value for a in ACTIVE])
        live = {h.session_id: h for h in await self.backend.list_sessions()}
        now = self.clock()
        wanted = {state.run_key for state in studios}
        for state in studios:
            if state.status is StudioStatus.RUNNING and state.run_key in live:  # e.g. adopted after a restart
                self.runner.watcher.watch(state.session_id, state.run, live[state.run_key])
            if not self.runner.busy(state.session_id):
                await self._reconcile(state, live.get(state.run_key), now)
        for key, handle in live.items():
            if key not in wanted and not await self._wanted(key):
                log.warning("stopping orphan session process %s", key)
                await self.backend.stop(handle, grace=5.0)
        return True

    async def _record_gone(self, state: State, now: datetime) -> None:
        """A running session whose process is gone: its last checkpoint, then its end. Under the studio's claim
        (``claims.py``): another replica's exit watcher may be recording the same end, and whoever comes second
        finds it recorded."""
        claims = self.runner.claims
        async with claims.hold(state.session_id) if claims else contextlib.nullcontext():
            current = await self.handlers.state(state.session_id)
            if current.run != state.run or current.status is not StudioStatus.RUNNING:
                return
            log.warning("session %s run %s is gone; recording it stopped", state.session_id, state.run)
            await self.runner.finalize(current)  # the workspace may have outlived the process: keep what it holds
            await self.handlers.handle(RecordSessionStopped(
                session_id=state.session_id, now=now, actor=ACTOR, run=state.run, stop_reason=StopReason.RECONCILED,
                message="the session's process was no longer running"))

    async def _wanted(self, run_key: str) -> bool:
        """Whether a process outside the pass's snapshot belongs to a studio that started after the snapshot."""
        session_id = run_key.rsplit("-", 1)[0]
        if self.runner.busy(session_id):
            return True
        state = await self.handlers.state(session_id)
        return state.exists and not state.deleted and state.status in ACTIVE and state.run_key == run_key

    async def _reconcile(self, state: State, handle: Handle | None, now: datetime) -> None:
        sid, run = state.session_id, state.run
        if state.status in (StudioStatus.STARTING, StudioStatus.BUILDING):  # a build is waited for again
            self.runner.start(sid, run)
        elif state.status is StudioStatus.RUNNING and handle is None:
            await self._record_gone(state, now)
        elif state.status is StudioStatus.RUNNING and due_for_lifespan_stop(state, now):
            await self.handlers.handle(StopStudio(session_id=sid, now=now, actor=ACTOR, run=run,
                                                  stop_reason=StopReason.LIFESPAN_EXPIRED))
            self.runner.stop(sid, run)
        elif state.status is StudioStatus.RUNNING and (why := await self.idling.idle(state, handle, now,
                                                                                    self.idle_timeout)):
            await self.handlers.handle(StopStudio(session_id=sid, now=now, actor=ACTOR, run=run,
                                                  stop_reason=StopReason.IDLE_TIMEOUT, reason=why))
            self.runner.stop(sid, run)
        elif state.status is StudioStatus.STOPPING:
            if state.last_update and now - state.last_update >= FORCE_STOP_AFTER:
                await self.handlers.handle(StopStudio(session_id=sid, now=now, actor=ACTOR,
                                                      stop_reason=StopReason.ADMIN, reason="stop took too long"))
            self.runner.stop(sid, run)

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                acted = await self.run_once()
                METRICS.reconcile_passes(outcome="ok" if acted else "standby").inc()
            except Exception:
                METRICS.reconcile_passes(outcome="failed").inc()
                log.exception("reconciliation failed; retrying")
            try:
                await asyncio.wait_for(stop.wait(), self.interval)
            except TimeoutError:
                pass

    async def release(self) -> None:
        """Hand leadership on at once (a restart's replacement need not wait for this connection to time out)."""
        if self.leader is not None:
            await self.leader.release()

    async def shutdown(self) -> None:
        """On a whole-system shutdown: stop every running session, each recorded with ``StopReason.SHUTDOWN``.

        Only the leader speaks for the whole store; every process stops the work of its own runner."""
        leading = await self.leading()
        for state in await self.active_studios() if leading else []:
            # A start under way is only interrupted: the next start-up's reconciliation resumes it.
            if state.status is StudioStatus.RUNNING:
                try:
                    await self.handlers.handle(StopStudio(session_id=state.session_id, now=self.clock(),
                                                          actor=ACTOR, stop_reason=StopReason.SHUTDOWN,
                                                          reason="Studios was shut down"))
                except Exception:
                    log.exception("could not record the stop of %s", state.session_id)
            self.runner.stop(state.session_id, state.run)
        await self.runner.drain()
        if leading:
            for handle in await self.backend.list_sessions():  # whatever no studio accounted for
                await self.backend.stop(handle, grace=5.0)
