"""The one command handler: load a stream, fold it, decide, append with the expected version, retry on conflict.

With a command id, the events a command decides get ids derived from it (``event_id``), and a command whose events
are already stored is not decided again: ``execute`` answers the first result (``Executed.repeated``). A command id
that decided a different command (another ``command_hash`` in the metadata) is ``IdempotencyKeyReused``.
"""

from __future__ import annotations

import uuid
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from libs.contracts.commands import IdempotencyKeyReused
from libs.contracts.events import Event, EventRegistry, registry
from libs.eventstore.errors import IdempotencyConflict, WrongExpectedVersion
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
    #: the command had been executed before (same command id): nothing was decided, ``position`` is the first one's
    repeated: bool = False


@dataclass(frozen=True)
class Previous:
    """What a command id already decided: its first event's stream, the last position of that transaction (what
    the first execution answered) and the fingerprint of the command it came from."""

    stream: str
    position: int
    command_hash: str | None


def event_id(command_id: uuid.UUID, index: int) -> uuid.UUID:
    """The id of the ``index``-th event a command decides."""
    return uuid.uuid5(command_id, str(index))


_PREVIOUS = """SELECT e.stream_name, e.metadata->>'command_hash' AS command_hash,
       (SELECT max(x.global_position) FROM es.events x WHERE x.tx_id = e.tx_id) AS position
  FROM es.events e WHERE e.event_id = $1"""


async def previous(store: EventStore, command_id: uuid.UUID) -> Previous | None:
    """The first result of the command with this id, if it decided anything (one look-up by a unique key)."""
    row = await store.pool.fetchrow(_PREVIOUS, event_id(command_id, 0))
    if row is None:
        return None
    return Previous(row["stream_name"], int(row["position"]), row["command_hash"])


def check_same(prior: Previous, metadata: dict[str, Any] | None) -> None:
    """A command id reused for another command is refused (Stripe's and the IETF draft's rule for a reused
    ``Idempotency-Key``); commands without a fingerprint are not compared."""
    given = (metadata or {}).get("command_hash")
    if given and prior.command_hash and given != prior.command_hash:
        raise IdempotencyKeyReused("This idempotency key was already used for a different request",
                                   stream=prior.stream)


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
        eid = event_id(command_id, i) if command_id else uuid7()
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
        if command_id is not None and attempt == 0:
            done = await _repeated(store, command_id, metadata, evolve, initial, reg, cache)
            if done is not None:
                return done
        state, version = await load(store, stream, evolve, initial, reg, cache)
        try:
            events = list(decide(state, command))
        except Exception:
            # A retry sent while its first attempt was still executing (its client's gateway died) may load the
            # state that attempt made just after looking for it: a stop then finds the studio stopping and
            # refuses. What it asked for is what happened: the first result is its answer.
            if command_id is not None and (prior := await _repeated(store, command_id, metadata, evolve, initial,
                                                                    reg, cache)) is not None:
                return prior
            raise
        if not events:
            return Executed(state, [], version, None)
        expected = version if version >= 0 else Expected.NO_STREAM
        request = AppendRequest(stream, to_new_events(events, metadata, command_id, reg), expected)
        extra = list(also(state, events)) if also else []
        try:
            results = await store.append_many([request, *extra])
        except (WrongExpectedVersion, IdempotencyConflict) as e:
            # The same command, executing at the same time, may have won: then its result is ours.
            if command_id is not None and (prior := await _repeated(store, command_id, metadata, evolve, initial,
                                                                    reg, cache)) is not None:
                return prior
            # Only a conflict on our own stream is worth a retry (someone appended first, decide again);
            # a conflict on another stream (a reservation) is final.
            if (isinstance(e, IdempotencyConflict) or attempt == retries
                    or e.extra.get("stream") not in (None, stream)):
                raise
            continue
        for ev in events:
            state = evolve(state, ev)
        own = results[0]
        if cache is not None:
            cache.put(stream, state, own.version)
        return Executed(state, events, own.version, max(r.position for r in results))
    raise AssertionError("unreachable")


async def _repeated(store: EventStore, command_id: uuid.UUID, metadata: dict[str, Any] | None,
                    evolve: Callable[[S, Event], S], initial: S, reg: EventRegistry,
                    cache: StateCache | None) -> Executed[S] | None:
    """The first result, as the state of the stream the command wrote (a retried create may name another id)."""
    prior = await previous(store, command_id)
    if prior is None:
        return None
    check_same(prior, metadata)
    state, version = await load(store, prior.stream, evolve, initial, reg, cache)
    return Executed(state, [], version, prior.position, repeated=True)
