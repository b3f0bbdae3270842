"""The checkpoints service over NATS on real PostgreSQL: save, restore, rename, delete and garbage collection,
as lifecycle and the gateway use them."""

from __future__ import annotations

import os
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from libs.bus.commands import CommandClient
from libs.contracts.checkpoint import CheckpointStatus, SaveKind, checkpoint_id, stream_name
from libs.contracts.checkpoint_commands import (
    CollectGarbage,
    DeleteCheckpoint,
    RenameCheckpoint,
    RestoreCheckpoint,
    SaveCheckpoint,
)
from libs.contracts.errors import Conflict, NotFound, StudiosError
from libs.contracts.studio import StudioCreated, StudioTemplate
from libs.contracts.studio import stream_name as studio_stream
from libs.eventstore import AppendRequest, EventStore, Expected, load, to_new_events
from services.checkpoints import checkpoint as cp
from services.checkpoints.storage.chunks import chunk_key
from services.checkpoints.storage.engine import Engine
from tests.integration.checkpoint_helpers import fill_workspace, running_checkpoints, snapshot


def now() -> datetime:
    return datetime.now(UTC)


def save(session: str, run: int, ws: Path, kind: SaveKind = SaveKind.INTERIM, **kw: Any) -> SaveCheckpoint:
    return SaveCheckpoint(session_id=session, now=now(), actor="lifecycle", run=run, kind=kind, workspace=str(ws),
                          workspace_id="1", author_id="1", **kw)


def restore(session: str, run: int, ws: Path, **kw: Any) -> RestoreCheckpoint:
    return RestoreCheckpoint(session_id=session, now=now(), actor="lifecycle", run=run, workspace=str(ws), **kw)


async def state(store: EventStore, session: str, run: int) -> cp.State:
    return (await load(store, stream_name(checkpoint_id(session, run)), cp.evolve, cp.INITIAL))[0]


async def studio(store: EventStore, session: str) -> None:
    created = StudioCreated(session_id=session, at=now(), actor="1", workspace_id="1", user_id="1", name=session,
                            compute_env_id="local", template=StudioTemplate(repository="x", tool="custom"),
                            configuration={}, effective_lifespan_hours=0)
    await store.append_many([AppendRequest(studio_stream(session), to_new_events([created]), Expected.NO_STREAM)])


@pytest.fixture
async def service(database_url: str, nats_url: str, tmp_path: Path) -> Any:
    async with running_checkpoints(database_url, nats_url, tmp_path) as client:
        yield client


async def test_a_stopped_studio_restores_byte_for_byte_into_a_fresh_workspace(
        service: CommandClient, store: EventStore, tmp_path: Path) -> None:
    s, ws = uuid.uuid4().hex[:8], tmp_path / "ws"
    fill_workspace(ws)
    assert (await service.send(save(s, 1, ws, SaveKind.START))).result["status"] == "interim"
    await service.send(save(s, 1, ws, SaveKind.FINAL))
    assert (await state(store, s, 1)).status is CheckpointStatus.FINALIZED
    out = tmp_path / "run2"
    reply = await service.send(restore(s, 2, out))
    assert reply.result["checkpointId"] == checkpoint_id(s, 1) and reply.result["files"] == 4
    assert snapshot(out) == snapshot(ws)
    # the next run's first save starts from what was restored: nothing is read or written again
    again = await service.send(save(s, 2, out, SaveKind.START, restored_from=checkpoint_id(s, 1)))
    assert again.result["filesRead"] == 0 and again.result["chunksWritten"] == 0


async def test_a_clone_restores_its_initial_checkpoint(service: CommandClient, tmp_path: Path) -> None:
    source, clone, ws = uuid.uuid4().hex[:8], uuid.uuid4().hex[:8], tmp_path / "ws"
    fill_workspace(ws)
    await service.send(save(source, 1, ws, SaveKind.FINAL))
    reply = await service.send(restore(clone, 1, tmp_path / "clone", initial_checkpoint_id=checkpoint_id(source, 1)))
    assert reply.result["sessionId"] == source and reply.result["checkpointName"] == "checkpoint_1"
    assert snapshot(tmp_path / "clone") == snapshot(ws)
    with pytest.raises(NotFound):
        await service.send(restore(uuid.uuid4().hex[:8], 1, tmp_path / "x", initial_checkpoint_id=12345))


async def test_two_interim_saves_of_an_unchanged_workspace_write_no_chunk(service: CommandClient,
                                                                          tmp_path: Path) -> None:
    s, ws = uuid.uuid4().hex[:8], tmp_path / "ws"
    fill_workspace(ws)
    first = await service.send(save(s, 1, ws))
    second = await service.send(save(s, 1, ws))
    assert first.result["chunksWritten"] > 0
    assert second.result["chunksWritten"] == 0 and second.result["filesRead"] == 0


