"""The studio aggregate: ``decide(state, command) -> list[Event]`` (all the rules) and ``evolve`` (the fold).

Pure: no I/O, no clock (``command.now``). Wrong state answers ``Conflict``; a command from the session runner
(``Record*``) about another run, or one that changes nothing, answers ``[]`` so redelivered messages are harmless.
Commands, state, policies and the runner's reports live in ``studio_commands``, ``studio_state``,
``studio_rules`` and ``studio_reports``; this module re-exports the commands and the fold so callers import one.
"""

from __future__ import annotations

from functools import singledispatch
from typing import Any

from libs.contracts.errors import Conflict, InvalidInput, NotFound
from libs.contracts.events import Event
from libs.contracts.naming import validate_description, validate_name
from libs.contracts.studio import (
    StopReason,
    StudioConfiguration,
    StudioCreated,
    StudioDeleted,
    StudioLifespanExtended,
    StudioOwnerChanged,
    StudioSessionStopped,
    StudioStartRequested,
    StudioStatus,
    StudioStopRequested,
    StudioUpdated,
)
from libs.contracts.studio_commands import (
    ChangeStudioOwner,
    CreateStudio,
    DeleteStudio,
    ExtendLifespan,
    RecordBuildFailed,
    RecordBuildStarted,
    RecordBuildSucceeded,
    RecordConnection,
    RecordProgress,
    RecordSessionRunning,
    RecordSessionStopped,
    RecordStartFailed,
    StartStudio,
    StopStudio,
    StudioCommand,
    UpdateStudio,
)
from libs.contracts.studio_state import INITIAL, State, due_for_lifespan_stop, evolve
from services.lifecycle.studio import reports as studio_reports
from services.lifecycle.studio import rules

__all__ = [
    "INITIAL",
    "CreateStudio",
    "DeleteStudio",
    "ExtendLifespan",
    "RecordBuildFailed",
    "RecordBuildStarted",
    "RecordBuildSucceeded",
    "RecordConnection",
    "RecordProgress",
    "RecordSessionRunning",
    "RecordSessionStopped",
    "RecordStartFailed",
    "StartStudio",
    "State",
    "StopStudio",
    "StudioCommand",
    "UpdateStudio",
    "decide",
    "due_for_lifespan_stop",
    "evolve",
]

S = StudioStatus
STARTING_LIKE, AT_REST = rules.STARTING_LIKE, rules.AT_REST


def decide(state: State, command: StudioCommand) -> list[Event]:
    if isinstance(command, CreateStudio):
        return _create(state, command)
    if not state.exists or state.deleted:
        raise NotFound(f"Studio {command.session_id} not found", session_id=command.session_id)
    run = getattr(command, "run", None)
    if run is not None and run != state.run:
        return []  # about another run: stale
    return _decide(command, state)


def _create(state: State, c: CreateStudio) -> list[Event]:
    if state.exists:
        raise Conflict(f"Studio {c.session_id} already exists", session_id=c.session_id)
    rules.validate_id(c.session_id, "sessionId")
    configuration = rules.validate_configuration(c.configuration)
    default_hours = rules.validate_hours(c.workspace_default_lifespan_hours, "workspaceDefaultLifespanHours")
    created = StudioCreated(
        **c.event_fields(),
        workspace_id=rules.validate_id(c.workspace_id, "workspaceId"),
        user_id=rules.validate_id(c.user_id, "userId"),
        name=validate_name(c.studio_name),
        description=validate_description(c.description),
        compute_env_id=rules.validate_id(c.compute_env_id, "computeEnvId"),
        template=rules.validate_template(c.template),
        configuration=configuration,
        workspace_default_lifespan_hours=default_hours,
        effective_lifespan_hours=rules.effective_lifespan_hours(configuration, default_hours),
        is_private=c.is_private,
        label_ids=c.label_ids,
        spot=c.spot,
        remote_config=c.remote_config,
        initial_checkpoint_id=c.initial_checkpoint_id,
    )
    if not c.auto_start:
        return [created]
    return [created, _start_requested(evolve(state, created), c)]


def _start_requested(
    state: State,
    c: StudioCommand,
    configuration: StudioConfiguration | None = None,
    workspace_default_lifespan_hours: int | None = None,
    spot: bool | None = None,
    description: str | None = None,
    label_ids: tuple[str, ...] | None = None,
) -> StudioStartRequested:
    """The run's full effective settings: what the command overrides, else what the studio has."""
    configuration = configuration or state.configuration
    default_hours = workspace_default_lifespan_hours
    if default_hours is None:
        default_hours = state.workspace_default_lifespan_hours
    assert state.template is not None  # set by StudioCreated
    return StudioStartRequested(
        **c.event_fields(),
        run=state.run + 1,
        compute_env_id=state.compute_env_id,
        template=state.template,
        configuration=configuration,
        workspace_default_lifespan_hours=default_hours,
        effective_lifespan_hours=rules.effective_lifespan_hours(configuration, default_hours),
        spot=state.spot if spot is None else spot,
        progress_steps=rules.progress_steps(state.template.tool, build=bool(configuration.conda_environment)),
        description=description,
        label_ids=label_ids,
    )


