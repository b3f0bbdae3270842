"""The builder over NATS with real uv, PostgreSQL and NATS, installing only from a local wheel directory."""

from __future__ import annotations

import asyncio
from asyncio.subprocess import PIPE
from pathlib import Path
from urllib.parse import urlparse

import nats
import pytest

from libs.contracts.build import BuildStatus
from libs.contracts.build_commands import CancelBuild, GetBuildLog
from libs.contracts.errors import Conflict, InvalidInput
from libs.logs.lines import LogLine
from libs.testing.waiting import wait_for
from tests.integration.builder_harness import BuilderUnderTest, builder_settings, running_builder, silent_index, wheels

ENV_YML = """name: demo
channels: [conda-forge]
dependencies:
  - python=3.11
  - pip
  - pip:
    - tinypkg==1.0
"""


def nats_client(b: BuilderUnderTest) -> nats.NATS:
    return b.client.nc


def _python(artifact_uri: str) -> str:
    return str(Path(urlparse(artifact_uri).path) / "bin" / "python")


async def test_a_build_installs_the_spec_and_the_same_spec_reuses_it(database_url: str, nats_url: str,
                                                                     tmp_path: Path) -> None:
    settings = builder_settings(database_url, nats_url, tmp_path / "data", str(wheels(tmp_path / "wheels")))
    async with running_builder(settings) as b:
        first = (await b.request(conda=ENV_YML)).result or {}
        done = await b.wait(first["buildId"], BuildStatus.SUCCEEDED, BuildStatus.FAILED)
        assert done.status is BuildStatus.SUCCEEDED, done.message
        assert done.artifact is not None
        proc = await asyncio.create_subprocess_exec(_python(done.artifact.uri), "-c",
                                                    "import tinypkg; print(tinypkg.VERSION)", stdout=PIPE)
        assert (await proc.communicate())[0].decode().strip() == "1.0"
        # the same spec written differently (pip list instead of environment.yml) is the same key: reused at once
        again = (await b.request("TinyPkg == 1.0")).result or {}
        assert again["buildId"] == first["buildId"] and again["reused"] and again["status"] == "succeeded"
        assert await b.event_types(first["buildId"]) == ["BuildRequested", "BuildStarted", "BuildSucceeded"]
        assert b.app is not None and b.app.runner.builds_run == 1
        log = (await b.client.send(GetBuildLog(build_id=first["buildId"], actor="1"))).result or {}
        assert any("tinypkg==1.0" in line["message"] for line in log["lines"]) and log["finished"]
        # and line by line to JetStream LOGS, kind build, run = the attempt; the last one says how it ended
        assert b.topology is not None and b.app is not None and b.app.publisher is not None
        assert await b.app.publisher.flush(10)
        js = nats_client(b).jetstream()
        last = await js.get_last_msg(b.topology.logs_stream, f"{b.topology.logs_prefix}.build.{first['buildId']}")
        line = LogLine.from_message(last.data or b"")[-1]  # a message holds one line or a pack of them
        assert line.kind == "build" and line.run == 1 and line.final and "succeeded" in line.message


async def test_ten_identical_requests_at_once_make_one_build(database_url: str, nats_url: str,
                                                             tmp_path: Path) -> None:
    settings = builder_settings(database_url, nats_url, tmp_path / "data", str(wheels(tmp_path / "wheels")))
    async with running_builder(settings) as b:
        replies = await asyncio.gather(*(b.request("otherpkg", "tinypkg==2.0") for _ in range(10)))
        ids = {(r.result or {})["buildId"] for r in replies}
        assert len(ids) == 1
        (build_id,) = ids
        await b.wait(build_id, BuildStatus.SUCCEEDED)
        assert (await b.event_types(build_id)).count("BuildStarted") == 1
        assert b.app is not None and b.app.runner.builds_run == 1


async def test_a_package_that_does_not_exist_fails_with_the_installers_error(database_url: str, nats_url: str,
                                                                             tmp_path: Path) -> None:
    settings = builder_settings(database_url, nats_url, tmp_path / "data", str(wheels(tmp_path / "wheels")))
    async with running_builder(settings) as b:
        reply = (await b.request("no-such-package-xyz")).result or {}
        failed = await b.wait(reply["buildId"], BuildStatus.FAILED, BuildStatus.SUCCEEDED)
        assert failed.status is BuildStatus.FAILED
        assert failed.message and "no-such-package-xyz was not found" in failed.message
        log = (await b.client.send(GetBuildLog(build_id=reply["buildId"], actor="1"))).result or {}
        assert any("no-such-package-xyz was not found" in line["message"] for line in log["lines"])
        with pytest.raises(InvalidInput, match="not valid YAML"):
            await b.request(conda="dependencies: [unclosed")
        with pytest.raises(InvalidInput, match="installer options"):
            await b.request("--index-url=http://elsewhere/")
        python = await b.request(conda="dependencies:\n  - python=3.99\n")
        gone = await b.wait((python.result or {})["buildId"], BuildStatus.FAILED, BuildStatus.SUCCEEDED)
        assert gone.message and "No interpreter found for Python 3.99" in gone.message


async def test_at_most_k_run_at_once_and_queued_or_running_builds_can_be_cancelled(
        database_url: str, nats_url: str, tmp_path: Path) -> None:
    async with silent_index() as index:
        settings = builder_settings(database_url, nats_url, tmp_path / "data", index,
                                    STUDIOS_BUILDER_MAX_CONCURRENT=1)
        async with running_builder(settings) as b:
            first = (await b.request("tinypkg")).result or {}
            second = (await b.request("otherpkg")).result or {}
            await b.wait(first["buildId"], BuildStatus.RUNNING)
            assert (await b.state(second["buildId"])).status is BuildStatus.QUEUED  # K = 1: it waits its turn
            await b.client.send(CancelBuild(build_id=second["buildId"], actor="1"))
            await b.client.send(CancelBuild(build_id=first["buildId"], actor="1"))
            for build_id in (first["buildId"], second["buildId"]):
                assert (await b.wait(build_id, BuildStatus.CANCELLED)).status is BuildStatus.CANCELLED
            assert b.app is not None
            runner = b.app.runner  # the installer was killed, not left running
            await wait_for(lambda: runner.running == 0, within=10, until=bool, what="no build running")
            assert b.app.runner.peak_running == 1
            with pytest.raises(Conflict):
                done = await b.request()  # an empty spec: a venv only, built at once
                await b.wait((done.result or {})["buildId"], BuildStatus.SUCCEEDED)
                await b.client.send(CancelBuild(build_id=(done.result or {})["buildId"], actor="1"))


async def test_a_second_builder_leaves_a_build_another_live_builder_runs_alone(
        database_url: str, nats_url: str, tmp_path: Path) -> None:
    async with silent_index() as index:
        first = builder_settings(database_url, nats_url, tmp_path / "one", index)
        async with running_builder(first) as a:
            build_id = ((await a.request("tinypkg")).result or {})["buildId"]
            await a.wait(build_id, BuildStatus.RUNNING)
            second = builder_settings(database_url, nats_url, tmp_path / "two", index)
            async with running_builder(second) as b:  # its start-up recovery has run once it answers
                assert b.app is not None and b.app.runner.running == 0
                assert await a.event_types(build_id) == ["BuildRequested", "BuildStarted"]
            await a.client.send(CancelBuild(build_id=build_id, actor="1"))
            await a.wait(build_id, BuildStatus.CANCELLED)
