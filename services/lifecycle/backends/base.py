"""The compute port: what the lifecycle service needs from anything that runs a session's tool.

Shaped like jupyterhub's ``Spawner``: a handful of methods chosen by name, and a ``Handle`` small enough to be
stored in an event so a restarted lifecycle service can adopt the sessions it launched before.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from libs.contracts.errors import Unavailable

if TYPE_CHECKING:  # boto3 behind it: not loaded by every importer of the port
    from services.lifecycle.datalinks.sync import PodLink

# Session ids become file names and process markers, so they must not be able to escape a directory.
_SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


class LaunchError(Unavailable):
    """The backend could not start the session's tool (bad command, tool not installed, no capacity)."""


@dataclass(frozen=True)
class LaunchSpec:
    """Everything a backend needs to start one session; the backend decides how to honour it."""

    session_id: str
    studio_id: str
    tool: str
    workspace_dir: Path
    base_path: str  # URL prefix the gateway proxies under, e.g. "/connect/<session_id>/"
    secret: str  # per-session secret; only the gateway proxy knows it
    command: list[str] | None = None  # only for tool == "custom"
    environment: dict[str, str] = field(default_factory=dict)
    cpu: int | None = None
    memory_mib: int | None = None
    gpu: int = 0
    labels: dict[str, str] = field(default_factory=dict)
    #: (host path, path inside the workspace) to show the tool read-only: data links
    read_only_mounts: tuple[tuple[str, str], ...] = ()
    #: ``s3://`` links the pod syncs itself (kubernetes: init containers; ``backends/kube_links.py``), with their
    #: credentials: never shown
    pod_links: tuple[PodLink, ...] = field(default=(), repr=False)
    #: the virtual environment the builder made for the studio's ``condaEnvironment``: the tool runs in it
    python_env: Path | None = None
    #: the template's container image (its ``repository``): what the docker and kubernetes backends run
    image: str | None = None
    #: asked for spot capacity; backends without it (local, docker) ignore it and say so
    spot: bool = False
    #: which backend runs it (``Handle.backend``): chosen from the compute environment's platform
    backend: str = "local"
    #: the compute environment's config (Seqera's ComputeConfig, camelCase): placement for the kubernetes backend
    compute_config: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not _SAFE_ID.match(self.session_id):
            raise ValueError(f"session_id {self.session_id!r} must match {_SAFE_ID.pattern}")
        if not (self.base_path.startswith("/") and self.base_path.endswith("/")):
            raise ValueError(f"base_path {self.base_path!r} must start and end with '/'")


@dataclass(frozen=True)
class Handle:
    """Where a launched session lives. Plain values only, so it round-trips through an event payload."""

    session_id: str
    backend: str
    ident: str  # backend-specific: the process-group leader's pid for "local"
    host: str
    port: int
    started_at: float  # epoch seconds; for "local" the OS create time, which also guards against pid reuse
    #: how cpu and memory are enforced, for the launch progress step; not part of the session's identity
    limits: str = field(default="", compare=False)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Handle:
        return cls(
            session_id=str(data["session_id"]),
            backend=str(data["backend"]),
            ident=str(data["ident"]),
            host=str(data["host"]),
            port=int(data["port"]),
            started_at=float(data["started_at"]),
            limits=str(data.get("limits", "")),
        )

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


class SessionState(StrEnum):
    RUNNING = "running"
    EXITED = "exited"  # it ran and is gone; exit_code is None when the backend could not learn it
    MISSING = "missing"  # the backend knows nothing about this handle


@dataclass(frozen=True)
class Status:
    state: SessionState
    exit_code: int | None = None  # negative N means "killed by signal N", as in subprocess
    message: str = ""

    @property
    def running(self) -> bool:
        return self.state is SessionState.RUNNING


@dataclass(frozen=True)
class Usage:
    """What a run used: peak resident memory and cpu in millicores (1000 = one core busy), averaged over the run
    and at its busiest sampling interval."""

    peak_memory_mb: int
    avg_cpu_millicores: int
    peak_cpu_millicores: int
    #: cpu time used so far: two readings give the recent rate (idle detection, sessions/activity.py)
    cpu_seconds: float | None = field(default=None, compare=False)


class ComputeBackend(Protocol):
    """Runs session tools. All methods are idempotent where that makes sense; none raise for a gone session."""

    name: str

    async def launch(self, spec: LaunchSpec) -> Handle:
        """Start the tool and return as soon as it is spawned (not ready). Raises LaunchError."""
        ...

    async def ready(self, handle: Handle, timeout: float) -> bool:
        """Poll the tool over HTTP until it answers below 500; False on timeout or if it dies first."""
        ...

    async def inspect(self, handle: Handle) -> Status: ...

    async def wait(self, handle: Handle) -> Status:
        """Return as soon as the session's main process has ended: its exit code (when known) and its last output
        lines in ``message``. A gone session returns at once."""
        ...

    async def usage(self, handle: Handle) -> Usage | None:
        """What the session used so far, or in all once stopped; None when the backend cannot tell."""
        ...

    async def stop(self, handle: Handle, grace: float | None = None) -> int | None:
        """SIGTERM, then SIGKILL after ``grace`` (the backend's default when None). Returns the exit code if known."""
        ...

    async def list_sessions(self) -> list[Handle]:
        """Every live session this backend launched, found from the OS: for reconciliation after a restart."""
        ...

    def output(self, handle: Handle) -> AsyncIterator[bytes]:
        """The tool's captured stdout+stderr from the beginning, following it until the session ends."""
        ...


@runtime_checkable
class KeepsWorkspaceObjects(Protocol):
    """A backend that keeps something of its own for a studio's workspace besides the folder (the docker
    backend's named volume). Given back once the studio is deleted (``sessions/reclaim.py``)."""

    async def forget_workspace(self, studio_id: str, workspace_dir: Path) -> bool:
        """Remove it; False while it is still in use (then the folder stays as well, for the next pass)."""
        ...
