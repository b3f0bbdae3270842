"""Runs the lifecycle service in-process against real PostgreSQL and NATS, with its own JetStream streams."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import nats

from libs.bus.commands import CommandClient
from libs.bus.streams import Topology, delete_streams
from libs.contracts.commands import Command, Reply
from libs.contracts.studio import StudioStatus, StudioTemplate, stream_name
from libs.contracts.studio_commands import CreateStudio
from libs.contracts.studio_state import INITIAL, State, evolve
from libs.contracts.subjects import command_subject
from libs.eventstore import EventStore, load
from libs.platform.session_keys import load_or_create_key, session_secret
from libs.platform.signals import Stop
from services.lifecycle import main as lifecycle_main
from services.lifecycle.jobs.service import COMMANDS as JOB_COMMANDS
from services.lifecycle.settings import LifecycleSettings

HTTP_ECHO = StudioTemplate(repository="studios/http-echo:1", tool="http-echo")


@dataclass
class Lifecycle:
    store: EventStore
    client: CommandClient
    settings: LifecycleSettings
    topology: Topology | None = None
    stop: Stop | None = None
    task: asyncio.Task[None] | None = None

    async def exit(self, *, system_shutdown: bool) -> None:
        """Stop the service as SIGTERM (a restart: sessions keep running) or a whole-system shutdown would."""
        assert self.stop is not None and self.task is not None
        self.stop.request(system_shutdown=system_shutdown)
        await asyncio.wait_for(self.task, 60)

    def secret(self, state: State) -> str:
        """The run's proxy secret, derived as the gateway does (no event carries it)."""
        return session_secret(load_or_create_key(self.settings.session_key_file), state.run_key)

    async def send(self, cmd: Command) -> Reply:
        return await self.client.send(cmd, timeout=10)

    async def state(self, session_id: str) -> State:
        return (await load(self.store, stream_name(session_id), evolve, INITIAL))[0]

    async def wait_for(self, session_id: str, until: Callable[[State], bool], timeout: float = 30) -> State:
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            state = await self.state(session_id)
            if until(state):
                return state
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"{session_id} stuck in {state.status} ({state.status_message})")
            await asyncio.sleep(0.05)

    async def wait_status(self, session_id: str, *statuses: StudioStatus, timeout: float = 30) -> State:
        return await self.wait_for(session_id, lambda s: s.status in statuses, timeout)


def create(name: str, *, auto_start: bool = True, template: StudioTemplate = HTTP_ECHO, **fields: Any) -> CreateStudio:
    return CreateStudio(session_id=uuid.uuid4().hex[:8], now=datetime.now(UTC), actor="1", workspace_id="1",
                        user_id="1", studio_name=name, compute_env_id="local", template=template,
                        auto_start=auto_start, **fields)


@contextlib.asynccontextmanager
async def running_lifecycle(database_url: str, nats_url: str, data_dir: Path, *, system_shutdown: bool = True,
                            topology: Topology | None = None, **overrides: Any) -> AsyncIterator[Lifecycle]:
    """The service until the block ends, then stopped as a whole-system shutdown (so no tool outlives the test)
    unless ``system_shutdown=False``. Its JetStream streams are its own, unless ``topology`` is given: then they
    are the caller's to delete (so a second lifecycle can carry on with them)."""
    settings = LifecycleSettings(DATABASE_URL=database_url, NATS_URL=nats_url, STUDIOS_DATA_DIR=str(data_dir),
                                 STUDIOS_STOP_GRACE_SECONDS=5, STUDIOS_RECONCILE_INTERVAL_SECONDS=1, **overrides)
    own_streams = topology is None
    topology = topology or Topology.unique("lc")
    stop = Stop()
    task = asyncio.create_task(lifecycle_main.run(settings, stop, topology))
    store = await EventStore.connect(database_url)
    nc = await nats.connect(nats_url)
    try:
        client = CommandClient(nc)
        # until the command server answers every command it serves: FastStream starts its subscribers in no
        # fixed order, so one subject answering says nothing of another (a first submit_job once found none)
        served: tuple[type[Command], ...] = (*lifecycle_main.PUBLIC_COMMANDS, *JOB_COMMANDS)
        waiting = [command_subject(c.service, c.name) for c in served]
        for _ in range(400):
            if task.done():
                task.result()
            with contextlib.suppress(Exception):
                await nc.request(waiting[0], b"{}", timeout=0.2)
                waiting.pop(0)
                if not waiting:
                    break
                continue
            await asyncio.sleep(0.05)
        yield Lifecycle(store, client, settings, topology, stop, task)
    finally:
        stop.request(system_shutdown=system_shutdown)
        await asyncio.wait_for(task, 60)
        if own_streams:
            await delete_streams(nc.jetstream(), topology)
        await nc.close()
        await store.close()
