"""A compute environment runs on its platform or is refused with a clear error (issue 15): the runner, the real
store, and a docker session on a real engine (DOCKER_HOST or a private podman; skipped with the reason without)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path

from libs.contracts import identity
from libs.contracts.identity import ComputeEnvCreated
from libs.contracts.studio import StudioStatus, StudioTemplate
from libs.contracts.studio_state import State
from libs.eventstore import EventStore, Expected, to_new_events
from libs.testing.podman import Engine
from services.lifecycle.backends.base import ComputeBackend
from services.lifecycle.backends.docker import DockerBackend
from services.lifecycle.backends.fake import FakeBackend
from services.lifecycle.backends.routing import RoutingBackend
from services.lifecycle.handlers import StudioHandlers
from services.lifecycle.sessions.provisioning import Provisioner
from services.lifecycle.sessions.runner import SessionRunner
from tests.integration.lifecycle_harness import create


async def _environment(store: EventStore, platform: str) -> str:
    env_id = uuid.uuid4().hex[:10]
    created = ComputeEnvCreated(compute_env_id=env_id, workspace_id=1, name=env_id, platform=platform,
                                config={"workDir": "/tmp"}, at=datetime.now(UTC), actor="1")
    await store.append(identity.stream(identity.COMPUTE_ENV, env_id), to_new_events([created]), Expected.NO_STREAM)
    return env_id


async def _start(store: EventStore, tmp_path: Path, backends: dict[str, ComputeBackend], platform: str,
                 image: str = "studios/http-echo:1") -> State:
    handlers = StudioHandlers(store)
    routing = RoutingBackend(backends, tmp_path / "state" / "logs")
    runner = SessionRunner(handlers, routing, Provisioner(store, tmp_path / "ws", b"k" * 32,
                                                          backends=frozenset(backends)))
    cmd = create("on-" + platform, template=StudioTemplate(repository=image, tool="http-echo"))
    cmd = cmd.model_copy(update={"compute_env_id": await _environment(store, platform)})
    await handlers.handle(cmd)
    runner.start(cmd.session_id, 1)
    await runner.drain()
    return await handlers.state(cmd.session_id)


async def test_a_kubernetes_environment_is_refused_without_a_kubernetes_backend(store: EventStore,
                                                                                tmp_path: Path) -> None:
    fake = FakeBackend()
    state = await _start(store, tmp_path, {"local": fake}, "k8s-platform")
    assert state.status is StudioStatus.ERRORED
    assert "is k8s-platform, which this installation cannot run" in (state.status_message or "")
    assert await fake.list_sessions() == []  # not quietly run as a local process


async def test_a_docker_environment_is_refused_without_an_engine(store: EventStore, tmp_path: Path) -> None:
    fake = FakeBackend()
    state = await _start(store, tmp_path, {"local": fake}, "docker-platform")
    assert state.status is StudioStatus.ERRORED
    assert "STUDIOS_DOCKER_HOST" in (state.status_message or "")
    assert await fake.list_sessions() == []


async def test_a_local_environment_runs_locally_next_to_docker(store: EventStore, tmp_path: Path) -> None:
    local, docker = FakeBackend(), FakeBackend()
    state = await _start(store, tmp_path, {"local": local, "docker": docker}, "local-platform")
    assert state.status is StudioStatus.RUNNING
    assert len(await local.list_sessions()) == 1 and await docker.list_sessions() == []


async def test_a_docker_environment_runs_its_studio_in_a_container(store: EventStore, tmp_path: Path,
                                                                   docker_engine: Engine) -> None:
    docker = DockerBackend(tmp_path / "state", docker_engine.url, scope=tmp_path.name, grace=2)
    local = FakeBackend()
    try:
        state = await _start(store, tmp_path, {"local": local, "docker": docker}, "docker-platform",
                             image=docker_engine.image)  # the template's repository is the image
        assert state.status is StudioStatus.RUNNING, state.status_message
        [handle] = await docker.list_sessions()
        info = await docker.engine.containers.container(handle.ident).show()
        assert docker_engine.image in info["Config"]["Image"]
        assert info["Config"]["Labels"]["studios.studio"] == state.session_id
        assert await local.list_sessions() == []
        await docker.stop(handle, grace=1)
    finally:
        await docker.close()
