"""The dispatcher (glue): fires cron slots, takes free slots for waiting jobs, launches, watches and stops job
processes, and records what happened through the job aggregate. One acts at a time (a leader lock); on taking
the lead it first adopts what the last leader left (``adopt``), so a lifecycle killed at any instant never runs
a job twice (a dispatch is recorded before the spawn) and never loses one (the process outlives it; its pid and
exit code are in files the next leader reads).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from libs.contracts.job import ACTIVE, JobStatus, JobSubmitted, State, stream_name
from libs.eventstore import AppendRequest, EventStore, to_new_events
from libs.eventstore.errors import IdempotencyConflict, WrongExpectedVersion
from libs.eventstore.types import Expected
from libs.logs.runlog import LineSink
from libs.platform.clock import Clock
from libs.platform.clock import now as utcnow
from services.lifecycle.jobs import cron, processes
from services.lifecycle.jobs.handlers import JobHandlers
from services.lifecycle.jobs.index import JobIndex
from services.lifecycle.jobs.job import DispatchJob, FireSlot, RecordJobExited, RecordJobStarted
from services.lifecycle.jobs.output import OutputTail
from services.lifecycle.jobs.processes import Proc
from services.lifecycle.jobs.queue import DEFAULT_AGING_SECONDS, pick
from services.lifecycle.sessions.leadership import LeaderLock

log = logging.getLogger("studios.lifecycle.jobs")


@dataclass(frozen=True)
class JobsConfig:
    root: Path  # jobs' working directories
    grace: float = 30.0  # SIGTERM to SIGKILL on cancel
    interval: float = 0.1  # between passes when nothing wakes the dispatcher
    aging: float = DEFAULT_AGING_SECONDS
    adopt_wait: float = 2.0  # how long a job marked launched may take to write its pid


@dataclass
class Running:
    attempt: int
    proc: Proc
    tail: OutputTail
    cluster_id: str
    stopper: asyncio.Task[None] | None = field(default=None)


class Dispatcher:
    def __init__(self, store: EventStore, handlers: JobHandlers, config: JobsConfig, *,
                 leader: LeaderLock | None = None, sink: LineSink | None = None, clock: Clock = utcnow) -> None:
        self.handlers, self.config, self.leader, self.sink, self.clock = handlers, config, leader, sink, clock
        self.index = JobIndex(store)
        self.running: dict[str, Running] = {}
        self.wake = asyncio.Event()
        self.adopted = False
        handlers.on_change = self.wake.set

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                if self.leader is None or await self.leader.hold():
                    await self.tick()
                else:
                    self.adopted = False  # another leads; adopt again should the lead come back
            except Exception:
                log.exception("job dispatch pass failed; retrying")
            self.wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), self.config.interval)

    async def tick(self) -> None:
        await self.index.catch_up()
        if not self.adopted:
            await self.adopt()
            self.adopted = True
        now = self.clock()
        await self._fire(now)
        self._cancel()
        await self._watch()
        await self._dispatch(now)

    # -- cron -------------------------------------------------------------------------------------------------

    async def _fire(self, now: datetime) -> None:
        for s in self.index.of_status(JobStatus.TASK):
            assert s.spec is not None and s.spec.cron_expression and s.created_at is not None
            slot = cron.due_slot(s.spec.cron_expression, s.created_at, s.last_slot, now)
            if slot is None:
                continue
            last = self.index.state(s.last_run_id) if s.last_run_id else None
            if s.last_run_id and not (last and last.final):
                continue  # runs of one template never overlap: this slot waits for the last run to end
            await self._fire_one(s, slot)

    async def _fire_one(self, s: State, slot: datetime) -> None:
        assert s.spec is not None
        now, rid = self.clock(), cron.run_id(s.job_id, slot)
        run = JobSubmitted(job_id=rid, at=now, actor="scheduler", workspace_id=s.workspace_id, team=s.team,
                           created_by=s.created_by, spec=s.spec.model_copy(update={"cron_expression": None,
                                                                                   "start_after": None}),
                           status=JobStatus.QUEUED, parent_id=s.job_id, slot=slot)
        submit = AppendRequest(stream_name(rid), to_new_events([run], {"source": "lifecycle", "actor": "scheduler"}),
                               Expected.NO_STREAM)  # the slot's run exists once, whoever fires it
        try:
            await self.handlers.own(FireSlot(s.job_id, slot, rid, now), also=lambda _s, evs: [submit] if evs else [])
        except (WrongExpectedVersion, IdempotencyConflict):
            log.info("slot %s of %s fired elsewhere", slot, s.job_id)

    # -- slots and processes ----------------------------------------------------------------------------------

    def _active(self) -> dict[str, int]:
        held: dict[str, set[str]] = {}
        for s in self.index.of_status(*ACTIVE):
            assert s.spec is not None
            held.setdefault(s.spec.cluster_id, set()).add(s.job_id)
        for job_id, r in self.running.items():  # launched here, perhaps not yet seen below the horizon
            held.setdefault(r.cluster_id, set()).add(job_id)
        return {c: len(ids) for c, ids in held.items()}

    async def _dispatch(self, now: datetime) -> None:
        chosen = pick(self.index.waiting(), self._active(), self.index.limits(), now, self.config.aging)
        for job_id in chosen:
            done = await self.handlers.own(DispatchJob(job_id, now))
            if done.events:
                await self._launch(done.state)

    async def _launch(self, s: State) -> None:
        assert s.spec is not None
        if s.spec.requirements and s.spec.requirements.strip():
            log.warning("job %s: requirements are not built yet (no builder command); running without", s.job_id)
        try:
            proc = await asyncio.to_thread(processes.launch, self.config.root, s.job_id, s.attempt, s.spec,
                                           {"STUDIOS_JOB_ID": s.job_id, "DATACHAIN_JOB_ID": s.job_id})
        except Exception as e:
            await self.handlers.own(RecordJobExited(s.job_id, s.attempt, None, self.clock(),
                                                    error_message=f"could not start: {e}"))
            return
        self._track(s, proc)
        await self.handlers.own(RecordJobStarted(s.job_id, s.attempt, proc.pid, proc.started_at, self.clock()))

    def _track(self, s: State, proc: Proc) -> None:
        assert s.spec is not None
        out = processes.run_dir(self.config.root, s.job_id, s.attempt) / "output.log"
        self.running[s.job_id] = Running(s.attempt, proc, OutputTail(out, self.sink, s.job_id, s.attempt),
                                         s.spec.cluster_id)

    def _cancel(self) -> None:
        for s in self.index.of_status(JobStatus.CANCELING):
            r = self.running.get(s.job_id)
            if r is not None and r.stopper is None:
                r.stopper = asyncio.create_task(processes.stop(r.proc, self.config.grace))

    async def _watch(self) -> None:
        for job_id, r in list(self.running.items()):
            r.tail.poll()
            if processes.alive(r.proc) or (r.stopper is not None and not r.stopper.done()):
                continue
            code = processes.exit_code(self.config.root, job_id, r.attempt)
            if code is None:
                code = processes.signal_code(r.proc)
            error = None if code is not None else "the job's process ended and left no exit code"
            r.tail.close(f"[job ended: exit code {code}]\n")
            await self.handlers.own(RecordJobExited(job_id, r.attempt, code, self.clock(), error_message=error))
            del self.running[job_id]

    async def shutdown(self, reason: str = "Studios was shut down") -> None:
        """A whole-system shutdown: stop every job this dispatcher runs and record it ended, with ``reason``.
        Waiting jobs stay queued for the next start."""
        await self.index.catch_up()
        if not self.adopted:  # started only to shut down: what runs is the last lifecycle's
            await self.adopt()
            self.adopted = True
        for r in self.running.values():
            if r.stopper is None:
                r.stopper = asyncio.create_task(processes.stop(r.proc, self.config.grace))
        await asyncio.gather(*(r.stopper for r in self.running.values() if r.stopper), return_exceptions=True)
        for job_id, r in list(self.running.items()):
            code = processes.exit_code(self.config.root, job_id, r.attempt)
            code = code if code is not None else processes.signal_code(r.proc)
            r.tail.close(f"[job stopped: {reason}]\n")
            await self.handlers.own(RecordJobExited(job_id, r.attempt, code, self.clock(), error_message=reason))
            del self.running[job_id]

    async def adopt(self) -> None:
        """Take over the jobs the last leader left holding a slot."""
        for s in self.index.of_status(*ACTIVE):
            if s.job_id in self.running:
                continue
            root, attempt = self.config.root, s.attempt
            proc = Proc(s.pid, s.started_at or 0.0) if s.pid else await self._pid_of(s)
            if proc is not None:
                self._track(s, proc)
                if not s.pid:
                    await self.handlers.own(RecordJobStarted(s.job_id, attempt, proc.pid, proc.started_at,
                                                             self.clock()))
            elif (code := processes.exit_code(root, s.job_id, attempt)) is not None:
                await self.handlers.own(RecordJobExited(s.job_id, attempt, code, self.clock()))
            elif processes.launched(root, s.job_id, attempt) or s.status == JobStatus.CANCELING:
                # spawned (or being canceled) yet no trace of a process: never start it a second time
                await self.handlers.own(RecordJobExited(s.job_id, attempt, None, self.clock(),
                                                        error_message="the job's process was lost at launch"))
            else:
                await self._launch(s)  # dispatched, never spawned: this is its only launch

    async def _pid_of(self, s: State) -> Proc | None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.config.adopt_wait
        while True:
            proc = processes.recorded_pid(self.config.root, s.job_id, s.attempt)
            if proc is not None or not processes.launched(self.config.root, s.job_id, s.attempt):
                return proc
            if processes.exit_code(self.config.root, s.job_id, s.attempt) is not None or loop.time() > deadline:
                return None
            await asyncio.sleep(0.05)
