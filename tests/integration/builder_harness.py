"""Runs the builder service in-process (or as a process) against real PostgreSQL and NATS, with local wheels only,
and a package index that never answers (to hold a build ``running`` for as long as a test needs)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nats

from libs.bus.commands import CommandClient
from libs.bus.streams import Topology, delete_streams
from libs.contracts import build as contract
from libs.contracts.build import BuildStatus
from libs.contracts.build_commands import CancelBuild, GetBuildLog, RequestBuild, SaveTemplate
from libs.contracts.commands import Reply
from libs.contracts.subjects import command_subject
from libs.eventstore import EventStore, load
from libs.platform.signals import Stop
from libs.testing.waiting import wait_for
from libs.testing.wheels import write_wheel
from services.builder import build, main
from services.builder.settings import BuilderSettings


def wheels(directory: Path) -> Path:
    """A local package directory: ``tinypkg`` 1.0 and 2.0, and ``otherpkg`` 1.0."""
    write_wheel(directory, "tinypkg", "1.0")
    write_wheel(directory, "tinypkg", "2.0")
    write_wheel(directory, "otherpkg", "1.0")
    return directory


def builder_settings(database_url: str, nats_url: str, data_dir: Path, find_links: str, **overrides: Any
                     ) -> BuilderSettings:
    return BuilderSettings(DATABASE_URL=database_url, NATS_URL=nats_url, STUDIOS_DATA_DIR=str(data_dir),
                           STUDIOS_BUILDER_FIND_LINKS=find_links, STUDIOS_BUILDER_NO_INDEX=True, **overrides)


@dataclass
class BuilderUnderTest:
    store: EventStore
    client: CommandClient
    app: main.Builder | None = None
    topology: Topology | None = None

    async def request(self, *requirements: str, conda: str | None = None, timeout: float = 20) -> Reply:
        return await self.client.send(RequestBuild(requirements=requirements, conda_environment=conda, actor="1"),
                                      timeout=timeout)

    async def state(self, build_id: str) -> build.State:
        return (await load(self.store, contract.stream_name(build_id), build.evolve, build.INITIAL))[0]

    async def wait(self, build_id: str, *statuses: BuildStatus, within: float = 60) -> build.State:
        return await wait_for(lambda: self.state(build_id), within=within, until=lambda s: s.status in statuses,
                              what=f"build {build_id} in {statuses}")

    async def event_types(self, build_id: str) -> list[str]:
        return [r.event_type for r in await self.store.read_stream(contract.stream_name(build_id))]


#: the commands services/builder/main.py serves: the harness waits until each answers
SERVED = (RequestBuild, CancelBuild, GetBuildLog, SaveTemplate)


@contextlib.asynccontextmanager
async def running_builder(settings: BuilderSettings, topology: Topology | None = None
                          ) -> AsyncIterator[BuilderUnderTest]:
    """With ``topology``: streams shared with another service under test (the caller deletes them)."""
    own_streams = topology is None
    topology = topology or Topology.unique("bld")
    stop = Stop()
    app = await main.create_app(settings, topology)
    task = asyncio.create_task(main.run(settings, stop, topology, app))
    store = await EventStore.connect(settings.require_urls()[0])
    nc = await nats.connect(settings.require_urls()[1])
    try:
        client = CommandClient(nc)
        answered: bool = await wait_for(lambda: _answers(nc, task), within=30, what="builder answering")
        assert answered
        await asyncio.wait_for(app.ready.wait(), 30)  # another builder on the same bus may have answered first
        yield BuilderUnderTest(store, client, app, topology)
    finally:
        stop.set()
        await asyncio.wait_for(task, 60)
        if own_streams:
            await delete_streams(nc.jetstream(), topology)
        await nc.close()
        await store.close()


async def _answers(nc: nats.NATS, task: asyncio.Task[None]) -> bool | None:
    """True once every command the builder serves answers; None (poll again) until then."""
    if task.done():
        task.result()
    try:
        for command in SERVED:  # every one: FastStream starts subscribers in no fixed order
            await nc.request(command_subject(command.service, command.name), b"{}", timeout=0.2)
        return True
    except Exception:
        return None


@contextlib.asynccontextmanager
async def silent_index() -> AsyncIterator[str]:
    """An HTTP "package index" that accepts connections and never answers: a build against it stays running."""
    held: list[asyncio.StreamWriter] = []

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}/simple/"
    finally:
        for w in held:
            w.close()
        server.close()
