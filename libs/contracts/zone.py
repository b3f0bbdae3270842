"""File-sync zone events (stream ``zone-<scope>``, owned by the checkpoints service).

A zone is a named folder of a studio's workspace that syncs with a stored copy kept by the checkpoints service
(Dataiku's synced zones: ``code_studio-versioned``, ``user-versioned``, ``project_lib-versioned``). A push copies
the stored copy into the studio's folder; a pull copies the folder into the stored copy. Each sync records the
manifest both sides then held (``{uri, sha256, size}`` of a path -> sha256 map in the blob store; file contents
are blobs there too), so a later check compares three ways: the studio's folder now, the stored copy now, and
what this studio last synced.

Who shares a stored copy (its *scope*), as in Dataiku: ``project_lib-versioned`` is the project's (every studio
of the workspace), ``user-versioned`` the user's in that workspace, ``code_studio-versioned`` the studio's own.
"""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar

from pydantic import AwareDatetime

from libs.contracts.checkpoint import ManifestRef
from libs.contracts.events import Event, registry

CATEGORY = "zone"
ZONES = ("code_studio-versioned", "user-versioned", "project_lib-versioned")


class SyncDirection(StrEnum):
    PUSH = "push"  # stored copy -> studio folder
    PULL = "pull"  # studio folder -> stored copy


def scope(zone: str, workspace_id: str, user_id: str, session_id: str) -> str:
    """Whose stored copy a studio's zone syncs with."""
    if zone == "project_lib-versioned":
        return f"w{workspace_id}.{zone}"
    if zone == "user-versioned":
        return f"w{workspace_id}.u{user_id}.{zone}"
    return f"s{session_id}.{zone}"


def stream_name(scope_key: str) -> str:
    return f"{CATEGORY}-{scope_key}"


@registry.register
class ZoneSynced(Event):
    event_type: ClassVar[str] = "ZoneSynced"
    scope: str
    zone: str
    session_id: str  # the studio that synced
    direction: SyncDirection
    manifest: ManifestRef  # what both sides held once the sync was done
    files: int
    size: int
    copied: int  # files written by this sync (to the folder for a push, to the stored copy for a pull)
    copied_size: int
    at: AwareDatetime
    actor: str
    reason: str | None = None


ZONE_EVENTS: tuple[type[Event], ...] = (ZoneSynced,)
