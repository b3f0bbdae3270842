"""Value types of the event store: what goes in, what comes out, where a reader stands."""

from __future__ import annotations

import enum
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
    """A stored event. ``data`` and ``metadata`` arrive as JSON text and are parsed on first access: a reader that
    only forwards or filters events (the relay, a category scan) never pays for parsing."""

    __slots__ = ("_data", "_metadata", "event_id", "event_type", "global_position", "recorded_at",
                 "schema_version", "stream_name", "stream_position", "tx_id")

    def __init__(self, global_position: int, tx_id: int, stream_name: str, stream_position: int,
                 event_id: uuid.UUID, event_type: str, schema_version: int, data: dict[str, Any] | str,
                 metadata: dict[str, Any] | str, recorded_at: datetime) -> None:
        self.global_position, self.tx_id = global_position, tx_id
        self.stream_name, self.stream_position = stream_name, stream_position
        self.event_id, self.event_type, self.schema_version = event_id, event_type, schema_version
        self._data, self._metadata, self.recorded_at = data, metadata, recorded_at

    @property
    def data(self) -> dict[str, Any]:
        value = self._data
        if isinstance(value, str):
            value = self._data = orjson.loads(value)
        return value

    @property
    def metadata(self) -> dict[str, Any]:
        value = self._metadata
        if isinstance(value, str):
            value = self._metadata = orjson.loads(value)
        return value

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
