"""Job events (stream ``job-<id>``, owned by lifecycle), the job's state and its fold (shared with the gateway's
read model, as the studio fold is: one definition of what a job looks like).

States are DataChain Studio's (its client prints the enum names): a job is ``QUEUED`` (or ``SCHEDULED`` until its
``start_after``) when submitted, ``INIT`` once the dispatcher took a slot for it, ``RUNNING`` once its process runs,
and ends ``COMPLETE``, ``FAILED`` or ``CANCELED`` (``CANCELING`` while a running one is being stopped). A cron job
is a ``TASK``: a template that never runs itself; each slot it fires is a job of its own (``parent_id``).
Uploaded files are referenced by ``{id, filename, uri, sha256, size}``: their bytes never go into an event.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import ClassVar

from pydantic import AwareDatetime, BaseModel, ConfigDict

from libs.contracts.events import Event, registry

CATEGORY = "job"


def stream_name(job_id: str) -> str:
    return f"{CATEGORY}-{job_id}"


class JobStatus(StrEnum):
    CREATED = "CREATED"
    SCHEDULED = "SCHEDULED"
    QUEUED = "QUEUED"
    INIT = "INIT"
    PROVISIONING = "PROVISIONING"
    RUNNING = "RUNNING"
    COMPLETE = "COMPLETE"
    FAILED = "FAILED"
    CANCELING = "CANCELING"
    CANCELED = "CANCELED"
    TASK = "TASK"


FINAL = frozenset({JobStatus.COMPLETE, JobStatus.FAILED, JobStatus.CANCELED})
WAITING = frozenset({JobStatus.CREATED, JobStatus.SCHEDULED, JobStatus.QUEUED})
#: holding a slot of its cluster
ACTIVE = frozenset({JobStatus.INIT, JobStatus.PROVISIONING, JobStatus.RUNNING, JobStatus.CANCELING})


class QueryType(StrEnum):
    PYTHON = "PYTHON"
    SHELL = "SHELL"


class JobFile(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: int
    filename: str
    uri: str  # file:///… on the gateway's host (the local backend shares it)
    sha256: str
    size: int


class JobSpec(BaseModel):
    """What was asked for, as the client sent it (normalised)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    query: str
    query_type: QueryType = QueryType.PYTHON
    name: str | None = None
    environment: dict[str, str] = {}
    workers: int = 1
    files: tuple[JobFile, ...] = ()
    python_version: str | None = None
    requirements: str | None = None
    repository: str | None = None
    repository_commit: str | None = None  # what ``repository``'s HEAD was at submit: every attempt runs that
    priority: int = 5
    cluster_id: str
    cluster_name: str
    max_workers: int = 1  # the cluster's, when the job was submitted
    start_after: AwareDatetime | None = None
    cron_expression: str | None = None
    credentials_name: str | None = None


class JobEvent(Event):
    job_id: str
    at: AwareDatetime
    actor: str
    reason: str | None = None


@registry.register
class JobSubmitted(JobEvent):
    event_type: ClassVar[str] = "JobSubmitted"
    workspace_id: str
    team: str  # the workspace's name (DataChain's team)
    created_by: str
    spec: JobSpec
    status: JobStatus  # QUEUED, SCHEDULED or TASK
    parent_id: str | None = None  # the cron template that fired it
    slot: AwareDatetime | None = None  # the cron slot it was fired for


@registry.register
class JobFired(JobEvent):
    """A cron template fired its slot ``slot`` as job ``run_id`` (appended with that job's ``JobSubmitted``)."""

    event_type: ClassVar[str] = "JobFired"
    slot: AwareDatetime
    run_id: str


@registry.register
class JobDispatched(JobEvent):
    """The dispatcher took a slot of the cluster for it (``INIT``); ``attempt`` numbers its launches."""

    event_type: ClassVar[str] = "JobDispatched"
    attempt: int


@registry.register
class JobProvisioning(JobEvent):
    """Its ``requirements`` are being built (or found in the cache) by the builder as build ``build_id``."""

    event_type: ClassVar[str] = "JobProvisioning"
    attempt: int
    build_id: str


@registry.register
class JobStarted(JobEvent):
    """Its process runs: ``pid`` and the OS create time, so a restarted lifecycle finds the very process."""

    event_type: ClassVar[str] = "JobStarted"
    attempt: int
    pid: int
    started_at: float


@registry.register
class JobFinished(JobEvent):
    event_type: ClassVar[str] = "JobFinished"
    status: JobStatus  # COMPLETE or FAILED
    exit_code: int | None
    error_message: str | None = None


@registry.register
class JobCancelRequested(JobEvent):
    """A running job is being stopped (``CANCELING``); one that never ran is ``JobCanceled`` at once."""

    event_type: ClassVar[str] = "JobCancelRequested"


@registry.register
class JobCanceled(JobEvent):
    event_type: ClassVar[str] = "JobCanceled"
    exit_code: int | None = None


class State(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    exists: bool = False
    job_id: str = ""
    workspace_id: str = ""
    team: str = ""
    created_by: str = ""
    spec: JobSpec | None = None
    status: JobStatus | None = None
    parent_id: str | None = None
    slot: datetime | None = None
    created_at: datetime | None = None
    running_at: datetime | None = None
    finished_at: datetime | None = None
    exit_code: int | None = None
    error_message: str | None = None
    attempt: int = 0
    build_id: str | None = None
    pid: int | None = None
    started_at: float | None = None
    last_slot: datetime | None = None  # a TASK's latest fired slot
    last_run_id: str | None = None

    @property
    def final(self) -> bool:
        return self.status in FINAL


INITIAL = State()


def evolve(state: State, e: Event) -> State:
    if isinstance(e, JobSubmitted):
        return State(exists=True, job_id=e.job_id, workspace_id=e.workspace_id, team=e.team,
                     created_by=e.created_by, spec=e.spec, status=e.status, parent_id=e.parent_id, slot=e.slot,
                     created_at=e.at)
    if isinstance(e, JobFired):
        return state.model_copy(update={"last_slot": e.slot, "last_run_id": e.run_id})
    if isinstance(e, JobDispatched):
        return state.model_copy(update={"status": JobStatus.INIT, "attempt": e.attempt, "pid": None,
                                        "build_id": None})
    if isinstance(e, JobProvisioning):
        status = JobStatus.CANCELING if state.status == JobStatus.CANCELING else JobStatus.PROVISIONING
        return state.model_copy(update={"status": status, "build_id": e.build_id})
    if isinstance(e, JobStarted):
        # a cancel that came while it was launching stays a cancel: the process is stopped at once
        status = JobStatus.CANCELING if state.status == JobStatus.CANCELING else JobStatus.RUNNING
        return state.model_copy(update={"status": status, "pid": e.pid, "started_at": e.started_at,
                                        "running_at": e.at})
    if isinstance(e, JobFinished):
        return state.model_copy(update={"status": e.status, "exit_code": e.exit_code,
                                        "error_message": e.error_message, "finished_at": e.at})
    if isinstance(e, JobCancelRequested):
        return state.model_copy(update={"status": JobStatus.CANCELING})
    if isinstance(e, JobCanceled):
        return state.model_copy(update={"status": JobStatus.CANCELED, "exit_code": e.exit_code,
                                        "finished_at": e.at, "error_message": e.reason})
    return state


JOB_EVENTS: tuple[type[JobEvent], ...] = (
    JobSubmitted, JobFired, JobDispatched, JobProvisioning, JobStarted, JobFinished, JobCancelRequested, JobCanceled)
