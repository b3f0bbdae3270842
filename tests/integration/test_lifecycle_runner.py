"""The session runner and reconciler against the real store: lifespan expiry, a vanished process, the git
repository pinned at creation, and data links in the workspace."""

from __future__ import annotations

import asyncio
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psutil
import pytest

from libs.contracts.errors import InvalidInput
from libs.contracts.identity import DataLinkCreated
from libs.contracts.identity import stream as identity_stream
from libs.contracts.studio import (
    RemoteConfig,
    StopReason,
    StudioConfiguration,
    StudioStatus,
    StudioTemplate,
    stream_name,
)
from libs.contracts.studio_state import State
from libs.eventstore import EventStore, Expected, to_new_events
from libs.testing.fakes import ManualClock
from libs.testing.waiting import wait_for
from services.lifecycle.backends import mounts, ports, processes
from services.lifecycle.backends.base import Handle
from services.lifecycle.backends.fake import FakeBackend
from services.lifecycle.backends.local import LocalBackend
from services.lifecycle.handlers import StudioHandlers
from services.lifecycle.sessions.provisioning import Provisioner
from services.lifecycle.sessions.reconciler import Reconciler
from services.lifecycle.sessions.runner import SessionRunner
from tests.integration.lifecycle_harness import create


@pytest.fixture
def parts(store: EventStore,
          tmp_path: Path) -> tuple[StudioHandlers, SessionRunner, Reconciler, FakeBackend, ManualClock]:
    clock = ManualClock(datetime.now(UTC))
    handlers = StudioHandlers(store, clock=clock)
    backend = FakeBackend()
    runner = SessionRunner(handlers, backend, Provisioner(store, tmp_path / "ws", b"k" * 32))
    return handlers, runner, Reconciler(store, handlers, runner, backend, clock=clock), backend, clock


async def _running(handlers: StudioHandlers, runner: SessionRunner, **fields: object) -> str:
    cmd = create("r-" + datetime.now(UTC).strftime("%H%M%S%f"), **fields)
    await handlers.handle(cmd)
    runner.start(cmd.session_id, 1)
    await runner.drain()
    state = await handlers.state(cmd.session_id)
    assert state.status is StudioStatus.RUNNING, state.status_message
    return cmd.session_id


async def test_lifespan_expiry_stops_the_session(parts: tuple) -> None:  # type: ignore[type-arg]
    handlers, runner, reconciler, backend, clock = parts
    sid = await _running(handlers, runner, configuration=StudioConfiguration(lifespan_hours=1))
    await reconciler.run_once()
    assert (await handlers.state(sid)).status is StudioStatus.RUNNING
    clock.now += timedelta(hours=1, minutes=1)
    await reconciler.run_once()
    await runner.drain()
    state = await handlers.state(sid)
    assert state.status is StudioStatus.STOPPED and state.stop_reason is StopReason.LIFESPAN_EXPIRED
    assert not await backend.list_sessions()


async def test_an_idle_session_is_stopped_after_the_idle_timeout(parts: tuple) -> None:  # type: ignore[type-arg]
    handlers, runner, reconciler, _, clock = parts
    reconciler.idle_timeout = timedelta(minutes=30)
    sid = await _running(handlers, runner)
    clock.now += timedelta(minutes=29)
    await reconciler.run_once()
    assert (await handlers.state(sid)).status is StudioStatus.RUNNING
    clock.now += timedelta(minutes=2)
    await reconciler.run_once()
    await runner.drain()
    state = await handlers.state(sid)
    assert state.status is StudioStatus.STOPPED and state.stop_reason is StopReason.IDLE_TIMEOUT


async def test_a_tool_that_dies_is_errored_by_its_watcher_without_a_reconcile_pass(
        parts: tuple) -> None:  # type: ignore[type-arg]
    handlers, runner, _, backend, _ = parts
    sid = await _running(handlers, runner)
    [handle] = await backend.list_sessions()
    backend.output_by_session[handle.session_id] = b"starting\nout of cheese\n"
    backend.crash(handle, 3)
    state = await _until_status(handlers, sid, StudioStatus.ERRORED)
    assert (state.exit_code, state.stop_reason) == (3, StopReason.ERROR)
    assert state.status_message == "The tool exited with code 3. Last output:\nstarting\nout of cheese"
    assert state.usage is not None
    assert backend.stopped[-1] == handle  # what it left behind was stopped too


