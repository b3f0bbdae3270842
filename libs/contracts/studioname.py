"""Name reservations (stream ``studioname-<workspaceId>:<name>``): a studio name unique in its workspace.

Uniqueness across streams is never a read-model check (DESIGN §2): the reservation stream is appended in the same
transaction as the studio's own events, with the expected version it had when the name was seen free.
"""

from __future__ import annotations

from typing import ClassVar

from libs.contracts.events import Event, registry

CATEGORY = "studioname"


def stream_name(workspace_id: str, name: str) -> str:
    # Names are compared case-insensitively, as users read them.
    return f"{CATEGORY}-{workspace_id}:{name.lower()}"


@registry.register
class StudioNameReserved(Event):
    event_type: ClassVar[str] = "StudioNameReserved"
    session_id: str
    name: str


@registry.register
class StudioNameReleased(Event):
    event_type: ClassVar[str] = "StudioNameReleased"
    session_id: str
