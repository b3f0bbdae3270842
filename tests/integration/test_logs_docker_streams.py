"""The docker backend keeps a tool's stdout and stderr apart: the engine demuxes the two streams and each is copied
into its own file (``<run>.log``, ``<run>.err``), the files lifecycle follows with their stream tags; the exit
message has the last stderr lines first."""

from __future__ import annotations

import asyncio
from pathlib import Path

from libs.logs.tail import stderr_path
from libs.testing.waiting import wait_for
from services.lifecycle.backends.docker import DockerBackend
from tests.integration.test_docker_backend import docker, spec_for  # noqa: F401 - the fixture


async def test_stdout_and_stderr_are_copied_into_two_files(docker: DockerBackend, tmp_path: Path) -> None:  # noqa: F811
    spec = spec_for(tmp_path, ["sh", "-c", "echo working; echo 'no such table' >&2; echo done; exit 3"])
    handle = await docker.launch(spec)
    status = await asyncio.wait_for(docker.wait(handle), 30)
    out = docker.log_path(handle.session_id)
    await wait_for(lambda: _read(out), until=lambda text: text == "working\ndone\n", what="stdout copied")
    await wait_for(lambda: _read(stderr_path(out)), until=lambda text: text == "no such table\n",
                   what="stderr copied into its own file")
    assert status.exit_code == 3
    assert status.message.splitlines() == ["no such table", "working", "done"]


async def _read(path: Path) -> str:
    return await asyncio.to_thread(lambda: path.read_text() if path.exists() else "")
