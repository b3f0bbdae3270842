"""Garbage collection: delete chunks and manifests that no checkpoint references, once older than the grace
period. Referenced: the latest manifest of every checkpoint that is neither deleted nor invalid, and every chunk
those manifests list. It runs under the exclusive lock (``locks``), so no save is between finding a chunk stored
and committing the event that references it; the grace period also spares what a save killed mid-way wrote
(a later save may still find it useful) and temporaries of the filesystem store.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime

from libs.contracts.checkpoint import GOOD
from libs.eventstore import EventStore
from services.checkpoints import locks, queries
from services.checkpoints.storage.engine import Engine
from services.checkpoints.storage.manifest import CorruptBlob

log = logging.getLogger("studios.checkpoints.gc")


@dataclass(frozen=True)
class Collected:
    ran: bool
    chunks_deleted: int = 0
    manifests_deleted: int = 0
    bytes_freed: int = 0
    chunks_kept: int = 0


async def collect(store: EventStore, engine: Engine, grace_seconds: float, now: datetime) -> Collected:
    async with locks.exclusive(store) as got:
        if not got:
            return Collected(ran=False)  # saves under way: the next round collects
        live = [s.manifest for s in await queries.everything(store)
                if not s.deleted and s.status in GOOD and s.manifest is not None]
        chunks: set[str] = set()
        unreadable = 0
        for ref in live:
            try:
                chunks |= (await engine.load(ref)).chunk_ids()
            except CorruptBlob as e:
                unreadable += 1
                log.error("garbage collection cannot read %s: %s", ref.uri, e)
        cutoff = now.timestamp() - grace_seconds
        manifests = {ref.uri for ref in live}
        return await asyncio.to_thread(_sweep, engine, chunks, manifests, cutoff, unreadable == 0)


def _sweep(engine: Engine, chunks: set[str], manifests: set[str], cutoff: float, chunks_too: bool) -> Collected:
    store = engine.store
    deleted = freed = kept = gone_manifests = 0
    if chunks_too:  # with a referenced manifest unreadable, which chunks it needs is unknown: delete none
        for blob in list(store.list("chunks/")):
            name = blob.key.rsplit("/", 1)[-1]
            if name in chunks:
                kept += 1
            elif blob.modified < cutoff:
                store.delete(blob.key)
                deleted, freed = deleted + 1, freed + blob.size
    for blob in list(store.list("manifests/")):
        if blob.key not in manifests and blob.modified < cutoff:
            store.delete(blob.key)
            gone_manifests, freed = gone_manifests + 1, freed + blob.size
    return Collected(True, deleted, gone_manifests, freed, kept)
