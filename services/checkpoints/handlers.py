"""Command handlers: glue between the bus commands (``libs.contracts.checkpoint_commands``), the chunk store
and the checkpoint aggregate. Storage work happens before any append and outside any transaction; the events
then record what is stored. Every command is re-stamped with this service's clock.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any

from libs.contracts.checkpoint import GOOD, NAME_CATEGORY, CheckpointStatus, checkpoint_id, name_key, stream_name
from libs.contracts.checkpoint_commands import (
    CheckpointCommand,
    DeleteCheckpoint,
    RenameCheckpoint,
    RestoreCheckpoint,
    SaveCheckpoint,
)
from libs.contracts.commands import CommandMeta, Reply, fingerprint
from libs.contracts.errors import Conflict, NotFound, StudiosError
from libs.contracts.studio import StudioStatus
from libs.eventstore import EventStore, execute
from libs.eventstore import reservations as names
from libs.eventstore.execute import previous
from libs.platform.clock import Clock
from libs.platform.clock import now as utcnow
from services.checkpoints import checkpoint as cp
from services.checkpoints import locks, queries
from services.checkpoints.storage.engine import Engine
from services.checkpoints.storage.manifest import CorruptBlob, Manifest

log = logging.getLogger("studios.checkpoints.handlers")
SOURCE = "checkpoints"


class CheckpointBroken(StudiosError):
    """A restore found the checkpoint damaged; it is now ``invalid`` and the next start uses an earlier one."""

    code, status, title = "checkpoint_invalid", 409, "Checkpoint invalid"


class CheckpointHandlers:
    def __init__(self, store: EventStore, engine: Engine, clock: Clock = utcnow) -> None:
        self.store, self.engine, self.clock = store, engine, clock
        self._runs: dict[int, asyncio.Lock] = {}  # one save at a time per checkpoint (interim vs final)

    async def _execute(self, cid: int, command: cp._Command, meta: CommandMeta | None, sent: Any = None,
                       also: Any = None) -> Any:
        meta = meta or CommandMeta()
        metadata = meta.event_metadata(actor=command.actor, source=SOURCE,
                                       fingerprint=fingerprint(sent) if sent is not None else None)
        return await execute(self.store, stream_name(cid), command, cp.decide, cp.evolve, cp.INITIAL,
                             metadata=metadata, command_id=meta.command_id if sent is not None else None, also=also)

    # -- save -----------------------------------------------------------------------------------------------

    async def save(self, c: SaveCheckpoint, meta: CommandMeta | None = None) -> Reply:
        now, cid = self.clock(), checkpoint_id(c.session_id, c.run)
        if meta is not None and (prior := await previous(self.store, meta.command_id)) is not None:
            return Reply(position=prior.position, result={"checkpointId": cid, "repeated": True})
        state = await self._created(c, cid, now)
        lock = self._runs.setdefault(cid, asyncio.Lock())
        async with lock:
            state, _ = await queries.checkpoint(self.store, cid)
            if state.status is CheckpointStatus.FINALIZED:
                return Reply(result=_result(state, repeated=True))
            base = await self._base(state)
            common: dict[str, Any] = {"checkpoint_id": cid, "session_id": c.session_id, "now": now,
                                      "actor": c.actor}
            try:
                async with locks.shared(self.store):
                    saved = await self.engine.save(cid, c.workspace, base, c.exclude)
                    done = await self._execute(cid, cp.RecordSave(
                        **common, kind=c.kind, manifest=saved.manifest, size=saved.size, file_count=saved.file_count,
                        bytes_written=saved.bytes_written, chunks_written=saved.chunks_written,
                        files_read=saved.files_read), meta, sent=c)
            except (OSError, CorruptBlob, ValueError) as e:
                log.warning("save of checkpoint %s (%s run %s) failed: %s", cid, c.session_id, c.run, e)
                await self._execute(cid, cp.RecordSaveFailed(**common, kind=c.kind, message=str(e)), None)
                raise StudiosError(f"Checkpoint {cid} ({state.name}) could not be saved: {e}") from None
        return Reply(position=done.position, result={**_result(done.state), "bytesWritten": saved.bytes_written,
                                                     "chunksWritten": saved.chunks_written,
                                                     "filesRead": saved.files_read})

    async def _created(self, c: SaveCheckpoint, cid: int, now: Any) -> cp.State:
        state, _ = await queries.checkpoint(self.store, cid)
        if state.exists:
            return state
        name = f"checkpoint_{c.run}"
        create = cp.Create(checkpoint_id=cid, session_id=c.session_id, now=now, actor=c.actor, run=c.run, name=name,
                           workspace_id=c.workspace_id, author_id=c.author_id, path=f"manifests/{cid}",
                           restored_from=c.restored_from, workspace=c.workspace, exclude=c.exclude)
        try:
            req = await names.reserve(self.store, NAME_CATEGORY, name_key(c.session_id, name), stream_name(cid), now,
                                      f"Checkpoint name {name}")
        except names.NameTaken:  # a rename took the default name: this one gets its id beside it
            name = f"{name}_{cid}"
            create = cp.Create(**{**create.__dict__, "name": name})
            req = await names.reserve(self.store, NAME_CATEGORY, name_key(c.session_id, name), stream_name(cid),
                                      now, f"Checkpoint name {name}")
        done = await self._execute(cid, create, None, also=lambda s, evs: [req] if evs and req else [])
        return done.state  # type: ignore[no-any-return]

    async def _base(self, state: cp.State) -> Manifest | None:
        """The manifest a save compares with: the checkpoint's own last save, else the one it was restored from."""
        ref = state.manifest
        if ref is None and state.restored_from is not None:
            source, _ = await queries.checkpoint(self.store, state.restored_from)
            ref = source.manifest if source.good else None
        if ref is None:
            return None
        try:
            return await self.engine.load(ref, cached=True)
        except CorruptBlob:
            return None  # then every file is read again

    # -- restore --------------------------------------------------------------------------------------------

    async def restore(self, c: RestoreCheckpoint, meta: CommandMeta | None = None) -> Reply:
        now = self.clock()
        target = await queries.studio_state(self.store, c.session_id)
        if target.status is StudioStatus.RUNNING:
            raise Conflict(f"Studio {c.session_id} is running: a checkpoint is restored only when a session starts")
        candidates = await queries.of_studio(self.store, c.session_id, c.run - 1)
        chosen = next((s for s in candidates if s.status in GOOD and s.manifest is not None), None)
        if chosen is None and c.initial_checkpoint_id is not None and not candidates:
            chosen, _ = await queries.checkpoint(self.store, c.initial_checkpoint_id)
            if not chosen.good or chosen.manifest is None:
                raise NotFound(f"Checkpoint {c.initial_checkpoint_id} is not there to restore "
                               f"({chosen.status if chosen.exists else 'unknown'})")
        if chosen is None or chosen.manifest is None:
            return Reply(result={"checkpointId": None})
        common: dict[str, Any] = {"checkpoint_id": chosen.checkpoint_id, "session_id": chosen.session_id,
                                  "now": now, "actor": c.actor}
        try:
            async with locks.shared(self.store):
                restored = await self.engine.restore(await self.engine.load(chosen.manifest), c.workspace, c.exclude)
        except CorruptBlob as e:
            await self._broken(chosen, e, common)
            raise CheckpointBroken(f"Checkpoint {chosen.checkpoint_id} ({chosen.name}) is damaged and was marked "
                                   f"invalid: {e}. Start the studio again to restore an earlier checkpoint.",
                                   checkpoint_id=chosen.checkpoint_id) from None
        done = await self._execute(chosen.checkpoint_id, cp.RecordRestore(
            **common, into_session_id=c.session_id, into_run=c.run, files=restored.files, size=restored.size),
            meta, sent=c)
        return Reply(position=done.position, result={
            "checkpointId": chosen.checkpoint_id, "checkpointName": chosen.name, "sessionId": chosen.session_id,
            "files": restored.files, "size": restored.size, "filesWritten": restored.files_written})

    async def _broken(self, chosen: cp.State, e: CorruptBlob, common: dict[str, Any]) -> None:
        log.error("checkpoint %s (%s) is damaged: %s", chosen.checkpoint_id, chosen.name, e)
        await self._execute(chosen.checkpoint_id, cp.Invalidate(**common, message=str(e)), None)
        if e.key.startswith("chunks/"):
            # a later save that meets this content writes the chunk again instead of trusting the damaged one
            await asyncio.to_thread(self.engine.store.delete, e.key)

    # -- rename, delete -------------------------------------------------------------------------------------

    async def rename(self, c: RenameCheckpoint, meta: CommandMeta | None = None) -> Reply:
        now = self.clock()
        state = await self._owned(c)
        new = cp.normalize_name(c.new_name)
        command = cp.Rename(checkpoint_id=c.checkpoint_id, session_id=c.session_id, now=now, actor=c.actor,
                            new_name=new)
        req = None
        if new != state.name:
            try:
                req = await names.reserve(self.store, NAME_CATEGORY, name_key(c.session_id, new),
                                          stream_name(c.checkpoint_id), now, f"Checkpoint name {new}")
            except names.NameTaken:
                raise Conflict(f"A checkpoint named {new} already exists for this studio", field="name") from None

        def also(s: cp.State, events: Any) -> list[Any]:
            if not events:
                return []
            release = names.release(NAME_CATEGORY, name_key(s.session_id, s.name), stream_name(s.checkpoint_id), now)
            return [r for r in (req, release) if r is not None]

        done = await self._execute(c.checkpoint_id, command, meta, sent=c, also=also)
        return Reply(position=done.position, result=_result(done.state))

    async def delete(self, c: DeleteCheckpoint, meta: CommandMeta | None = None) -> Reply:
        now = self.clock()
        state = await self._owned(c)
        studio = await queries.studio_state(self.store, c.session_id)
        live = studio.exists and not studio.deleted
        newest_good = next((s for s in await queries.of_studio(self.store, c.session_id, studio.run)
                            if s.status in GOOD and s.manifest is not None), None)
        command = cp.Delete(checkpoint_id=c.checkpoint_id, session_id=c.session_id, now=now, actor=c.actor,
                            last_good_of_live_studio=live and newest_good is not None
                            and newest_good.checkpoint_id == state.checkpoint_id)

        def also(s: cp.State, events: Any) -> list[Any]:
            return [names.release(NAME_CATEGORY, name_key(s.session_id, s.name), stream_name(s.checkpoint_id),
                                  now)] if events else []

        done = await self._execute(c.checkpoint_id, command, meta, sent=c, also=also)
        return Reply(position=done.position, result={"checkpointId": c.checkpoint_id, "deleted": True})

    async def _owned(self, c: RenameCheckpoint | DeleteCheckpoint) -> cp.State:
        state, _ = await queries.checkpoint(self.store, c.checkpoint_id)
        if not state.exists or state.deleted or state.session_id != c.session_id:
            raise NotFound(f"Checkpoint {c.checkpoint_id} not found for studio {c.session_id}")
        return state


def _result(state: cp.State, repeated: bool = False) -> dict[str, Any]:
    return {"checkpointId": state.checkpoint_id, "checkpointName": state.name, "status": state.status.value,
            "size": state.size, "files": state.file_count, "repeated": repeated}


def fresh(command: CheckpointCommand) -> CommandMeta:
    """The envelope of a command this service gives itself (the interim timer): a fresh id, nothing to repeat."""
    return CommandMeta(command_id=uuid.uuid4(), origin=SOURCE)
