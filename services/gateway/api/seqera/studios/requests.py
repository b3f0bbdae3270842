"""Seqera request bodies (``DataStudioCreateRequest`` and friends), with the spec's limits.

A body that breaks a limit is a ``RequestValidationError``, which
``api.seqera.common.install_error_handlers`` answers 400.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import Query
from pydantic import Field

from services.gateway.api.seqera.base import SeqeraModel

NonNegative = Annotated[int, Field(ge=0)]
Name = Annotated[str, Field(min_length=1, max_length=80)]
Description = Annotated[str, Field(max_length=2048)]

# Query parameters every studio route reads the same way (Annotated aliases, the gateway's one DI style).
WorkspaceId = Annotated[int | None, Query(alias="workspaceId")]
Max = Annotated[int | None, Query(ge=0)]
Offset = Annotated[int | None, Query(ge=0)]


class MountData(SeqeraModel):
    data_link_id: str
    path: str | None = None


class DataStudioConfiguration(SeqeraModel):
    """Seqera's configuration plus ``command`` (our extension: what the ``custom`` tool runs)."""

    conda_environment: Annotated[str, Field(max_length=2048)] | None = None
    cpu: NonNegative | None = None
    environment: dict[str, str] | None = None
    gpu: NonNegative | None = None
    lifespan_hours: NonNegative | None = None
    memory: NonNegative | None = None
    mount_data: list[str] | None = None
    mount_data_v2: list[MountData] | None = Field(default=None, alias="mountDataV2")
    ssh_enabled: bool | None = None
    command: list[str] | None = None
    #: ours: minutes without connection activity or work before the session stops (0: never); docs/activity.md
    idle_timeout_minutes: Annotated[float, Field(ge=0, le=10**6)] | None = None


class StudioRemoteConfiguration(SeqeraModel):
    commit_id: str | None = None
    repository: str
    revision: str | None = None


class DataStudioCreateRequest(SeqeraModel):
    allowed_user_ids: list[int] | None = None
    compute_env_id: Annotated[str, Field(min_length=1)]
    configuration: DataStudioConfiguration | None = None
    data_studio_tool_url: str | None = None
    description: Description | None = None
    initial_checkpoint_id: int | None = None
    is_private: bool | None = None
    label_ids: list[int] | None = None
    name: Name
    remote_config: StudioRemoteConfiguration | None = None
    spot: bool | None = None


class DataStudioUpdateRequest(SeqeraModel):
    compute_env_id: str | None = None
    configuration: DataStudioConfiguration | None = None
    description: Description | None = None
    label_ids: list[int] | None = None
    name: Name | None = None


class DataStudioStartRequest(SeqeraModel):
    allowed_user_ids: list[int] | None = None
    configuration: DataStudioConfiguration | None = None
    description: Description | None = None
    label_ids: list[int] | None = None
    name: Name | None = None
    spot: bool | None = None


class DataStudioWorkspaceSettingsRequest(SeqeraModel):
    lifespan_hours: NonNegative | None = None
    container_repository: str | None = None
    private_studio_by_default: bool | None = None
    name_strategy: Literal["none", "tagPrefix", "imageSuffix"] | None = None
    #: ours (docs/activity.md): None resets to the service's default; 0: never
    idle_timeout_minutes: Annotated[float, Field(ge=0, le=10**6)] | None = None
