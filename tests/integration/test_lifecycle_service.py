"""The lifecycle service over NATS with the real local backend: start, use, stop, delete, conflicts."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
import nats
import psutil
import pytest

from libs.bus.streams import Topology, delete_streams
from libs.contracts.errors import Conflict, InvalidInput, Unavailable
from libs.contracts.studio import (
    ProgressStatus,
    StopReason,
    StudioConfiguration,
    StudioStatus,
    StudioTemplate,
    stream_name,
)
from libs.contracts.studio_commands import DeleteStudio, StartStudio, StopStudio
from libs.contracts.studio_state import INITIAL, State, evolve
from libs.eventstore import EventStore, load
from libs.platform.signals import Stop
from services.lifecycle import main as lifecycle_main
from tests.integration.lifecycle_harness import Lifecycle, create, running_lifecycle


def _now() -> datetime:
    return datetime.now(UTC)


async def test_start_use_stop_delete(database_url: str, nats_url: str, tmp_path: Path) -> None:
    async with running_lifecycle(database_url, nats_url, tmp_path) as lc:
        cmd = create("echo-1")
        reply = await lc.send(cmd)
        assert reply.position and reply.result and reply.result["sessionId"] == cmd.session_id
        state = await lc.wait_status(cmd.session_id, StudioStatus.RUNNING)
        assert [p.status for p in state.progress] == [ProgressStatus.SUCCEEDED] * 5
        handle = state.handle or {}
        url = f"http://{handle['host']}:{handle['port']}/connect/{cmd.session_id}/hello"
        async with httpx.AsyncClient() as http:
            assert (await http.get(url, headers={"X-Studios-Secret": lc.secret(state)})).status_code == 200
            assert (await http.get(url)).status_code == 403

        with pytest.raises(Conflict):
            await lc.send(StartStudio(session_id=cmd.session_id, now=_now(), actor="1"))
        await lc.send(StopStudio(session_id=cmd.session_id, now=_now(), actor="1"))
        state = await lc.wait_status(cmd.session_id, StudioStatus.STOPPED)
        assert state.stop_reason is StopReason.USER_REQUEST
        async with httpx.AsyncClient() as http:
            with pytest.raises(httpx.ConnectError):
                await http.get(url)
        await lc.send(DeleteStudio(session_id=cmd.session_id, now=_now(), actor="1"))
        assert (await lc.state(cmd.session_id)).deleted
        # the name is free again once the studio is deleted
        await lc.send(create("echo-1", auto_start=False))


async def test_duplicate_name_and_bad_input_leave_the_store_unchanged(
        database_url: str, nats_url: str, tmp_path: Path) -> None:
    async with running_lifecycle(database_url, nats_url, tmp_path) as lc:
        await lc.send(create("taken", auto_start=False))
        before = await lc.store.pool.fetchval("SELECT count(*) FROM es.events")
        with pytest.raises(Conflict):
            await lc.send(create("taken", auto_start=False))
        with pytest.raises(Conflict):
            await lc.send(create("TAKEN", auto_start=False))
        with pytest.raises(InvalidInput):
            await lc.send(create("x" * 81, auto_start=False))
        assert await lc.store.pool.fetchval("SELECT count(*) FROM es.events") == before


async def test_a_tool_that_never_answers_ends_errored_with_a_reason(
        database_url: str, nats_url: str, tmp_path: Path) -> None:
    async with running_lifecycle(database_url, nats_url, tmp_path, STUDIOS_READY_TIMEOUT_SECONDS=2) as lc:
        # A custom command on a compute env that was never registered: allowed (no env events), but it
        # serves nothing, so the readiness probe gives up.
        cmd = create(f"silent-{uuid.uuid4().hex[:4]}",
                     template=StudioTemplate(repository="studios/custom:1", tool="custom"),
                     configuration=StudioConfiguration(command=("sleep", "60")))
        await lc.send(cmd)
        state = await lc.wait_status(cmd.session_id, StudioStatus.ERRORED, timeout=30)
        assert state.status_message and "did not answer" in state.status_message
        assert any(p.status is ProgressStatus.ERRORED for p in state.progress)


# -- restarts do no harm: SIGTERM leaves sessions to the next lifecycle; only a system shutdown stops them ----------

def _tool_alive(state: State) -> bool:
    handle = state.handle or {}
    return bool(handle) and psutil.pid_exists(int(handle["ident"])) and \
        psutil.Process(int(handle["ident"])).status() != psutil.STATUS_ZOMBIE


async def _answers(lc: Lifecycle, state: State) -> int:
    handle = state.handle or {}
    async with httpx.AsyncClient() as http:
        r = await http.get(f"http://{handle['host']}:{handle['port']}/connect/{state.session_id}/hello",
                           headers={"X-Studios-Secret": lc.secret(state)})
        return r.status_code


async def test_sigterm_leaves_sessions_running_and_the_next_lifecycle_adopts_them(
        database_url: str, nats_url: str, tmp_path: Path) -> None:
    topology = Topology.unique("lc")
    try:
        async with running_lifecycle(database_url, nats_url, tmp_path, topology=topology) as first:
            cmd = create("survivor")
            await first.send(cmd)
            before = await first.wait_status(cmd.session_id, StudioStatus.RUNNING)
            await first.exit(system_shutdown=False)
            with pytest.raises(Unavailable):  # it took no more commands once stopping
                await first.send(StopStudio(session_id=cmd.session_id, now=_now(), actor="1"))
            kept = await first.state(cmd.session_id)
            assert kept.status is StudioStatus.RUNNING and _tool_alive(kept)
            assert await _answers(first, kept) == 200

        # The next lifecycle's start-up reconciliation (done before it answers commands) adopts the session.
        async with running_lifecycle(database_url, nats_url, tmp_path, topology=topology) as second:
            adopted = await second.state(cmd.session_id)
            assert adopted.status is StudioStatus.RUNNING and adopted.run == before.run
            assert adopted.handle == before.handle and _tool_alive(adopted)
            assert await _answers(second, adopted) == 200
            await second.send(StopStudio(session_id=cmd.session_id, now=_now(), actor="1"))
            stopped = await second.wait_status(cmd.session_id, StudioStatus.STOPPED)
            assert stopped.stop_reason is StopReason.USER_REQUEST and not _tool_alive(before)
    finally:
        async with await nats.connect(nats_url) as nc:
            await delete_streams(nc.jetstream(), topology)


async def test_sigterm_finishes_a_start_under_way(database_url: str, nats_url: str, tmp_path: Path) -> None:
    # A tool that takes a moment before it answers, so the stop comes while the runner waits for it.
    slow = StudioConfiguration(command=("sh", "-c", 'sleep 1; exec python3 -m http.server "$CONNECT_TOOL_PORT"'))
    cmd = create("slow-start", template=StudioTemplate(repository="studios/custom:1", tool="custom"),
                 configuration=slow)
    async with running_lifecycle(database_url, nats_url, tmp_path) as lc:
        await lc.send(cmd)
        launched = await lc.wait_for(cmd.session_id, lambda s: s.status is StudioStatus.STARTING and len(
            s.progress) > 3 and s.progress[3].status is ProgressStatus.SUCCEEDED)
        assert launched.progress[4].status is not ProgressStatus.SUCCEEDED
        await lc.exit(system_shutdown=False)
        state = await lc.state(cmd.session_id)
        assert state.status is StudioStatus.RUNNING, state.status_message
        assert _tool_alive(state)
    # a second lifecycle, stopped as a system shutdown, leaves nothing behind
    async with running_lifecycle(database_url, nats_url, tmp_path) as lc:
        await lc.exit(system_shutdown=True)
        final = await lc.state(cmd.session_id)
        assert final.status is StudioStatus.STOPPED and final.stop_reason is StopReason.SHUTDOWN
        assert not _tool_alive(state)


async def test_a_system_shutdown_stops_every_session_with_reason_shutdown(
        database_url: str, nats_url: str, tmp_path: Path) -> None:
    async with running_lifecycle(database_url, nats_url, tmp_path) as lc:
        cmds = [create(f"down-{i}") for i in range(2)]
        for c in cmds:
            await lc.send(c)
        running = [await lc.wait_status(c.session_id, StudioStatus.RUNNING) for c in cmds]
        await lc.exit(system_shutdown=True)
        for before in running:
            after = await lc.state(before.session_id)
            assert after.status is StudioStatus.STOPPED and after.stop_reason is StopReason.SHUTDOWN
            assert not _tool_alive(before)


async def test_a_lifecycle_started_to_shut_down_stops_the_sessions_left_running(
        database_url: str, nats_url: str, tmp_path: Path, store: EventStore) -> None:
    # What the supervisor does when the system shuts down while lifecycle is between two restarts.
    async with running_lifecycle(database_url, nats_url, tmp_path, system_shutdown=False) as lc:
        cmd = create("left-running")
        await lc.send(cmd)
        left = await lc.wait_status(cmd.session_id, StudioStatus.RUNNING)
        settings = lc.settings.model_copy(update={"system_shutdown": True})
    assert _tool_alive(left)
    topology = Topology.unique("lc")
    try:
        await asyncio.wait_for(lifecycle_main.run(settings, Stop(), topology), 60)  # returns by itself
    finally:
        async with await nats.connect(nats_url) as nc:
            await delete_streams(nc.jetstream(), topology)
    final = (await load(store, stream_name(cmd.session_id), evolve, INITIAL))[0]
    assert final.status is StudioStatus.STOPPED and final.stop_reason is StopReason.SHUTDOWN
    assert not _tool_alive(left)
