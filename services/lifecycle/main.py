"""The lifecycle service's composition root: store, broker, command server, relay, runner, reconciler."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta
from typing import Any

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
from libs.platform.metrics import start_metrics_server
from libs.platform.session_keys import load_or_create_key
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


async def run(settings: LifecycleSettings, stop: asyncio.Event, topology: Topology = DEFAULT) -> None:
    database_url, nats_url = settings.require_urls()
    store = await EventStore.connect(database_url)
    broker = make_broker(nats_url, name="lifecycle", quiet=True)
    backend = LocalBackend(settings.state_dir, grace=settings.stop_grace_seconds)
    handlers = StudioHandlers(store)
    provisioner = Provisioner(store, settings.workspaces_dir, load_or_create_key(settings.session_key_file))
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
    metrics = _serve_metrics(settings)
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
        if metrics is not None:
            metrics.shutdown()
        await store.close()


def _serve_metrics(settings: LifecycleSettings) -> Any:
    """Lifecycle has no HTTP API of its own, so its ``/metrics`` is a small server thread. A port already taken
    (a second lifecycle on one host) costs the metrics, not the service."""
    if not settings.metrics_port:
        return None
    try:
        return start_metrics_server(settings.metrics_port, settings.host)
    except OSError as e:
        log.warning("lifecycle metrics not served on %s:%s: %s", settings.host, settings.metrics_port, e)
        return None
