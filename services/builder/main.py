"""The builder service's composition root: store, broker, command server, relay, runner; built-in templates seeded.

Commands (``studios.cmd.builder.*``): ``request_build``, ``cancel_build``, ``get_build_log``, ``save_template``.
A cancel reaches the builder process running the build through the relayed ``BuildCancelled`` (every builder
listens, no queue group), as well as directly when the same process took the command. On start the runner takes
up what the last builder left open (``BuildRunner.recover``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from typing import Any

from libs.bus.broker import StudiosBroker, make_broker
from libs.bus.commands import CommandServer
from libs.bus.relay import Relay
from libs.bus.streams import DEFAULT, Topology, ensure_streams
from libs.contracts.build_commands import CancelBuild, GetBuildLog, RequestBuild, SaveTemplate
from libs.eventstore import EventStore
from libs.logs import LogPublisher, RunLog
from services.builder.buildlog import BuildLogs, RunLine, RunLogFactory
from services.builder.environments.routing import Environments, ImageBuilder
from services.builder.environments.uv import UvEnvironments
from services.builder.handlers import BuilderHandlers
from services.builder.images.engine import DockerImages
from services.builder.images.kube import KubeImages
from services.builder.runner import BuildRunner
from services.builder.seeds import BUILT_IN
from services.builder.settings import BuilderSettings

log = logging.getLogger("studios.builder")


@dataclass
class Builder:
    settings: BuilderSettings
    store: EventStore
    broker: StudiosBroker
    handlers: BuilderHandlers
    runner: BuildRunner
    publisher: LogPublisher | None = None
    #: set once open builds are taken up and commands are served
    ready: asyncio.Event = field(default_factory=asyncio.Event)


async def create_app(settings: BuilderSettings, topology: Topology = DEFAULT) -> Builder:
    database_url, nats_url = settings.require_urls()
    store = await EventStore.connect(database_url, server_settings=settings.database_settings)
    broker = make_broker(nats_url, name="builder", quiet=True, graceful_timeout=settings.drain_seconds)
    root = settings.root
    venvs = UvEnvironments(root / "envs", root / "uv-cache", find_links=settings.find_links_list,
                           index_url=settings.index_url, no_index=settings.no_index)
    images = _images(settings)
    envs = Environments(venvs, images, base_image=settings.base_image)
    logs = BuildLogs(root / "logs")  # its bus side is wired in run(), once there is a connection
    handlers = BuilderHandlers(store, envs, logs)
    runner = BuildRunner(handlers, envs, max_concurrent=settings.max_concurrent_builds,
                         timeout=settings.build_timeout_seconds, max_attempts=settings.max_attempts)
    server = CommandServer(broker, "builder")
    server.handle(RequestBuild)(handlers.request)
    server.handle(CancelBuild)(handlers.cancel)
    server.handle(GetBuildLog)(handlers.get_log)
    server.handle(SaveTemplate)(handlers.save_template)

    @broker.subscriber(f"{topology.events_prefix}.build.BuildCancelled")
    async def on_cancelled(body: dict[str, Any]) -> None:
        runner.cancel(str(body["build_id"]))

    return Builder(settings, store, broker, handlers, runner)


def _images(settings: BuilderSettings) -> ImageBuilder | None:
    """A Kaniko Job per image build where a namespace and a registry are set; else the Docker engine, if any."""
    if settings.kube_namespace:
        if not settings.registry:
            raise ValueError("STUDIOS_BUILDER_KUBE_NAMESPACE needs STUDIOS_BUILDER_REGISTRY: where Kaniko pushes")
        return KubeImages(settings.kube_namespace, settings.registry, kubeconfig=settings.kubeconfig,
                          context=settings.kube_context, repository=settings.image_repository,
                          index_url=settings.index_url, push_secret=settings.registry_secret,
                          kaniko_image=settings.kaniko_image)
    if settings.docker_host:
        return DockerImages(settings.docker_host, repository=settings.image_repository, index_url=settings.index_url)
    return None


def _bus_logs(publisher: LogPublisher) -> RunLogFactory:
    def factory(build_id: str, attempt: int) -> RunLine | None:
        return RunLog(publisher, "build", build_id, attempt, "user")

    return factory


async def run(settings: BuilderSettings, stop: asyncio.Event, topology: Topology = DEFAULT,
              app: Builder | None = None) -> None:
    """``app``: one made by ``create_app`` (tests read its runner's counters); None: made here."""
    app = app or await create_app(settings, topology)
    broker, store = app.broker, app.store
    await broker.connect()
    await ensure_streams(broker.js, topology)
    if settings.publish_logs:
        app.publisher = LogPublisher(broker.js, settings.private_path(settings.root / "log-spool"),
                                     prefix=topology.logs_prefix)  # one spool per replica
        app.publisher.start()
        app.handlers.logs.bus = _bus_logs(app.publisher)
    relay = Relay(store, broker.js, dsn=settings.require_urls()[0], topology=topology)
    for template_id, definition in BUILT_IN.items():
        await app.handlers.save_template(SaveTemplate(template_id=template_id, definition=definition,
                                                      actor="builder", reason="built-in template"))
    recovered = await app.runner.recover()
    await broker.start()
    relay_stop = asyncio.Event()
    relay_task = asyncio.create_task(relay.run(relay_stop))
    log.info("builder ready (%d open builds taken up)", recovered)
    app.ready.set()
    try:
        await stop.wait()
    finally:
        with contextlib.suppress(Exception):
            await broker.stop()
        # Builds under way get the drain time; the rest are retried by the next builder (RecoverBuild).
        await app.runner.drain(settings.drain_seconds)
        relay_stop.set()
        relay_task.cancel()
        await asyncio.gather(relay_task, return_exceptions=True)
        if app.publisher is not None:
            await app.publisher.close()
        await app.runner.envs.close()
        await store.close()
