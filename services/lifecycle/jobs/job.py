"""The job aggregate: commands and ``decide``; events, ``State``, ``evolve`` and ``INITIAL`` are shared
(``libs/contracts/job.py``). Pure: ``now`` comes in the command.

A job is launched at most once per ``JobDispatched``: the dispatcher records it (expected version) before it
spawns anything, and a report about another attempt is stale and decides nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from croniter import croniter  # type: ignore[import-untyped]

from libs.contracts.errors import Conflict, InvalidInput, NotFound
from libs.contracts.events import Event
from libs.contracts.job import (
    ACTIVE,
    FINAL,
    INITIAL,
    WAITING,
    JobCanceled,
    JobCancelRequested,
    JobDispatched,
    JobFinished,
    JobFired,
    JobProvisioning,
    JobStarted,
    JobStatus,
    JobSubmitted,
    State,
    evolve,
)
from libs.contracts.job_commands import CancelJob, SubmitJob

__all__ = ["INITIAL", "Command", "decide", "evolve"]

PRIORITY_RANGE = range(0, 6)  # DataChain's: 0-5, lower runs first (its CLI's --priority help)


@dataclass(frozen=True)
class DispatchJob:
    job_id: str
    now: datetime
    actor: str = "dispatcher"


@dataclass(frozen=True)
class RecordJobProvisioning:
    job_id: str
    attempt: int
    build_id: str
    now: datetime
    actor: str = "dispatcher"


@dataclass(frozen=True)
class RecordJobStarted:
    job_id: str
    attempt: int
    pid: int
    started_at: float
    now: datetime
    actor: str = "dispatcher"


@dataclass(frozen=True)
class RecordJobExited:
    """The process of ``attempt`` ended (``exit_code`` None: it vanished and nobody knows how)."""

    job_id: str
    attempt: int
    exit_code: int | None
    now: datetime
    error_message: str | None = None
    actor: str = "dispatcher"


@dataclass(frozen=True)
class FireSlot:
    job_id: str  # the cron template
    slot: datetime
    run_id: str
    now: datetime
    actor: str = "scheduler"


Command = (SubmitJob | CancelJob | DispatchJob | RecordJobProvisioning | RecordJobStarted | RecordJobExited
           | FireSlot)


def decide(state: State, c: Command) -> list[Event]:
    if isinstance(c, SubmitJob):
        return _submit(state, c)
    if not state.exists:
        raise NotFound(f"Job {c.job_id} not found")
    if isinstance(c, CancelJob):
        return _cancel(state, c)
    if isinstance(c, DispatchJob):
        due = state.status == JobStatus.QUEUED or (
            state.status == JobStatus.SCHEDULED and state.spec is not None
            and (state.spec.start_after is None or state.spec.start_after <= c.now))
        return [JobDispatched(job_id=c.job_id, at=c.now, actor=c.actor, attempt=state.attempt + 1)] if due else []
    if isinstance(c, RecordJobProvisioning):
        if c.attempt != state.attempt or state.status not in (JobStatus.INIT, JobStatus.CANCELING) or state.build_id:
            return []
        return [JobProvisioning(job_id=c.job_id, at=c.now, actor=c.actor, attempt=c.attempt, build_id=c.build_id)]
    if isinstance(c, RecordJobStarted):
        launching = (JobStatus.INIT, JobStatus.PROVISIONING, JobStatus.CANCELING)
        if c.attempt != state.attempt or state.status not in launching or state.pid:
            return []
        return [JobStarted(job_id=c.job_id, at=c.now, actor=c.actor, attempt=c.attempt, pid=c.pid,
                           started_at=c.started_at)]
    if isinstance(c, RecordJobExited):
        return _exited(state, c)
    return _fire(state, c)


def _submit(state: State, c: SubmitJob) -> list[Event]:
    if state.exists:
        raise Conflict(f"Job {c.job_id} already exists")
    spec = c.spec
    if not spec.query.strip():
        raise InvalidInput("query: the job has no script", field="query")
    if spec.priority not in PRIORITY_RANGE:
        raise InvalidInput("priority: must be 0-5 (lower runs first)", field="priority")
    if spec.workers < 1:
        raise InvalidInput("workers: at least 1", field="workers")
    if spec.cron_expression is not None and not croniter.is_valid(spec.cron_expression):
        raise InvalidInput(f"cron_expression: '{spec.cron_expression}' is not a cron expression",
                           field="cron_expression")
    if spec.cron_expression:
        status = JobStatus.TASK
    elif spec.start_after is not None and spec.start_after > c.now:
        status = JobStatus.SCHEDULED
    else:
        status = JobStatus.QUEUED
    return [JobSubmitted(job_id=c.job_id, at=c.now, actor=c.actor, reason=c.reason, workspace_id=c.workspace_id,
                         team=c.team, created_by=c.created_by, spec=spec, status=status)]


def _cancel(state: State, c: CancelJob) -> list[Event]:
    if state.status in FINAL:
        raise Conflict(f"Job {c.job_id} already finished ({state.status})")
    if state.status == JobStatus.CANCELING:
        return []
    if state.status in WAITING or state.status == JobStatus.TASK:  # nothing runs: canceled at once
        return [JobCanceled(job_id=c.job_id, at=c.now, actor=c.actor, reason=c.reason or "Canceled")]
    return [JobCancelRequested(job_id=c.job_id, at=c.now, actor=c.actor, reason=c.reason or "Canceled")]


def _exited(state: State, c: RecordJobExited) -> list[Event]:
    if c.attempt != state.attempt or state.status not in ACTIVE:
        return []  # stale: another attempt's report, or already recorded
    if state.status == JobStatus.CANCELING:
        return [JobCanceled(job_id=c.job_id, at=c.now, actor=c.actor, exit_code=c.exit_code, reason="Canceled")]
    ok = c.exit_code == 0
    message = c.error_message if c.error_message else (None if ok else f"exited with code {c.exit_code}")
    return [JobFinished(job_id=c.job_id, at=c.now, actor=c.actor, exit_code=c.exit_code,
                        status=JobStatus.COMPLETE if ok else JobStatus.FAILED, error_message=message)]


def _fire(state: State, c: FireSlot) -> list[Event]:
    if state.status != JobStatus.TASK or (state.last_slot is not None and c.slot <= state.last_slot):
        return []  # canceled, or this slot (or a later one) already fired
    return [JobFired(job_id=c.job_id, at=c.now, actor=c.actor, slot=c.slot, run_id=c.run_id)]
