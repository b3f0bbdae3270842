"""The studio's state, folded from its events: everything ``decide`` needs and everything the read model shows.

It is a frozen pydantic model so the gateway's projection can fold the same events with ``evolve`` and store
``state.model_dump(mode="json")``. ``evolve`` only applies facts; every rule lives in ``decide``.

Why one module of ~320 lines: ``evolve`` is one singledispatch over every studio event; each case is a few lines
and reads best beside the state it changes.
"""

from __future__ import annotations

from datetime import datetime
from functools import singledispatch
from typing import Any

from pydantic import BaseModel, ConfigDict

from libs.contracts.events import Event
from libs.contracts.studio import (
    ActiveConnection,
    ProgressStatus,
    ProgressStep,
    RemoteConfig,
    ResourceUsage,
    StopReason,
    StudioBuildFailed,
    StudioBuildStarted,
    StudioBuildSucceeded,
    StudioConfiguration,
    StudioConnectionActive,
    StudioConnectionClosed,
    StudioConnectionOpened,
    StudioCreated,
    StudioDeleted,
    StudioLifespanExtended,
    StudioOwnerChanged,
    StudioProgressRecorded,
    StudioSessionBusy,
    StudioSessionRunning,
    StudioSessionStopped,
    StudioStartFailed,
    StudioStartRequested,
    StudioStatus,
    StudioStopRequested,
    StudioTemplate,
    StudioUpdated,
)


