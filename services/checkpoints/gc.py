"""Garbage collection: delete chunks and manifests that no checkpoint references, once older than the grace
period. Referenced: the latest manifest of every checkpoint that is neither deleted nor invalid, and every chunk
those manifests list. It runs under the exclusive lock (``locks``), so no save is between finding a chunk stored
and committing the event that references it; the grace period also spares what a save killed mid-way wrote
(a later save may still find it useful) and temporaries of the filesystem store.

File-sync zones' blobs (``zones/``, ``zonefiles.py``) are collected the same way: kept while a zone names their
manifest (its stored copy, or a studio's last sync, which a later conflict check compares against).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime

from libs.contracts.checkpoint import GOOD, ManifestRef
from libs.eventstore import EventStore
from services.checkpoints import locks, queries, zonefiles
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
    zone_blobs_deleted: int = 0


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
        zone_refs = [ref for z in await queries.every_zone(store)
                     for ref in (z.stored, *(base for _, base in z.bases.values())) if ref is not None]
        swept = await asyncio.to_thread(_sweep, engine, chunks, manifests, cutoff, unreadable == 0)
        zones_freed = await asyncio.to_thread(_sweep_zones, engine, zone_refs, cutoff)
        return Collected(True, swept.chunks_deleted, swept.manifests_deleted, swept.bytes_freed + zones_freed[1],
                         swept.chunks_kept, zones_freed[0])


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


def _sweep_zones(engine: Engine, refs: list[ManifestRef], cutoff: float) -> tuple[int, int]:
    """(blobs deleted, bytes freed) under ``zones/``; with a named manifest unreadable, nothing is deleted."""
    store = engine.store
    try:
        keep = zonefiles.referenced(store, refs)
    except ValueError as e:
        log.error("garbage collection keeps every zone blob: %s", e)
        return 0, 0
    deleted = freed = 0
    for blob in list(store.list("zones/")):
        if blob.key not in keep and blob.modified < cutoff:
            store.delete(blob.key)
            deleted, freed = deleted + 1, freed + blob.size
    return deleted, freed