async def test_a_corrupted_chunk_invalidates_that_checkpoint_and_the_next_start_uses_an_earlier_one(
        service: CommandClient, store: EventStore, tmp_path: Path) -> None:
    s, ws = uuid.uuid4().hex[:8], tmp_path / "ws"
    fill_workspace(ws)
    await service.send(save(s, 1, ws, SaveKind.FINAL))
    (ws / "new.bin").write_bytes(os.urandom(200_000))  # a chunk only run 2's checkpoint holds
    await service.send(save(s, 2, ws, SaveKind.FINAL))
    engine = Engine(str(tmp_path / "checkpoints"), workers=0)
    manifest = await engine.load((await state(store, s, 2)).manifest)  # type: ignore[arg-type]
    sha = next(e for e in manifest.files if e.path == "new.bin").chunks[0][0]
    (tmp_path / "checkpoints" / chunk_key(sha)).write_bytes(b"\x28\xb5\x2f\xfd garbage")
    with pytest.raises(StudiosError) as failed:
        await service.send(restore(s, 3, tmp_path / "run3"))
    assert failed.value.code == "checkpoint_invalid" and "checkpoint_2" in str(failed.value)
    assert (await state(store, s, 2)).status is CheckpointStatus.INVALID
    assert (await state(store, s, 1)).status is CheckpointStatus.FINALIZED  # nothing else is lost
    reply = await service.send(restore(s, 3, tmp_path / "run3"))
    assert reply.result["checkpointId"] == checkpoint_id(s, 1)
    assert not (tmp_path / "run3" / "new.bin").exists() and (tmp_path / "run3" / "big.dat").exists()
    engine.close()


async def test_rename_is_unique_per_studio(service: CommandClient, store: EventStore, tmp_path: Path) -> None:
    s, ws = uuid.uuid4().hex[:8], tmp_path / "ws"
    fill_workspace(ws, big_mb=1)
    await service.send(save(s, 1, ws, SaveKind.FINAL))
    await service.send(save(s, 2, ws, SaveKind.FINAL))
    rename = RenameCheckpoint(session_id=s, now=now(), actor="1", checkpoint_id=checkpoint_id(s, 1),
                              new_name="before upgrade")
    assert (await service.send(rename)).result["checkpointName"] == "before_upgrade"
    with pytest.raises(Conflict):
        await service.send(rename.model_copy(update={"checkpoint_id": checkpoint_id(s, 2)}))
    # the old name is free again
    await service.send(rename.model_copy(update={"checkpoint_id": checkpoint_id(s, 2), "new_name": "checkpoint_1"}))
    with pytest.raises(NotFound):  # a checkpoint of another studio is not reached through this one
        await service.send(rename.model_copy(update={"session_id": "other"}))


async def test_delete_spares_the_latest_good_and_gc_leaves_exactly_what_is_referenced(
        service: CommandClient, store: EventStore, tmp_path: Path) -> None:
    s, ws = uuid.uuid4().hex[:8], tmp_path / "ws"
    await studio(store, s)
    fill_workspace(ws, big_mb=2)
    (ws / "only-in-1.bin").write_bytes(os.urandom(300_000))
    await service.send(save(s, 1, ws, SaveKind.FINAL))
    (ws / "only-in-1.bin").unlink()
    await service.send(save(s, 2, ws, SaveKind.FINAL))
    # the studio stream names no runs here, so the service looks at none: record them as lifecycle would
    await _runs(store, s, 2)
    with pytest.raises(Conflict):
        await service.send(DeleteCheckpoint(session_id=s, now=now(), actor="1", checkpoint_id=checkpoint_id(s, 2)))
    await service.send(DeleteCheckpoint(session_id=s, now=now(), actor="1", checkpoint_id=checkpoint_id(s, 1)))
    collected = await service.send(CollectGarbage(now=now(), actor="1", grace_seconds=0))
    assert collected.result["chunksDeleted"] >= 1
    await _all_referenced_and_nothing_else(store, tmp_path / "checkpoints")
    out = tmp_path / "again"
    await service.send(restore(s, 3, out))
    assert snapshot(out) == snapshot(ws)


async def _runs(store: EventStore, session: str, runs: int) -> None:
    from libs.contracts.studio import StudioConfiguration, StudioStartRequested

    template = StudioTemplate(repository="x", tool="custom")
    events = [StudioStartRequested(session_id=session, at=now(), actor="1", run=r, compute_env_id="local",
                                   template=template, configuration=StudioConfiguration(),
                                   effective_lifespan_hours=0, progress_steps=()) for r in range(1, runs + 1)]
    await store.append_many([AppendRequest(studio_stream(session), to_new_events(events), Expected.ANY)])


async def _all_referenced_and_nothing_else(store: EventStore, root: Path) -> None:
    from services.checkpoints import queries

    engine = Engine(str(root), workers=0)
    try:
        wanted: set[str] = set()
        for st in await queries.everything(store):
            if st.good and st.manifest is not None:
                wanted |= (await engine.load(st.manifest)).chunk_ids()
        stored = {b.key.rsplit("/", 1)[-1] for b in engine.store.list("chunks/")}
        assert stored == wanted
    finally:
        engine.close()


async def test_a_retried_save_with_its_command_id_answers_the_first_result(service: CommandClient,
                                                                           store: EventStore, tmp_path: Path) -> None:
    from libs.contracts.commands import CommandMeta

    s, ws = uuid.uuid4().hex[:8], tmp_path / "ws"
    fill_workspace(ws, big_mb=1)
    meta = CommandMeta()
    first = await service.send(save(s, 1, ws), meta=meta)
    (ws / "later.txt").write_text("after the first save")
    again = await service.send(save(s, 1, ws), meta=meta)
    assert again.result == {"checkpointId": checkpoint_id(s, 1), "repeated": True}
    assert again.position == first.position
    assert (await state(store, s, 1)).file_count == 4  # nothing was saved twice
