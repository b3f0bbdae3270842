"""The logs service's composition root: ingestion from ``LOGS``, queries over request/reply, retention.

``run(settings, stop)``: apply the ``logs`` schema's migrations, make sure the streams exist, create the day
partitions ahead, then ingest, answer ``QueryLogs`` (queue group ``studios-logs``) and drop expired partitions
every ``maintenance_interval_seconds`` until ``stop``. Several processes may run: the durable consumer shares the
batches out, and a redelivered batch inserts nothing twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime

import asyncpg

from libs.bus.broker import make_broker
from libs.bus.streams import DEFAULT, Topology, ensure_streams
from libs.eventstore import migrate
from services.logs import subscribers
from services.logs.handlers import LogQueries
from services.logs.ingest import Ingestor
from services.logs.partitions import Partitions
from services.logs.schema import LOGS
from services.logs.settings import LogsSettings

log = logging.getLogger("studios.logs")


def today() -> date:
    return datetime.now(UTC).date()


class LogsService:
    """Built by ``create_app`` (nothing connects until ``run``)."""

    def __init__(self, settings: LogsSettings, topology: Topology, clock: Callable[[], date]) -> None:
        self.settings, self.topology, self.clock = settings, topology, clock
        self.partitions = Partitions()
        self.ingestor: Ingestor | None = None

    async def run(self, stop: asyncio.Event) -> None:
        settings, topology = self.settings, self.topology
        database_url, nats_url = settings.require_urls()
        pool = await asyncpg.create_pool(database_url, min_size=1, max_size=8,
                                         server_settings=settings.database_settings)
        assert pool is not None
        broker = make_broker(nats_url, name="logs", quiet=True)
        try:
            async with pool.acquire() as conn:
                await migrate(conn, LOGS)
                await self.partitions.ensure_ahead(conn, self.clock(), settings.days_ahead)
            await broker.connect()
            await ensure_streams(broker.js, topology)
            queries = LogQueries(pool, broker.js, topology, settings.reply_bytes)
            queries.serve(broker)
            subscribers.register(broker, pool, topology)
            await broker.start()
            self.ingestor = Ingestor(database_url, broker.js, topology, self.partitions,
                                     batch=settings.batch_size, fetch_wait=settings.fetch_wait_seconds,
                                     ack_wait=settings.ack_wait_seconds,
                                     server_settings=settings.database_settings)
            await self._serve(pool, stop, self.ingestor)
        finally:
            with contextlib.suppress(Exception):
                await broker.stop()
            await pool.close()

    async def _serve(self, pool: asyncpg.Pool, stop: asyncio.Event, ingestor: Ingestor) -> None:
        every = self.settings.maintenance_interval_seconds
        tasks = [asyncio.create_task(ingestor.run(stop)),
                 asyncio.create_task(_every(every, stop, lambda: self.maintain(pool)))]
        log.info("logs ready")
        try:
            await stop.wait()
        finally:
            await asyncio.wait(tasks, timeout=10)  # the batch under way commits and acks, or is redelivered
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def maintain(self, pool: asyncpg.Pool) -> list[str]:
        return await maintain(pool, self.partitions, self.settings, self.clock())


def create_app(settings: LogsSettings, topology: Topology = DEFAULT,
               clock: Callable[[], date] = today) -> LogsService:
    return LogsService(settings, topology, clock)


async def run(settings: LogsSettings, stop: asyncio.Event, topology: Topology = DEFAULT) -> None:
    await create_app(settings, topology).run(stop)


async def maintain(pool: asyncpg.Pool, partitions: Partitions, settings: LogsSettings, day: date) -> list[str]:
    """Create tomorrow's partitions, drop the expired ones; returns what was dropped."""
    async with pool.acquire() as conn:
        await partitions.ensure_ahead(conn, day, settings.days_ahead)
        dropped = await partitions.drop_expired(conn, day, settings.retention_days())
        # A run's duplicate marks outlive its lines by at most the longest retention (a republish comes sooner).
        await conn.execute("DELETE FROM logs.ingest_marks WHERE at < now() - make_interval(days => $1)",
                           max(settings.retention_days().values()))
        return dropped


async def _every(seconds: float, stop: asyncio.Event, work: Callable[[], Awaitable[object]]) -> None:
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), seconds)
        if stop.is_set():
            return
        try:
            await work()
        except Exception:
            log.exception("log maintenance failed; next try in %.0fs", seconds)
