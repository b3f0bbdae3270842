"""Studio names are unique in their workspace: a reservation stream ``studioname-<workspaceId>:<name>`` (see
``libs.contracts.reservations``), appended in the same transaction as the studio's own events."""

from __future__ import annotations

from libs.contracts.reservations import fold

CATEGORY = "studioname"


def key(workspace_id: str, name: str) -> str:
    # Names are compared case-insensitively, as users read them, folded as every reserved name is.
    return f"{workspace_id}:{fold(name)}"
