"""The builder's Docker artifact against a real Docker-API engine (DOCKER_HOST, else a private podman service;
skipped with the reason when neither can be had). No registry is reachable: the base image is the busybox rootfs
imported by libs/testing/podman.py, and the package list is empty (the Dockerfile still COPYs the requirements
file), so nothing in a build needs the network."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from libs.contracts.build import BuildSpec, BuildStatus, image_reference
from libs.contracts.build_commands import GetBuildLog, RequestBuild
from libs.contracts.errors import InvalidInput
from libs.logs.lines import LogLine
from libs.testing.podman import Engine
from services.builder.environments.base import BuildError
from services.builder.images.dockerfile import LABEL_BUILD, REQUIREMENTS
from services.builder.images.engine import DockerImages
from services.lifecycle.backends import LaunchSpec
from services.lifecycle.backends.docker import DockerBackend
from services.lifecycle.sessions.builds import BuildClient
from tests.integration.builder_harness import builder_settings, running_builder


class Lines:
    """An ``OutputSink`` that keeps what it was told."""

    def __init__(self) -> None:
        self.lines: list[tuple[str, str]] = []

    def line(self, text: str, stream: str = "stdout") -> None:
        self.lines.append((text, stream))

    def text(self) -> str:
        return "\n".join(t for t, _ in self.lines)


@pytest.fixture
async def images(docker_engine: Engine, tmp_path: Path) -> AsyncIterator[DockerImages]:
    built = DockerImages(docker_engine.url, repository=f"studios-env-{tmp_path.name.lower()}")
    yield built
    for image in await built.engine.images.list():
        for tag in image.get("RepoTags") or []:
            if tag.split("/")[-1].startswith(built.repository):
                await built.engine.images.delete(tag, force=True)
    await built.close()


def spec_on(engine: Engine) -> BuildSpec:
    return BuildSpec(python="3.11", target="image", base_image=engine.image)


async def test_an_image_is_built_from_the_generated_dockerfile_and_tagged_by_the_build_id(
        images: DockerImages, docker_engine: Engine) -> None:
    out = Lines()
    artifact = await images.build("0123456789abcdef0123456789abcdef", spec_on(docker_engine), out)
    reference = image_reference(artifact)
    assert reference == f"{images.repository}:0123456789abcdef0123456789abcdef"
    info = await images.engine.images.inspect(reference)
    assert info["Config"]["Labels"][LABEL_BUILD] == "0123456789abcdef0123456789abcdef"
    assert artifact.sha256 == info["Id"].removeprefix("sha256:") and artifact.size > 0
    # the engine's own build output reached the sink, after the Dockerfile it was given
    assert f"FROM {docker_engine.image}" in out.text() and "COPY" in out.text()
    assert len(out.lines) > 6 and await images.exists(artifact)


async def test_an_unchanged_spec_is_found_by_its_tag_not_built_again(images: DockerImages,
                                                                     docker_engine: Engine) -> None:
    first = await images.build("feedfacefeedfacefeedfacefeedface", spec_on(docker_engine), Lines())
    again = Lines()
    second = await DockerImages(images.url, repository=images.repository).build(
        "feedfacefeedfacefeedfacefeedface", spec_on(docker_engine), again)
    assert second == first
    assert [t for t, _ in again.lines] == [f"image {image_reference(first)} is on the engine already "
                                           f"(sha256:{first.sha256}): not built again"]


async def test_an_image_removed_from_the_engine_no_longer_exists(images: DockerImages,
                                                                 docker_engine: Engine) -> None:
    artifact = await images.build("0badc0de0badc0de0badc0de0badc0de", spec_on(docker_engine), Lines())
    await images.engine.images.delete(str(image_reference(artifact)), force=True)
    assert not await images.exists(artifact)


async def test_a_base_image_that_cannot_be_had_fails_the_build_with_the_engines_reason(
        images: DockerImages) -> None:
    out = Lines()
    spec = BuildSpec(python="3.11", target="image", base_image="localhost:1/no-such-base:0")
    with pytest.raises(BuildError, match="no-such-base"):
        await images.build("deaddeaddeaddeaddeaddeaddeaddead", spec, out)
    assert "$ docker pull localhost:1/no-such-base:0" in out.text()


async def test_the_docker_backend_runs_a_session_from_the_built_image(
        images: DockerImages, docker_engine: Engine, tmp_path: Path) -> None:
    artifact = await images.build("abcdefabcdefabcdefabcdefabcdefab", spec_on(docker_engine), Lines())
    backend = DockerBackend(tmp_path / "state", docker_engine.url, scope=tmp_path.name, grace=5.0)
    spec = LaunchSpec(session_id="img1-1", studio_id="img1", tool="custom",
                      command=["sh", "-c", f"test -f {REQUIREMENTS} && echo from-the-built-image"],
                      workspace_dir=tmp_path / "ws", base_path="/connect/img1/", secret="s",
                      image=image_reference(artifact))
    try:
        status = await asyncio.wait_for(backend.wait(await backend.launch(spec)), 30)
        assert (status.exit_code, status.message) == (0, "from-the-built-image")
    finally:
        await backend.close()


async def test_the_builder_service_builds_an_image_on_the_requested_base_once_and_records_its_reference(
        database_url: str, nats_url: str, docker_engine: Engine, tmp_path: Path) -> None:
    repository = f"studios-env-svc-{tmp_path.name.lower()}"
    settings = builder_settings(database_url, nats_url, tmp_path / "data", "",
                                STUDIOS_BUILDER_DOCKER_HOST=docker_engine.url,
                                # the request's base (a docker studio's template image) wins over this default
                                STUDIOS_BUILDER_BASE_IMAGE="localhost:1/unused-default:0",
                                STUDIOS_BUILDER_IMAGE_REPOSITORY=repository)
    ask = RequestBuild(target="image", base_image=docker_engine.image, actor="1", reason="a docker studio")
    async with running_builder(settings) as b:
        first = (await b.client.send(ask, timeout=20)).result or {}
        done = await b.wait(first["buildId"], BuildStatus.SUCCEEDED, BuildStatus.FAILED)
        assert done.status is BuildStatus.SUCCEEDED and done.artifact is not None, done.message
        assert image_reference(done.artifact) == f"{repository}:{first['buildId']}"
        again = (await b.client.send(ask.model_copy(update={"reason": "another"}), timeout=20)).result or {}
        assert again["buildId"] == first["buildId"] and again["reused"]
        venv = (await b.client.send(RequestBuild(actor="1"), timeout=20)).result or {}
        assert venv["buildId"] != first["buildId"]  # the same packages as a venv are another build
        log = (await b.client.send(GetBuildLog(build_id=first["buildId"], actor="1"))).result or {}
        assert any(f"FROM {docker_engine.image}" in line["message"] for line in log["lines"])
        # and to the logs service: JetStream LOGS, kind build, run = the attempt, the last line how it ended
        assert b.app is not None and b.app.publisher is not None and b.topology is not None
        assert await b.app.publisher.flush(10)
        last = await b.client.nc.jetstream().get_last_msg(
            b.topology.logs_stream, f"{b.topology.logs_prefix}.build.{first['buildId']}")
        line = LogLine.from_message(last.data or b"")[-1]  # a message holds one line or a pack of them
        assert (line.kind, line.run, line.final) == ("build", 1, True) and "succeeded" in line.message
        # the event holds the reference, the image id and size: nothing of the engine's address or a credential
        records = await b.store.read_stream(f"build-{first['buildId']}")
        recorded = next(r.data for r in records if r.event_type == "BuildSucceeded")
        assert recorded["artifact"]["uri"] == f"docker-image:{repository}:{first['buildId']}"
        assert docker_engine.url not in str(recorded)
        # what lifecycle reads of it: the image its docker session runs, no virtual environment
        outcome = await BuildClient(b.store, b.client).outcome(first["buildId"])
        assert outcome is not None and (outcome.succeeded, outcome.image, outcome.python_env) == (
            True, f"{repository}:{first['buildId']}", None)
    cleanup = DockerImages(docker_engine.url)
    await cleanup.engine.images.delete(f"{repository}:{first['buildId']}", force=True)
    await cleanup.close()


async def test_a_builder_without_an_engine_refuses_an_image_build(database_url: str, nats_url: str,
                                                                  tmp_path: Path) -> None:
    settings = builder_settings(database_url, nats_url, tmp_path / "data", "")
    async with running_builder(settings) as b:
        with pytest.raises(InvalidInput, match="STUDIOS_BUILDER_DOCKER_HOST"):
            await b.client.send(RequestBuild(target="image", actor="1"), timeout=20)
