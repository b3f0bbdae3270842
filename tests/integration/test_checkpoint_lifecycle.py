"""Lifecycle and the checkpoints service together (real PostgreSQL, NATS, local backend): a studio's files survive
a stop and a start on a fresh workspace, a clone starts from its initial checkpoint, and a damaged checkpoint
fails the start naming it while the next start restores an earlier one; a session whose process vanished while
no lifecycle ran is finalized by the reconciler before it is recorded stopped."""

from __future__ import annotations

import os
import shutil
import sys
from datetime import UTC, datetime
from pathlib import Path

import nats
import psutil

from libs.bus.streams import Topology, delete_streams
from libs.contracts.checkpoint import CheckpointStatus, checkpoint_id, stream_name
from libs.contracts.studio import ProgressStatus, StopReason, StudioConfiguration, StudioStatus, StudioTemplate
from libs.contracts.studio import stream_name as studio_stream
from libs.contracts.studio_commands import StartStudio, StopStudio
from libs.eventstore import load
from services.checkpoints import checkpoint as cp
from services.checkpoints.storage.chunks import chunk_key
from services.checkpoints.storage.engine import Engine
from tests.integration.checkpoint_helpers import fill_workspace, running_checkpoints, snapshot
from tests.integration.lifecycle_harness import Lifecycle, create, running_lifecycle

STEP = "Restoring checkpoint"


def now() -> datetime:
    return datetime.now(UTC)


async def stop(lc: Lifecycle, session: str) -> None:
    await lc.send(StopStudio(session_id=session, now=now(), actor="1"))
    await lc.wait_status(session, StudioStatus.STOPPED, timeout=180)


async def start(lc: Lifecycle, session: str, *statuses: StudioStatus) -> None:
    await lc.send(StartStudio(session_id=session, now=now(), actor="1"))
    await lc.wait_for(session, lambda s: s.status in (statuses or (StudioStatus.RUNNING,))
                      and s.progress[2].status is not ProgressStatus.PENDING, timeout=180)


async def test_files_survive_stop_and_start_and_a_clone_starts_from_the_checkpoint(
        database_url: str, nats_url: str, tmp_path: Path) -> None:
    async with running_checkpoints(database_url, nats_url, tmp_path), \
            running_lifecycle(database_url, nats_url, tmp_path) as lc:
        cmd = create("keeps-files")
        await lc.send(cmd)
        state = await lc.wait_status(cmd.session_id, StudioStatus.RUNNING, timeout=120)
        assert state.progress[2].message == STEP and state.progress[2].detail == "nothing to restore"
        ws = lc.settings.workspaces_dir / cmd.session_id
        fill_workspace(ws, big_mb=200)  # text, binary, an executable, a symlink, an empty folder, 200 MB
        expected = snapshot(ws)
        await stop(lc, cmd.session_id)
        first = (await load(lc.store, stream_name(checkpoint_id(cmd.session_id, 1)), cp.evolve, cp.INITIAL))[0]
        assert first.status is CheckpointStatus.FINALIZED and first.file_count == 4

        shutil.rmtree(ws)  # as on new compute: only the checkpoint knows the files
        await start(lc, cmd.session_id)
        state = await lc.state(cmd.session_id)
        assert (state.progress[2].detail or "").startswith("restored checkpoint_1")
        assert snapshot(ws) == expected

        clone = create("the-clone", initial_checkpoint_id=str(checkpoint_id(cmd.session_id, 1)))
        await lc.send(clone)
        await lc.wait_status(clone.session_id, StudioStatus.RUNNING, timeout=180)
        assert snapshot(lc.settings.workspaces_dir / clone.session_id) == expected
        for session in (cmd.session_id, clone.session_id):
            await stop(lc, session)


async def test_a_damaged_checkpoint_fails_the_start_naming_it_and_the_next_start_restores_an_earlier_one(
        database_url: str, nats_url: str, tmp_path: Path) -> None:
    async with running_checkpoints(database_url, nats_url, tmp_path), \
            running_lifecycle(database_url, nats_url, tmp_path) as lc:
        cmd = create("gets-damaged")
        await lc.send(cmd)
        await lc.wait_status(cmd.session_id, StudioStatus.RUNNING, timeout=120)
        ws = lc.settings.workspaces_dir / cmd.session_id
        (ws / "kept.txt").write_text("in both checkpoints\n")
        await stop(lc, cmd.session_id)  # checkpoint_1: kept.txt
        await start(lc, cmd.session_id)
        (ws / "lost.bin").write_bytes(os.urandom(100_000))
        await stop(lc, cmd.session_id)  # checkpoint_2: kept.txt and lost.bin
        second = (await load(lc.store, stream_name(checkpoint_id(cmd.session_id, 2)), cp.evolve, cp.INITIAL))[0]
        engine = Engine(str(tmp_path / "checkpoints"), workers=0)
        assert second.manifest is not None
        sha = next(e for e in (await engine.load(second.manifest)).files if e.path == "lost.bin").chunks[0][0]
        engine.close()
        (tmp_path / "checkpoints" / chunk_key(sha)).write_bytes(b"damaged")
        shutil.rmtree(ws)

        await start(lc, cmd.session_id, StudioStatus.ERRORED)
        failed = await lc.state(cmd.session_id)
        assert "checkpoint_2" in (failed.status_message or "") and "invalid" in (failed.status_message or "")
        assert failed.progress[2].status is ProgressStatus.ERRORED

        await start(lc, cmd.session_id)
        assert (ws / "kept.txt").read_text() == "in both checkpoints\n" and not (ws / "lost.bin").exists()
        await stop(lc, cmd.session_id)


