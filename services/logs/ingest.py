"""Ingestion: JetStream ``LOGS`` -> ``logs.lines``, in batches, exactly once in effect.

A durable pull consumer (``logs-ingest``, explicit acks) is fetched in batches. Each batch is one transaction on a
connection of its own: COPY into a temporary table, then ``INSERT … SELECT … ON CONFLICT DO NOTHING`` into the
partitioned table, so a redelivered batch (the process died between commit and acks) inserts nothing twice. The
acks go out only after the commit. A payload that is not a line is acked and counted (it can never succeed).

nats-py's pull subscription is used directly rather than a FastStream batch subscriber: the ack must follow our
own commit of the whole batch, and the consumer's ack floor (``ack_floor``) is what follows start their live tail
after (``queries.py``), so this module keeps the consumer's configuration in one place.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime

import asyncpg
import nats.errors
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from libs.bus.streams import Topology
from libs.logs.lines import LogLine
from libs.platform.metrics import ServiceMetrics
from services.logs.partitions import Partitions

log = logging.getLogger("studios.logs.ingest")
DURABLE = "logs-ingest"
COLUMNS = ("kind", "id", "run", "created_at", "source", "seq", "stream", "message", "final", "js_seq")
Row = tuple[str, str, int, datetime, str, int, str, str, bool, int]

_metrics = ServiceMetrics("logs")
_lines = _metrics.counter("logs_lines_ingested", "Log lines committed to logs.lines (repeats included)")
_bad = _metrics.counter("logs_lines_unreadable", "LOGS messages that were not log lines (acked, not stored)")


def consumer_config(topology: Topology, ack_wait: float = 30.0, max_ack_pending: int = 20_000) -> ConsumerConfig:
    return ConsumerConfig(durable_name=DURABLE, ack_policy=AckPolicy.EXPLICIT, deliver_policy=DeliverPolicy.ALL,
                          filter_subject=f"{topology.logs_prefix}.>", ack_wait=ack_wait,
                          max_ack_pending=max_ack_pending, max_deliver=-1)


def row_of(msg: Msg) -> Row | None:
    try:
        line = LogLine.from_payload(msg.data)
    except (ValueError, KeyError, TypeError):
        return None
    return (line.kind, line.id, line.run, line.created_at, line.source, line.seq, line.stream,
            line.message.replace("\x00", "\ufffd"),  # text cannot hold NUL
            line.final, stream_seq(msg))


def stream_seq(msg: Msg) -> int:
    """The message's ``LOGS`` sequence from its ack subject, without nats-py's full metadata parse (a hot path):
    ``$JS.ACK.<stream>.<consumer>.<delivered>.<stream seq>…`` (9 tokens), or with domain and account hash (12)."""
    tokens = (msg.reply or "").split(".")
    at = 5 if len(tokens) == 9 else 7 if len(tokens) >= 12 else -1
    if at > 0 and tokens[at].isdigit():
        return int(tokens[at])
    return int(msg.metadata.sequence.stream)


class Writer:
    """Writes batches of rows on one connection (its temporary table lives as long as the connection)."""

    def __init__(self, conn: asyncpg.Connection, partitions: Partitions) -> None:
        self.conn, self.partitions = conn, partitions
        self._ready = False

    async def write(self, rows: list[Row]) -> None:
        if not self._ready:
            await self.conn.execute("CREATE TEMP TABLE IF NOT EXISTS incoming (LIKE logs.lines) "
                                    "ON COMMIT DELETE ROWS")
            self._ready = True
        await self.partitions.ensure(self.conn, {(r[0], r[3].astimezone(UTC).date()) for r in rows})
        try:
            await self._insert(rows)
        except asyncpg.CheckViolationError:  # "no partition for row": another process dropped one we knew
            self.partitions.forget()
            await self.partitions.ensure(self.conn, {(r[0], r[3].astimezone(UTC).date()) for r in rows})
            await self._insert(rows)

    async def _insert(self, rows: list[Row]) -> None:
        async with self.conn.transaction():
            await self.conn.copy_records_to_table("incoming", records=rows, columns=COLUMNS)
            await self.conn.execute(f"INSERT INTO logs.lines ({', '.join(COLUMNS)}) "
                                    f"SELECT {', '.join(COLUMNS)} FROM incoming ON CONFLICT DO NOTHING")


class Ingestor:
    def __init__(self, dsn: str, js: JetStreamContext, topology: Topology, partitions: Partitions, *,
                 batch: int = 2000, fetch_wait: float = 0.05, ack_wait: float = 30.0,
                 server_settings: dict[str, str] | None = None) -> None:
        self.dsn, self.js, self.topology, self.partitions = dsn, js, topology, partitions
        self.batch, self.fetch_wait, self.server_settings = batch, fetch_wait, server_settings
        self.ack_wait = ack_wait
        self._writer: Writer | None = None
        self.committed = 0

    async def run(self, stop: asyncio.Event) -> None:
        """Ingest until ``stop``; a failed batch is not acked (JetStream redelivers it) and is retried.

        The next batch is fetched (and parsed) while the last one is being committed: one batch in the database
        at a time, one on the wire."""
        sub = await self.js.pull_subscribe(f"{self.topology.logs_prefix}.>", durable=DURABLE,
                                           stream=self.topology.logs_stream,
                                           config=consumer_config(self.topology, self.ack_wait))
        storing: asyncio.Task[None] | None = None
        try:
            while not stop.is_set():
                try:
                    msgs = await sub.fetch(self.batch, timeout=self.fetch_wait)
                except (nats.errors.TimeoutError, TimeoutError):  # nothing new: nats-py raises either
                    continue
                except Exception as e:  # the bus is reconnecting, or the consumer is being recreated: retry
                    log.warning("fetching log lines failed (%r); retrying", e)
                    await asyncio.sleep(0.5)
                    continue
                if storing is not None:
                    await storing
                storing = asyncio.create_task(self._store(msgs))
            if storing is not None:
                await storing
        finally:
            if storing is not None and not storing.done():
                storing.cancel()
            with contextlib.suppress(Exception):  # else the connection's drain waits on it at close
                await sub.unsubscribe()
            if self._writer is not None:
                await self._writer.conn.close()
                self._writer = None

    async def _store(self, msgs: list[Msg]) -> None:
        try:
            if self._writer is None:
                conn = await asyncpg.connect(self.dsn, server_settings=self.server_settings)
                self._writer = Writer(conn, self.partitions)
            await self.commit(self._writer, msgs)
        except Exception as e:  # the database is away, or anything else: unacked, so JetStream redelivers it
            log.warning("log batch of %d not stored (%r); it will be redelivered", len(msgs), e)
            if self._writer is not None:
                await self._writer.conn.close()
            self._writer = None
            await asyncio.sleep(0.5)

    async def commit(self, writer: Writer, msgs: list[Msg]) -> None:
        rows = []
        for m in msgs:
            row = row_of(m)
            if row is None:
                _bad.inc()
                log.warning("LOGS message on %s is not a log line; dropped", m.subject)
            else:
                rows.append(row)
        if rows:
            await writer.write(rows)
        for m in msgs:  # only after the commit: a crash before here redelivers the batch, which inserts nothing
            await m.ack()
        self.committed += len(rows)
        _lines.inc(len(rows))
