"""Studio events (stream ``studio-<sessionId>``) and the value types they carry.

Names and enum values follow Seqera's Studios API (``DataStudioDto`` and friends) so the gateway's read model can
be a plain projection; where we extend it (stop reasons, the ``command`` of a custom tool) the field says so.
Collections are tuples so that events and the state folded from them stay immutable all the way down.

Why one module of ~360 lines: it is the studio aggregate's whole event vocabulary, one discriminated union with
its upcasters; split by size it would scatter the one list an integrator reads to learn what a studio can say.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, ClassVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, field_validator

from libs.contracts.events import Event, registry

CATEGORY = "studio"


def stream_name(session_id: str) -> str:
    return f"{CATEGORY}-{session_id}"


class StudioStatus(StrEnum):
    """Seqera's ``DataStudioStatus``, all of it."""

    STARTING = "starting"
    RUNNING = "running"
    STOPPING = "stopping"
    STOPPED = "stopped"
    ERRORED = "errored"
    BUILDING = "building"
    BUILD_FAILED = "buildFailed"


class StopReason(StrEnum):
    """Seqera's ``DataStudioStopReason`` values, then ours (which the gateway leaves out of ``stopReason``, as
    strict clients accept only Seqera's values there)."""

    CREDITS_RUN_OUT = "CREDITS_RUN_OUT"
    LIFESPAN_EXPIRED = "LIFESPAN_EXPIRED"
    SPOT_RECLAMATION = "SPOT_RECLAMATION"
    NO_STATS_AVAIL = "NO_STATS_AVAIL"
    USER_REQUEST = "USER_REQUEST"
    IDLE_TIMEOUT = "IDLE_TIMEOUT"
    ERROR = "ERROR"
    ADMIN = "ADMIN"
    RECONCILED = "RECONCILED"  # the process was gone when the lifecycle service came back
    SHUTDOWN = "SHUTDOWN"  # the whole system was shut down (`studios up` stopped), not only a service


class ProgressStatus(StrEnum):
    """Seqera's ``DataStudioProgressStep.Status``."""

    PENDING = "pending"
    IN_PROGRESS = "in-progress"
    SUCCEEDED = "succeeded"
    ERRORED = "errored"


