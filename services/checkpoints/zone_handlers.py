"""Command handlers of file-sync zones (``libs.contracts.zone_commands``): copy files between a running studio's
zone folder and the stored copy (``zonefiles``, in a thread, outside any transaction), then record the sync
(``zones``). The studio's workspace folder is the one its current run's checkpoint recorded."""

from __future__ import annotations

import asyncio
import os

from libs.contracts.commands import CommandMeta, Reply, fingerprint
from libs.contracts.errors import Conflict, NotFound, StudiosError, Unavailable
from libs.contracts.studio import StudioStatus
from libs.contracts.studio_state import State as StudioState
from libs.contracts.zone import SyncDirection, scope, stream_name
from libs.contracts.zone_commands import CheckZoneConflicts, PullZone, PushZone, ZoneCommand
from libs.eventstore import EventStore, execute, load
from libs.eventstore.execute import previous
from libs.platform.clock import Clock
from libs.platform.clock import now as utcnow
from services.checkpoints import queries, zonefiles, zones
from services.checkpoints.blobstores.base import BlobStore

SOURCE = "checkpoints"


class ZoneHandlers:
    def __init__(self, store: EventStore, blobs: BlobStore, clock: Clock = utcnow) -> None:
        self.store, self.blobs, self.clock = store, blobs, clock
        self._locks: dict[str, asyncio.Lock] = {}  # one sync at a time per studio folder and zone

    async def _where(self, c: ZoneCommand) -> tuple[StudioState, str, str]:
        """(studio, its zone folder, the stored copy's scope); the studio must be running."""
        zones.check_zone(c.zone)
        studio = await queries.studio_state(self.store, c.session_id)
        if not studio.exists or studio.deleted:
            raise NotFound(f"Studio {c.session_id} not found")
        if studio.status is not StudioStatus.RUNNING:
            raise Conflict(f"Studio {c.session_id} is {studio.status}: zones sync only while it runs")
        run = next((s for s in await queries.of_studio(self.store, c.session_id, studio.run)
                    if s.run == studio.run and s.workspace), None)
        if run is None:
            raise Unavailable(f"The workspace of studio {c.session_id} run {studio.run} is not known yet")
        key = scope(c.zone, studio.workspace_id, studio.user_id, c.session_id)
        return studio, os.path.join(run.workspace, c.zone), key

    async def _zone(self, key: str) -> zones.State:
        state, _ = await load(self.store, stream_name(key), zones.evolve, zones.INITIAL)
        return state

    async def _record(self, c: ZoneCommand, key: str, direction: SyncDirection, copied: zonefiles.Copied,
                      meta: CommandMeta | None) -> int | None:
        meta = meta or CommandMeta()
        command = zones.RecordSync(scope=key, zone=c.zone, session_id=c.session_id, direction=direction,
                                   manifest=copied.manifest, files=copied.files, size=copied.size,
                                   copied=copied.copied, copied_size=copied.copied_size, now=self.clock(),
                                   actor=c.actor)
        done = await execute(self.store, stream_name(key), command, zones.decide, zones.evolve, zones.INITIAL,
                             metadata=meta.event_metadata(actor=c.actor, source=SOURCE, fingerprint=fingerprint(c)),
                             command_id=meta.command_id)
        return done.position  # type: ignore[no-any-return]

    async def _repeat(self, meta: CommandMeta | None) -> Reply | None:
        """A retried sync (same command id) is answered without copying again."""
        if meta is not None and (prior := await previous(self.store, meta.command_id)) is not None:
            return Reply(position=prior.position, result={"repeated": True})
        return None

    async def push(self, c: PushZone, meta: CommandMeta | None = None) -> Reply:
        if (done := await self._repeat(meta)) is not None:
            return done
        _, folder, key = await self._where(c)
        async with self._locks.setdefault(folder, asyncio.Lock()):
            state = await self._zone(key)
            copied = await asyncio.to_thread(self._push, state, folder)
            position = await self._record(c, key, SyncDirection.PUSH, copied, meta)
        return Reply(position=position, result={"count": copied.copied, "size": copied.copied_size,
                                                "files": copied.files})

    def _push(self, state: zones.State, folder: str) -> zonefiles.Copied:
        try:
            files = zonefiles.load(self.blobs, state.stored)
            written, size = zonefiles.restore(self.blobs, files, folder)
        except (OSError, ValueError) as e:
            raise StudiosError(f"The zone could not be pushed: {e}") from None
        ref = state.stored or zonefiles.empty(self.blobs)
        return zonefiles.Copied(ref, len(files), sum(int(f["size"]) for f in files.values()), written, size)

    async def pull(self, c: PullZone, meta: CommandMeta | None = None) -> Reply:
        if (done := await self._repeat(meta)) is not None:
            return done
        _, folder, key = await self._where(c)
        async with self._locks.setdefault(folder, asyncio.Lock()):
            state = await self._zone(key)
            copied = await asyncio.to_thread(self._pull, state, folder)
            position = await self._record(c, key, SyncDirection.PULL, copied, meta)
        return Reply(position=position, result={"count": copied.copied, "size": copied.copied_size,
                                                "files": copied.files})

    def _pull(self, state: zones.State, folder: str) -> zonefiles.Copied:
        """Store the folder; ``copied`` counts the files whose content differs from the stored copy before."""
        try:
            before = zonefiles.digests(zonefiles.load(self.blobs, state.stored))
            saved = zonefiles.save(self.blobs, folder)
            after = zonefiles.load(self.blobs, saved.manifest)
        except (OSError, ValueError) as e:
            raise StudiosError(f"The zone could not be pulled: {e}") from None
        changed = [p for p, f in after.items() if before.get(p) != f["sha"]]
        return zonefiles.Copied(saved.manifest, saved.files, saved.size, len(changed),
                                sum(int(after[p]["size"]) for p in changed))

    async def conflicts(self, c: CheckZoneConflicts, meta: CommandMeta | None = None) -> Reply:
        _, folder, key = await self._where(c)
        state = await self._zone(key)
        base_ref = state.base_of(c.session_id)

        def compare() -> tuple[zones.Changes, zones.Changes, zones.Changes]:
            base = zonefiles.digests(zonefiles.load(self.blobs, base_ref))
            stored = zonefiles.digests(zonefiles.load(self.blobs, state.stored))
            return zones.conflicts(base, zonefiles.digests(zonefiles.scan(folder)), stored)

        try:
            mine, theirs, clash = await asyncio.to_thread(compare)
        except (OSError, ValueError) as e:
            raise StudiosError(f"The zone could not be compared: {e}") from None
        summary = {"authors": state.authors_since(c.session_id), **clash.out(), "studio": mine.out(),
                   "stored": theirs.out(), "commitFrom": base_ref.sha256 if base_ref else None,
                   "commitTo": state.stored.sha256 if state.stored else None}
        return Reply(result={c.zone: summary})