async def test_a_session_adopted_after_a_restart_is_watched_too(store: EventStore, tmp_path: Path) -> None:
    handlers = StudioHandlers(store)
    backend = FakeBackend()
    first = SessionRunner(handlers, backend, Provisioner(store, tmp_path / "ws", b"k" * 32))
    sid = await _running(handlers, first)
    first.watcher.close()  # that lifecycle is gone; its sessions run on
    restarted = SessionRunner(handlers, backend, Provisioner(store, tmp_path / "ws", b"k" * 32))
    await Reconciler(store, handlers, restarted, backend).run_once()
    assert restarted.watcher.watching(sid)
    [handle] = await backend.list_sessions()
    backend.crash(handle, 2)
    state = await _until_status(handlers, sid, StudioStatus.ERRORED)
    assert (state.exit_code, state.stop_reason) == (2, StopReason.ERROR)


async def test_an_unwatched_vanished_process_is_recorded_stopped_by_the_reconciler(
        parts: tuple) -> None:  # type: ignore[type-arg]
    handlers, runner, reconciler, backend, _ = parts
    sid = await _running(handlers, runner)
    [handle] = await backend.list_sessions()
    runner.watcher.close()  # as when the process vanished while no lifecycle was running
    backend.crash(handle, 137)
    await reconciler.run_once()
    state = await handlers.state(sid)
    assert state.status is StudioStatus.STOPPED and state.stop_reason is StopReason.RECONCILED
    assert state.status_message


class _StartsDuringListing(FakeBackend):
    """The session finishes starting while the reconciler lists processes, after the snapshot was taken."""

    def __init__(self) -> None:
        super().__init__()
        self.runner: SessionRunner | None = None
        self.reconciling: asyncio.Task[object] | None = None  # the task whose listing lets the start finish

    async def list_sessions(self) -> list[Handle]:
        snapshot = await super().list_sessions()
        # Only the reconciler's listing waits for the start: the start lists sessions too (to adopt a process of
        # its run), and it waiting for itself would never end, whichever of the two lists first.
        if self.runner is not None and asyncio.current_task() is self.reconciling:
            runner, self.runner = self.runner, None
            await runner.drain()
        return snapshot


async def test_a_session_that_starts_during_a_pass_is_neither_recorded_stopped_nor_killed(
        store: EventStore, tmp_path: Path) -> None:
    handlers = StudioHandlers(store)
    backend = _StartsDuringListing()
    runner = SessionRunner(handlers, backend, Provisioner(store, tmp_path / "ws", b"k" * 32))
    reconciler = Reconciler(store, handlers, runner, backend)
    cmd = create("during-a-pass")
    await handlers.handle(cmd)
    runner.start(cmd.session_id, 1)
    backend.runner, backend.reconciling = runner, asyncio.current_task()
    await reconciler.run_once()
    assert backend.runner is None, "the pass never listed the sessions"
    await reconciler.run_once()
    await runner.drain()
    assert (await handlers.state(cmd.session_id)).status is StudioStatus.RUNNING
    assert [h.session_id for h in await backend.list_sessions()] == [f"{cmd.session_id}-1"]
    assert not backend.stopped


def _git(*args: str, cwd: Path) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


async def test_repository_is_pinned_at_creation(parts: tuple, tmp_path: Path) -> None:  # type: ignore[type-arg]
    handlers, runner, _, _, _ = parts
    repo = tmp_path / "analysis"
    repo.mkdir()
    _git("init", "-q", "-b", "main", cwd=repo)
    (repo / "notebook.py").write_text("v1\n")
    _git("add", ".", cwd=repo)
    _git("-c", "user.email=a@b", "-c", "user.name=a", "commit", "-qm", "v1", cwd=repo)
    first = _git("rev-parse", "HEAD", cwd=repo)
    sid = await _running(handlers, runner, remote_config=RemoteConfig(repository=str(repo), revision="main"))
    assert (await handlers.state(sid)).remote_config.commit_id == first  # type: ignore[union-attr]
    (repo / "notebook.py").write_text("v2\n")
    _git("-c", "user.email=a@b", "-c", "user.name=a", "commit", "-qam", "v2", cwd=repo)
    clone = tmp_path / "ws" / sid / "analysis"
    assert (clone / "notebook.py").read_text() == "v1\n"
    with pytest.raises(InvalidInput):
        await handlers.handle(create("bad-repo", remote_config=RemoteConfig(repository=str(tmp_path / "none"))))