@singledispatch
def _decide(command: StudioCommand, state: State) -> list[Event]:
    raise InvalidInput(f"unknown studio command {type(command).__name__}")


@_decide.register
def _(c: UpdateStudio, s: State) -> list[Event]:
    changes: dict[str, Any] = {}
    if c.studio_name is not None and c.studio_name != s.name:
        changes.update(name=validate_name(c.studio_name), previous_name=s.name)
    if c.description is not None and c.description != (s.description or ""):
        changes["description"] = validate_description(c.description)
    if c.compute_env_id is not None and c.compute_env_id != s.compute_env_id:
        changes["compute_env_id"] = rules.validate_id(c.compute_env_id, "computeEnvId")
    if c.configuration is not None and c.configuration != s.configuration:
        changes["configuration"] = rules.validate_configuration(c.configuration)
    if c.label_ids is not None and c.label_ids != s.label_ids:
        changes["label_ids"] = c.label_ids
    default_hours = rules.validate_hours(c.workspace_default_lifespan_hours, "workspaceDefaultLifespanHours")
    if not changes:
        return []  # a newer workspace default alone is no edit: it is recorded with the next edit or start
    if s.status not in AT_REST:
        raise Conflict(f"Studio {s.session_id} is {s.status}: stop it before editing it")
    if default_hours is not None and default_hours != s.workspace_default_lifespan_hours:
        changes["workspace_default_lifespan_hours"] = default_hours
    effective = rules.effective_lifespan_hours(
        changes.get("configuration", s.configuration),
        changes.get("workspace_default_lifespan_hours", s.workspace_default_lifespan_hours),
    )
    if effective != s.effective_lifespan_hours:
        changes["effective_lifespan_hours"] = effective
    return [StudioUpdated(**c.event_fields(), **changes)]


@_decide.register
def _(c: StartStudio, s: State) -> list[Event]:
    if c.configuration is not None:
        rules.validate_configuration(c.configuration)
    validate_description(c.description)
    rules.validate_hours(c.workspace_default_lifespan_hours, "workspaceDefaultLifespanHours")
    if s.status not in AT_REST:
        raise Conflict(f"Studio {s.session_id} is already {s.status}", status=str(s.status))
    event = _start_requested(
        s,
        c,
        configuration=c.configuration,
        workspace_default_lifespan_hours=c.workspace_default_lifespan_hours,
        spot=c.spot,
        description=c.description,
        label_ids=c.label_ids,
    )
    return [event]


@_decide.register
def _(c: StopStudio, s: State) -> list[Event]:
    if c.run is not None and s.status in AT_REST:
        return []  # a timer's stop that arrives after the session ended: the goal is already met
    if c.stop_reason is StopReason.LIFESPAN_EXPIRED and not due_for_lifespan_stop(s, c.now):
        return []  # the lifespan was extended (or the run ended) after the timer fired
    stop = StudioStopRequested(**c.event_fields(), run=s.run, stop_reason=c.stop_reason)
    if s.status is S.RUNNING:
        return [stop]
    if s.status in STARTING_LIKE:
        assert s.last_started is not None
        if c.now - s.last_started < rules.STARTING_STUCK_AFTER:
            raise Conflict(f"Studio {s.session_id} is starting; it can be stopped once stuck for 30 minutes")
        return [stop]
    if s.status is S.STOPPING:
        assert s.last_update is not None
        if c.now - s.last_update < rules.FORCE_STOP_AFTER:
            raise Conflict(f"Studio {s.session_id} is stopping; it can be forced after 10 minutes")
        reason = s.stop_reason or c.stop_reason
        return [
            stop.model_copy(update={"force": True}),
            StudioSessionStopped(**c.event_fields(), run=s.run, stop_reason=reason, message="Stop forced"),
        ]
    raise Conflict(f"Studio {s.session_id} is not running ({s.status})", status=str(s.status))


@_decide.register
def _(c: ExtendLifespan, s: State) -> list[Event]:
    if s.status is not S.RUNNING:
        raise Conflict(f"Studio {s.session_id} is not running ({s.status})")
    if s.expires_at is None:
        raise Conflict(f"Studio {s.session_id} has an unlimited lifespan")
    hours = c.hours if c.hours is not None else s.effective_lifespan_hours
    if hours < 1:
        raise InvalidInput("the lifespan can only be extended by at least one hour", field="hours")
    expires_at = rules.expiry(s.expires_at, hours)
    assert expires_at is not None
    return [StudioLifespanExtended(**c.event_fields(), run=s.run, hours=hours, expires_at=expires_at)]


@_decide.register
def _(c: ChangeStudioOwner, s: State) -> list[Event]:
    rules.validate_id(c.user_id, "userId")
    if c.user_id == s.user_id:
        return []  # already theirs
    return [StudioOwnerChanged(**c.event_fields(), user_id=c.user_id, previous_user_id=s.user_id)]


@_decide.register
def _(c: DeleteStudio, s: State) -> list[Event]:
    if s.status not in AT_REST:
        raise Conflict(f"Studio {s.session_id} is {s.status}: stop it before deleting it")
    return [StudioDeleted(**c.event_fields(), workspace_id=s.workspace_id, name=s.name)]


for _command, _decider in studio_reports.DECIDERS.items():
    _decide.register(_command, _decider)
