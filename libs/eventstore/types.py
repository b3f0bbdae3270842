"""Value types of the event store: what goes in, what comes out, where a reader stands."""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg
from asyncpg.pool import PoolConnectionProxy

#: A plain connection or one borrowed from a pool: the store works with both.
Conn = asyncpg.Connection | PoolConnectionProxy


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
    event_id: uuid.UUID = field(default_factory=uuid.uuid4)


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


@dataclass(frozen=True, slots=True)
class RecordedEvent:
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
