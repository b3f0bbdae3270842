"""An event store in memory, for unit tests of handlers (cosmicpython's fake): no PostgreSQL, same rules.

It keeps the guarantees command handlers rely on (expected versions, idempotent retries by event id, several
streams all or nothing, gapless stream positions, commit order, a name released only by its holder, fresh ids)
and is run through the same contract tests as the PostgreSQL store (``tests/integration/test_eventstore_contract.py``),
so the two cannot drift. What it leaves out: connections (``conn=`` must be None), the commit horizon's waiting
for open transactions (every append commits at once), the size limit on event data.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import orjson

from libs.eventstore.errors import EventTooLarge, IdempotencyConflict, NameNotHeld, WrongExpectedVersion
from libs.eventstore.types import (
    MAX_DATA,
    START,
    AppendRequest,
    AppendResult,
    Expected,
    ExpectedVersion,
    NewEvent,
    Position,
    RecordedEvent,
    expected_to_sql,
)

_RELEASED, _RESERVED = "NameReleased", "NameReserved"


class InMemoryEventStore:
    """The ``EventStore`` interface that ``execute``, ``load`` and the reservations use, on lists."""

    def __init__(self, first_id: int = 1000) -> None:
        self._events: list[RecordedEvent] = []  # in commit order
        self._streams: dict[str, list[RecordedEvent]] = {}
        self._ids: dict[uuid.UUID, RecordedEvent] = {}
        self._tx = itertools.count(1)
        self._next_id = itertools.count(first_id)

    async def close(self) -> None:
        """Nothing to close: the same call as the real store's."""

    async def next_id(self) -> int:
        return next(self._next_id)

    async def append(self, stream: str, events: Sequence[NewEvent], expected: ExpectedVersion = Expected.ANY,
                     conn: None = None) -> AppendResult:
        return (await self.append_many([AppendRequest(stream, list(events), expected)], conn))[0]

    async def append_many(self, requests: Sequence[AppendRequest], conn: None = None) -> list[AppendResult]:
        """All or nothing. A failure that a retry of a stored append would cause is answered as the PostgreSQL
        store answers it (``append.append_many_on``): the original positions if every request is stored."""
        if conn is not None:
            raise TypeError("the in-memory store has no connections")
        for r in requests:
            _check_input(r)
        try:
            return self._append_now(requests)
        except (WrongExpectedVersion, IdempotencyConflict):
            results = [self._stored(r) for r in requests]
            if any(r is None for r in results):
                raise
            return [r for r in results if r is not None]

    def _append_now(self, requests: Sequence[AppendRequest]) -> list[AppendResult]:
        tx, pending = next(self._tx), dict[str, list[_Held]]()
        for r in requests:
            have: list[RecordedEvent] = [*self._streams.get(r.stream, []), *pending.get(r.stream, [])]
            _check_expected(r.stream, r.expected, len(have) - 1)
            for e in r.events:
                if e.event_id in self._ids or any(e.event_id == p.event_id for v in pending.values() for p in v):
                    raise IdempotencyConflict(f"some event ids are already stored (appending to {r.stream})")
                _check_release(r.stream, have, e)
                held = _Held(tx, r.stream, len(have), e)
                have.append(held)
                pending.setdefault(r.stream, []).append(held)
        for r in requests:  # commit: global positions in the order the events were appended
            for record in pending.pop(r.stream, []):
                record.global_position = len(self._events) + 1
                self._events.append(record)
                self._streams.setdefault(r.stream, []).append(record)
                self._ids[record.event_id] = record
        return [AppendResult(r.stream, self._streams[r.stream][-1].stream_position,
                             self._streams[r.stream][-1].global_position) for r in requests]

    def _stored(self, req: AppendRequest) -> AppendResult | None:
        """As ``append._stored``: the original result if all of ``req`` is stored in order on its stream, None
        if none of it is, IdempotencyConflict if only some is, or elsewhere."""
        found = [self._ids.get(e.event_id) for e in req.events]
        if not any(found):
            return None
        positions = [f.stream_position for f in found if f is not None and f.stream_name == req.stream]
        if len(positions) != len(found) or positions != list(range(positions[0], positions[0] + len(found))):
            raise IdempotencyConflict(f"{len(positions)} of {len(found)} event ids are already stored, not as this "
                                      f"append to {req.stream}")
        last = found[-1]
        assert last is not None
        return AppendResult(req.stream, last.stream_position, last.global_position)

    async def read_stream(self, stream: str, from_position: int = 0, limit: int = 1_000_000,
                          conn: None = None) -> list[RecordedEvent]:
        return list(self._streams.get(stream, [])[from_position:from_position + limit])

    async def read_all(self, after: Position = START, *, categories: Sequence[str] | None = None,
                       limit: int = 1000, conn: None = None) -> list[RecordedEvent]:
        wanted = set(categories) if categories else None
        out = [e for e in self._events if e.position > after and (wanted is None or e.category in wanted)]
        return out[:limit]

    async def stream_version(self, stream: str) -> int:
        return len(self._streams.get(stream, [])) - 1

    async def head(self) -> Position:
        return self._events[-1].position if self._events else START


class _Held(RecordedEvent):
    """A stored event as this store keeps it; the global position is given at commit."""

    __slots__ = ("data", "event_id", "event_type", "global_position", "metadata", "recorded_at", "schema_version",
                 "stream_name", "stream_position", "tx_id")

    def __init__(self, tx: int, stream: str, position: int, e: NewEvent) -> None:
        # Through JSON, as PostgreSQL stores it: later changes to the caller's dicts do not reach the store, and
        # data that is not JSON fails here as it would there.
        self.data, self.metadata = orjson.loads(orjson.dumps(e.data)), orjson.loads(orjson.dumps(e.metadata or {}))
        self.global_position, self.tx_id, self.stream_name, self.stream_position = 0, tx, stream, position
        self.event_id, self.event_type, self.schema_version = e.event_id, e.event_type, e.schema_version
        self.recorded_at = datetime.now(UTC)


def _check_input(r: AppendRequest) -> None:
    if not r.events:
        raise ValueError("append needs at least one event")
    if r.stream.find("-") < 1:
        raise ValueError(f"stream name must be <category>-<id>: {r.stream}")
    expected_to_sql(r.expected)  # raises ValueError on a negative exact version
    # The JSON text's size: close to the limit PostgreSQL's binary jsonb may count a few bytes apart.
    if any(len(orjson.dumps(e.data)) > MAX_DATA for e in r.events):
        raise EventTooLarge(r.stream)


def _check_expected(stream: str, expected: ExpectedVersion, version: int) -> None:
    """``es.check_expected``'s rules."""
    want: Any = expected_to_sql(expected)
    if want is None or (want == -2 and version != -1) or want == version:
        return
    raise WrongExpectedVersion(f"wrong expected version: expected {expected}, {stream} is at {version}",
                               stream=stream)


def _check_release(stream: str, have: list[RecordedEvent], e: NewEvent) -> None:
    """``es.check_releases``: a name is given back only by its holder."""
    if e.event_type != _RELEASED:
        return
    last = have[-1] if have else None
    if last is not None and last.event_type == _RESERVED and last.data.get("owner") == e.data.get("owner"):
        return
    holder = last.data.get("owner") if last is not None and last.event_type == _RESERVED else "nobody"
    raise NameNotHeld(f"{e.data.get('owner')} does not hold {stream}: {holder} does", stream=stream)
