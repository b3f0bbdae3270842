"""Settings of the lifecycle service."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from libs.platform.settings import PlatformSettings


class LifecycleSettings(PlatformSettings):
    #: Seconds between SIGTERM and SIGKILL when a session stops (DESIGN §5).
    stop_grace_seconds: float = Field(30.0, alias="STUDIOS_STOP_GRACE_SECONDS", ge=0)
    #: How long a tool may take to answer its readiness probe before the start fails.
    ready_timeout_seconds: float = Field(180.0, alias="STUDIOS_READY_TIMEOUT_SECONDS", gt=0)
    #: On SIGTERM (a restart), how long commands and session starts/stops under way may take to finish before
    #: the process exits anyway (the next lifecycle resumes what was cut short); keep it below the supervisor's
    #: grace period for lifecycle (40 s).
    drain_seconds: float = Field(20.0, alias="STUDIOS_DRAIN_SECONDS", ge=0)
    #: Set by the supervisor (``SYSTEM_SHUTDOWN_ENV``) when the system shuts down while lifecycle is between two
    #: restarts: start, adopt what runs, stop every session (``SHUTDOWN``) and exit.
    system_shutdown: bool = Field(False, alias="STUDIOS_SYSTEM_SHUTDOWN")
    reconcile_interval_seconds: float = Field(15.0, alias="STUDIOS_RECONCILE_INTERVAL_SECONDS", gt=0)
    #: Stop a running session nobody has been connected to for this long (stop reason IDLE_TIMEOUT); 0: never.
    idle_timeout_minutes: float = Field(0, alias="STUDIOS_IDLE_TIMEOUT_MINUTES", ge=0)
    #: Port of lifecycle's Prometheus ``/metrics`` (on ``STUDIOS_HOST``); 0: not served.
    metrics_port: int = Field(9101, alias="STUDIOS_LIFECYCLE_METRICS_PORT", ge=0, le=65535)
    #: Bytes of output one session run may log (issue 9); past it one truncation marker, and the rest is counted.
    log_quota_bytes: int = Field(100 * 1024**2, alias="STUDIOS_LOGS_RUN_QUOTA_BYTES", ge=0)
    #: Jobs (docs/jobs.md): seconds between dispatcher passes when nothing wakes it, and how many seconds of waiting
    #: lift a queued job one priority (so nothing starves).
    job_dispatch_interval_seconds: float = Field(0.2, alias="STUDIOS_JOB_DISPATCH_INTERVAL_SECONDS", gt=0)
    job_aging_seconds: float = Field(600.0, alias="STUDIOS_JOB_AGING_SECONDS", ge=0)
    #: The Docker-API engine ``docker-platform`` compute environments run on (unix:///var/run/docker.sock,
    #: tcp://host:2375); unset: this lifecycle runs no docker sessions and refuses their starts (docs/backends.md).
    docker_host: str | None = Field(None, alias="STUDIOS_DOCKER_HOST")
    #: Who docker sessions run as where their image names no user (uid:gid); "" runs them as the image's default.
    docker_user: str = Field("1000:1000", alias="STUDIOS_DOCKER_USER")
    #: A network docker sessions join, where the gateway reaches them (compose: studios-sessions); unset: their
    #: port is published on this host's 127.0.0.1.
    docker_network: str | None = Field(None, alias="STUDIOS_DOCKER_NETWORK")
    #: The namespace ``k8s-platform`` compute environments run pods in (lifecycle's role covers that one only);
    #: unset: this lifecycle runs no kubernetes sessions and refuses their starts (docs/backends.md). The cluster is
    #: the one lifecycle runs in (its service account), unless STUDIOS_KUBECONFIG names a kubeconfig file.
    kube_namespace: str | None = Field(None, alias="STUDIOS_KUBE_NAMESPACE")
    kubeconfig: str | None = Field(None, alias="STUDIOS_KUBECONFIG")
    kube_context: str | None = Field(None, alias="STUDIOS_KUBE_CONTEXT")
    #: the studios image (deploy/Dockerfile) pods sync s3:// data links with, in init containers
    kube_sync_image: str = Field("studios:local", alias="STUDIOS_KUBE_SYNC_IMAGE")
    #: The most an ``s3://`` data link's read-only copy in a session may hold (MiB); a larger link fails the start
    #: with its size, before anything is fetched (docs/data-links.md).
    datalink_copy_max_mb: int = Field(5 * 1024, alias="STUDIOS_DATALINK_COPY_MAX_MB", ge=0)

    @property
    def workspaces_dir(self) -> Path:
        return self.data_dir.resolve() / "workspaces"

    @property
    def state_dir(self) -> Path:
        return self.data_dir.resolve() / "lifecycle"
