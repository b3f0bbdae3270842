"""Value types of the event store: what goes in, what comes out, where a reader stands."""

from __future__ import annotations

import enum
import functools
import operator
import os
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg
import orjson
from asyncpg.pool import PoolConnectionProxy

#: A plain connection or one borrowed from a pool: the store works with both.
Conn = asyncpg.Connection | PoolConnectionProxy


def uuid7() -> uuid.UUID:
    """A time-ordered UUID (RFC 9562 version 7): new event ids land at the end of the unique index instead of at
    random places in it, which keeps appends cheap as the table grows."""
    ms = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    value = (ms & 0xFFFF_FFFF_FFFF) << 80 | 0x7 << 76 | (rand >> 62 & 0xFFF) << 64 | 0b10 << 62 | rand & (2**62 - 1)
    return uuid.UUID(int=value)


class Expected(enum.Enum):
    """Expected-version cases besides an exact version number."""

    ANY = None
    NO_STREAM = -1
    STREAM_EXISTS = -2


ExpectedVersion = Expected | int


def expected_to_sql(expected: ExpectedVersion) -> int | None:
    if isinstance(expected, Expected):
        return expected.value  # type: ignore[no-any-return]
    if expected < 0:
        raise ValueError("an exact expected version is >= 0")
    return expected


#: the most bytes an event's data may hold (PostgreSQL's ``pg_column_size``, before compression): large data never
#: goes into events (DESIGN), they carry ``{uri, sha256, size}`` of a blob
MAX_DATA = 262_144


@dataclass(frozen=True, slots=True)
class NewEvent:
    event_type: str
    data: dict[str, Any]
    metadata: dict[str, Any] = field(default_factory=dict)
    schema_version: int = 1
    event_id: uuid.UUID = field(default_factory=lambda: uuid7())


@dataclass(frozen=True, slots=True)
class AppendRequest:
    """One stream's part of an atomic append."""

    stream: str
    events: list[NewEvent]
    expected: ExpectedVersion = Expected.ANY


@dataclass(frozen=True, slots=True)
class AppendResult:
    stream: str
    #: stream position of the last event appended (the new stream version)
    version: int
    #: global position of the last event appended
    position: int


@dataclass(frozen=True, slots=True, order=True)
class Position:
    """Where a reader stands in commit order: (transaction id, global position)."""

    tx_id: int = 0
    global_position: int = 0


START = Position()


class RecordedEvent:
    """A stored event: what every reader gets. Two shapes give it. ``EventRow`` is a row as asyncpg builds it (in
    C, with no Python call per row: building a Python object per row cost a quarter of ``read_all``); the memory
    store builds its own (``libs/eventstore/memory.py``). Both compare and hash by event id."""

    __slots__ = ()

    global_position: int
    tx_id: int
    stream_name: str
    stream_position: int
    event_id: uuid.UUID
    event_type: str
    schema_version: int
    data: dict[str, Any]
    metadata: dict[str, Any]
    recorded_at: datetime

    @property
    def position(self) -> Position:
        return Position(self.tx_id, self.global_position)

    @property
    def category(self) -> str:
        return self.stream_name.split("-", 1)[0]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RecordedEvent) and other.event_id == self.event_id

    def __hash__(self) -> int:
        return hash(self.event_id)

    def __repr__(self) -> str:
        return (f"RecordedEvent({self.stream_name}@{self.stream_position}, {self.event_type}, "
                f"global_position={self.global_position}, tx_id={self.tx_id})")


#: The columns an ``EventRow`` is read from, in its order. A query may add columns after these.
_EVENT_COLUMNS = ("global_position", "tx_id", "stream_name", "stream_position", "event_id", "event_type",
                 "schema_version", "data", "metadata", "recorded_at")


def event_columns(table: str = "") -> str:
    """An ``EventRow``'s columns for a SELECT list, ``data`` and ``metadata`` cast to text (the row parses them),
    each prefixed by ``table.``."""
    prefix = f"{table}." if table else ""
    return ", ".join(f"{prefix}{c}::text" if c in ("data", "metadata") else f"{prefix}{c}" for c in _EVENT_COLUMNS)


def _column(index: int) -> Any:
    return property(operator.itemgetter(index))


class EventRow(RecordedEvent, asyncpg.Record):
    """A row of ``event_columns()``, fetched with ``record_class=EventRow``. ``data`` and ``metadata`` arrive as
    JSON text and are parsed on first access, then kept: a reader that only forwards or filters events (the relay,
    a category scan) never pays for parsing."""

    global_position = _column(0)
    tx_id = _column(1)
    stream_name = _column(2)
    stream_position = _column(3)
    event_id = _column(4)
    event_type = _column(5)
    schema_version = _column(6)
    recorded_at = _column(9)

    @functools.cached_property
    def data(self) -> dict[str, Any]:  # type: ignore[override]
        return orjson.loads(self[7])  # type: ignore[no-any-return]

    @functools.cached_property
    def metadata(self) -> dict[str, Any]:  # type: ignore[override]
        return orjson.loads(self[8])  # type: ignore[no-any-return]