#: serves HTTP in its workspace until a file named ``quit`` appears there, then writes ``notes.txt`` and dies with 3
DYING_TOOL = """
import http.server, os, pathlib, threading, time
srv = http.server.HTTPServer(("127.0.0.1", int(os.environ["CONNECT_TOOL_PORT"])), http.server.SimpleHTTPRequestHandler)
threading.Thread(target=srv.serve_forever, daemon=True).start()
while not pathlib.Path("quit").exists():
    time.sleep(0.02)
pathlib.Path("notes.txt").write_text("written just before the end\\n")
raise SystemExit(3)
"""


async def test_a_tool_that_dies_on_its_own_keeps_what_it_wrote_last(
        database_url: str, nats_url: str, tmp_path: Path) -> None:
    custom = StudioTemplate(repository="studios/custom:1", tool="custom", base_path=False)
    async with running_checkpoints(database_url, nats_url, tmp_path), \
            running_lifecycle(database_url, nats_url, tmp_path) as lc:
        cmd = create("dies-on-its-own", template=custom,
                     configuration=StudioConfiguration(command=(sys.executable, "-c", DYING_TOOL)))
        await lc.send(cmd)
        await lc.wait_status(cmd.session_id, StudioStatus.RUNNING, timeout=120)
        ws = lc.settings.workspaces_dir / cmd.session_id
        (ws / "quit").write_text("")
        state = await lc.wait_status(cmd.session_id, StudioStatus.ERRORED, timeout=120)
        assert "exited with code 3" in (state.status_message or "")
        final = (await load(lc.store, stream_name(checkpoint_id(cmd.session_id, 1)), cp.evolve, cp.INITIAL))[0]
        assert final.status is CheckpointStatus.FINALIZED  # the errored run's last save, taken after the tool died

        shutil.rmtree(ws)  # as on new compute: only the checkpoint knows the files
        await start(lc, cmd.session_id, StudioStatus.RUNNING, StudioStatus.ERRORED)
        assert (ws / "notes.txt").read_text() == "written just before the end\n"


async def test_a_session_the_reconciler_finds_gone_is_finalized_before_it_is_recorded_stopped(
        database_url: str, nats_url: str, tmp_path: Path) -> None:
    topology = Topology.unique("lc")  # shared by the two lifecycles: the second carries on the first's streams
    try:
        async with running_checkpoints(database_url, nats_url, tmp_path):
            async with running_lifecycle(database_url, nats_url, tmp_path, topology=topology) as first:
                cmd = create("vanishes")
                await first.send(cmd)
                running = await first.wait_status(cmd.session_id, StudioStatus.RUNNING, timeout=120)
                await first.exit(system_shutdown=False)  # a restart: the session runs on, unwatched
            # While no lifecycle runs, the tool dies; its workspace outlives it with what it wrote last.
            ws = first.settings.workspaces_dir / cmd.session_id
            (ws / "last-words.txt").write_text("written before the process vanished\n")
            tool = psutil.Process(int((running.handle or {})["ident"]))
            tool.kill()
            tool.wait(30)

            async with running_lifecycle(database_url, nats_url, tmp_path, topology=topology) as second:
                stopped = await second.wait_status(cmd.session_id, StudioStatus.STOPPED, timeout=120)
                assert stopped.stop_reason is StopReason.RECONCILED
                stream = stream_name(checkpoint_id(cmd.session_id, running.run))
                final = (await load(second.store, stream, cp.evolve, cp.INITIAL))[0]
                assert final.status is CheckpointStatus.FINALIZED and final.manifest is not None
                engine = Engine(str(tmp_path / "checkpoints"), workers=0)
                try:
                    saved = {e.path for e in (await engine.load(final.manifest)).files}
                finally:
                    engine.close()
                assert "last-words.txt" in saved
                # finalized first, then recorded stopped (and only then may its compute be given to another run)
                finalized_at = next(e.global_position for e in await second.store.read_stream(stream)
                                    if e.event_type == "CheckpointSaved" and e.data.get("kind") == "final")
                stopped_at = next(e.global_position for e in await second.store.read_stream(
                    studio_stream(cmd.session_id)) if e.event_type == "StudioSessionStopped")
                assert finalized_at < stopped_at
    finally:
        async with await nats.connect(nats_url) as nc:
            await delete_streams(nc.jetstream(), topology)