async def test_data_links_are_read_only_in_the_workspace(store: EventStore, tmp_path: Path) -> None:
    """A real tool process: it reads the data link and cannot write into it, and runs under its memory limit."""
    data = tmp_path / "reference"
    data.mkdir()
    (data / "genome.fa").write_text(">chr1\nACGT\n")
    link = DataLinkCreated(data_link_id="dl-1", workspace_id=1, name="reference", resource_ref=f"file://{data}",
                           provider="local", at=datetime.now(UTC), actor="1")
    await store.append(identity_stream("datalink", "dl-1"), to_new_events([link]), Expected.NO_STREAM)
    handlers = StudioHandlers(store)
    backend = LocalBackend(tmp_path / "state", grace=2)
    runner = SessionRunner(handlers, backend, Provisioner(store, tmp_path / "ws", b"k" * 32))
    probe = ("cat data/reference/genome.fa > seen.txt; (touch data/reference/new && echo wrote || echo refused) "
             "> write.txt; exec python -m http.server --bind 127.0.0.1 $CONNECT_TOOL_PORT")
    cmd = create("mounted", template=StudioTemplate(repository="studios/custom:1", tool="custom"),
                 configuration=StudioConfiguration(mount_data=("dl-1",), memory=4096, cpu=1,
                                                   command=("sh", "-c", probe)))
    await handlers.handle(cmd)
    runner.start(cmd.session_id, 1)
    await runner.drain()
    try:
        state = await handlers.state(cmd.session_id)
        assert state.status is StudioStatus.RUNNING, state.status_message
        ws = tmp_path / "ws" / cmd.session_id
        assert (ws / "seen.txt").read_text().startswith(">chr1")
        handle = Handle.from_dict(state.handle or {})
        group = backend.records.group(handle.session_id)
        if backend.layout is not None:  # the launch step says which enforcement applied
            assert group is not None and int(handle.ident) in group.pids()
            assert state.progress[3].detail == (f"limits: cgroup v{group.version}, cpu quota 1 core(s), "
                                                "memory 4096 MiB resident")
        else:
            assert "RLIMIT_AS 4096 MiB" in (state.progress[3].detail or "")
        mounted = mounts.can_mount()
        assert (ws / "write.txt").read_text().strip() == ("refused" if mounted else "wrote")
        assert not (data / "new").exists() or not mounted
        warnings = state.progress[1].warnings
        assert (warnings == ()) if mounted else (mounts.SYMLINK_WARNING in warnings)
    finally:
        for handle in await backend.list_sessions():
            await backend.stop(handle, grace=2)


async def _until_status(handlers: StudioHandlers, sid: str, status: StudioStatus, within: float = 20.0) -> State:
    state: State = await wait_for(lambda: handlers.state(sid), within, 0.05, until=lambda s: s.status is status,
                                  what=f"{sid} {status}")
    return state


async def test_a_tool_that_exits_leaving_a_child_is_errored_with_its_code_and_leaves_nothing(
        store: EventStore, tmp_path: Path) -> None:
    """Issue 6 §7: the main process backgrounds a server and exits 7; the studio says so, and nothing is left."""
    handlers = StudioHandlers(store)
    backend = LocalBackend(tmp_path / "state", grace=2)
    runner = SessionRunner(handlers, backend, Provisioner(store, tmp_path / "ws", b"k" * 32))
    script = 'python3 -m http.server "$CONNECT_TOOL_PORT" & sleep 2; exit 7'
    cmd = create("exits-7", template=StudioTemplate(repository="studios/custom:1", tool="custom"),
                 configuration=StudioConfiguration(cpu=1, memory=1024, command=("sh", "-c", script)))
    try:
        await handlers.handle(cmd)
        runner.start(cmd.session_id, 1)
        await runner.drain()
        running = await handlers.state(cmd.session_id)
        assert running.status is StudioStatus.RUNNING, running.status_message
        handle = Handle.from_dict(running.handle or {})
        started = set(processes.group_members(int(handle.ident)))
        assert len(started) >= 2  # the shell, its server (and its sleep)

        state = await _until_status(handlers, cmd.session_id, StudioStatus.ERRORED)  # no reconciler in this test

        assert (state.exit_code, state.stop_reason) == (7, StopReason.ERROR)
        assert state.status_message is not None and state.status_message.startswith("The tool exited with code 7.")
        assert "Serving HTTP" in state.status_message  # its last output lines
        assert state.usage is not None and state.usage.peak_memory_mb > 0
        stopped = [r for r in await store.read_stream(stream_name(cmd.session_id))
                   if r.event_type == "StudioSessionStopped"]
        assert stopped[-1].data["reason"] == "the tool exited with code 7 on its own"
        await wait_for(lambda: not any(psutil.pid_exists(p) and not _zombie(p) for p in started), 20, 0.05,
                       until=bool, what="every process of the studio gone")
        assert not ports.listening(handle.port)
        assert await backend.list_sessions() == []
    finally:  # a failed assertion must not leave the tool running
        for leftover in list(backend.records.handles()):
            await backend.stop(leftover, grace=1)


def _zombie(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True
