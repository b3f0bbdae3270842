"""A docker studio with an environment runs the image the builder made for it: lifecycle's runner asks the real
builder service (over NATS, real PostgreSQL) for an image on the template's image, and the Docker backend starts
the session from it, on a real engine (DOCKER_HOST, else a private podman; skipped with the reason without one).
The environment has no packages (no registry, no index here): the image is the template's plus the COPY'd spec."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path

from libs.contracts import identity
from libs.contracts.build import image_reference
from libs.contracts.identity import ComputeEnvCreated
from libs.contracts.studio import StudioConfiguration, StudioStatus, StudioTemplate
from libs.eventstore import Expected, to_new_events
from libs.testing.podman import Engine
from services.builder.images.engine import DockerImages
from services.lifecycle.backends.docker import DockerBackend
from services.lifecycle.backends.fake import FakeBackend
from services.lifecycle.backends.routing import RoutingBackend
from services.lifecycle.handlers import StudioHandlers
from services.lifecycle.sessions.builds import BuildClient
from services.lifecycle.sessions.provisioning import Provisioner
from services.lifecycle.sessions.runner import RunnerConfig, SessionRunner
from tests.integration.builder_harness import builder_settings, running_builder
from tests.integration.lifecycle_harness import create

ENVIRONMENT = "name: empty\ndependencies: []\n"


async def test_a_docker_studio_with_an_environment_runs_the_image_built_for_it(
        database_url: str, nats_url: str, docker_engine: Engine, tmp_path: Path) -> None:
    repository = f"studios-env-studio-{tmp_path.name.lower()}"
    settings = builder_settings(database_url, nats_url, tmp_path / "data", "",
                                STUDIOS_BUILDER_DOCKER_HOST=docker_engine.url,
                                STUDIOS_BUILDER_IMAGE_REPOSITORY=repository)
    docker = DockerBackend(tmp_path / "state", docker_engine.url, scope=tmp_path.name, grace=2)
    async with running_builder(settings) as b:
        handlers = StudioHandlers(b.store)
        routing = RoutingBackend({"local": FakeBackend(), "docker": docker}, tmp_path / "state" / "logs")
        provisioner = Provisioner(b.store, tmp_path / "ws", b"k" * 32, backends=frozenset({"local", "docker"}))
        runner = SessionRunner(handlers, routing, provisioner, RunnerConfig(), BuildClient(b.store, b.client,
                                                                                             poll_seconds=0.2))
        env_id = uuid.uuid4().hex[:10]
        await b.store.append(identity.stream(identity.COMPUTE_ENV, env_id), to_new_events([ComputeEnvCreated(
            compute_env_id=env_id, workspace_id=1, name=env_id, platform="docker-platform",
            config={"workDir": "/tmp"}, at=datetime.now(UTC), actor="1")]), Expected.NO_STREAM)
        cmd = create("with-env", template=StudioTemplate(repository=docker_engine.image, tool="http-echo"),
                     configuration=StudioConfiguration(conda_environment=ENVIRONMENT, memory=256, cpu=1))
        cmd = cmd.model_copy(update={"compute_env_id": env_id})
        try:
            await handlers.handle(cmd)
            runner.start(cmd.session_id, 1)
            await runner.drain()
            state = await handlers.state(cmd.session_id)
            assert state.status is StudioStatus.RUNNING, state.status_message
            assert state.build_id is not None
            built = await b.state(state.build_id)
            assert built.spec is not None and built.artifact is not None
            assert (built.spec.target, built.spec.base_image) == ("image", docker_engine.image)
            [handle] = await docker.list_sessions()
            info = await docker.engine.containers.container(handle.ident).show()
            assert info["Config"]["Image"].endswith(str(image_reference(built.artifact)))
            await docker.stop(handle, grace=1)
        finally:
            await docker.close()
            images = DockerImages(docker_engine.url)
            for image in await images.engine.images.list():
                for tag in image.get("RepoTags") or []:
                    if repository in tag:
                        await images.engine.images.delete(tag, force=True)
            await images.close()
