"""Workspace Studios settings (stream ``studiosettings-<workspaceId>``), owned by the gateway.

Seqera's ``DataStudioWorkspaceSettingsRequest``: defaults for studios created in a workspace. The identity
service owns ``workspace-*`` streams, so these settings live in their own category.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import AwareDatetime

from libs.contracts.events import Event, registry

CATEGORY = "studiosettings"
NameStrategy = Literal["none", "tagPrefix", "imageSuffix"]


def stream_name(workspace_id: str) -> str:
    return f"{CATEGORY}-{workspace_id}"


@registry.register
class StudioWorkspaceSettingsChanged(Event):
    """The whole settings record after the change (a PUT replaces them all)."""

    event_type: ClassVar[str] = "StudioWorkspaceSettingsChanged"
    workspace_id: str
    org_id: str | None = None
    lifespan_hours: int = 0  # 0: unlimited
    private_studio_by_default: bool = False
    container_repository: str | None = None
    name_strategy: NameStrategy | None = None
    #: ours: minutes without connection activity or work before a session stops; None: the service's default;
    #: 0: never. A studio's own configuration.idleTimeoutMinutes wins (docs/activity.md)
    idle_timeout_minutes: float | None = None
    at: AwareDatetime
    actor: str
    reason: str | None = None
