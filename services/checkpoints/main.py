"""The checkpoints service's composition root: store, broker, command server, chunk engine, relay, timers.

``create_app(settings)`` builds everything and connects nothing; ``App.run(stop)`` connects, serves the
``studios.cmd.checkpoints.*`` commands until ``stop`` is set, and closes. A save or restore under way when the
stop comes finishes within FastStream's graceful timeout; one cut short (SIGKILL included) leaves the previous
checkpoint as it was: its manifest is written last and named by an event only once complete.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

from libs.bus.broker import make_broker
from libs.bus.commands import CommandServer
from libs.bus.relay import Relay
from libs.bus.streams import DEFAULT, Topology, ensure_streams
from libs.contracts.checkpoint_commands import (
    CollectGarbage,
    DeleteCheckpoint,
    RenameCheckpoint,
    RestoreCheckpoint,
    SaveCheckpoint,
)
from libs.contracts.commands import CommandMeta, Reply
from libs.contracts.zone_commands import CheckZoneConflicts, PullZone, PushZone
from libs.eventstore import EventStore
from libs.platform.clock import now as utcnow
from services.checkpoints import gc, timers
from services.checkpoints.handlers import CheckpointHandlers
from services.checkpoints.settings import CheckpointsSettings
from services.checkpoints.storage.engine import Engine
from services.checkpoints.zone_handlers import ZoneHandlers

log = logging.getLogger("studios.checkpoints")


@dataclass
class App:
    settings: CheckpointsSettings
    topology: Topology = DEFAULT
    engine: Engine = field(init=False)

    def __post_init__(self) -> None:
        self.engine = Engine(self.settings.blobstore_url, self.settings.workers)

    async def collect(self, c: CollectGarbage, meta: CommandMeta | None = None) -> Reply:
        grace = c.grace_seconds if c.grace_seconds is not None else self.settings.gc_grace_seconds
        done = await gc.collect(self.store, self.engine, grace, utcnow())
        return Reply(result={"ran": done.ran, "chunksDeleted": done.chunks_deleted, "chunksKept": done.chunks_kept,
                             "manifestsDeleted": done.manifests_deleted, "bytesFreed": done.bytes_freed,
                             "zoneBlobsDeleted": done.zone_blobs_deleted})

    async def run(self, stop: asyncio.Event) -> None:
        s = self.settings
        database_url, nats_url = s.require_urls()
        self.store = await EventStore.connect(database_url, server_settings=s.database_settings)
        broker = make_broker(nats_url, name="checkpoints", quiet=True, graceful_timeout=15.0)
        handlers = CheckpointHandlers(self.store, self.engine)
        server = CommandServer(broker, "checkpoints", max_workers=8)
        routes: list[tuple[type[Any], Any]] = [
            (SaveCheckpoint, handlers.save), (RestoreCheckpoint, handlers.restore),
            (RenameCheckpoint, handlers.rename), (DeleteCheckpoint, handlers.delete), (CollectGarbage, self.collect)]
        zone_handlers = ZoneHandlers(self.store, self.engine.store)  # file-sync zones (docs/dataiku.md)
        routes += [(PushZone, zone_handlers.push), (PullZone, zone_handlers.pull),
                   (CheckZoneConflicts, zone_handlers.conflicts)]
        for command, handle in routes:
            server.handle(command)(handle)
        await broker.connect()
        await ensure_streams(broker.js, self.topology)
        relay = Relay(self.store, broker.js, dsn=database_url, topology=self.topology)
        await broker.start()
        relay_stop, timers_stop = asyncio.Event(), asyncio.Event()
        tasks = [asyncio.create_task(relay.run(relay_stop)),
                 asyncio.create_task(timers.run(self.store, handlers, self.engine, timers_stop,
                                                interim_minutes=s.interim_minutes,
                                                gc_interval_seconds=s.gc_interval_seconds,
                                                gc_grace_seconds=s.gc_grace_seconds))]
        log.info("checkpoints ready (store %s, %d workers)", _shown(s.blobstore_url), self.engine.workers)
        try:
            await stop.wait()
        finally:
            timers_stop.set()
            await broker.stop()  # commands under way finish first (graceful timeout)
            relay_stop.set()
            await asyncio.wait(tasks, timeout=10)
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self.engine.close()
            await self.store.close()


def _shown(url: str) -> str:
    return url.split("?", 1)[0]


def create_app(settings: CheckpointsSettings, topology: Topology = DEFAULT) -> App:
    return App(settings, topology)


async def run(settings: CheckpointsSettings, stop: asyncio.Event, topology: Topology = DEFAULT) -> None:
    await create_app(settings, topology).run(stop)
