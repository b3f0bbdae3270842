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

from libs.contracts.errors import StudiosError
from libs.contracts.job import ACTIVE, JobStatus, State
from libs.eventstore import EventStore
from libs.logs.runlog import LineSink
from libs.platform.clock import Clock
from libs.platform.clock import now as utcnow
from services.lifecycle.jobs import processes, provision, scheduler
from services.lifecycle.jobs.handlers import JobHandlers
from services.lifecycle.jobs.index import JobIndex
from services.lifecycle.jobs.job import DispatchJob, RecordJobExited, RecordJobProvisioning, RecordJobStarted
from services.lifecycle.jobs.output import OutputTail
from services.lifecycle.jobs.processes import Proc
from services.lifecycle.jobs.queue import DEFAULT_AGING_SECONDS, pick
from services.lifecycle.sessions.builds import BuildClient
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


@dataclass
class Provisioning:
    """A job waiting for its requirements' build; ``task`` may be cancelled while ``waiting`` (nothing spawned)."""

    cluster_id: str
    attempt: int
    task: asyncio.Task[None]
    waiting: bool = True


class Dispatcher:
    def __init__(self, store: EventStore, handlers: JobHandlers, config: JobsConfig, *,
                 leader: LeaderLock | None = None, sink: LineSink | None = None, clock: Clock = utcnow) -> None:
        self.handlers, self.config, self.leader, self.sink, self.clock = handlers, config, leader, sink, clock
        self.index = JobIndex(store)
        self.running: dict[str, Running] = {}
        self.provisioning: dict[str, Provisioning] = {}
        self.builds: BuildClient | None = None  # the builder's client; None: requirements are not built
        self.wake = asyncio.Event()
        self.adopted = False
        self._queue_seen: datetime | None = None
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
        for p in list(self.provisioning.values()):  # the next leader resumes them (same build id)
            if p.waiting:
                p.task.cancel()

    async def tick(self) -> None:
        changed = await self.index.catch_up()
        if not self.adopted:
            await self.adopt()
            self.adopted = True
        now = self.clock()
        await scheduler.fire_due(self.index, self.handlers, now)
        await self._cancel()
        if await self._watch():  # a slot came free: fill it in this pass, from what is now committed
            changed += await self.index.catch_up()
        # The queue only moves when a job event came in (a submit, an end, a cancel) or time passed (start_after,
        # aging): a long queue is not re-sorted on every pass.
        if changed or self._queue_seen is None or (now - self._queue_seen).total_seconds() >= 1.0:
            self._queue_seen = now
            await self._dispatch(now)

    # -- slots and processes ----------------------------------------------------------------------------------

    def _active(self) -> dict[str, int]:
        held: dict[str, set[str]] = {}
        for s in self.index.of_status(*ACTIVE):
            assert s.spec is not None
            held.setdefault(s.spec.cluster_id, set()).add(s.job_id)
        for job_id, r in self.running.items():  # launched here, perhaps not yet seen below the horizon
            held.setdefault(r.cluster_id, set()).add(job_id)
        for job_id, p in self.provisioning.items():
            held.setdefault(p.cluster_id, set()).add(job_id)
        return {c: len(ids) for c, ids in held.items()}

    async def _dispatch(self, now: datetime) -> None:
        active, limits = self._active(), self.index.limits()
        free = [c for c in self.index.waiting_clusters() if limits.get(c, 1) > active.get(c, 0)]
        chosen = pick(self.index.waiting(free), active, limits, now, self.config.aging)
        for job_id in chosen:
            done = await self.handlers.own(DispatchJob(job_id, now))
            if done.events:
                await self._launch(done.state)

    async def _launch(self, s: State) -> None:
        assert s.spec is not None
        if provision.requirement_lines(s.spec.requirements):
            if self.builds is None:
                log.warning("job %s: no builder to build its requirements; running without them", s.job_id)
            elif s.job_id not in self.provisioning:
                task = asyncio.create_task(self._provision(s, self.builds))
                self.provisioning[s.job_id] = Provisioning(s.spec.cluster_id, s.attempt, task)
                return
            else:
                return
        await self._spawn(s)

    async def _provision(self, s: State, builds: BuildClient) -> None:
        """Build the requirements (the job holds its slot meanwhile), then spawn with the built environment."""
        p = self.provisioning[s.job_id]
        try:
            build_id = s.build_id or await provision.build(builds, s)
            if not s.build_id:
                await self.handlers.own(RecordJobProvisioning(s.job_id, s.attempt, build_id, self.clock()))
            outcome = await provision.wait(builds, build_id)
            p.waiting = False
            if not outcome.succeeded:
                await self.handlers.own(RecordJobExited(s.job_id, s.attempt, None, self.clock(),
                                                        error_message=f"requirements: {outcome.message}"))
                return
            await self._spawn(s, outcome.python_env)
        except StudiosError as e:
            await self.handlers.own(RecordJobExited(s.job_id, s.attempt, None, self.clock(),
                                                    error_message=f"requirements: {e.detail}"))
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("job %s: provisioning failed; the next pass of a leader resumes it", s.job_id)
        finally:
            self.provisioning.pop(s.job_id, None)

    async def _spawn(self, s: State, python_env: Path | None = None) -> None:
        assert s.spec is not None
        try:
            if s.spec.repository:
                await provision.clone(s.spec.repository, s.spec.repository_commit,
                                      processes.work_dir(self.config.root, s.job_id))
            proc = await asyncio.to_thread(processes.launch, self.config.root, s.job_id, s.attempt, s.spec,
                                           {"STUDIOS_JOB_ID": s.job_id, "DATACHAIN_JOB_ID": s.job_id}, python_env)
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

    async def _cancel(self) -> None:
        for s in self.index.of_status(JobStatus.CANCELING):
            r = self.running.get(s.job_id)
            if r is not None and r.stopper is None:
                r.stopper = asyncio.create_task(processes.stop(r.proc, self.config.grace))
            p = self.provisioning.get(s.job_id)
            if p is not None and p.waiting:  # nothing spawned yet: stop waiting for the build
                p.task.cancel()
                await asyncio.gather(p.task, return_exceptions=True)
                await self.handlers.own(RecordJobExited(s.job_id, p.attempt, None, self.clock()))

    async def _watch(self) -> int:
        """Record the jobs whose process ended; how many."""
        ended = 0
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
            ended += 1
        return ended

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
            proc = (Proc(s.pid, s.started_at or 0.0) if s.pid
                    else await processes.wait_for_pid(root, s.job_id, attempt, self.config.adopt_wait))
            if proc is not None:
                self._track(s, proc)
                if not s.pid:
                    await self.handlers.own(RecordJobStarted(s.job_id, attempt, proc.pid, proc.started_at,
                                                             self.clock()))
            elif (code := processes.exit_code(root, s.job_id, attempt)) is not None:
                # it ran and ended while no leader watched; a kill between spawn and record left its start
                # unrecorded: record it from the wrapper's pid file, so every run has its one JobStarted
                ran = processes.ended_pid(root, s.job_id, attempt)
                if not s.pid and ran is not None:
                    await self.handlers.own(RecordJobStarted(s.job_id, attempt, ran.pid, ran.started_at,
                                                             self.clock()))
                await self.handlers.own(RecordJobExited(s.job_id, attempt, code, self.clock()))
            elif processes.launched(root, s.job_id, attempt) or s.status == JobStatus.CANCELING:
                # spawned (or being canceled) yet no trace of a process: never start it a second time
                await self.handlers.own(RecordJobExited(s.job_id, attempt, None, self.clock(),
                                                        error_message="the job's process was lost at launch"))
            else:
                await self._launch(s)  # dispatched, never spawned: this is its only launch
