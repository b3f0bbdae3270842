"""Studio names are unique in their workspace: a reservation stream ``studioname-<workspaceId>:<name>`` (see
``libs.contracts.reservations``), appended in the same transaction as the studio's own events."""

from __future__ import annotations

CATEGORY = "studioname"


def key(workspace_id: str, name: str) -> str:
    # Names are compared case-insensitively, as users read them.
    return f"{workspace_id}:{name.lower()}"