class _Value(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class StudioConfiguration(_Value):
    """Seqera's ``DataStudioConfiguration``. Ranges are checked by the aggregate, which answers ``InvalidInput``."""

    cpu: int = 2
    gpu: int = 0
    memory: int = 8192  # MiB
    mount_data: tuple[str, ...] = ()  # data-link ids
    environment: dict[str, str] = {}
    conda_environment: str | None = None
    lifespan_hours: int | None = None  # None: the workspace default; 0: unlimited
    command: tuple[str, ...] | None = None  # our extension: what the ``custom`` tool runs
    #: our extension: stop the session after this long with no connection activity and no work (a number, so
    #: fractions work); None: the service's default (STUDIOS_IDLE_TIMEOUT_MINUTES); 0: never (docs/activity.md)
    idle_timeout_minutes: float | None = None


class StudioTemplate(_Value):
    """Seqera's ``DataStudioTemplate``; ``tool`` is open (jupyter, vscode, rstudio, xpra, http-echo, custom, ...)."""

    repository: str
    tool: str
    icon: str | None = None
    status: str = "recommended"  # DataStudioVersionStatus
    #: Our extension: the tool serves under the URL prefix it is started with (JupyterLab's ``base_url``); False:
    #: it expects to be at ``/`` and the proxy takes ``/connect/<id>`` off in path mode. None (templates recorded
    #: before the flag): known by the tool's name (``proxy.hosts.takes_base_path``).
    base_path: bool | None = None


class RemoteConfig(_Value):
    """Seqera's ``StudioRemoteConfiguration``: a git repository cloned into the session."""

    repository: str
    revision: str | None = None
    commit_id: str | None = None


class ProgressStep(_Value):
    """Seqera's ``DataStudioProgressStep``: ``message`` is the step's label; ``detail`` is our extra line."""

    message: str
    status: ProgressStatus = ProgressStatus.PENDING
    warnings: tuple[str, ...] = ()
    detail: str | None = None


class ActiveConnection(_Value):
    """Seqera's ``ActiveConnection`` (a user and when they were last seen) plus the open connection ids."""

    user_id: str
    user_name: str | None = None
    last_active: AwareDatetime
    connection_ids: tuple[str, ...] = ()
    #: the latest lease the proxy took for one of them: past it, nobody renewed them (a gateway died) and they
    #: count as gone (docs/activity.md); None: recorded before leases
    lease_until: AwareDatetime | None = None


class ResourceUsage(_Value):
    """What one run used, recorded when it stops: peak resident memory, and cpu in millicores (1000 = one core
    busy) averaged over the run and at its busiest sampling interval (Civis's ``maxMemoryUsage``/``maxCpuUsage``)."""

    peak_memory_mb: int
    avg_cpu_millicores: int
    peak_cpu_millicores: int


class StudioEvent(Event):
    """Common facts: which studio, when, who, and why (free text, for the audit trail)."""

    session_id: str
    at: AwareDatetime
    actor: str
    reason: str | None = None


@registry.register
class StudioCreated(StudioEvent):
    event_type: ClassVar[str] = "StudioCreated"
    workspace_id: str
    user_id: str
    name: str
    description: str | None = None
    compute_env_id: str
    template: StudioTemplate
    configuration: StudioConfiguration
    workspace_default_lifespan_hours: int | None = None
    effective_lifespan_hours: int  # 0: unlimited
    is_private: bool = False
    label_ids: tuple[str, ...] = ()
    spot: bool = False
    remote_config: RemoteConfig | None = None
    initial_checkpoint_id: str | None = None


@registry.register
class StudioUpdated(StudioEvent):
    """Only the fields that changed are set; ``previous_name`` lets the name reservation release the old one."""

    event_type: ClassVar[str] = "StudioUpdated"
    name: str | None = None
    previous_name: str | None = None
    description: str | None = None
    compute_env_id: str | None = None
    configuration: StudioConfiguration | None = None
    label_ids: tuple[str, ...] | None = None
    workspace_default_lifespan_hours: int | None = None
    effective_lifespan_hours: int | None = None


@registry.register
class StudioStartRequested(StudioEvent):
    """Everything the session runner needs, so it never has to read the stream to launch a run."""

    event_type: ClassVar[str] = "StudioStartRequested"
    run: int
    compute_env_id: str
    template: StudioTemplate
    configuration: StudioConfiguration
    workspace_default_lifespan_hours: int | None = None
    effective_lifespan_hours: int
    spot: bool = False
    progress_steps: tuple[str, ...]
    description: str | None = None  # set only when the start changed it
    label_ids: tuple[str, ...] | None = None  # set only when the start changed them


@registry.register
class StudioBuildStarted(StudioEvent):
    event_type: ClassVar[str] = "StudioBuildStarted"
    run: int
    build_id: str
    build_url: str | None = None


@registry.register
class StudioBuildSucceeded(StudioEvent):
    event_type: ClassVar[str] = "StudioBuildSucceeded"
    run: int
    build_id: str


@registry.register
class StudioBuildFailed(StudioEvent):
    event_type: ClassVar[str] = "StudioBuildFailed"
    run: int
    build_id: str | None = None
    message: str


@registry.register
class StudioProgressRecorded(StudioEvent):
    event_type: ClassVar[str] = "StudioProgressRecorded"
    run: int
    step: str
    status: ProgressStatus
    detail: str | None = None
    warnings: tuple[str, ...] = ()


@registry.register
class StudioSessionRunning(StudioEvent):
    """v2: ``handle`` no longer carries the session's proxy secret (it is derived; DESIGN §2, no secret in an event)."""

    event_type: ClassVar[str] = "StudioSessionRunning"
    schema_version: ClassVar[int] = 2
    run: int
    handle: dict[str, Any]
    url: str
    expires_at: AwareDatetime | None = None  # None: unlimited lifespan

    @field_validator("handle")
    @classmethod
    def _no_secret(cls, handle: dict[str, Any]) -> dict[str, Any]:
        if "secret" in handle:
            raise ValueError("a session handle in an event must not carry its secret")
        return handle


@registry.upcaster(StudioSessionRunning.event_type, 1)
def upcast_studio_session_running_v1_v2(data: dict[str, Any]) -> dict[str, Any]:
    """v1 stored the proxy secret in the handle; drop it, so old events never hand it to a reader."""
    handle = {k: v for k, v in (data.get("handle") or {}).items() if k != "secret"}
    return {**data, "handle": handle}


@registry.register
class StudioStartFailed(StudioEvent):
    event_type: ClassVar[str] = "StudioStartFailed"
    run: int
    message: str
    failed_step: str | None = None


@registry.register
class StudioStopRequested(StudioEvent):
    """``force``: the session sat in ``stopping`` too long; the runner kills it and the studio is stopped at once."""

    event_type: ClassVar[str] = "StudioStopRequested"
    run: int
    stop_reason: StopReason
    force: bool = False


@registry.register
class StudioSessionStopped(StudioEvent):
    """``errored``: the session ended on its own with a failure, so the studio shows ``errored``, not ``stopped``."""

    event_type: ClassVar[str] = "StudioSessionStopped"
    run: int
    stop_reason: StopReason
    exit_code: int | None = None
    message: str | None = None
    errored: bool = False
    usage: ResourceUsage | None = None  # None: the backend could not tell (or the run ended before it was watched)


@registry.register
class StudioLifespanExtended(StudioEvent):
    event_type: ClassVar[str] = "StudioLifespanExtended"
    run: int
    hours: int
    expires_at: AwareDatetime


@registry.register
class StudioDeleted(StudioEvent):
    """Carries the workspace and name so the name reservation can be released without reading this stream."""

    event_type: ClassVar[str] = "StudioDeleted"
    workspace_id: str
    name: str


@registry.register
class StudioConnectionOpened(StudioEvent):
    event_type: ClassVar[str] = "StudioConnectionOpened"
    run: int
    user_id: str
    user_name: str | None = None
    connection_id: str
    lease_until: AwareDatetime | None = None


@registry.register
class StudioSessionBusy(StudioEvent):
    """The tool is working without anyone connected (a busy kernel, CPU use, a custom tool's activity endpoint):
    what keeps an idle timeout from stopping it. At most one per session per interval (docs/activity.md)."""

    event_type: ClassVar[str] = "StudioSessionBusy"
    run: int
    work: tuple[str, ...]


@registry.register
class StudioConnectionActive(StudioEvent):
    """An open connection is still there and in use (at most one per connection per 30 s): its lease renewed."""

    event_type: ClassVar[str] = "StudioConnectionActive"
    run: int
    user_id: str
    connection_id: str
    lease_until: AwareDatetime | None = None


@registry.register
class StudioConnectionClosed(StudioEvent):
    event_type: ClassVar[str] = "StudioConnectionClosed"
    run: int
    user_id: str
    connection_id: str


@registry.register
class StudioOwnerChanged(StudioEvent):
    """The studio now belongs to another user of its workspace (Dataiku's ``change_owner``)."""

    event_type: ClassVar[str] = "StudioOwnerChanged"
    user_id: str
    previous_user_id: str


STUDIO_EVENTS: tuple[type[StudioEvent], ...] = (
    StudioCreated,
    StudioUpdated,
    StudioStartRequested,
    StudioBuildStarted,
    StudioBuildSucceeded,
    StudioBuildFailed,
    StudioProgressRecorded,
    StudioSessionRunning,
    StudioStartFailed,
    StudioStopRequested,
    StudioSessionStopped,
    StudioLifespanExtended,
    StudioDeleted,
    StudioConnectionOpened,
    StudioConnectionActive,
    StudioConnectionClosed,
    StudioSessionBusy,
    StudioOwnerChanged,
)
