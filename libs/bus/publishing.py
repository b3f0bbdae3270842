"""What the relay and replays share: reading events ready to publish, and a bounded window of in-flight acks.

Events are read by commit horizon (DESIGN §2) with ``data`` as JSON text, so the payload goes out as PostgreSQL
wrote it, without a decode and re-encode per event. Publishing uses nats-py ``publish_async`` (pipelined) because
FastStream's pipelined publish measured ~43% slower (DESIGN §3); see ``AckWindow`` for the one step further.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, cast

import asyncpg
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js import JetStreamContext
from nats.protocol.command import hpub_cmd

from libs.bus import headers as h
from libs.eventstore import EventStore, Position
from libs.eventstore import checkpoints as cp

_SELECT = """SELECT global_position, tx_id, stream_name, stream_position, event_id::text AS event_id, event_type,
       category, schema_version, data::text AS data, metadata->>'correlation_id' AS correlation_id,
       metadata->>'causation_id' AS causation_id, metadata->>'traceparent' AS traceparent, recorded_at
  FROM es.events
 WHERE (tx_id, global_position) > ($1::xid8, $2::bigint)
   AND tx_id < pg_snapshot_xmin(pg_current_snapshot())"""


class PublishFailed(Exception):
    """An ack did not come (in time) or JetStream refused a message; republish from the checkpoint."""


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


async def advance_checkpoint(store: EventStore, name: str, saved: Position, acked: Position | None) -> Position:
    """Compare-and-set the checkpoint from ``saved`` to ``acked`` when that is further; returns where it stands."""
    if acked is None or acked <= saved:
        return saved
    async with store.pool.acquire() as conn:
        await cp.advance(cast(asyncpg.Connection, conn), name, saved, acked)
    return acked


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


def header_block(headers: dict[str, str]) -> bytes:
    """The NATS header section for ``headers`` (values lose any CR/LF, as nats-py does)."""
    lines = "".join(f"{k}: {v.translate(_NO_NEWLINES)}\r\n" for k, v in headers.items())
    return f"NATS/1.0\r\n{lines}\r\n".encode()


_NO_NEWLINES = str.maketrans({"\r": " ", "\n": " "})


class AckWindow:
    """Pipelined JetStream publishes with at most ``size`` acks in flight, settled in order.

    ``acked`` is the position up to which *every* ack came. Publishes are JetStream publishes with a reply inbox
    of this window's own (the same protocol as nats-py's ``publish_async``), but the header section is encoded
    here in one step: nats-py validates and encodes each header separately, which for the dozen headers of the
    event contract cost about a third of the relay's CPU. The encoded message goes through nats-py's write
    buffer (``_send_command``, a private method) while connected, and through the public ``publish`` otherwise.
    """

    def __init__(self, nc: NATS, size: int = 1000, ack_timeout: float = 10.0) -> None:
        self.nc, self.size, self.ack_timeout = nc, size, ack_timeout
        self._pending: collections.deque[tuple[asyncio.Future[bytes], Position]] = collections.deque()
        self._futures: dict[str, asyncio.Future[bytes]] = {}
        self._inbox = ""
        self._sub: Subscription | None = None
        self._seq = 0
        self.acked: Position | None = None
        self.count = 0
        self.duplicates = 0

    async def __aenter__(self) -> AckWindow:
        self._inbox = self.nc.new_inbox()
        self._sub = await self.nc.subscribe(f"{self._inbox}.*", cb=self._on_ack)
        return self

    async def __aexit__(self, *exc: object) -> None:
        while self._pending:  # what is still in flight is forgotten: it will be republished and deduplicated
            self._pending.popleft()[0].cancel()
        self._futures.clear()
        if self._sub is not None:
            await self._sub.unsubscribe()

    async def _on_ack(self, msg: Msg) -> None:
        future = self._futures.pop(msg.subject.rpartition(".")[2], None)
        if future is not None and not future.done():
            future.set_result(msg.data)

    async def publish(self, subject: str, payload: bytes, headers: dict[str, str], position: Position) -> None:
        self._seq += 1
        token = str(self._seq)
        reply = f"{self._inbox}.{token}"
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._futures[token] = future
        self._pending.append((future, position))
        nc: Any = self.nc
        if nc.is_connected:
            await nc._send_command(hpub_cmd(subject, reply, header_block(headers), payload))
            if nc._flush_queue is not None and nc._flush_queue.empty():
                await nc._flush_pending()
        else:
            await nc.publish(subject, payload, reply=reply, headers=headers)
        self._settle_done()
        while len(self._pending) >= self.size:
            await self._settle_oldest()

    async def drain(self) -> None:
        while self._pending:
            await self._settle_oldest()

    def _settle_done(self) -> None:
        while self._pending and self._pending[0][0].done():
            self._take(*self._pending.popleft())

    async def _settle_oldest(self) -> None:
        future, position = self._pending[0]
        if not future.done():
            try:
                await asyncio.wait_for(asyncio.shield(future), self.ack_timeout)
            except TimeoutError:
                raise PublishFailed(f"no ack within {self.ack_timeout}s for position {position}") from None
        self._pending.popleft()
        self._take(future, position)
        self._settle_done()

    def _take(self, future: asyncio.Future[bytes], position: Position) -> None:
        data = future.result()
        try:
            ack = json.loads(data)
        except ValueError:
            ack = {"error": {"description": "no stream answered (is the subject in a stream?)"}}
        if "error" in ack:
            raise PublishFailed(f"JetStream refused position {position}: {ack['error']}")
        self.count += 1
        self.duplicates += bool(ack.get("duplicate"))
        self.acked = position


Message = Callable[[asyncpg.Record], tuple[str, dict[str, str]]]


async def pump(store: EventStore, acks: AckWindow, checkpoint: str, *, batch: int, message: Message,
               filters: Filters = NO_FILTERS, after_batch: Callable[[], Awaitable[None]] | None = None) -> int:
    """Publish every ready event after ``checkpoint`` (``message`` gives subject and headers), advancing the
    checkpoint by compare-and-set as acks arrive; the next batch is read while this one is published."""
    saved = await load_checkpoint(store, checkpoint)
    reading = asyncio.ensure_future(read_ready(store.pool, saved, batch, filters))
    try:
        while rows := await reading:
            reading = asyncio.ensure_future(read_ready(store.pool, position_of(rows[-1]), batch, filters))
            for row in rows:
                subject, headers = message(row)
                await acks.publish(subject, row["data"].encode(), headers, position_of(row))
            saved = await advance_checkpoint(store, checkpoint, saved, acks.acked)
            if after_batch is not None:
                await after_batch()
        await acks.drain()
        await advance_checkpoint(store, checkpoint, saved, acks.acked)
        return acks.count
    finally:
        if not reading.done():
            reading.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await reading


def connection_of(conn: NATS | JetStreamContext) -> NATS:
    """The core connection behind a JetStream context (its ``_nc``), or the connection itself."""
    return conn._nc if isinstance(conn, JetStreamContext) else conn
