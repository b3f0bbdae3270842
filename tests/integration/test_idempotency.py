"""Commands are idempotent and traceable, through HTTP: the gateway's Studios routes send their commands over real
NATS to the lifecycle command server (``StudioHandlers``), which appends to a real PostgreSQL store."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import nats
import pytest
from fastapi import FastAPI

from libs.bus import CommandClient, CommandServer, make_broker
from libs.contracts.commands import Command, CommandMeta, Reply
from libs.contracts.errors import Unavailable
from libs.contracts.studio_commands import CreateStudio, RecordSessionRunning
from libs.eventstore import EventStore
from services.gateway.api.seqera import StudiosContext, install, router
from services.gateway.api.seqera.common import install_error_handlers
from services.gateway.commands import BusCommandSender, TracingSender
from services.gateway.read.projections import STUDIOS, run
from services.gateway.read.schema import GATEWAY
from services.lifecycle.handlers import StudioHandlers
from services.lifecycle.main import PUBLIC_COMMANDS
from tests.integration.studios_api_helpers import CE, WS, seed

TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


class LosesFirstReply:
    """The first create reaches lifecycle and is decided, but its reply never comes back (a timeout)."""

    def __init__(self, inner: TracingSender) -> None:
        self.inner, self.lost = inner, 0

    async def send(self, cmd: Command, meta: CommandMeta | None = None) -> Reply:
        reply = await self.inner.send(cmd, meta)
        if isinstance(cmd, CreateStudio) and not self.lost:
            self.lost += 1
            raise Unavailable("lifecycle did not answer create_studio in time")
        return reply


@dataclass
class Gateway:
    store: EventStore
    client: httpx.AsyncClient
    handlers: StudioHandlers

    async def post(self, path: str, user: str = "alice", key: str | None = None, **kw: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {user}", **kw.pop("headers", {})}
        if key is not None:
            headers["Idempotency-Key"] = key
        return await self.client.post(path, headers=headers, **kw)

    async def create(self, name: str, key: str | None = None, **kw: Any) -> httpx.Response:
        body = {"name": name, "computeEnvId": CE, "dataStudioToolUrl": "studios/http-echo:1"}
        return await self.post(f"/studios?workspaceId={WS}&autoStart=false", key=key, json=body, **kw)

    async def events(self, event_type: str | None = None) -> list[dict[str, Any]]:
        rows = await self.store.pool.fetch(
            "SELECT stream_name, event_id, event_type, metadata::text AS metadata FROM es.events "
            "WHERE $1::text IS NULL OR event_type = $1 ORDER BY global_position", event_type)
        return [{**dict(r), "metadata": json.loads(r["metadata"])} for r in rows]


@asynccontextmanager
async def gateway(database_url: str, nats_url: str, lose_first_reply: bool = False) -> AsyncIterator[Gateway]:
    store = await EventStore.connect(database_url, sources=[GATEWAY])
    await seed(store)
    handlers = StudioHandlers(store)
    broker = make_broker(nats_url, name="lifecycle-under-test", quiet=True)
    server = CommandServer(broker, "lifecycle")
    for command in PUBLIC_COMMANDS:
        server.handle(command)(handlers.handle)
    await broker.start()
    nc = await nats.connect(nats_url)
    sender: TracingSender = BusCommandSender(CommandClient(nc))
    app = FastAPI()
    install_error_handlers(app)
    install(app, StudiosContext(store, LosesFirstReply(sender) if lose_first_reply else sender,
                                public_url="http://gw.test"))
    app.include_router(router)
    stop = asyncio.Event()
    projection = asyncio.create_task(run(store, STUDIOS, stop))
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw.test") as client:
            yield Gateway(store, client, handlers)
    finally:
        stop.set()
        await projection
        await nc.drain()
        await broker.stop()
        await store.close()


@pytest.fixture
async def gw(database_url: str, nats_url: str) -> AsyncIterator[Gateway]:
    async with gateway(database_url, nats_url) as g:
        yield g


async def running_studio(gw: Gateway) -> str:
    """A studio its runner reported running (what the session runner would send), with an 8-hour lifespan."""
    body = {"name": "lab", "computeEnvId": CE, "dataStudioToolUrl": "studios/http-echo:1",
            "configuration": {"lifespanHours": 8}}
    r = await gw.post(f"/studios?workspaceId={WS}", json=body)
    assert r.status_code == 200, r.text
    sid: str = r.json()["studio"]["sessionId"]
    await gw.handlers.handle(RecordSessionRunning(session_id=sid, now=datetime.now(UTC), actor="lifecycle", run=1,
                                                  handle={}, url="http://127.0.0.1:1"))
    return sid


async def test_the_same_lifespan_extension_sent_twice_with_one_key_is_one_event(gw: Gateway) -> None:
    sid = await running_studio(gw)
    first = await gw.post(f"/studios/{sid}/lifespan?workspaceId={WS}", key="extend-1")
    again = await gw.post(f"/studios/{sid}/lifespan?workspaceId={WS}", key="extend-1")
    assert first.status_code == again.status_code == 200, (first.text, again.text)
    assert again.json()["statusInfo"] == first.json()["statusInfo"]
    assert len(await gw.events("StudioLifespanExtended")) == 1
    other = await gw.post(f"/studios/{sid}/lifespan?workspaceId={WS}", key="extend-2")
    assert other.status_code == 200 and len(await gw.events("StudioLifespanExtended")) == 2


async def test_concurrent_requests_with_one_key_decide_once(gw: Gateway) -> None:
    sid = await running_studio(gw)
    results = await asyncio.gather(*(gw.post(f"/studios/{sid}/lifespan?workspaceId={WS}", key="together")
                                     for _ in range(4)))
    assert [r.status_code for r in results] == [200] * 4
    assert len(await gw.events("StudioLifespanExtended")) == 1


async def test_a_create_whose_reply_was_lost_retried_with_its_key_answers_the_same_studio(
        database_url: str, nats_url: str) -> None:
    async with gateway(database_url, nats_url, lose_first_reply=True) as g:
        lost = await g.create("retried", key="create-1")
        assert lost.status_code == 503  # the client saw no answer, but lifecycle created the studio
        retried = await g.create("retried", key="create-1")
        assert retried.status_code == 200, retried.text
        created = await g.events("StudioCreated")
        assert len(created) == 1 and created[0]["stream_name"] == f"studio-{retried.json()['studio']['sessionId']}"
        without_key = await g.create("retried")
        assert without_key.status_code == 409  # the key is what makes it a retry


async def test_concurrent_creates_with_one_key_make_one_studio(gw: Gateway) -> None:
    results = await asyncio.gather(*(gw.create("once", key="create-together") for _ in range(3)))
    assert [r.status_code for r in results] == [200] * 3, [r.text for r in results]
    assert len({r.json()["studio"]["sessionId"] for r in results}) == 1
    assert len(await gw.events("StudioCreated")) == 1


async def test_the_same_key_with_another_body_is_a_422_and_decides_nothing(gw: Gateway) -> None:
    assert (await gw.create("one", key="k")).status_code == 200
    before = len(await gw.events())
    r = await gw.create("two", key="k")
    assert r.status_code == 422 and "idempotency key" in r.json()["message"].lower()
    assert len(await gw.events()) == before


async def test_keys_are_per_user(gw: Gateway) -> None:
    mine, theirs = await gw.create("mine", key="same"), await gw.create("theirs", key="same", user="bob")
    assert mine.status_code == theirs.status_code == 200
    assert mine.json()["studio"]["sessionId"] != theirs.json()["studio"]["sessionId"]


async def test_an_unusable_key_is_a_400(gw: Gateway) -> None:
    assert (await gw.create("long", key="x" * 256)).status_code == 400
    assert (await gw.create("empty", key=" ")).status_code == 400


async def test_an_http_write_leaves_its_trace_in_every_event_metadata(gw: Gateway) -> None:
    r = await gw.post(f"/studios?workspaceId={WS}", key="traced", headers={
        "traceparent": TRACEPARENT, "X-Correlation-Id": "req-42"},
        json={"name": "traced", "computeEnvId": CE, "dataStudioToolUrl": "studios/http-echo:1"})
    assert r.status_code == 200, r.text
    events = [e for e in await gw.events() if e["stream_name"].startswith("studio-")]
    assert [e["event_type"] for e in events] == ["StudioCreated", "StudioStartRequested"]
    command_ids = {e["metadata"]["command_id"] for e in events}
    assert len(command_ids) == 1
    command_id = uuid.UUID(command_ids.pop())
    for i, e in enumerate(events):
        md = e["metadata"]
        assert (md["correlation_id"], md["causation_id"], md["actor"], md["source"], md["traceparent"]) == (
            "req-42", str(command_id), "1", "lifecycle", TRACEPARENT)
        assert md["origin"] == "gateway"
        assert e["event_id"] == uuid.uuid5(command_id, str(i))  # derived from the command id


async def test_without_headers_the_command_id_correlates_and_no_traceparent_is_made_up(gw: Gateway) -> None:
    assert (await gw.create("plain")).status_code == 200
    (created,) = await gw.events("StudioCreated")
    md = created["metadata"]
    assert md["correlation_id"] == md["causation_id"] == md["command_id"]
    assert "traceparent" not in md and md["actor"] == "1" and md["source"] == "lifecycle"


async def test_the_runner_events_of_a_run_carry_the_trace_of_the_request_that_started_it(gw: Gateway) -> None:
    r = await gw.post(f"/studios?workspaceId={WS}", headers={"traceparent": TRACEPARENT, "X-Request-Id": "start-9"},
                      json={"name": "run-traced", "computeEnvId": CE, "dataStudioToolUrl": "studios/http-echo:1"})
    assert r.status_code == 200, r.text
    sid = r.json()["studio"]["sessionId"]
    # what the session runner does once the tool answers: an in-process command, without an envelope
    await gw.handlers.handle(RecordSessionRunning(session_id=sid, now=datetime.now(UTC), actor="lifecycle", run=1,
                                                  handle={}, url="http://127.0.0.1:1"))
    (started,) = await gw.events("StudioStartRequested")
    (running,) = await gw.events("StudioSessionRunning")
    md = running["metadata"]
    assert (md["correlation_id"], md["traceparent"], md["actor"], md["source"]) == (
        "start-9", TRACEPARENT, "lifecycle", "lifecycle")
    assert md["causation_id"] == md["command_id"] != started["metadata"]["command_id"]
