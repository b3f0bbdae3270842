"""The session runner and reconciler against the real store: lifespan expiry, a vanished process, the git
repository pinned at creation, and data links in the workspace."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from libs.contracts.errors import InvalidInput
from libs.contracts.identity import DataLinkCreated
from libs.contracts.identity import stream as identity_stream
from libs.contracts.studio import RemoteConfig, StopReason, StudioConfiguration, StudioStatus, StudioTemplate
from libs.eventstore import EventStore, Expected, to_new_events
from services.lifecycle.backends import mounts
from services.lifecycle.backends.base import Handle
from services.lifecycle.backends.fake import FakeBackend
from services.lifecycle.backends.local import LocalBackend
from services.lifecycle.handlers import StudioHandlers
from services.lifecycle.sessions.provisioning import Provisioner
from services.lifecycle.sessions.reconciler import Reconciler
from services.lifecycle.sessions.runner import SessionRunner
from tests.integration.lifecycle_harness import create


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def parts(store: EventStore, tmp_path: Path) -> tuple[StudioHandlers, SessionRunner, Reconciler, FakeBackend, Clock]:
    clock = Clock()
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


async def test_a_vanished_process_is_recorded_stopped(parts: tuple) -> None:  # type: ignore[type-arg]
    handlers, runner, reconciler, backend, _ = parts
    sid = await _running(handlers, runner)
    [handle] = await backend.list_sessions()
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

    async def list_sessions(self) -> list[Handle]:
        snapshot = await super().list_sessions()
        runner, self.runner = self.runner, None  # once: the runner lists sessions itself while it starts
        if runner is not None:
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
    backend.runner = runner
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
             "> write.txt; python -c 'import resource; print(resource.getrlimit(resource.RLIMIT_AS)[0])' > limit.txt; "
             "python -c 'import os; print(len(os.sched_getaffinity(0)))' > cores.txt; "
             "exec python -m http.server --bind 127.0.0.1 $CONNECT_TOOL_PORT")
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
        assert int((ws / "limit.txt").read_text()) == 4096 * 1024 * 1024
        assert int((ws / "cores.txt").read_text()) == 1
        mounted = mounts.can_mount()
        assert (ws / "write.txt").read_text().strip() == ("refused" if mounted else "wrote")
        assert not (data / "new").exists() or not mounted
        warnings = state.progress[1].warnings
        assert (warnings == ()) if mounted else (mounts.SYMLINK_WARNING in warnings)
    finally:
        for handle in await backend.list_sessions():
            await backend.stop(handle, grace=2)
