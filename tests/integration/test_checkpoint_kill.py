"""The checkpoints service killed with SIGKILL (with its worker processes) in the middle of a save: the previous
checkpoint stays good, the next save succeeds, and after garbage collection no chunk is left that nothing
references and none is missing that something does."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import nats
import pytest

from libs.bus.commands import CommandClient
from libs.contracts.checkpoint import CheckpointStatus, SaveKind, checkpoint_id, stream_name
from libs.contracts.checkpoint_commands import CollectGarbage, RestoreCheckpoint, SaveCheckpoint
from libs.eventstore import EventStore, load
from libs.testing.waiting import wait_for
from services.checkpoints import checkpoint as cp
from services.checkpoints import queries
from services.checkpoints.storage.engine import Engine
from tests.integration.checkpoint_helpers import fill_workspace, snapshot

pytestmark = pytest.mark.slow


@contextmanager
def service(database_url: str, nats_url: str, data_dir: Path) -> Iterator[subprocess.Popen[bytes]]:
    env = {**os.environ, "DATABASE_URL": database_url, "NATS_URL": nats_url, "STUDIOS_DATA_DIR": str(data_dir),
           "STUDIOS_CHECKPOINT_WORKERS": "2", "STUDIOS_CHECKPOINT_GC_INTERVAL_SECONDS": "0"}
    # a session of its own, so the kill takes its worker processes too, as a machine failure would
    proc = subprocess.Popen([sys.executable, "-m", "services.checkpoints"], env=env, start_new_session=True)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(30)


async def answering(client: CommandClient) -> None:
    async def probe() -> bool | None:
        try:
            await client.nc.request("studios.cmd.checkpoints.rename_checkpoint", b"{}", timeout=0.5)
            return True
        except Exception:
            return None

    await wait_for(probe, within=60, what="the checkpoints service answers")


def chunk_files(root: Path) -> int:
    return sum(len(files) for _, _, files in os.walk(root / "chunks")) if (root / "chunks").exists() else 0


async def test_sigkill_during_a_save_loses_nothing(database_url: str, nats_url: str, tmp_path: Path,
                                                   store: EventStore) -> None:
    s, ws, blobs = uuid.uuid4().hex[:8], tmp_path / "ws", tmp_path / "checkpoints"
    fill_workspace(ws, big_mb=2)

    def save() -> SaveCheckpoint:
        return SaveCheckpoint(session_id=s, now=datetime.now(UTC), actor="lifecycle", run=1, kind=SaveKind.INTERIM,
                              workspace=str(ws), workspace_id="1", author_id="1")

    nc = await nats.connect(nats_url)
    client = CommandClient(nc, timeout=300)
    try:
        with service(database_url, nats_url, tmp_path) as proc:
            await answering(client)
            await client.send(save())
            good = (await load(store, stream_name(checkpoint_id(s, 1)), cp.evolve, cp.INITIAL))[0]
            before = chunk_files(blobs)
            with open(ws / "large.bin", "wb") as f:  # noqa: ASYNC230 - test setup
                for _ in range(160):
                    f.write(os.urandom(1 << 20))
            pending = asyncio.create_task(client.send(save()))
            await wait_for(lambda: chunk_files(blobs) > before + 3 or None, within=120, what="the save under way")
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(30)
            assert not pending.done()  # killed before it answered
            pending.cancel()  # no reply will ever come
        after_kill = (await load(store, stream_name(checkpoint_id(s, 1)), cp.evolve, cp.INITIAL))[0]
        assert after_kill.manifest == good.manifest and after_kill.status is CheckpointStatus.INTERIM

        with service(database_url, nats_url, tmp_path):
            await answering(client)
            reply = await client.send(save())
            assert reply.result is not None and reply.result["files"] == 5
            collected = await wait_for(lambda: _collect(client), within=60, what="garbage collection ran")
            assert collected >= 0
            out = tmp_path / "restored"
            await client.send(RestoreCheckpoint(session_id=s, now=datetime.now(UTC), actor="lifecycle", run=2,
                                                workspace=str(out)))
            assert snapshot(out) == snapshot(ws)
        await _exactly_the_referenced_chunks(store, blobs)
    finally:
        await nc.close()


async def _collect(client: CommandClient) -> int | None:
    reply = await client.send(CollectGarbage(now=datetime.now(UTC), actor="test", grace_seconds=0))
    result = reply.result or {}
    return int(result["chunksDeleted"]) if result.get("ran") else None


async def _exactly_the_referenced_chunks(store: EventStore, blobs: Path) -> None:
    engine = Engine(str(blobs), workers=0)
    try:
        wanted: set[str] = set()
        for state in await queries.everything(store):
            if state.good and state.manifest is not None:
                wanted |= (await engine.load(state.manifest)).chunk_ids()
        stored = {b.key.rsplit("/", 1)[-1] for b in engine.store.list("chunks/")}
        assert stored == wanted  # nothing unreferenced left, nothing referenced missing
    finally:
        engine.close()
