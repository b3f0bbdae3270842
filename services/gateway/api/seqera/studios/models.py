"""Seqera Studios DTOs (responses), field names and enums exactly as the spec; request bodies in ``requests``.
(``models.py`` beside it holds the identity/resource request bodies.)

Every class is a ``SeqeraResponse``: a field without a value is left out of the body unless Seqera's schema
declares it ``nullable`` (``nullable`` below); ``tests`` check every response against the spec
(``libs.testing.seqera_schema``). The request models reused in a studio's body (configuration, remote config,
mount data) have response twins here, so a request's explicit ``null`` keeps its meaning."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from services.gateway.api.seqera.base import SeqeraResponse
from services.gateway.api.seqera.studios.requests import (
    DataStudioConfiguration,
    DataStudioCreateRequest,
    DataStudioStartRequest,
    DataStudioUpdateRequest,
    DataStudioWorkspaceSettingsRequest,
    MountData,
    StudioRemoteConfiguration,
)

DataStudioStatus = Literal["starting", "running", "stopping", "stopped", "errored", "building", "buildFailed"]
DataStudioStopReason = Literal["CREDITS_RUN_OUT", "LIFESPAN_EXPIRED", "SPOT_RECLAMATION", "NO_STATS_AVAIL"]
ProgressStatus = Literal["pending", "in-progress", "succeeded", "errored"]
VersionStatus = Literal["recommended", "deprecated", "experimental", "unsupported"]

__all__ = [
    "ActiveConnection", "ActiveConnectionsResponse", "DataLinkDto", "DataStudioComputeEnvDto",
    "DataStudioConfiguration",
    "DataStudioConfigurationDto", "DataStudioCreateRequest", "DataStudioCreateResponse", "DataStudioDto",
    "DataStudioListResponse", "DataStudioMountedLinksResponse", "DataStudioProgressStep", "DataStudioStartRequest",
    "DataStudioStartResponse", "DataStudioStatusInfo", "DataStudioStopResponse", "DataStudioTemplate",
    "DataStudioTemplatesListResponse", "DataStudioUpdateRequest", "DataStudioWorkspaceSettingsRequest",
    "DataStudioWorkspaceSettingsResponse", "ErrorResponse", "LabelDbDto", "MountData", "MountDataDto",
    "ParentCheckpoint", "StudioRemoteConfiguration", "StudioRemoteConfigurationDto", "UserInfo",
]


class MountDataDto(SeqeraResponse):
    nullable = frozenset({"path"})
    data_link_id: str
    path: str | None = None


class DataStudioConfigurationDto(SeqeraResponse):
    """``DataStudioConfiguration`` as a response shows it; ``command`` is ours (what a ``custom`` tool runs)."""

    nullable = frozenset({"environment", "mount_data", "mount_data_v2", "ssh_enabled"})
    conda_environment: str | None = None
    cpu: int | None = None
    environment: dict[str, str] | None = None
    gpu: int | None = None
    lifespan_hours: int | None = None
    memory: int | None = None
    mount_data: list[str] | None = None
    mount_data_v2: list[MountDataDto] | None = Field(default=None, alias="mountDataV2")
    ssh_enabled: bool | None = None
    command: list[str] | None = None
    idle_timeout_minutes: float | None = None


class StudioRemoteConfigurationDto(SeqeraResponse):
    nullable = frozenset({"commit_id", "revision"})
    commit_id: str | None = None
    repository: str
    revision: str | None = None


class ErrorResponse(SeqeraResponse):
    message: str


class UserInfo(SeqeraResponse):
    avatar: str | None = None
    email: str | None = None
    id: int | None = None
    user_name: str | None = None


class ActiveConnection(UserInfo):
    last_active: datetime | None = None


class DataStudioComputeEnvDto(SeqeraResponse):
    id: str
    name: str | None = None
    platform: str | None = None
    region: str | None = None
    credentials_id: str | None = None
    work_dir: str | None = None


class DataStudioStatusInfo(SeqeraResponse):
    """``stopReason`` keeps to Seqera's enum; ``stopReasonDetail`` (ours) is the raw reason, e.g. ``USER_REQUEST``."""

    last_update: datetime | None = None
    message: str | None = None
    status: DataStudioStatus | None = None
    stop_reason: DataStudioStopReason | None = None
    stop_reason_detail: str | None = None


