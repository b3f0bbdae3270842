"""Parked events (``es.parked``): what a consumer could not apply, kept visible until retried or discarded.

A row is either *failed* (the handler raised on every try, ``attempts`` > 0) or *held* (``attempts`` = 0: an earlier
event of the same stream is parked, so this one was never tried: an ordered consumer never applies position N+1
over a missing N). Operators ask for a retry (``request_retry``) or drop a row (``discard``); the retry itself is
done by the consumer, the only process that has the handler (``Subscription`` picks requests up on its next poll).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from libs.eventstore import checkpoints
from libs.eventstore.types import START, Conn, EventRow, Position, RecordedEvent, event_columns

log = logging.getLogger("studios.subscription")

#: ``apply(conn, event, index, start)``: the consumer's handler, raising ``HandlerFailed`` when the event fails
Apply = Callable[[Conn, RecordedEvent, int, Position], Awaitable[None]]

_COLUMNS = event_columns("e")


class StreamGap(Exception):
    """A folding handler met stream position ``got`` having applied up to ``applied``: an event in between is
    missing (parked, discarded). Permanent, so the event is parked at once and its stream stops."""

    def __init__(self, stream: str, applied: int, got: int) -> None:
        super().__init__(f"gap in {stream}: applied up to position {applied}, next event is at {got}")


class HandlerFailed(Exception):
    """A handler raised on ``event``, the ``index``-th of a batch read from ``start``."""

    def __init__(self, event: RecordedEvent, error: Exception, index: int = 0, start: Position = START) -> None:
        super().__init__(f"{type(error).__name__}: {error}")
        self.event, self.error, self.index, self.start = event, error, index, start


async def take_turn(conn: Conn, consumer: str) -> None:
    """Instances of one consumer take turns, transaction by transaction: a second one waits here for the first to
    commit, then reads from where it left off (the checkpoint's compare-and-set stays the guarantee)."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 1))", consumer)


@dataclass(frozen=True)
class Stopped:
    """A stream a consumer has stopped applying: its first parked position and how many of its events wait."""

    stream_name: str
    first_position: int | None
    parked: int


@dataclass(frozen=True)
class ParkedEvent:
    consumer: str
    global_position: int
    stream_name: str
    stream_position: int | None
    event_id: uuid.UUID
    event_type: str
    attempts: int
    error: str
    parked_at: datetime
    retry_requested_at: datetime | None

    @property
    def held(self) -> bool:
        return self.attempts == 0


async def stopped(conn: Conn, consumer: str) -> dict[str, Stopped]:
    """The streams ``consumer`` has stopped applying (one query; normally empty)."""
    rows = await conn.fetch(
        """SELECT stream_name, min(stream_position) AS first, count(*)::int AS n FROM es.parked
            WHERE consumer = $1 GROUP BY stream_name""", consumer)
    return {r["stream_name"]: Stopped(r["stream_name"], r["first"], r["n"]) for r in rows}


def summary(streams: dict[str, Stopped]) -> str | None:
    """The checkpoint's error line while anything is parked (None when nothing is)."""
    if not streams:
        return None
    total = sum(s.parked for s in streams.values())
    names = ", ".join(f"{s.stream_name}@{s.first_position}" for s in sorted(streams.values(),
                                                                             key=lambda s: s.stream_name)[:3])
    more = f" and {len(streams) - 3} more" if len(streams) > 3 else ""
    return f"{total} event(s) parked; stopped streams: {names}{more} (studios parked list)"


async def park(conn: Conn, consumer: str, event: RecordedEvent, attempts: int, error: str) -> None:
    await conn.execute(
        """INSERT INTO es.parked (consumer, global_position, event_id, stream_name, stream_position, event_type,
                                  attempts, error)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING""",
        consumer, event.global_position, event.event_id, event.stream_name, event.stream_position,
        event.event_type, attempts, error)


async def requested_streams(conn: Conn, consumer: str) -> list[str]:
    rows = await conn.fetch("""SELECT DISTINCT stream_name FROM es.parked
                                WHERE consumer = $1 AND retry_requested_at IS NOT NULL ORDER BY 1""", consumer)
    return [r[0] for r in rows]


async def retryable(conn: Conn, consumer: str, stream: str) -> list[RecordedEvent]:
    """The requested rows of ``stream`` that may be applied now: from its first parked event on, in stream order,
    up to the first one not requested. Empty when the first parked event itself was not asked for."""
    rows = await conn.fetch(
        f"""SELECT {_COLUMNS}, p.retry_requested_at IS NOT NULL AS requested
              FROM es.parked p JOIN es.events e ON e.event_id = p.event_id
             WHERE p.consumer = $1 AND p.stream_name = $2 ORDER BY e.stream_position""", consumer, stream,
        record_class=EventRow)
    out: list[RecordedEvent] = []
    for r in rows:
        if not r["requested"]:
            break
        out.append(r)
    return out


async def resolve(conn: Conn, consumer: str, event_ids: Sequence[uuid.UUID]) -> None:
    """Applied on retry: no longer parked."""
    await conn.execute("DELETE FROM es.parked WHERE consumer = $1 AND event_id = ANY($2::uuid[])",
                       consumer, list(event_ids))


async def retry_failed(conn: Conn, consumer: str, stream: str, event_id: uuid.UUID | None, error: str) -> None:
    """A retry of ``stream`` stopped at ``event_id`` (None: nothing could be tried): it and what follows stay."""
    if event_id is not None:
        await conn.execute("""UPDATE es.parked SET attempts = attempts + 1, error = $3, parked_at = now()
                               WHERE consumer = $1 AND event_id = $2""", consumer, event_id, error)
    await conn.execute("UPDATE es.parked SET retry_requested_at = NULL WHERE consumer = $1 AND stream_name = $2",
                       consumer, stream)


async def retry_requested(conn: Conn, consumer: str, apply: Apply) -> dict[str, Stopped] | None:
    """Carry out ``studios parked retry`` for ``consumer``: per stream, its requested events in stream order, each
    applied once; the first that fails stays parked with what follows it. Returns the streams still stopped (None:
    nothing was asked). Without savepoints: a failure rolls the stream back and the events before it go again."""
    streams = await requested_streams(conn, consumer)
    if not streams:
        return None
    for stream in streams:
        failure: HandlerFailed | None = None
        for _ in range(1000):  # each round stops earlier
            try:
                await _retry_stream(conn, consumer, stream, apply, failure)
                break
            except HandlerFailed as f:
                failure = f
    return await stopped(conn, consumer)


async def _retry_stream(conn: Conn, consumer: str, stream: str, apply: Apply, failure: HandlerFailed | None) -> None:
    async with conn.transaction():
        await take_turn(conn, consumer)
        done: list[uuid.UUID] = []
        for index, event in enumerate(await retryable(conn, consumer, stream)):
            if failure is not None and event.event_id == failure.event.event_id:
                break
            await apply(conn, event, index, START)
            done.append(event.event_id)
        await resolve(conn, consumer, done)
        error = str(failure) if failure else ""
        await retry_failed(conn, consumer, stream, failure.event.event_id if failure else None, error)
        await checkpoints.record_error(conn, consumer, summary(await stopped(conn, consumer)))
    log.info("%s: retried %d parked event(s) of %s%s", consumer, len(done), stream,
             f"; it stopped again at {failure.event.event_id}: {error}" if failure else "")


# --- for operators (``studios parked``) ------------------------------------------------------------------------


async def list_parked(db: Conn | asyncpg.Pool, consumer: str | None = None) -> list[ParkedEvent]:
    rows = await db.fetch(
        """SELECT consumer, global_position, stream_name, stream_position, event_id, event_type, attempts, error,
                  parked_at, retry_requested_at
             FROM es.parked WHERE $1::text IS NULL OR consumer = $1
            ORDER BY consumer, stream_name, stream_position, global_position""", consumer)
    return [ParkedEvent(**dict(r)) for r in rows]


async def count(db: Conn | asyncpg.Pool, consumer: str) -> int:
    return int(await db.fetchval("SELECT count(*) FROM es.parked WHERE consumer = $1", consumer))


async def request_retry(db: Conn | asyncpg.Pool, *, consumer: str | None = None,
                        event_id: uuid.UUID | None = None) -> int:
    """Ask consumers to retry parked events: ``event_id`` (with every later parked event of its stream, which wait
    behind it), or everything of ``consumer``. Returns how many rows were marked."""
    if event_id is None and consumer is None:
        raise ValueError("name an event or a consumer")
    status = await db.execute(
        """UPDATE es.parked p SET retry_requested_at = now()
             FROM es.parked t
            WHERE ($2::uuid IS NULL OR t.event_id = $2) AND ($1::text IS NULL OR t.consumer = $1)
              AND p.consumer = t.consumer AND p.stream_name = t.stream_name
              AND coalesce(p.stream_position, 0) >= coalesce(t.stream_position, 0)""", consumer, event_id)
    return int(status.split()[-1])


async def discard(db: Conn | asyncpg.Pool, event_id: uuid.UUID, consumer: str | None = None) -> int:
    """Drop a parked event for good. Its stream stays stopped while later events of it are parked: an ordered
    consumer refuses to fold over the hole (retrying them reports the gap); rebuild the projection instead."""
    status = await db.execute(
        "DELETE FROM es.parked WHERE event_id = $1 AND ($2::text IS NULL OR consumer = $2)", event_id, consumer)
    return int(status.split()[-1])
