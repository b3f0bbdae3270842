"""Unique names across streams (DESIGN §2): one reservation stream per name, appended in the same transaction as
the owner's events with an expected version, never checked in a read model.

A reservation stream holds ``NameReserved`` events, each optionally followed by ``NameReleased``; a released name
can be taken again by appending at the stream's exact version, so two takers still race on the version check.
"""

from __future__ import annotations

from datetime import datetime

from libs.contracts.errors import Conflict
from libs.contracts.reservations import NameReleased, NameReserved
from libs.eventstore.execute import to_new_events
from libs.eventstore.store import EventStore
from libs.eventstore.types import AppendRequest, Expected


class NameTaken(Conflict):
    code, title = "name_taken", "Name already taken"

    def __init__(self, detail: str, owner: str) -> None:
        super().__init__(detail)
        self.owner = owner


async def reserve(store: EventStore, category: str, key: str, owner: str, now: datetime,
                  what: str) -> AppendRequest | None:
    """The append that takes ``key`` for ``owner``; None when ``owner`` holds it already; NameTaken otherwise."""
    name = f"{category}-{key}"
    records = await store.read_stream(name)
    if not records:
        expected: Expected | int = Expected.NO_STREAM
    else:
        last = records[-1]
        holder = str(last.data.get("owner"))
        if last.event_type == NameReserved.event_type:
            if holder == owner:
                return None
            raise NameTaken(f"{what} is already taken", holder)
        expected = last.stream_position
    return AppendRequest(name, to_new_events([NameReserved(owner=owner, at=now)]), expected)


def release(category: str, key: str, owner: str, now: datetime) -> AppendRequest:
    """Give a name back (in the same transaction as the owner's deletion)."""
    return AppendRequest(f"{category}-{key}", to_new_events([NameReleased(owner=owner, at=now)]),
                         Expected.STREAM_EXISTS)
