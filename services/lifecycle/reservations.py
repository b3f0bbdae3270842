"""Appends that reserve and release studio names next to the studio's own events, in one transaction."""

from __future__ import annotations

from libs.contracts import studioname
from libs.contracts.errors import Conflict
from libs.contracts.studioname import StudioNameReleased, StudioNameReserved
from libs.eventstore import AppendRequest, EventStore, Expected, to_new_events


class NameTaken(Conflict):
    code, title = "name_taken", "Studio name already in use"


async def reserve(store: EventStore, workspace_id: str, name: str, session_id: str) -> AppendRequest:
    """The append that takes ``name``; it fails with a version conflict if someone takes it first."""
    stream = studioname.stream_name(workspace_id, name)
    records = await store.read_stream(stream)
    if records and records[-1].event_type == StudioNameReserved.event_type:
        if records[-1].data.get("session_id") == session_id:
            raise NameTaken(f"studio name {name!r} is already this studio's")
        raise NameTaken(f"a studio named {name!r} already exists in this workspace")
    expected = records[-1].stream_position if records else Expected.NO_STREAM
    event = StudioNameReserved(session_id=session_id, name=name)
    return AppendRequest(stream, to_new_events([event]), expected)


def release(workspace_id: str, name: str, session_id: str) -> AppendRequest:
    stream = studioname.stream_name(workspace_id, name)
    return AppendRequest(stream, to_new_events([StudioNameReleased(session_id=session_id)]), Expected.STREAM_EXISTS)


async def is_free(store: EventStore, workspace_id: str, name: str) -> bool:
    records = await store.read_stream(studioname.stream_name(workspace_id, name))
    return not records or records[-1].event_type == StudioNameReleased.event_type
