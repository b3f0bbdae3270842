"""Commands to the studio aggregate. They travel as NATS requests (``studios.cmd.lifecycle.<name>``).

Every command names its studio, the time it is decided at (the handler stamps ``now``: the domain has no
clock), the acting user and an optional free-text reason. Value ranges are left to ``decide`` so a bad value
comes back as ``InvalidInput`` with the field named, like every other domain error.
``Record*`` commands come from the session runner and carry the run they are about; a different run is stale.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import AwareDatetime

from libs.contracts.commands import Command
from libs.contracts.studio import (
    ProgressStatus,
    RemoteConfig,
    ResourceUsage,
    StopReason,
    StudioConfiguration,
    StudioTemplate,
)


class StudioCommand(Command):
    service: ClassVar[str] = "lifecycle"
    session_id: str
    now: AwareDatetime
    actor: str
    reason: str | None = None

    def event_fields(self) -> dict[str, Any]:
        """What every studio event repeats from its command: which studio, when, who and why."""
        return {"session_id": self.session_id, "at": self.now, "actor": self.actor, "reason": self.reason}


class CreateStudio(StudioCommand):
    name: ClassVar[str] = "create_studio"
    workspace_id: str
    user_id: str
    studio_name: str
    description: str | None = None
    compute_env_id: str
    template: StudioTemplate
    configuration: StudioConfiguration = StudioConfiguration()
    workspace_default_lifespan_hours: int | None = None
    is_private: bool = False
    label_ids: tuple[str, ...] = ()
    spot: bool = False
    remote_config: RemoteConfig | None = None
    initial_checkpoint_id: str | None = None
    auto_start: bool = False


class UpdateStudio(StudioCommand):
    """``None`` leaves a field as it is; ``description=""`` clears it. Configuration is replaced whole."""

    name: ClassVar[str] = "update_studio"
    studio_name: str | None = None
    description: str | None = None
    compute_env_id: str | None = None
    configuration: StudioConfiguration | None = None
    label_ids: tuple[str, ...] | None = None
    workspace_default_lifespan_hours: int | None = None


class StartStudio(StudioCommand):
    name: ClassVar[str] = "start_studio"
    configuration: StudioConfiguration | None = None
    description: str | None = None
    label_ids: tuple[str, ...] | None = None
    spot: bool | None = None
    workspace_default_lifespan_hours: int | None = None


class StopStudio(StudioCommand):
    """``run``: set by timers (lifespan, idle) so a stop meant for an earlier run is dropped."""

    name: ClassVar[str] = "stop_studio"
    stop_reason: StopReason = StopReason.USER_REQUEST
    run: int | None = None


class ExtendLifespan(StudioCommand):
    """Seqera's extend call has no body: ``hours=None`` extends by the effective lifespan."""

    name: ClassVar[str] = "extend_lifespan"
    hours: int | None = None


class ChangeStudioOwner(StudioCommand):
    """Give the studio to another user of its workspace (``user_id``); the gateway checks who may."""

    name: ClassVar[str] = "change_studio_owner"
    user_id: str


class DeleteStudio(StudioCommand):
    name: ClassVar[str] = "delete_studio"


class RecordBuildStarted(StudioCommand):
    name: ClassVar[str] = "record_build_started"
    run: int
    build_id: str
    build_url: str | None = None


class RecordBuildSucceeded(StudioCommand):
    name: ClassVar[str] = "record_build_succeeded"
    run: int
    build_id: str


class RecordBuildFailed(StudioCommand):
    name: ClassVar[str] = "record_build_failed"
    run: int
    build_id: str | None = None
    message: str


class RecordProgress(StudioCommand):
    """``step`` is the label of one of the run's progress steps."""

    name: ClassVar[str] = "record_progress"
    run: int
    step: str
    status: ProgressStatus
    detail: str | None = None
    warnings: tuple[str, ...] = ()


class RecordSessionRunning(StudioCommand):
    name: ClassVar[str] = "record_session_running"
    run: int
    handle: dict[str, Any]
    url: str


class RecordStartFailed(StudioCommand):
    name: ClassVar[str] = "record_start_failed"
    run: int
    message: str


class RecordSessionStopped(StudioCommand):
    """``stop_reason=None``: the reason of the stop that was asked for, else ``ERROR`` (it ended on its own)."""

    name: ClassVar[str] = "record_session_stopped"
    run: int
    stop_reason: StopReason | None = None
    exit_code: int | None = None
    message: str | None = None
    usage: ResourceUsage | None = None


class RecordConnection(StudioCommand):
    """From the gateway's proxy: one browser connection opened, still active (``active``: its lease renewed;
    it opens the connection if its open was lost) or closed. ``run=None``: the current run. ``lease_seconds``:
    how long the connection counts without being renewed (None: until closed)."""

    name: ClassVar[str] = "record_connection"
    user_id: str
    user_name: str | None = None
    connection_id: str
    connected: bool
    run: int | None = None
    active: bool = False
    lease_seconds: float | None = None


class RecordWork(StudioCommand):
    """From the lifecycle's activity probe: what the tool is busy with (``work`` names it, e.g. "kernel busy")."""

    name: ClassVar[str] = "record_work"
    run: int
    work: tuple[str, ...]


STUDIO_COMMANDS: tuple[type[StudioCommand], ...] = (
    CreateStudio,
    UpdateStudio,
    StartStudio,
    StopStudio,
    ExtendLifespan,
    DeleteStudio,
    ChangeStudioOwner,
    RecordBuildStarted,
    RecordBuildSucceeded,
    RecordBuildFailed,
    RecordProgress,
    RecordSessionRunning,
    RecordStartFailed,
    RecordSessionStopped,
    RecordConnection,
    RecordWork,
)
