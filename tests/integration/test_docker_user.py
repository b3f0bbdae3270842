"""Docker sessions run as a non-root user (services/lifecycle/backends/users.py), against a real Docker-API engine
(DOCKER_HOST, else a private podman service; skipped with the reason when neither can be had)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from libs.testing.podman import Engine, import_test_image
from services.lifecycle.backends import LaunchSpec
from services.lifecycle.backends.docker import DockerBackend

#: the tool says who it is (from /proc, with shell builtins only: the image is a bare busybox), then writes into
#: its workspace
WHO = ("while read -r key a b c d; do case $key in Uid:|Gid:) echo $a $b $c $d;; esac; "
       "done < /proc/self/status; echo \"home=$HOME\"; echo made > /workspace/made-by-the-tool")


def spec_for(tmp_path: Path, image: str | None = None) -> LaunchSpec:
    return LaunchSpec(session_id="who-1", studio_id="who", tool="custom", command=["sh", "-c", WHO],
                      workspace_dir=tmp_path / "workspaces" / "who", base_path="/connect/who/", secret="s",
                      image=image)


@pytest.fixture
async def docker(docker_engine: Engine, tmp_path: Path) -> AsyncIterator[DockerBackend]:
    backend = DockerBackend(tmp_path / "state", docker_engine.url, default_image=docker_engine.image,
                            scope=tmp_path.name, grace=5.0)
    yield backend
    await backend.close()


async def _run(backend: DockerBackend, spec: LaunchSpec) -> str:
    status = await asyncio.wait_for(backend.wait(await backend.launch(spec)), 30)
    assert status.exit_code == 0, status.message
    return status.message


@pytest.mark.skipif(os.geteuid() != 0, reason="the workspace is given to uid 1000 only when lifecycle is root")
async def test_the_tool_runs_as_uid_1000_and_owns_its_workspace(docker: DockerBackend, tmp_path: Path) -> None:
    spec = spec_for(tmp_path)
    # Uid, then Gid: real, effective, saved, filesystem
    assert await _run(docker, spec) == "1000 1000 1000 1000\n1000 1000 1000 1000\nhome=/workspace"
    made = (spec.workspace_dir / "made-by-the-tool").stat()
    assert (made.st_uid, made.st_gid) == (1000, 1000)
    assert spec.workspace_dir.stat().st_uid == 1000


async def test_an_image_that_names_its_user_runs_as_that_user(docker: DockerBackend, docker_engine: Engine,
                                                              tmp_path: Path) -> None:
    image = import_test_image(docker_engine.url, "studios-test-busybox-uid4321", user="4321:4321")
    status = await _run(docker, spec_for(tmp_path, image))
    assert status.splitlines()[:2] == ["4321 4321 4321 4321"] * 2


async def test_an_empty_setting_runs_as_the_images_default_root(docker_engine: Engine,
                                                                tmp_path: Path) -> None:
    backend = DockerBackend(tmp_path / "state", docker_engine.url, default_image=docker_engine.image,
                            scope=tmp_path.name, grace=5.0, user="")
    try:
        assert (await _run(backend, spec_for(tmp_path))).splitlines()[:2] == ["0 0 0 0"] * 2
    finally:
        await backend.close()
