"""Many sessions on one docker backend: each running one keeps three engine connections open here (two log follows
and the copy's wait; lifecycle's watcher adds a fourth), and under aiohttp's default cap of 100 every engine call
stalled from the 34th session on. The backend's
client has no cap, so a launch and an inspect past that still answer."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from libs.testing.waiting import wait_for
from services.lifecycle.backends import LaunchSpec
from services.lifecycle.backends.docker import DockerBackend
from tests.integration.test_docker_backend import docker  # noqa: F401 - the fixture

SESSIONS = 36  # 108 open connections: past the cap that was


def _spec(tmp_path: Path, number: int) -> LaunchSpec:
    return LaunchSpec(session_id=f"many{number}-1", studio_id=f"many{number}", tool="custom",
                      command=["sh", "-c", "echo up; exec sleep 600"],
                      workspace_dir=tmp_path / "w" / str(number), base_path=f"/connect/many{number}/",
                      secret="many-sessions-secret", labels={})


@pytest.mark.slow
async def test_a_backend_with_more_sessions_than_the_old_cap_still_answers(docker: DockerBackend,  # noqa: F811
                                                                         tmp_path: Path) -> None:
    try:
        for number in range(SESSIONS):
            await asyncio.wait_for(docker.launch(_spec(tmp_path, number)), 60)
        # every session's copy is following by now: its stdout file holds the first line
        for number in range(SESSIONS):
            out = docker.log_path(f"many{number}-1")
            await wait_for(lambda out=out: out.read_text() if out.exists() else "", until=lambda text: text == "up\n",
                           what=f"session {number}'s first line copied")
        last = await asyncio.wait_for(docker.launch(_spec(tmp_path, SESSIONS)), 60)
        status = await asyncio.wait_for(docker.inspect(last), 60)
        assert status.running
        assert len(await asyncio.wait_for(docker.list_sessions(), 60)) == SESSIONS + 1
    finally:  # removed at once: stopping 37 sessions one by one with a grace would be most of the test's time
        for handle in await docker.list_sessions():
            await docker.engine.containers.container(handle.ident).delete(force=True)
