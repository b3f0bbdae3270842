"""A docker session on a named network (``STUDIOS_DOCKER_NETWORK``, what compose uses so the gateway container
reaches the tools): its handle is the container's address on that network, and the tool answers there. Against a
real Docker-API engine (DOCKER_HOST, else a private podman service; skipped with the reason otherwise)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiodocker
import pytest

from libs.testing.podman import Engine
from services.lifecycle.backends import LaunchSpec
from services.lifecycle.backends.containers import TOOL_PORT
from services.lifecycle.backends.docker import DockerBackend


@pytest.fixture
async def network(docker_engine: Engine, tmp_path: Path) -> AsyncIterator[str]:
    name = f"studios-test-{tmp_path.name.lower()}"
    engine = aiodocker.Docker(url=docker_engine.url)
    try:
        try:
            made = await engine.networks.create({"Name": name})
        except aiodocker.DockerError as error:
            pytest.skip(f"the engine would not make a network: {error.message}")
        yield name
        await made.delete()
    finally:
        await engine.close()


async def test_a_session_on_a_network_is_reached_at_its_address_there(docker_engine: Engine,
                                                                      network: str, tmp_path: Path) -> None:
    backend = DockerBackend(tmp_path / "state", docker_engine.url, default_image=docker_engine.image,
                            scope=tmp_path.name, grace=1.0, network=network)
    spec = LaunchSpec(session_id="net-1", studio_id="net", tool="http-echo", workspace_dir=tmp_path / "ws",
                      base_path="/connect/net/", secret="s")
    try:
        handle = await backend.launch(spec)
        info = await backend.engine.containers.container(handle.ident).show()
        address = info["NetworkSettings"]["Networks"][network]["IPAddress"]
        assert (handle.host, handle.port) == (address, TOOL_PORT) and address != "127.0.0.1"
        assert await backend.list_sessions() == [handle]  # adoption finds the same address
        assert await backend.ready(handle, timeout=20)
        await backend.stop(handle, grace=1)
    finally:
        await backend.close()
