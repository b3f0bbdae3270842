"""Studios that need a build: lifecycle and builder together on real PostgreSQL, NATS and uv (local wheels only).

A start with a ``condaEnvironment`` goes ``building`` -> ``starting`` -> ``running`` with the packages importable in
the tool, or ends ``buildFailed`` with the installer's error; the same spec again starts without a build.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import nats

from libs.bus.streams import Topology, delete_streams
from libs.contracts.build import BuildStatus
from libs.contracts.build_commands import GetBuildLog
from libs.contracts.studio import ProgressStatus, StudioConfiguration, StudioStatus, StudioTemplate
from libs.contracts.studio_commands import CreateStudio
from services.lifecycle.studio.rules import BUILD_STEP
from tests.integration.builder_harness import (
    BuilderUnderTest,
    builder_settings,
    running_builder,
    silent_index,
    wheels,
)
from tests.integration.lifecycle_harness import Lifecycle, create, running_lifecycle

CUSTOM = StudioTemplate(repository="studios/custom:1", tool="custom", base_path=False)
#: imports the package with the environment's python (first on PATH) and serves the workspace, so the test can
#: read what the tool saw
IMPORTS = ("sh", "-c", 'python -c "import tinypkg; open(\'seen.txt\', \'w\').write(tinypkg.VERSION)" '
           '&& exec python -m http.server "$CONNECT_TOOL_PORT"')
ENDED = (StudioStatus.RUNNING, StudioStatus.BUILD_FAILED, StudioStatus.ERRORED)
ENV_YML = "channels: [conda-forge]\ndependencies:\n  - pip\n  - pip:\n    - tinypkg==2.0\n"


@contextlib.asynccontextmanager
async def system(database_url: str, nats_url: str, tmp_path: Path) -> AsyncIterator[tuple[Lifecycle,
                                                                                          BuilderUnderTest]]:
    topology = Topology.unique("bs")
    settings = builder_settings(database_url, nats_url, tmp_path / "data", str(wheels(tmp_path / "wheels")))
    try:
        async with running_builder(settings, topology) as builder, \
                running_lifecycle(database_url, nats_url, tmp_path / "data", topology=topology) as lc:
            yield lc, builder
    finally:
        nc = await nats.connect(nats_url)
        await delete_streams(nc.jetstream(), topology)
        await nc.close()


def _studio(name: str, conda: str) -> CreateStudio:
    return create(f"{name}-{uuid.uuid4().hex[:4]}", template=CUSTOM,
                  configuration=StudioConfiguration(command=IMPORTS, conda_environment=conda))


async def test_a_studio_runs_in_its_built_environment_and_the_same_spec_starts_without_a_build(
        database_url: str, nats_url: str, tmp_path: Path) -> None:
    async with system(database_url, nats_url, tmp_path) as (lc, builder):
        first = _studio("lab", ENV_YML)
        await lc.send(first)
        building = await lc.wait_status(first.session_id, StudioStatus.BUILDING, *ENDED, timeout=60)
        assert building.build_id and building.build_url == f"/builds/{building.build_id}/logs"
        state = await lc.wait_status(first.session_id, *ENDED, timeout=60)
        assert state.status is StudioStatus.RUNNING, state.status_message
        assert state.progress[0].message == BUILD_STEP and state.progress[0].status is ProgressStatus.SUCCEEDED
        handle = state.handle or {}
        async with httpx.AsyncClient() as http:
            seen = await http.get(f"http://{handle['host']}:{handle['port']}/seen.txt")
        assert seen.text == "2.0"  # the tool imported the package from its environment
        types = [r.event_type for r in await lc.store.read_stream(f"studio-{first.session_id}")]
        assert types.index("StudioBuildStarted") < types.index("StudioBuildSucceeded") < types.index(
            "StudioSessionRunning")

        second = _studio("lab2", ENV_YML.replace("conda-forge", "defaults"))  # channels do not change the key
        await lc.send(second)
        again = await lc.wait_status(second.session_id, *ENDED, timeout=60)
        assert again.status is StudioStatus.RUNNING and again.build_id == state.build_id
        assert builder.app is not None and builder.app.runner.builds_run == 1  # the build count says so
        assert (await builder.event_types(state.build_id or "")).count("BuildStarted") == 1


async def test_a_package_that_does_not_exist_ends_build_failed_with_the_installers_error(
        database_url: str, nats_url: str, tmp_path: Path) -> None:
    async with system(database_url, nats_url, tmp_path) as (lc, builder):
        studio = _studio("broken", "dependencies:\n  - pip:\n    - no-such-package-xyz\n")
        await lc.send(studio)
        state = await lc.wait_status(studio.session_id, *ENDED, timeout=60)
        assert state.status is StudioStatus.BUILD_FAILED
        assert state.status_message and "no-such-package-xyz was not found" in state.status_message
        assert state.progress[0].status is ProgressStatus.ERRORED
        log = (await builder.client.send(GetBuildLog(build_id=state.build_id or "", actor="1"))).result or {}
        assert any("no-such-package-xyz was not found" in line["message"] for line in log["lines"])

        unreadable = _studio("unreadable", "dependencies: [unclosed")
        await lc.send(unreadable)
        bad = await lc.wait_status(unreadable.session_id, *ENDED, timeout=30)
        assert bad.status_message and "not valid YAML" in bad.status_message and bad.build_id is None


async def test_a_studio_building_when_the_builder_dies_starts_once_the_next_builder_retries_the_build(
        database_url: str, nats_url: str, tmp_path: Path) -> None:
    """The first builder stops without recording anything about its build (as after SIGKILL: the process-level
    kill is ``test_builder_kill``); the studio keeps waiting, and the next builder's retry starts it."""
    topology = Topology.unique("bk")
    data = tmp_path / "data"
    try:
        async with running_lifecycle(database_url, nats_url, data, topology=topology) as lc:
            async with silent_index() as index:
                stuck = builder_settings(database_url, nats_url, data, index, STUDIOS_BUILDER_DRAIN_SECONDS=0)
                async with running_builder(stuck, topology) as first:
                    studio = _studio("retried", ENV_YML)
                    await lc.send(studio)
                    building = await lc.wait_status(studio.session_id, StudioStatus.BUILDING, *ENDED, timeout=60)
                    assert building.build_id is not None
                    await first.wait(building.build_id, BuildStatus.RUNNING)
            assert (await lc.state(studio.session_id)).status is StudioStatus.BUILDING
            good = builder_settings(database_url, nats_url, data, str(wheels(tmp_path / "wheels")))
            async with running_builder(good, topology):
                state = await lc.wait_status(studio.session_id, *ENDED, timeout=90)
            assert state.status is StudioStatus.RUNNING, state.status_message
            assert state.progress[0].detail and building.build_id in state.progress[0].detail
    finally:
        nc = await nats.connect(nats_url)
        await delete_streams(nc.jetstream(), topology)
        await nc.close()
