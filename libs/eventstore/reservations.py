"""Unique names across streams (DESIGN §2): one reservation stream per name, appended in the same transaction as
the owner's events with an expected version, never checked in a read model.

A reservation stream holds ``NameReserved`` events, each optionally followed by ``NameReleased``; a released name
can be taken again by appending at the stream's exact version, so two takers still race on the version check.

Every key is folded here (``libs.contracts.reservations.fold``), the same way for every kind of name, so callers
cannot disagree on what "the same name" is. A release is checked by the store itself (``es.check_releases``,
migration 0006; the in-memory store mirrors it): a ``NameReleased`` that does not follow a ``NameReserved`` by the
same owner fails the whole append with ``NameNotHeld`` (409), so nobody can give back a name someone else holds.
"""

from __future__ import annotations

from datetime import datetime

from libs.contracts.errors import Conflict
from libs.contracts.reservations import NameReleased, NameReserved, fold
from libs.eventstore.execute import to_new_events
from libs.eventstore.store import EventStore
from libs.eventstore.types import AppendRequest, Expected


class NameTaken(Conflict):
    code, title = "name_taken", "Name already taken"

    def __init__(self, detail: str, owner: str) -> None:
        super().__init__(detail)
        self.owner = owner


def stream(category: str, key: str) -> str:
    """The reservation stream of ``key``: one per name, whatever its case."""
    return f"{category}-{fold(key)}"


async def reserve(store: EventStore, category: str, key: str, owner: str, now: datetime,
                  what: str) -> AppendRequest | None:
    """The append that takes ``key`` for ``owner``; None when ``owner`` holds it already; NameTaken otherwise."""
    name = stream(category, key)
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
    """Give a name back (in the same transaction as the owner's deletion); the store refuses it (NameNotHeld)
    unless ``owner`` holds the name."""
    return AppendRequest(stream(category, key), to_new_events([NameReleased(owner=owner, at=now)]),
                         Expected.STREAM_EXISTS)
