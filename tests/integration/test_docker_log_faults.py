"""The docker backend's log copy against an engine whose follows misbehave (libs/testing/faulty_engine.py, a proxy
in front of the real Podman): a follow that loses its connection is followed again, one the engine never ends is
cut once the container ended and stayed quiet, and a wait for the container's end that loses its connection is
asked again. Either way the files end equal to the container's log, nothing
lost or twice, and the copy ends."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from libs.logs.tail import stderr_path
from libs.testing.faulty_engine import FaultyEngine, faulty_engine
from libs.testing.podman import Engine
from libs.testing.waiting import wait_for
from services.lifecycle.backends import engine as engine_calls
from services.lifecycle.backends.docker import DockerBackend
from tests.integration.test_docker_backend import spec_for

SCRIPT = "echo working; echo 'no such table' >&2; echo done; exit 3"


@pytest.fixture
async def faulty(docker_engine: Engine, tmp_path_factory: pytest.TempPathFactory
                 ) -> AsyncIterator[FaultyEngine]:
    async with faulty_engine(docker_engine.url, tmp_path_factory.mktemp("fe")) as engine:
        yield engine


@pytest.fixture
async def docker(faulty: FaultyEngine, docker_engine: Engine, tmp_path: Path
                 ) -> AsyncIterator[DockerBackend]:
    backend = DockerBackend(tmp_path / "state", faulty.url, default_image=docker_engine.image, scope=tmp_path.name,
                            grace=5.0)
    yield backend
    for handle in await backend.list_sessions():
        await backend.stop(handle, grace=1.0)
    await backend.close()


async def _copied(docker: DockerBackend, session_id: str) -> None:
    """The copy task ends (``finish`` waits for it) and the two files hold the container's whole log."""
    out = docker.log_path(session_id)
    task = docker.logs._copies[session_id]
    await wait_for(task.done, until=bool, what="the log copy ended")
    assert task.exception() is None
    assert out.read_text() == "working\ndone\n"
    assert stderr_path(out).read_text() == "no such table\n"


async def test_a_follow_that_loses_its_connection_is_followed_again(docker: DockerBackend, faulty: FaultyEngine,
                                                                     tmp_path: Path) -> None:
    faulty.break_follows = 2  # the first follow of each stream: one frame, then the connection drops
    handle = await docker.launch(spec_for(tmp_path, ["sh", "-c", SCRIPT]))
    status = await asyncio.wait_for(docker.wait(handle), 30)
    await _copied(docker, handle.session_id)
    assert faulty.break_follows == 0 and faulty.follows > 2
    assert status.exit_code == 3


async def test_a_follow_the_engine_never_ends_is_cut_after_the_container_ended(
        docker: DockerBackend, faulty: FaultyEngine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engine_calls, "FOLLOW_AFTER_END", 0.3)
    faulty.hold_follows = True  # every follow stays open after the engine ended it
    handle = await docker.launch(spec_for(tmp_path, ["sh", "-c", f"sleep 1; {SCRIPT}"]))
    await asyncio.wait_for(docker.wait(handle), 30)
    await _copied(docker, handle.session_id)


async def test_a_wait_that_loses_its_connection_is_asked_again(docker: DockerBackend, faulty: FaultyEngine,
                                                               tmp_path: Path) -> None:
    """Lifecycle's wait for the tool's end and the log copy's both: the run's end is still recorded with its exit
    code (not left to reconciliation), and the copy still ends with the whole log."""
    faulty.break_waits = 2
    handle = await docker.launch(spec_for(tmp_path, ["sh", "-c", f"sleep 1; {SCRIPT}"]))
    status = await asyncio.wait_for(docker.wait(handle), 30)
    assert status.exit_code == 3  # the tool's end, not a wait cut while it ran (which stopped the session once)
    await _copied(docker, handle.session_id)
    assert faulty.break_waits == 0 and faulty.waits >= 4  # two cut, and each asked again


async def test_a_wait_the_engine_never_answers_ends_once_the_container_has(
        docker: DockerBackend, faulty: FaultyEngine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A wait that missed the end (as a follow can) is cut after ``WAIT_POLL`` and the container's state read."""
    monkeypatch.setattr(engine_calls, "WAIT_POLL", 0.3)
    faulty.hold_waits = True
    handle = await docker.launch(spec_for(tmp_path, ["sh", "-c", f"sleep 1; {SCRIPT}"]))
    status = await asyncio.wait_for(docker.wait(handle), 30)
    assert status.exit_code == 3
    await _copied(docker, handle.session_id)
    assert faulty.waits > 2  # each cut wait asked again while the tool ran
