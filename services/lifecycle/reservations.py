"""Studio-name reservations, on the shared mechanism (``libs.eventstore.reservations``): the owner is the
studio's stream, the key the workspace and the name."""

from __future__ import annotations

from datetime import datetime

from libs.contracts import studioname
from libs.contracts.studio import stream_name
from libs.eventstore import AppendRequest, EventStore
from libs.eventstore import reservations as names


async def reserve(store: EventStore, workspace_id: str, name: str, session_id: str,
                  now: datetime) -> AppendRequest | None:
    """The append that takes ``name``; None if this studio holds it already; NameTaken (409) if another does."""
    return await names.reserve(store, studioname.CATEGORY, studioname.key(workspace_id, name),
                               stream_name(session_id), now, f"a studio named {name!r} in this workspace")


def release(workspace_id: str, name: str, session_id: str, now: datetime) -> AppendRequest:
    return names.release(studioname.CATEGORY, studioname.key(workspace_id, name), stream_name(session_id), now)
