"""Ingestion: JetStream ``LOGS`` -> ``logs.lines``, in batches, exactly once in effect, at COPY speed.

One logs process ingests at a time: it holds a session advisory lock on its writer's connection (the others wait
for it, and take over within a second when its connection goes, a SIGKILL included). On taking over it recreates
the durable consumer ``logs-ingest`` from the stored position (``logs.ingest_position``, moved in the same
transaction as the rows, ``writer.py``), so the messages arrive in stream order from the first one not committed.
Then, per batch of up to ``batch`` messages (each one line or a pack of them): decode (orjson, no model per
line), one transaction (COPY of the rows above the position into their day partitions, the new position), and one
ack (``AckPolicy.ALL``: acking the batch's highest message acks all before it) only after the commit. The next
batch is fetched while this one is stored, and decoded while this one's COPY commits. Anything that fails gives
the lead up and starts again from the stored position: a message is never skipped, and one committed twice over
is at or below the position and skipped.

The consumer's acks only keep its ack floor (what an operator sees) up to date: follows read the stored position
(``handlers.py``), and a restart begins from it, not from JetStream's redelivery. A payload (or a pack's item)
that is not a line is counted, logged and passed over (it can never succeed).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass

import asyncpg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError

from libs.bus.streams import Topology
from libs.platform.metrics import ServiceMetrics
from services.logs.partitions import Partitions
from services.logs.pull import Frame, Puller
from services.logs.rows import COLUMNS, Row, decode, reply_seq
from services.logs.writer import Writer

__all__ = ["COLUMNS", "DURABLE", "Ingestor", "Row", "Writer", "consumer_config"]

log = logging.getLogger("studios.logs.ingest")
DURABLE = "logs-ingest"
#: The advisory lock's first key ("LOGI"); the second is the stream's name hashed, so streams ingest apart.
_LEAD = 0x4C4F_4749

_metrics = ServiceMetrics("logs")
_lines = _metrics.counter("logs_lines_ingested", "Log lines committed to logs.lines")
_bad = _metrics.counter("logs_lines_unreadable", "LOGS message items that were not log lines (passed over, not stored)")


@dataclass(frozen=True, slots=True)
class Batch:
    rows: list[Row]
    top: int  # the highest stream sequence of its messages: the position once it is committed
    ack: bytes  # that message's ack subject


def consumer_config(topology: Topology, position: int, ack_wait: float = 30.0,
                    max_ack_pending: int = 100_000) -> ConsumerConfig:
    start = {"deliver_policy": DeliverPolicy.BY_START_SEQUENCE, "opt_start_seq": position + 1} if position \
        else {"deliver_policy": DeliverPolicy.ALL}
    return ConsumerConfig(durable_name=DURABLE, ack_policy=AckPolicy.ALL, filter_subject=f"{topology.logs_prefix}.>",
                          ack_wait=ack_wait, max_ack_pending=max_ack_pending, max_deliver=-1, **start)


class Ingestor:
    def __init__(self, dsn: str, js: JetStreamContext, topology: Topology, partitions: Partitions, *,
                 batch: int = 5000, fetch_wait: float = 0.05, ack_wait: float = 30.0,
                 server_settings: dict[str, str] | None = None) -> None:
        self.dsn, self.js, self.topology, self.partitions = dsn, js, topology, partitions
        self.batch, self.fetch_wait, self.server_settings = batch, fetch_wait, server_settings
        self.ack_wait = ack_wait
        self.committed = 0
        self.leading = False

    async def run(self, stop: asyncio.Event) -> None:
        """Ingest until ``stop``, leading when the lock is ours, waiting for it otherwise."""
        while not stop.is_set():
            conn: asyncpg.Connection | None = None
            try:
                conn = await asyncpg.connect(self.dsn, server_settings=self.server_settings)
                if await conn.fetchval("SELECT pg_try_advisory_lock($1, hashtext($2))", _LEAD,
                                       self.topology.logs_stream):
                    self.leading = True
                    await self._lead(Writer(conn, self.partitions, self.topology.logs_stream), stop)
                    continue
            except Exception as e:  # the database or the bus is away: start again from the stored position
                log.warning("log ingestion stopped (%r); starting again from the stored position", e)
            finally:
                self.leading = False
                if conn is not None:
                    with contextlib.suppress(Exception):
                        await conn.close()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 1.0)

    async def _lead(self, writer: Writer, stop: asyncio.Event) -> None:
        position = await self._position(writer)
        puller = await self._subscribe(position)
        fetching: asyncio.Task[list[Frame]] = asyncio.create_task(puller.fetch(self.batch, self.fetch_wait))
        storing: asyncio.Task[None] | None = None
        try:
            while not stop.is_set():
                msgs = await fetching
                # On the wire while this batch is stored (one request at a time: its answer stays in order).
                fetching = asyncio.create_task(puller.fetch(self.batch, self.fetch_wait))
                if not msgs:
                    continue
                # Decoded while the previous batch's COPY is still committing (the server's work, on the other
                # core); stored only once that one committed, so batches commit in stream order.
                batch = self.decode(msgs)
                if storing is not None:
                    await storing
                storing = asyncio.create_task(self.store(writer, batch))
            if storing is not None:
                await storing
        finally:
            for task in (fetching, storing):
                if task is not None and not task.done():
                    task.cancel()
                    with contextlib.suppress(BaseException):
                        await task
            with contextlib.suppress(Exception):  # else the connection's drain waits on it at close
                await puller.stop()

    async def _position(self, writer: Writer) -> int:
        """The stored position; seeded, before the first batch of this version, from the old consumer's ack floor
        (everything up to it was committed), and reset when the stream was recreated (its sequence began again)."""
        stream = self.topology.logs_stream
        known = await writer.conn.fetchval("SELECT js_seq FROM logs.ingest_position WHERE stream = $1", stream)
        position = int(known or 0)
        if known is None:
            with contextlib.suppress(NotFoundError):
                info = await self.js.consumer_info(stream, DURABLE)
                position = int(info.ack_floor.stream_seq or 0) if info.ack_floor else 0
        last = int((await self.js.stream_info(stream)).state.last_seq or 0)
        if position > last:
            log.warning("LOGS stream %s ends at %d, before the stored position %d: it was recreated; from its start",
                        stream, last, position)
            position = 0
        if known is None or position != int(known):
            await writer.set_position(position)
        return position

    async def _subscribe(self, position: int) -> Puller:
        stream = self.topology.logs_stream
        with contextlib.suppress(NotFoundError):
            await self.js.delete_consumer(stream, DURABLE)  # it may hold deliveries past the stored position
        await self.js.add_consumer(stream, consumer_config(self.topology, position, self.ack_wait))
        # nats-py keeps the connection and API prefix of a JetStream context private; the pinned minor has both.
        puller = Puller(self.js._nc, self.js._prefix, stream, DURABLE)
        await puller.start()
        return puller

    def decode(self, msgs: list[Frame]) -> Batch:
        """The batch's rows, its highest stream sequence and that message's ack subject."""
        rows: list[Row] = []
        top, last = 0, msgs[-1][1]
        for subject, reply, data in msgs:
            js_seq = reply_seq(reply)
            if js_seq > top:
                top, last = js_seq, reply
            lines, bad = decode(data, js_seq)
            rows.extend(lines)
            if bad:
                _bad.inc(bad)
                log.warning("LOGS message %d on %s: %d item(s) not log lines; passed over", js_seq,
                            subject.decode(), bad)
        return Batch(rows, top, last)

    async def store(self, writer: Writer, batch: Batch) -> None:
        stored = await writer.write(batch.rows, batch.top)
        # Only after the commit; AckPolicy.ALL: every message before it too.
        await self.js._nc.publish(batch.ack.decode(), b"+ACK")
        self.committed += stored
        _lines.inc(stored)
