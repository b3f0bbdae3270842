"""The lifecycle service's composition root: store, broker, command server, relay, runner, reconciler."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from datetime import timedelta
from pathlib import Path

from libs.bus.broker import make_broker
from libs.bus.commands import CommandServer
from libs.bus.relay import Relay
from libs.bus.streams import DEFAULT, Topology, ensure_streams
from libs.contracts.studio_commands import (
    CreateStudio,
    DeleteStudio,
    ExtendLifespan,
    RecordConnection,
    StartStudio,
    StopStudio,
    StudioCommand,
    UpdateStudio,
)
from libs.eventstore import EventStore
from services.lifecycle import subscribers
from services.lifecycle.backends.local import LocalBackend
from services.lifecycle.handlers import StudioHandlers
from services.lifecycle.sessions.provisioning import Provisioner
from services.lifecycle.sessions.reconciler import Reconciler
from services.lifecycle.sessions.runner import RunnerConfig, SessionRunner
from services.lifecycle.settings import LifecycleSettings

log = logging.getLogger("studios.lifecycle")

#: Commands other services (the gateway) send; the ``Record*`` ones come from this service's own runner.
PUBLIC_COMMANDS: tuple[type[StudioCommand], ...] = (
    CreateStudio, UpdateStudio, StartStudio, StopStudio, ExtendLifespan, DeleteStudio, RecordConnection)


def session_key(state_dir: Path) -> bytes:
    """The key session secrets derive from; kept in the data dir so a restart can still reach live tools."""
    path = state_dir / "session-key"
    state_dir.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return bytes.fromhex(path.read_text().strip())


async def run(settings: LifecycleSettings, stop: asyncio.Event, topology: Topology = DEFAULT) -> None:
    database_url, nats_url = settings.require_urls()
    store = await EventStore.connect(database_url)
    broker = make_broker(nats_url, name="lifecycle", quiet=True)
    backend = LocalBackend(settings.state_dir, grace=settings.stop_grace_seconds)
    handlers = StudioHandlers(store)
    provisioner = Provisioner(store, settings.workspaces_dir, session_key(settings.state_dir))
    runner = SessionRunner(handlers, backend, provisioner,
                           RunnerConfig(settings.ready_timeout_seconds, settings.stop_grace_seconds))
    idle = timedelta(minutes=settings.idle_timeout_minutes) if settings.idle_timeout_minutes else None
    reconciler = Reconciler(store, handlers, runner, backend, settings.reconcile_interval_seconds, idle_timeout=idle)

    server = CommandServer(broker, "lifecycle")
    for command in PUBLIC_COMMANDS:
        server.handle(command)(handlers.handle)
    subscribers.register(broker, runner, topology)

    await broker.connect()
    await ensure_streams(broker.js, topology)
    relay = Relay(store, broker.js, dsn=database_url, topology=topology)
    await reconciler.run_once()  # before taking new work: adopt or settle what the last run left
    await broker.start()
    tasks = [asyncio.create_task(relay.run(stop)), asyncio.create_task(reconciler.run(stop))]
    log.info("lifecycle ready")
    try:
        await stop.wait()
    finally:
        await broker.stop()  # no new commands while the sessions are being stopped
        with contextlib.suppress(Exception):
            await reconciler.stop_all("Studios was shut down")
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await store.close()
