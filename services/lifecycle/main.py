"""The lifecycle service's composition root: store, broker, command server, relay, runner, reconciler.

Stopping (``run``'s ``stop`` event) comes in two kinds (``libs/platform/signals.py``). SIGTERM is a restart of this
process: it stops taking commands and events, lets what is in flight finish (bounded by
``STUDIOS_DRAIN_SECONDS``; a start cut short is resumed by the next process) and exits, leaving every session
running for the next lifecycle to adopt. A whole-system shutdown also stops every session (``StopReason.SHUTDOWN``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta
from typing import Any

from faststream.nats import NatsBroker

from libs.bus.broker import make_broker
from libs.bus.commands import CommandClient, CommandServer
from libs.bus.relay import Relay
from libs.bus.streams import DEFAULT, Topology, ensure_streams
from libs.contracts.studio_commands import (
    ChangeStudioOwner,
    CreateStudio,
    DeleteStudio,
    ExtendLifespan,
    RecordConnection,
    StartStudio,
    StopStudio,
    StudioCommand,
    UpdateStudio,
)
from libs.datalinks.credentials import CredentialStore
from libs.eventstore import EventStore
from libs.logs import LogPublisher
from libs.platform.metrics import start_metrics_server, stop_metrics_server
from libs.platform.session_keys import load_or_create_key
from libs.platform.signals import is_system_shutdown
from services.lifecycle import subscribers
from services.lifecycle.backends.base import ComputeBackend
from services.lifecycle.backends.docker import DockerBackend
from services.lifecycle.backends.kube import KubernetesBackend
from services.lifecycle.backends.local import LocalBackend
from services.lifecycle.backends.routing import RoutingBackend
from services.lifecycle.datalinks.copies import S3Copies
from services.lifecycle.datalinks.links import DataLinks
from services.lifecycle.handlers import StudioHandlers
from services.lifecycle.jobs.service import Jobs
from services.lifecycle.pools.manager import PoolManager
from services.lifecycle.pools.processes import PoolProcesses
from services.lifecycle.sessions.builds import BuildClient
from services.lifecycle.sessions.checkpointing import Checkpointing
from services.lifecycle.sessions.claims import SessionClaims
from services.lifecycle.sessions.leadership import LeaderLock
from services.lifecycle.sessions.logs import SessionLogs
from services.lifecycle.sessions.provisioning import Provisioner
from services.lifecycle.sessions.reconciler import Reconciler
from services.lifecycle.sessions.runner import RunnerConfig, SessionRunner
from services.lifecycle.sessions.start_progress import StartProgressReporter
from services.lifecycle.settings import LifecycleSettings

log = logging.getLogger("studios.lifecycle")

#: Commands other services (the gateway) send; the ``Record*`` ones come from this service's own runner.
PUBLIC_COMMANDS: tuple[type[StudioCommand], ...] = (
    CreateStudio, UpdateStudio, StartStudio, StopStudio, ExtendLifespan, DeleteStudio, RecordConnection,
    ChangeStudioOwner)


async def run(settings: LifecycleSettings, stop: asyncio.Event, topology: Topology = DEFAULT) -> None:
    database_url, nats_url = settings.require_urls()
    store = await EventStore.connect(database_url, server_settings=settings.database_settings)
    # graceful_timeout: on stop, FastStream waits this long for the handlers under way (commands in flight).
    broker = make_broker(nats_url, name="lifecycle", quiet=True, graceful_timeout=settings.drain_seconds)
    backend = _backends(settings)
    handlers = StudioHandlers(store)
    if isinstance(kube := backend.backends.get("kubernetes"), KubernetesBackend):
        kube.report = StartProgressReporter(handlers)  # pod events on the start's waiting step
    datalinks = DataLinks(S3Copies(settings.state_dir / "datalinks", settings.datalink_copy_max_mb * 1024**2),
                          CredentialStore(settings.credentials_file))  # s3:// links (docs/data-links.md)
    provisioner = Provisioner(store, settings.workspaces_dir, load_or_create_key(settings.session_key_file),
                              backends=frozenset(backend.backends), datalinks=datalinks)
    runner = SessionRunner(handlers, backend, provisioner,
                           RunnerConfig(settings.ready_timeout_seconds, settings.stop_grace_seconds))
    runner.builds = BuildClient(store, CommandClient(broker))  # condaEnvironment: services/builder builds it
    runner.checkpoints = Checkpointing(CommandClient(broker), provisioner)  # waits for services/checkpoints
    claims = runner.claims = runner.watcher.claims = SessionClaims(database_url)  # replicas: one works on a studio
    idle = timedelta(minutes=settings.idle_timeout_minutes) if settings.idle_timeout_minutes else None
    reconciler = Reconciler(store, handlers, runner, backend, settings.reconcile_interval_seconds, idle_timeout=idle,
                            leader=LeaderLock(database_url))
    runner.pools = pools = _pools(settings, store, backend, provisioner, reconciler)  # docs/pools.md

    server = CommandServer(broker, "lifecycle")
    for command in PUBLIC_COMMANDS:
        server.handle(command)(handlers.handle)
    subscribers.register(broker, runner, topology)
    jobs = Jobs.create(store, settings, runner.builds)  # job requirements are built by the builder too
    jobs.register(server)

    await broker.connect()
    await ensure_streams(broker.js, topology)
    log_publisher = LogPublisher(broker.js, settings.private_path(settings.state_dir / "log-spool"),
                                 prefix=topology.logs_prefix)  # a spool per replica (docs/operations.md, "Replicas")
    session_logs = SessionLogs(log_publisher, lambda sid, run: backend.log_path(f"{sid}-{run}"),  # the run key
                               handlers.state, settings.state_dir / "log-offsets",
                               quota_bytes=settings.log_quota_bytes)  # system lines and the tools' output
    session_logs.register(broker, topology)
    log_publisher.start()
    session_logs.resume()
    relay = Relay(store, broker.js, dsn=database_url, topology=topology)
    metrics = _serve_metrics(settings)
    await pools.recover()  # first: a member left half-bound is stopped before its studio's start is resumed
    await reconciler.run_once()  # before taking new work: adopt or settle what the last run left
    await broker.start()
    relay_stop = asyncio.Event()  # the relay outlives the drain, so what the drain records is published at once
    relay_task = asyncio.create_task(relay.run(relay_stop))
    reconcile_stop = asyncio.Event()  # its own: a start-to-shut-down run never sets ``stop``
    reconcile_task = asyncio.create_task(reconciler.run(reconcile_stop))
    # jobs outlive a restart; a whole-system shutdown stops them
    jobs_task = asyncio.create_task(jobs.run(broker.js, topology, reconcile_stop,
                                             lambda: settings.system_shutdown or is_system_shutdown(stop)))
    pools_task = asyncio.create_task(pools.run(reconcile_stop))
    log.info("lifecycle ready")
    try:
        if not settings.system_shutdown:  # else started only to take part in a whole-system shutdown
            await stop.wait()
    finally:
        reconcile_stop.set()
        with contextlib.suppress(Exception):
            await _wind_down(settings.system_shutdown or is_system_shutdown(stop), broker, reconciler, runner,
                             reconcile_task, settings.drain_seconds)
        pools_task.cancel()
        if settings.system_shutdown or is_system_shutdown(stop):
            with contextlib.suppress(Exception):
                await pools.shutdown()  # pooled processes are reaped with the system; a restart keeps them
        with contextlib.suppress(Exception):  # what the jobs' shutdown records is relayed before the relay stops
            await asyncio.wait([jobs_task], timeout=settings.stop_grace_seconds + settings.drain_seconds)
        relay_stop.set()
        for t in (relay_task, reconcile_task, jobs_task):
            t.cancel()
        await asyncio.gather(relay_task, reconcile_task, jobs_task, pools_task, return_exceptions=True)
        if metrics is not None:
            stop_metrics_server(metrics)
        await session_logs.close()
        await log_publisher.close()
        await backend.close()
        await claims.close()
        await store.close()


async def _wind_down(system: bool, broker: NatsBroker, reconciler: Reconciler, runner: SessionRunner,
                     reconcile_task: asyncio.Task[None], drain_seconds: float) -> None:
    log.info("lifecycle stopping (%s)", "system shutdown: stopping every session" if system
             else "restart: sessions keep running")
    await broker.stop()  # no new commands or start/stop events; the handlers under way finish first
    # The reconciler's loop ends with the stop event; a pass under way finishes (bounded), never one more.
    await asyncio.wait([reconcile_task], timeout=drain_seconds)
    if system:
        await reconciler.shutdown()
    else:
        try:  # starts and stops under way finish; what the bound cuts short the next lifecycle resumes
            await asyncio.wait_for(runner.drain(), drain_seconds)
        except TimeoutError:
            log.warning("session work still under way after %.0fs: left to the next lifecycle", drain_seconds)
    await reconciler.release()


def _backends(settings: LifecycleSettings) -> RoutingBackend:
    """Local always; docker where an engine is configured; kubernetes where a namespace is. All write output under
    ``<state dir>/logs``."""
    backends: dict[str, ComputeBackend] = {
        "local": LocalBackend(settings.state_dir, grace=settings.stop_grace_seconds)}
    if settings.docker_host:
        backends["docker"] = DockerBackend(settings.state_dir, settings.docker_host, grace=settings.stop_grace_seconds,
                                           user=settings.docker_user, network=settings.docker_network)
    if settings.kube_namespace:
        backends["kubernetes"] = KubernetesBackend(settings.state_dir, settings.kube_namespace,
                                                   kubeconfig=settings.kubeconfig, context=settings.kube_context,
                                                   grace=settings.stop_grace_seconds,
                                                   sync_image=settings.kube_sync_image)
    return RoutingBackend(backends, settings.state_dir / "logs")


def _pools(settings: LifecycleSettings, store: EventStore, backend: RoutingBackend, provisioner: Provisioner,
           reconciler: Reconciler) -> PoolManager:
    """Warm pools run beside the local backend (a bound process is one of its sessions) and are kept by the leader."""
    local = backend.backends["local"]
    assert isinstance(local, LocalBackend)
    processes = PoolProcesses(settings.state_dir, local, grace=min(5.0, settings.stop_grace_seconds),
                              cgroups=local.layout is not None)
    leader = reconciler.leader
    return PoolManager(store, processes, provisioner.session_key,
                       leading=lambda: leader is None or leader.held)  # as the reconciler's last pass found it


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
