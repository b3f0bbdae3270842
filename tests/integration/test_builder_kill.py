"""SIGKILL the builder process during a build: the next builder retries it (and kills the orphaned installer)."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import nats
import psutil
import pytest

from libs.bus.commands import CommandClient
from libs.contracts.build import BuildRequested, BuildStatus
from libs.contracts.build_commands import RequestBuild
from libs.contracts.events import registry
from libs.eventstore import EventStore
from libs.testing.waiting import wait_for
from tests.integration.builder_harness import BuilderUnderTest, silent_index, wheels

pytestmark = pytest.mark.slow


def _builder(database_url: str, nats_url: str, data: Path,
             find_links: str) -> asyncio.Future[asyncio.subprocess.Process]:
    env = {**os.environ, "DATABASE_URL": database_url, "NATS_URL": nats_url, "STUDIOS_DATA_DIR": str(data),
           "STUDIOS_BUILDER_FIND_LINKS": find_links, "STUDIOS_BUILDER_NO_INDEX": "1", "STUDIOS_LOG_LEVEL": "WARNING"}
    return asyncio.ensure_future(asyncio.create_subprocess_exec(sys.executable, "-m", "services.builder", env=env))


async def _request(client: CommandClient) -> str | None:
    try:
        reply = await client.send(RequestBuild(requirements=("tinypkg",), actor="1"), timeout=2)
    except Exception:
        return None  # not answering yet
    return str((reply.result or {})["buildId"])


def _installers(pid: int) -> list[psutil.Process] | None:
    found = []
    for p in psutil.Process(pid).children(recursive=True):
        try:
            if "install" in p.cmdline():
                found.append(p)
        except psutil.Error:
            continue  # one that just ended (uv venv)
    return found or None


def _alive(p: psutil.Process) -> bool:
    try:
        return p.is_running() and p.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


async def test_a_build_cut_short_by_sigkill_is_retried_by_the_next_builder(
        database_url: str, nats_url: str, tmp_path: Path) -> None:
    store = await EventStore.connect(database_url)
    nc = await nats.connect(nats_url)
    b = BuilderUnderTest(store, CommandClient(nc))
    try:
        async with silent_index() as index:
            first = await _builder(database_url, nats_url, tmp_path / "data", index)
            try:
                build_id: str = await wait_for(lambda: _request(b.client), within=60, what="builder answering")
                await b.wait(build_id, BuildStatus.RUNNING)
                installers: list[psutil.Process] = await wait_for(lambda: _installers(first.pid), within=30,
                                                                  what="uv pip install running")
            finally:
                first.send_signal(signal.SIGKILL)
                await first.wait()
        second = await _builder(database_url, nats_url, tmp_path / "data", str(wheels(tmp_path / "wheels")))
        try:
            done = await b.wait(build_id, BuildStatus.SUCCEEDED, BuildStatus.FAILED, within=90)
            assert done.status is BuildStatus.SUCCEEDED and done.attempt == 2, done.message
            records = await store.read_stream(f"build-{build_id}")
            assert [r.event_type for r in records] == [
                "BuildRequested", "BuildStarted", "BuildRequested", "BuildStarted", "BuildSucceeded"]
            retry = registry.load(records[2].event_type, records[2].schema_version, records[2].data)
            assert isinstance(retry, BuildRequested) and "the builder stopped during attempt 1" in (retry.reason or "")
            assert not [p for p in installers if _alive(p)], "the orphaned installer was killed"
        finally:
            second.send_signal(signal.SIGTERM)
            await asyncio.wait_for(second.wait(), 30)
    finally:
        await nc.close()
        await store.close()