class DataStudioProgressStep(SeqeraResponse):
    """``detail`` (ours) is the step's latest line, e.g. what is being pulled."""

    message: str
    status: ProgressStatus
    warnings: list[str] = []
    detail: str | None = None


class DataStudioTemplate(SeqeraResponse):
    icon: str | None = None
    repository: str
    status: VersionStatus = "recommended"
    tool: str


class LabelDbDto(SeqeraResponse):
    date_created: datetime | None = None
    id: int | None = None
    is_default: bool | None = None
    is_dynamic: bool | None = None
    is_interpolated: bool | None = None
    name: str | None = None
    resource: bool | None = None
    value: str | None = None


class DataLinkDto(SeqeraResponse):
    id: str
    name: str | None = None
    description: str | None = None
    provider: str | None = None
    region: str | None = None
    resource_ref: str | None = None
    type: str | None = "bucket"
    status: str | None = None
    public_accessible: bool | None = None
    hidden: bool | None = None
    message: str | None = None
    credentials: list[dict[str, str]] = []


class ParentCheckpoint(SeqeraResponse):
    checkpoint_id: int | None = None
    checkpoint_name: str | None = None
    session_id: str | None = None
    studio_name: str | None = None


class DataStudioDto(SeqeraResponse):
    """``labels`` is ``null`` unless asked for (``attributes=labels``), as Seqera documents."""

    nullable = frozenset({"labels", "allowed_users"})
    session_id: str
    workspace_id: int | None = None
    name: str
    description: str | None = None
    user: UserInfo | None = None
    compute_env: DataStudioComputeEnvDto | None = None
    template: DataStudioTemplate | None = None
    configuration: DataStudioConfigurationDto | None = None
    date_created: datetime | None = None
    last_updated: datetime | None = None
    last_started: datetime | None = None
    effective_lifespan_hours: int | None = None
    active_connections: list[ActiveConnection] = []
    status_info: DataStudioStatusInfo
    progress: list[DataStudioProgressStep] = []
    studio_url: str | None = None
    wave_build_url: str | None = None
    base_image: str | None = None
    custom_image: bool = False
    is_private: bool = False
    labels: list[LabelDbDto] | None = None
    mounted_data_links: list[DataLinkDto] = []
    parent_checkpoint: ParentCheckpoint | None = None
    remote_config: StudioRemoteConfigurationDto | None = None
    allowed_users: list[UserInfo] | None = None
    #: ours (docs/activity.md): the last connection activity or work seen, and what keeps a running session alive
    last_activity: datetime | None = None
    kept_alive_by: list[str] | None = None


class DataStudioCreateResponse(SeqeraResponse):
    studio: DataStudioDto


class DataStudioListResponse(SeqeraResponse):
    studios: list[DataStudioDto]
    total_size: int


class ActiveConnectionsResponse(SeqeraResponse):
    """``GET /studios/{sessionId}/connections`` (ours): who is connected, and the last connection activity."""

    active_connections: list[ActiveConnection]
    total_size: int
    last_activity: datetime | None = None


class DataStudioStartResponse(SeqeraResponse):
    job_submitted: bool
    session_id: str
    status_info: DataStudioStatusInfo


class DataStudioStopResponse(DataStudioStartResponse):
    pass


class DataStudioTemplatesListResponse(SeqeraResponse):
    templates: list[DataStudioTemplate]
    total_size: int


class DataStudioMountedLinksResponse(SeqeraResponse):
    data_link_ids: list[str]


class DataStudioWorkspaceSettingsResponse(SeqeraResponse):
    nullable = frozenset({"container_repository", "name_strategy"})
    org_id: int | None = None
    wsp_id: int | None = None
    lifespan_hours: int = 0
    container_repository: str | None = None
    private_studio_by_default: bool = False
    name_strategy: str | None = None
    idle_timeout_minutes: float | None = None  # ours; left out when unset (the service's default applies)
