"""The one command handler: load a stream, fold it, decide, append with the expected version, retry on conflict."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from libs.contracts.events import Event, EventRegistry, registry
from libs.eventstore.errors import WrongExpectedVersion
from libs.eventstore.store import EventStore
from libs.eventstore.types import AppendRequest, Expected, NewEvent, RecordedEvent

S = TypeVar("S")
C = TypeVar("C")

Decide = Callable[[S, C], Sequence[Event]]
Evolve = Callable[[S, Event], S]
#: Other streams to append in the same transaction, given the state before and the new events.
Also = Callable[[S, Sequence[Event]], Sequence[AppendRequest]]


@dataclass(frozen=True)
class Executed(Generic[S]):
    state: S
    events: list[Event]
    version: int
    position: int | None


def fold(records: Sequence[RecordedEvent], evolve: Callable[[S, Event], S], initial: S,
         reg: EventRegistry = registry) -> S:
    state = initial
    for r in records:
        state = evolve(state, reg.load(r.event_type, r.schema_version, r.data))
    return state


def to_new_events(events: Sequence[Event], metadata: dict[str, Any] | None = None,
                  command_id: uuid.UUID | None = None, reg: EventRegistry = registry) -> list[NewEvent]:
    """With a ``command_id`` the event ids are derived from it, so a retried command appends nothing twice."""
    out = []
    for i, ev in enumerate(events):
        etype, version, data = reg.dump(ev)
        eid = uuid.uuid5(command_id, str(i)) if command_id else uuid.uuid4()
        out.append(NewEvent(etype, data, dict(metadata or {}), version, eid))
    return out


async def load(store: EventStore, stream: str, evolve: Callable[[S, Event], S], initial: S,
               reg: EventRegistry = registry) -> tuple[S, int]:
    records = await store.read_stream(stream)
    return fold(records, evolve, initial, reg), (records[-1].stream_position if records else -1)


async def execute(store: EventStore, stream: str, command: C, decide: Callable[[S, C], Sequence[Event]],
                  evolve: Callable[[S, Event], S], initial: S, *, metadata: dict[str, Any] | None = None,
                  command_id: uuid.UUID | None = None, also: Also[S] | None = None, retries: int = 5,
                  reg: EventRegistry = registry) -> Executed[S]:
    for attempt in range(retries + 1):
        state, version = await load(store, stream, evolve, initial, reg)
        events = list(decide(state, command))
        if not events:
            return Executed(state, [], version, None)
        expected = version if version >= 0 else Expected.NO_STREAM
        request = AppendRequest(stream, to_new_events(events, metadata, command_id, reg), expected)
        extra = list(also(state, events)) if also else []
        try:
            results = await store.append_many([request, *extra])
        except WrongExpectedVersion as e:
            # Only a conflict on our own stream is worth a retry (someone appended first, decide again);
            # a conflict on another stream (a reservation) is final.
            if attempt == retries or e.extra.get("stream") not in (None, stream):
                raise
            continue
        for ev in events:
            state = evolve(state, ev)
        own = results[0]
        return Executed(state, events, own.version, max(r.position for r in results))
    raise AssertionError("unreachable")

