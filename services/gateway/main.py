"""The gateway's composition root: ``create_app(settings)`` builds the FastAPI app; nothing connects at import.

Start-up (in the lifespan): open the store (applying the gateway's migrations), connect to NATS and make sure the
JetStream streams exist, run the relay (every service may; one leads), bootstrap the defaults, start the read-model
projections, and wait until the bootstrap is visible before serving.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import asyncpg
import httpx
from fastapi import APIRouter, FastAPI, Response
from faststream.nats import NatsBroker

from libs.bus.broker import make_broker
from libs.bus.commands import CommandClient
from libs.bus.relay import Relay
from libs.bus.streams import DEFAULT, Topology, ensure_streams
from libs.contracts.commands import Command, Reply
from libs.contracts.studio_state import State
from libs.datalinks.credentials import CredentialStore
from libs.eventstore import EventStore
from libs.platform.metrics import METRICS_CONTENT_TYPE, metrics_text
from libs.platform.session_keys import load_or_create_key
from services.gateway.access.auth import Principal
from services.gateway.api import civis, datachain, dataiku, native
from services.gateway.api.seqera import StudiosContext, install
from services.gateway.api.seqera import router as studios_router
from services.gateway.api.seqera import users as identity_api
from services.gateway.api.seqera import webhooks as webhooks_api
from services.gateway.api.seqera.common import install_error_handlers, install_request_trace
from services.gateway.bootstrap import ensure_defaults
from services.gateway.commands import BusCommandSender
from services.gateway.console import install as install_console
from services.gateway.logs import LogsClient
from services.gateway.proxy.admission import SecretOf, derived_secrets
from services.gateway.proxy.connections import tracker_with_lease
from services.gateway.proxy.http import proxy_router
from services.gateway.proxy.install import install_origins
from services.gateway.proxy.reaper import run as reap_connections
from services.gateway.proxy.wiring import connect_permission, lookup_studio, token_authenticator
from services.gateway.read.projections import base as projections
from services.gateway.read.projections.builds import BUILDS
from services.gateway.read.projections.checkpoints import CHECKPOINTS
from services.gateway.read.projections.deployments import DEPLOYMENTS
from services.gateway.read.projections.identity import IDENTITY, identity_subscription
from services.gateway.read.projections.jobs import JOBS
from services.gateway.read.projections.studios import STUDIOS
from services.gateway.read.schema import GATEWAY
from services.gateway.settings import GatewaySettings
from services.gateway.webhooks import runtime as webhooks

log = logging.getLogger("studios.gateway")


@dataclass
class Runtime:
    """What the lifespan opened, for the routes that need more than the store."""

    stop: asyncio.Event = field(default_factory=asyncio.Event)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)


def create_app(settings: GatewaySettings, topology: Topology = DEFAULT) -> FastAPI:
    database_url, nats_url = settings.require_urls()
    # trust_env=False: a proxy named in the environment must never sit between the gateway and 127.0.0.1 tools.
    # Idle connections to tools are dropped after 2 s, before the tools' own keep-alive (5 s in Node and uvicorn)
    # closes them under a request; the proxy resends a safe request that meets one anyway (proxy/http.py).
    http = httpx.AsyncClient(trust_env=False, timeout=httpx.Timeout(60.0, connect=5.0), follow_redirects=False,
                             limits=httpx.Limits(max_connections=100, max_keepalive_connections=20,
                                                 keepalive_expiry=2.0))
    runtime = Runtime()
    origins = settings.studio_origins()
    webhook_options = webhooks.WebhookOptions(allow_private=settings.webhooks_allow_private)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        store = await EventStore.connect(database_url, sources=[GATEWAY], max_size=20,
                                         server_settings=settings.database_settings)
        broker = make_broker(nats_url, name="gateway", quiet=True)
        _wake_projections_on_events(broker, topology)
        await broker.connect()
        await ensure_streams(broker.js, topology)
        await broker.start()
        sender = BusCommandSender(CommandClient(broker.nc))
        install(app, StudiosContext(store, sender, public_url=settings.public_url, origins=origins))
        datachain.install(app, datachain.DataChainContext(sender, broker.nc, settings.data_dir.resolve() / "job-files",
                                                          settings.public_url, topology))
        app.state.sender, app.state.http, app.state.webhooks = sender, http, webhook_options
        app.state.logs = LogsClient(broker.nc, topology,  # log queries and follows (api/seqera/studios/logs.py)
                                    keepalive=settings.logs_keepalive_seconds)
        position = await ensure_defaults(store, settings.admin_token_value(),
                                         work_dir=str(settings.data_dir.resolve() / "work"),
                                         allow_custom_commands=settings.allow_custom_commands,
                                         platform=settings.default_platform)
        relay = Relay(store, broker.js, dsn=database_url, topology=topology)
        runtime.tasks = [
            asyncio.create_task(relay.run(runtime.stop)),
            asyncio.create_task(identity_subscription(store).run(runtime.stop)),
            asyncio.create_task(projections.run(store, STUDIOS, runtime.stop)),
            asyncio.create_task(projections.run(store, BUILDS, runtime.stop)),
            asyncio.create_task(projections.run(store, CHECKPOINTS, runtime.stop)),
            asyncio.create_task(projections.run(store, DEPLOYMENTS, runtime.stop)),  # Civis deployments
            asyncio.create_task(projections.run(store, JOBS, runtime.stop)),
            # connections whose gateway died without closing them end with their lease (docs/activity.md)
            asyncio.create_task(reap_connections(lambda: store.pool, sender, runtime.stop,
                                                 every=min(10.0, settings.connection_lease_seconds / 3))),
        ]
        deliveries = webhooks.tasks(store, webhook_options, runtime.stop)
        runtime.tasks += deliveries
        if not await projections.wait_for_position(store.pool, IDENTITY, position, within=30.0):
            log.warning("identity read model is behind the bootstrap; serving anyway")
        log.info("gateway ready on http://%s:%s", settings.host, settings.port)
        try:
            yield
        finally:
            runtime.stop.set()
            # webhook requests in flight finish (bounded): one cut off would reach its receiver twice
            await asyncio.wait(deliveries, timeout=15.0)
            for t in runtime.tasks:
                t.cancel()
            await asyncio.gather(*runtime.tasks, return_exceptions=True)
            await http.aclose()
            await broker.stop()
            await store.close()

    app = FastAPI(title="Studios", version="0.1.0", lifespan=lifespan,
                  description="Studios control plane: Seqera Platform Studios API and friends")
    install_error_handlers(app)
    install_request_trace(app)
    app.include_router(identity_api.router)
    app.include_router(studios_router)
    app.include_router(datachain.router)  # DataChain Studio's jobs API under /api (docs/jobs.md)
    datachain.add_openapi(app)
    app.include_router(webhooks_api.router)
    app.include_router(native.router)  # templates, builds, operations (docs/builder.md)
    app.include_router(dataiku.router)  # Dataiku DSS's code studios API under /dip/publicapi (docs/dataiku.md)
    session_key = load_or_create_key(settings.session_key_file)
    secret_of = derived_secrets(session_key)
    app.state.civis_display_key = civis.link_key(session_key)  # signs Civis's displayUrl links
    app.state.credentials = CredentialStore(settings.credentials_file)  # s3:// data links (docs/data-links.md)
    app.include_router(civis.router)  # Civis Platform's studios API under /civis (docs/civis.md)
    install_console(app)  # the web console under /console (docs/console.md), over this app's own API
    install_origins(app, origins, http, secret_of, public_url=settings.public_url,  # before the path proxy
                    ticket_seconds=settings.connect_ticket_seconds,
                    session_seconds=settings.connect_session_hours * 3600,
                    connection_lease=settings.connection_lease_seconds)
    app.include_router(_proxy(app, http, secret_of, settings.connection_lease_seconds))
    _add_health(app)
    _add_asyncapi(app)
    return app


def _wake_projections_on_events(broker: NatsBroker, topology: Topology) -> None:
    """A relayed event means the store has something new: wake the read models at once instead of at their next
    poll. Core NATS without a queue group, so every gateway process hears it; losing one only costs a poll.
    ``no_reply``: the relay's publishes carry its ack inbox as their reply subject, which is JetStream's to answer."""

    @broker.subscriber(f"{topology.events_prefix}.>", no_reply=True)
    async def on_event() -> None:
        projections.wake(STUDIOS)
        projections.wake(BUILDS)
        projections.wake(CHECKPOINTS)
        projections.wake(DEPLOYMENTS)
        projections.wake(JOBS)


def _proxy(app: FastAPI, http: httpx.AsyncClient, secret_of: SecretOf, lease: float) -> APIRouter:
    """The proxy's look-ups, bound late: the pool and the sender exist only once the lifespan has run."""

    def pool() -> asyncpg.Pool:
        return app.state.store.pool  # type: ignore[no-any-return]

    async def lookup(session_id: str) -> State | None:
        return await lookup_studio(pool())(session_id)

    async def authenticate(token: str) -> Principal | None:
        return await token_authenticator(pool())(token)

    async def can_connect(user: Principal, state: State) -> bool:
        return await connect_permission(pool())(user, state)

    class LateSender:
        async def send(self, cmd: Command) -> Reply:
            return await app.state.sender.send(cmd)  # type: ignore[no-any-return]

    sender = LateSender()
    tracker = tracker_with_lease(sender, lease)
    return proxy_router(lookup, authenticate, can_connect, sender, http, secret_of=secret_of, tracker=tracker)


def _add_health(app: FastAPI) -> None:
    @app.get("/health", include_in_schema=False)
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/service-info")
    async def service_info() -> dict[str, object]:
        return {"serviceInfo": {"version": "0.1.0", "apiVersion": "1.187.0", "authTypes": ["bearer"]}}

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        # This process's studios_* registry (libs.platform.metrics), not prometheus_client's default one.
        return Response(metrics_text(), media_type=METRICS_CONTENT_TYPE)


def _add_asyncapi(app: FastAPI) -> None:
    """The event catalogue for outside subscribers (the same document ``studios asyncapi`` writes)."""
    from libs.platform.cli.asyncapi import asyncapi_document

    document: dict[str, object] = {}

    @app.get("/asyncapi.json", tags=["events"])
    async def asyncapi() -> dict[str, object]:
        if not document:
            document.update(asyncapi_document())
        return document