class State(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    exists: bool = False
    deleted: bool = False
    session_id: str = ""
    workspace_id: str = ""
    user_id: str = ""
    name: str = ""
    description: str | None = None
    compute_env_id: str = ""
    template: StudioTemplate | None = None
    configuration: StudioConfiguration = StudioConfiguration()
    workspace_default_lifespan_hours: int | None = None
    effective_lifespan_hours: int = 0  # 0: unlimited
    is_private: bool = False
    label_ids: tuple[str, ...] = ()
    spot: bool = False
    remote_config: RemoteConfig | None = None
    parent_checkpoint_id: str | None = None
    # statusInfo
    status: StudioStatus | None = None  # None until created
    status_message: str | None = None
    last_update: datetime | None = None  # when the status last changed
    stop_reason: StopReason | None = None
    # the current (or last) run
    run: int = 0  # 0: never started; the process is named ``<session_id>-<run>``
    progress: tuple[ProgressStep, ...] = ()
    active_connections: tuple[ActiveConnection, ...] = ()
    handle: dict[str, Any] | None = None
    url: str | None = None
    expires_at: datetime | None = None  # None: unlimited or not running
    exit_code: int | None = None
    usage: ResourceUsage | None = None  # the last run's, once it stopped
    build_id: str | None = None
    build_url: str | None = None
    # timestamps
    created_at: datetime | None = None
    updated_at: datetime | None = None  # any change (Seqera's lastUpdated)
    last_started: datetime | None = None
    last_running: datetime | None = None
    last_stopped: datetime | None = None
    #: the last connection activity (opened, renewed in use, closed): what idle stops measure from
    last_activity: datetime | None = None
    #: the last time the tool was seen working, and at what (``StudioSessionBusy``)
    last_work: datetime | None = None
    busy_with: tuple[str, ...] = ()

    @property
    def run_key(self) -> str:
        """The id of the current run's process/container: stable across redeliveries, new for every start."""
        return f"{self.session_id}-{self.run}"


INITIAL = State()


def due_for_lifespan_stop(state: State, now: datetime) -> bool:
    return state.status is StudioStatus.RUNNING and state.expires_at is not None and now >= state.expires_at


def evolve(state: State, event: Event) -> State:
    changed = _apply(event, state)
    at = getattr(event, "at", None)
    if at is None or isinstance(event, (StudioConnectionActive, StudioSessionBusy)):  # not a change of it
        return changed
    return changed.model_copy(update={"updated_at": at})


def _status(status: StudioStatus, at: datetime, **changes: Any) -> dict[str, Any]:
    return {"status": status, "last_update": at, **changes}


@singledispatch
def _apply(event: Event, state: State) -> State:
    return state  # an event this version does not know changes nothing


@_apply.register
def _(e: StudioCreated, s: State) -> State:
    return s.model_copy(
        update=dict(
            exists=True,
            session_id=e.session_id,
            workspace_id=e.workspace_id,
            user_id=e.user_id,
            name=e.name,
            description=e.description,
            compute_env_id=e.compute_env_id,
            template=e.template,
            configuration=e.configuration,
            workspace_default_lifespan_hours=e.workspace_default_lifespan_hours,
            effective_lifespan_hours=e.effective_lifespan_hours,
            is_private=e.is_private,
            label_ids=e.label_ids,
            spot=e.spot,
            remote_config=e.remote_config,
            parent_checkpoint_id=e.initial_checkpoint_id,
            created_at=e.at,
            **_status(StudioStatus.STOPPED, e.at),
        )
    )


_UPDATABLE = (
    "name",
    "description",
    "compute_env_id",
    "configuration",
    "label_ids",
    "workspace_default_lifespan_hours",
    "effective_lifespan_hours",
)


@_apply.register
def _(e: StudioUpdated, s: State) -> State:
    return s.model_copy(update={f: getattr(e, f) for f in _UPDATABLE if getattr(e, f) is not None})


@_apply.register
def _(e: StudioStartRequested, s: State) -> State:
    changes: dict[str, Any] = dict(
        run=e.run,
        compute_env_id=e.compute_env_id,
        template=e.template,
        configuration=e.configuration,
        workspace_default_lifespan_hours=e.workspace_default_lifespan_hours,
        effective_lifespan_hours=e.effective_lifespan_hours,
        spot=e.spot,
        progress=tuple(ProgressStep(message=m) for m in e.progress_steps),
        active_connections=(),
        handle=None,
        url=None,
        expires_at=None,
        exit_code=None,
        usage=None,
        build_id=None,
        build_url=None,
        last_started=e.at,
        **_status(StudioStatus.STARTING, e.at, status_message=None, stop_reason=None),
    )
    if e.description is not None:
        changes["description"] = e.description
    if e.label_ids is not None:
        changes["label_ids"] = e.label_ids
    return s.model_copy(update=changes)


@_apply.register
def _(e: StudioBuildStarted, s: State) -> State:
    return s.model_copy(update=dict(build_id=e.build_id, build_url=e.build_url, **_status(StudioStatus.BUILDING, e.at)))


@_apply.register
def _(e: StudioBuildSucceeded, s: State) -> State:
    return s.model_copy(update=_status(StudioStatus.STARTING, e.at))


@_apply.register
def _(e: StudioBuildFailed, s: State) -> State:
    update = _status(StudioStatus.BUILD_FAILED, e.at, status_message=e.message, stop_reason=StopReason.ERROR)
    return s.model_copy(update=dict(last_stopped=e.at, **update))


@_apply.register
def _(e: StudioProgressRecorded, s: State) -> State:
    def apply(step: ProgressStep) -> ProgressStep:
        if step.message != e.step:
            return step
        return step.model_copy(update=dict(status=e.status, detail=e.detail, warnings=e.warnings))

    return s.model_copy(update={"progress": tuple(apply(p) for p in s.progress)})


@_apply.register
def _(e: StudioSessionRunning, s: State) -> State:
    # Once the tool answers, whatever steps the runner did not report are done.
    done = tuple(
        p if p.status is ProgressStatus.SUCCEEDED else p.model_copy(update={"status": ProgressStatus.SUCCEEDED})
        for p in s.progress
    )
    update = _status(StudioStatus.RUNNING, e.at, status_message=None)
    return s.model_copy(
        update=dict(handle=e.handle, url=e.url, expires_at=e.expires_at, progress=done, last_running=e.at, **update)
    )


@_apply.register
def _(e: StudioStartFailed, s: State) -> State:
    progress = tuple(
        p.model_copy(update={"status": ProgressStatus.ERRORED}) if p.message == e.failed_step else p for p in s.progress
    )
    update = _status(StudioStatus.ERRORED, e.at, status_message=e.message, stop_reason=StopReason.ERROR)
    return s.model_copy(update=dict(progress=progress, expires_at=None, last_stopped=e.at, **update))


@_apply.register
def _(e: StudioStopRequested, s: State) -> State:
    if e.force:
        # the stop that follows (StudioSessionStopped) settles the status; only the reason is new here
        return s.model_copy(update={"stop_reason": e.stop_reason})
    return s.model_copy(update=_status(StudioStatus.STOPPING, e.at, stop_reason=e.stop_reason))


@_apply.register
def _(e: StudioSessionStopped, s: State) -> State:
    status = StudioStatus.ERRORED if e.errored else StudioStatus.STOPPED
    update = _status(status, e.at, status_message=e.message, stop_reason=e.stop_reason)
    return s.model_copy(
        update=dict(exit_code=e.exit_code, usage=e.usage, expires_at=None, active_connections=(), busy_with=(),
                    last_stopped=e.at, **update)
    )


@_apply.register
def _(e: StudioLifespanExtended, s: State) -> State:
    return s.model_copy(update={"expires_at": e.expires_at})


@_apply.register
def _(e: StudioOwnerChanged, s: State) -> State:
    return s.model_copy(update={"user_id": e.user_id})


@_apply.register
def _(e: StudioDeleted, s: State) -> State:
    return s.model_copy(update={"deleted": True})


@_apply.register
def _(e: StudioConnectionOpened, s: State) -> State:
    others = tuple(c for c in s.active_connections if c.user_id != e.user_id)
    mine = next((c for c in s.active_connections if c.user_id == e.user_id), None)
    ids = (mine.connection_ids if mine else ()) + (e.connection_id,)
    name = e.user_name or (mine.user_name if mine else None)
    lease = _later(mine.lease_until if mine else None, e.lease_until)
    conn = ActiveConnection(user_id=e.user_id, user_name=name, last_active=e.at, connection_ids=ids,
                            lease_until=lease)
    return s.model_copy(update={"active_connections": (*others, conn), "last_activity": e.at})


def _later(a: datetime | None, b: datetime | None) -> datetime | None:
    return b if a is None else a if b is None else max(a, b)


@_apply.register
def _(e: StudioSessionBusy, s: State) -> State:
    return s.model_copy(update={"last_work": e.at, "busy_with": e.work})


@_apply.register
def _(e: StudioConnectionActive, s: State) -> State:
    def renew(c: ActiveConnection) -> ActiveConnection:
        if c.user_id != e.user_id or e.connection_id not in c.connection_ids:
            return c
        return c.model_copy(update={"last_active": e.at, "lease_until": _later(c.lease_until, e.lease_until)})

    return s.model_copy(update={"active_connections": tuple(map(renew, s.active_connections)),
                                "last_activity": e.at})


@_apply.register
def _(e: StudioConnectionClosed, s: State) -> State:
    def close(c: ActiveConnection) -> ActiveConnection:
        if c.user_id != e.user_id:
            return c
        ids = tuple(i for i in c.connection_ids if i != e.connection_id)
        return c.model_copy(update={"connection_ids": ids, "last_active": e.at})

    # a user stays listed while any of their connections is open
    kept = tuple(c for c in map(close, s.active_connections) if c.connection_ids)
    return s.model_copy(update={"active_connections": kept, "last_activity": e.at})
