"""The studio's policies: input limits, lifespan arithmetic, progress steps, the stop gates' durations, when a
running session counts as idle, and when a command takes or gives up the studio's name (its reservation)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime, timedelta

from libs.contracts.errors import InvalidInput
from libs.contracts.events import Event
from libs.contracts.studio import (
    ActiveConnection,
    StudioConfiguration,
    StudioDeleted,
    StudioStatus,
    StudioTemplate,
    StudioUpdated,
)
from libs.contracts.studio_state import State

#: A start that has not reached ``running`` in this long is stuck, and the user may stop it.
STARTING_STUCK_AFTER = timedelta(minutes=30)
#: A stop that has not finished in this long may be forced: the studio is marked stopped at once.
FORCE_STOP_AFTER = timedelta(minutes=10)
#: A build is part of starting: the same gates apply.
STARTING_LIKE = frozenset({StudioStatus.STARTING, StudioStatus.BUILDING})
#: No session exists: the studio may be edited, started or deleted.
AT_REST = frozenset({StudioStatus.STOPPED, StudioStatus.ERRORED, StudioStatus.BUILD_FAILED})
CONDA_ENVIRONMENT_MAX = 2048  # DataStudioConfiguration.condaEnvironment

TOOL_DISPLAY_NAMES = {
    "jupyter": "JupyterLab",
    "jupyterlab": "JupyterLab",
    "vscode": "VS Code",
    "rstudio": "RStudio",
    "xpra": "Xpra",
    "http-echo": "http-echo",
    "custom": "custom",
}
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def tool_display_name(tool: str) -> str:
    return TOOL_DISPLAY_NAMES.get(tool.lower(), tool)


#: The workspace's latest good checkpoint is restored (services/lifecycle/sessions/checkpointing.py).
RESTORE_STEP = "Restoring checkpoint"
#: The first step of a start whose configuration has a ``condaEnvironment`` (the builder's work).
BUILD_STEP = "Building the environment"


def progress_steps(tool: str, build: bool = False) -> tuple[str, ...]:
    """The steps every start shows (Seqera's progress list), all pending until the runner reports them; with
    ``build``, the environment's build comes first."""
    shown = tool_display_name(tool)
    steps = ("Provisioning compute resources", "Mounting data links", RESTORE_STEP, f"Starting {shown}",
             f"Waiting for {shown} to respond")
    return (BUILD_STEP, *steps) if build else steps


def effective_lifespan_hours(configuration: StudioConfiguration, workspace_default: int | None) -> int:
    """The studio's own lifespan wins over the workspace default; 0 (or nothing set anywhere) is unlimited."""
    hours = configuration.lifespan_hours if configuration.lifespan_hours is not None else workspace_default
    return hours or 0


def expiry(running_at: datetime, hours: int) -> datetime | None:
    return running_at + timedelta(hours=hours) if hours > 0 else None


def validate_configuration(c: StudioConfiguration) -> StudioConfiguration:
    for field in ("cpu", "gpu", "memory"):
        if getattr(c, field) < 0:
            raise InvalidInput(f"configuration.{field} must not be negative", field=f"configuration.{field}")
    if c.lifespan_hours is not None and c.lifespan_hours < 0:
        raise InvalidInput("configuration.lifespanHours must not be negative", field="configuration.lifespanHours")
    if c.idle_timeout_minutes is not None and not 0 <= c.idle_timeout_minutes <= 10**6:
        raise InvalidInput("configuration.idleTimeoutMinutes must be between 0 (never) and 1000000",
                           field="configuration.idleTimeoutMinutes")
    if c.conda_environment is not None and len(c.conda_environment) > CONDA_ENVIRONMENT_MAX:
        raise InvalidInput(
            f"configuration.condaEnvironment must be at most {CONDA_ENVIRONMENT_MAX} characters long",
            field="configuration.condaEnvironment",
        )
    bad_names = [k for k in c.environment if not _ENV_NAME.fullmatch(k)]
    if bad_names:
        raise InvalidInput(f"invalid environment variable names: {bad_names}", field="configuration.environment")
    if any(not link.strip() for link in c.mount_data):
        raise InvalidInput("data-link ids must not be blank", field="configuration.mountData")
    if c.command is not None and not (c.command and c.command[0].strip()):
        raise InvalidInput("configuration.command must name a program", field="configuration.command")
    return c


def validate_template(t: StudioTemplate) -> StudioTemplate:
    if not t.repository.strip() or not t.tool.strip():
        raise InvalidInput("the template needs a repository and a tool", field="template")
    return t


def validate_hours(hours: int | None, field: str) -> int | None:
    if hours is not None and hours < 0:
        raise InvalidInput(f"{field} must not be negative", field=field)
    return hours


def validate_id(value: str, field: str) -> str:
    if not value.strip():
        raise InvalidInput(f"{field} must not be blank", field=field)
    return value


def idle_timeout(state: State, default: timedelta | None, workspace: float | None = None) -> timedelta | None:
    """The studio's own ``idleTimeoutMinutes`` wins over its workspace's setting, which wins over the service's
    default; 0 (or None overall): never."""
    minutes = state.configuration.idle_timeout_minutes
    if minutes is None:
        minutes = workspace
    if minutes is None:
        return default
    return timedelta(minutes=minutes) if minutes > 0 else None


def live_connections(state: State, now: datetime) -> tuple[ActiveConnection, ...]:
    """Connections whose lease has not passed (one nobody renewed is a ghost, even before it is reaped)."""
    return tuple(c for c in state.active_connections if c.lease_until is None or c.lease_until > now)


def last_activity(state: State) -> datetime | None:
    """The latest of: any change of the studio (its start included), connection activity, work in the tool."""
    seen = [t for t in (state.updated_at, state.last_activity, state.last_work) if t is not None]
    return max(seen) if seen else None


def keeping_alive(state: State, now: datetime, timeout: timedelta | None) -> tuple[str, ...]:
    """What keeps a running session from being idle now: ``connection``, and the work last seen within the
    timeout (``kernel busy``, ``cpu``...)."""
    out: tuple[str, ...] = ("connection",) if live_connections(state, now) else ()
    if state.last_work is not None and (timeout is None or now - state.last_work < timeout):
        out += state.busy_with
    return out


def idle(state: State, now: datetime, timeout: timedelta | None) -> bool:
    """Nobody connected, and no connection activity, no work in the tool and no change to the studio for
    ``timeout``; None: sessions are never stopped for being idle."""
    last = last_activity(state)
    if timeout is None or live_connections(state, now) or state.updated_at is None or last is None:
        return False
    return now - last >= timeout


def takes_new_name(state: State, name: str | None) -> bool:
    """An update asking for ``name`` needs it reserved: names are unique per workspace without regard to case, so
    a change of case alone keeps the reservation the studio holds."""
    return bool(name) and state.exists and state.name.lower() != (name or "").lower()


def renamed(events: Sequence[Event]) -> bool:
    """The update recorded a new name: the old one is given up (released) with it."""
    return any(isinstance(e, StudioUpdated) and e.name for e in events)


def deleted(events: Sequence[Event]) -> bool:
    """The studio was deleted: its name is free for another studio of the workspace."""
    return any(isinstance(e, StudioDeleted) for e in events)
