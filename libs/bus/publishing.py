"""What the relay and replays share: reading events ready to publish, their headers, and the publish loop.

Events are read by commit horizon (DESIGN §2) with ``data`` as JSON text, so the payload goes out as PostgreSQL
wrote it, without a decode and re-encode per event. Publishing is pipelined on nats-py (``acks.AckWindow``), not
FastStream, whose pipelined publish measured ~43% slower (DESIGN §3).

An event too large for the server's ``max_payload`` (header block plus payload) is never sent: the server would
close the connection, and every retry would do it again. It is parked in ``es.parked`` under the publisher's
checkpoint name, with an error log line and the ``studios_bus_parked_events_total`` counter, and skipped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, cast

import asyncpg

from libs.bus import headers as h
from libs.bus.acks import AckWindow, PublishFailed, header_block
from libs.eventstore import EventStore, Position
from libs.eventstore import checkpoints as cp
from libs.platform.metrics import ServiceMetrics

log = logging.getLogger("studios.bus.publishing")

_SELECT = """SELECT global_position, tx_id, stream_name, stream_position, event_id::text AS event_id, event_type,
       category, schema_version, data::text AS data, metadata->>'correlation_id' AS correlation_id,
       metadata->>'causation_id' AS causation_id, metadata->>'traceparent' AS traceparent, recorded_at
  FROM es.events
 WHERE (tx_id, global_position) > ($1::xid8, $2::bigint)
   AND tx_id < pg_snapshot_xmin(pg_current_snapshot())"""


@dataclass(frozen=True)
class Filters:
    """Optional narrowing of a horizon read (replays)."""

    categories: Sequence[str] | None = None
    min_global: int | None = None
    max_global: int | None = None
    until: Position | None = None

    def sql(self) -> tuple[str, list[object]]:
        clauses: list[str] = []
        args: list[object] = []
        for clause, value in (("category = ANY(${}::text[])", list(self.categories or []) or None),
                              ("global_position >= ${}::bigint", self.min_global),
                              ("global_position <= ${}::bigint", self.max_global)):
            if value is not None:
                args.append(value)
                clauses.append(clause.format(3 + len(args)))
        if self.until is not None:
            args += [self.until.tx_id, self.until.global_position]
            clauses.append(f"(tx_id, global_position) <= (${2 + len(args)}::xid8, ${3 + len(args)}::bigint)")
        return "".join(f"\n   AND {c}" for c in clauses), args


NO_FILTERS = Filters()


async def read_ready(conn: asyncpg.Connection | asyncpg.Pool, after: Position, limit: int,
                     filters: Filters = NO_FILTERS) -> list[asyncpg.Record]:
    extra, args = filters.sql()
    query = f"{_SELECT}{extra}\n ORDER BY tx_id, global_position LIMIT $3"
    return await conn.fetch(query, after.tx_id, after.global_position, limit, *args)


async def load_checkpoint(store: EventStore, name: str) -> Position:
    async with store.pool.acquire() as conn:
        return (await cp.load(cast(asyncpg.Connection, conn), name)).position


class Guard(Protocol):
    """Who may publish and move the checkpoint: the relay's leadership, or nobody in particular (replays)."""

    def valid(self) -> bool: ...

    async def confirm(self) -> None: ...

    async def advance(self, name: str, expected: Position, new: Position) -> None: ...


class Unguarded:
    """A publisher that needs no leader (a replay: its id is its own); the checkpoint moves by plain CAS."""

    def __init__(self, store: EventStore) -> None:
        self.store = store

    def valid(self) -> bool:
        return True

    async def confirm(self) -> None:
        return None

    async def advance(self, name: str, expected: Position, new: Position) -> None:
        async with self.store.pool.acquire() as conn:
            await cp.advance(cast(asyncpg.Connection, conn), name, expected, new)


async def advance_checkpoint(guard: Guard, name: str, saved: Position, acked: Position | None) -> Position:
    """Compare-and-set the checkpoint from ``saved`` to ``acked`` when that is further; returns where it stands."""
    if acked is None or acked <= saved:
        return saved
    await guard.advance(name, saved, acked)
    return acked


