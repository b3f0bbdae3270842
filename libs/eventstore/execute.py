"""The one command handler: load a stream, fold it, decide, append with the expected version, retry on conflict."""

from __future__ import annotations

import uuid
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from libs.contracts.events import Event, EventRegistry, registry
from libs.eventstore.errors import WrongExpectedVersion
from libs.eventstore.store import EventStore
from libs.eventstore.types import AppendRequest, Expected, NewEvent, RecordedEvent, uuid7

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
        eid = uuid.uuid5(command_id, str(i)) if command_id else uuid7()
        out.append(NewEvent(etype, data, dict(metadata or {}), version, eid))
    return out


class StateCache:
    """Folded states by stream, with the version they were folded to. States are immutable, so a cached one is
    safe to hand out; ``load`` reads only the events after it. Bounded, least recently used first out."""

    def __init__(self, size: int = 1000) -> None:
        self.size = size
        self._items: OrderedDict[str, tuple[Any, int]] = OrderedDict()

    def get(self, stream: str) -> tuple[Any, int] | None:
        item = self._items.get(stream)
        if item is not None:
            self._items.move_to_end(stream)
        return item

    def put(self, stream: str, state: Any, version: int) -> None:
        self._items[stream] = (state, version)
        self._items.move_to_end(stream)
        while len(self._items) > self.size:
            self._items.popitem(last=False)


async def load(store: EventStore, stream: str, evolve: Callable[[S, Event], S], initial: S,
               reg: EventRegistry = registry, cache: StateCache | None = None) -> tuple[S, int]:
    """The stream's state and version; with a cache, only the events since the cached version are read."""
    cached = cache.get(stream) if cache is not None else None
    state, version = cached if cached is not None else (initial, -1)
    records = await store.read_stream(stream, from_position=version + 1)
    if records:
        state, version = fold(records, evolve, state, reg), records[-1].stream_position
        if cache is not None:
            cache.put(stream, state, version)
    return state, version


async def execute(store: EventStore, stream: str, command: C, decide: Callable[[S, C], Sequence[Event]],
                  evolve: Callable[[S, Event], S], initial: S, *, metadata: dict[str, Any] | None = None,
                  command_id: uuid.UUID | None = None, also: Also[S] | None = None, retries: int = 5,
                  reg: EventRegistry = registry, cache: StateCache | None = None) -> Executed[S]:
    for attempt in range(retries + 1):
        state, version = await load(store, stream, evolve, initial, reg, cache)
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
        if cache is not None:
            cache.put(stream, state, own.version)
        return Executed(state, events, own.version, max(r.position for r in results))
    raise AssertionError("unreachable")