def _parked_counter(consumer: str) -> Any:
    counter = ServiceMetrics("bus").counter(
        "bus_parked_events_total", "Events the relay or a replay parked instead of publishing", ("consumer", "reason"))
    return counter(consumer=consumer, reason="too_large")


async def park_too_large(store: EventStore, consumer: str, row: asyncpg.Record, size: int, limit: int) -> None:
    """Record ``row`` in ``es.parked`` for ``consumer`` (idempotent), log it and count it."""
    error = f"message of {size} bytes (headers and payload) exceeds the server's max_payload of {limit} bytes"
    await store.pool.execute(
        """INSERT INTO es.parked (consumer, global_position, event_id, stream_name, stream_position, event_type,
                                  attempts, error)
           VALUES ($1, $2, $3::uuid, $4, $5, $6, 1, $7) ON CONFLICT DO NOTHING""",
        consumer, row["global_position"], row["event_id"], row["stream_name"], row["stream_position"],
        row["event_type"], error)
    log.error("%s: parked event %s (%s position %s, global %s): %s", consumer, row["event_id"], row["stream_name"],
              row["stream_position"], row["global_position"], error)
    _parked_counter(consumer).inc()


def position_of(row: asyncpg.Record) -> Position:
    return Position(row["tx_id"], row["global_position"])


def event_headers(row: asyncpg.Record, msg_id: str) -> dict[str, str]:
    """The header contract of ``headers.py`` for one row of ``read_ready``."""
    out = {
        h.MSG_ID: msg_id,
        h.EVENT_ID: row["event_id"],
        h.GLOBAL_POSITION: str(row["global_position"]),
        h.TX_ID: str(row["tx_id"]),
        h.STREAM: row["stream_name"],
        h.STREAM_POSITION: str(row["stream_position"]),
        h.EVENT_TYPE: row["event_type"],
        h.SCHEMA_VERSION: str(row["schema_version"]),
        h.RECORDED_AT: row["recorded_at"].isoformat(),
    }
    for key, name in (("correlation_id", h.CORRELATION_ID), ("causation_id", h.CAUSATION_ID),
                      ("traceparent", h.TRACEPARENT)):
        if (value := row[key]) is not None:
            out[name] = value
    return out


Message = Callable[[asyncpg.Record], tuple[str, dict[str, str]]]


async def pump(store: EventStore, acks: AckWindow, checkpoint: str, *, batch: int, message: Message,
               guard: Guard, filters: Filters = NO_FILTERS) -> int:
    """Publish every ready event after ``checkpoint`` (``message`` gives subject and headers), advancing the
    checkpoint by compare-and-set as acks arrive; the next batch is read while this one is published.

    ``guard`` is confirmed before each batch and checked (locally) before each message, so a publisher that lost
    its right to publish stops at the next message, not at the end of a batch."""
    saved = await load_checkpoint(store, checkpoint)
    reading = asyncio.ensure_future(read_ready(store.pool, saved, batch, filters))
    try:
        while rows := await reading:
            reading = asyncio.ensure_future(read_ready(store.pool, position_of(rows[-1]), batch, filters))
            await guard.confirm()
            for row in rows:
                subject, headers = message(row)
                payload, block, position = row["data"].encode(), header_block(headers), position_of(row)
                if acks.too_large(size := len(block) + len(payload)):
                    await park_too_large(store, checkpoint, row, size, acks.nc.max_payload)
                    acks.skip(position)
                    continue
                if not guard.valid():
                    await guard.confirm()
                await acks.publish(subject, payload, headers, position, block)
            saved = await advance_checkpoint(guard, checkpoint, saved, acks.acked)
        await acks.drain()
        await advance_checkpoint(guard, checkpoint, saved, acks.acked)
        return acks.count
    except PublishFailed:  # keep what JetStream did acknowledge: the retry republishes only the rest
        await advance_checkpoint(guard, checkpoint, saved, acks.acked)
        raise
    finally:
        if not reading.done():
            reading.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await reading
