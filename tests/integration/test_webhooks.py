"""Webhooks against real PostgreSQL and a real HTTP receiver: a receiver failing its first 3 deliveries gets exactly
one successful delivery of each event afterwards, across a gateway restart mid-retry, signed so that the
``standardwebhooks`` package verifies it; 410 disables the endpoint; the log and redeliver; admins only; the SSRF
guard. The retry schedule is injected (fractions of a second) so nothing waits for the spec's hours."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from fastapi import FastAPI, Request, Response
from standardwebhooks.webhooks import Webhook

from libs.eventstore import EventStore
from libs.platform.clock import now
from libs.testing.waiting import wait_for
from services.gateway.api.seqera import webhooks as api
from services.gateway.api.seqera.common import install_error_handlers
from services.gateway.handlers.studio_settings import change_settings
from services.gateway.main import create_app
from services.gateway.read import consistency
from services.gateway.read.schema import GATEWAY
from services.gateway.settings import GatewaySettings
from services.gateway.webhooks import runtime
from services.gateway.webhooks.fanout import NAME
from services.gateway.webhooks.schedule import no_jitter
from tests.integration.proxy_helpers import serve
from tests.integration.studios_api_helpers import ORG, WS, seed

FAST = runtime.WebhookOptions(allow_private=True, schedule=(0.2,) * 7, jitter=no_jitter, poll=0.05)
ALICE = {"Authorization": "Bearer alice"}  # owner of WS (studios_api_helpers.seed)


@dataclass
class Receiver:
    """Answers ``plan`` statuses in turn (then 200) and keeps every request it got with what it answered."""

    plan: list[int] = field(default_factory=list)
    got: list[tuple[dict[str, str], bytes, int]] = field(default_factory=list)

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/hook")
        async def hook(request: Request) -> Response:
            status = self.plan.pop(0) if self.plan else 200
            self.got.append((dict(request.headers), await request.body(), status))
            return Response(status_code=status)

        return app

    def delivered(self) -> list[str]:
        """The event ids of the requests answered with a 2xx, in order."""
        return [orjson.loads(body)["id"] for _, body, status in self.got if status < 300]


@dataclass
class Gateway:
    """The gateway's webhook parts on one store: the routes, the fan-out and the worker; ``restart`` is a new
    process as far as they can tell (a new pool, new tasks, nothing kept in memory)."""

    database_url: str
    options: runtime.WebhookOptions
    store: EventStore | None = None
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    client: httpx.AsyncClient | None = None

    async def start(self) -> None:
        self.store = await EventStore.connect(self.database_url, sources=[GATEWAY])
        app = FastAPI()
        install_error_handlers(app)
        app.include_router(api.router)
        app.state.store, app.state.webhooks = self.store, self.options
        self.client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw.test")
        self.stop = asyncio.Event()
        self.tasks = runtime.tasks(self.store, self.options, self.stop)

    async def close(self) -> None:
        self.stop.set()
        await asyncio.gather(*self.tasks)
        assert self.client is not None and self.store is not None
        await self.client.aclose()
        await self.store.close()

    async def restart(self) -> None:
        await self.close()
        await self.start()

    @property
    def api(self) -> httpx.AsyncClient:
        assert self.client is not None
        return self.client

    async def register(self, url: str, **body: Any) -> dict[str, Any]:
        r = await self.api.post(f"/workspaces/{WS}/webhooks", json={"url": url, **body}, headers=ALICE)
        assert r.status_code == 201, r.text
        return r.json()  # type: ignore[no-any-return]

    async def settings_changed(self, hours: int) -> None:
        """An event of the workspace (any would do): its Studios settings change; returns once the fan-out has
        taken it (enqueued or passed it over)."""
        assert self.store is not None
        position = await change_settings(self.store, WS, ORG, {"lifespan_hours": hours}, now(), "1")
        assert await consistency.wait_for(self.store.pool, NAME, position, categories=["studiosettings"],
                                          timeout=30)

    async def deliveries(self, webhook_id: str, **params: str) -> list[dict[str, Any]]:
        r = await self.api.get(f"/workspaces/{WS}/webhooks/{webhook_id}/deliveries", params=params, headers=ALICE)
        assert r.status_code == 200, r.text
        return r.json()["deliveries"]  # type: ignore[no-any-return]


@asynccontextmanager
async def gateway(database_url: str, options: runtime.WebhookOptions = FAST) -> AsyncIterator[Gateway]:
    seeding = await EventStore.connect(database_url, sources=[GATEWAY])
    await seed(seeding)
    await seeding.close()
    gw = Gateway(database_url, options)
    await gw.start()
    try:
        yield gw
    finally:
        await gw.close()


async def event_ids(gw: Gateway) -> list[str]:
    assert gw.store is not None
    rows = await gw.store.pool.fetch("SELECT event_id FROM es.events WHERE category = 'studiosettings' "
                                     "ORDER BY global_position")
    return [str(r["event_id"]) for r in rows]


async def test_a_receiver_failing_its_first_3_deliveries_gets_each_event_exactly_once_across_a_restart(
        database_url: str) -> None:
    receiver = Receiver(plan=[500, 503, 500])
    async with serve(receiver.app()) as host, gateway(database_url) as gw:
        hook = await gw.register(f"http://{host}/hook", eventTypes=["StudioWorkspaceSettings*"])
        for hours in (1, 2, 3):
            await gw.settings_changed(hours)
        await wait_for(lambda: len(receiver.got) >= 2 or None, within=30, what="two failed deliveries")
        await gw.restart()  # mid-retry: failures are scheduled, nothing of them is in memory any more
        await wait_for(lambda: gw.deliveries(hook["id"], status="succeeded"), until=lambda d: len(d) == 3,
                       within=30, what="all three delivered")
        wanted = await event_ids(gw)
        assert len(wanted) == 3
        assert sorted(receiver.delivered()) == sorted(wanted)  # each once, none twice
        assert await gw.deliveries(hook["id"], status="pending") == []  # nothing left that could come again
        assert [status for *_, status in receiver.got].count(200) == 3
        assert sorted(status for *_, status in receiver.got if status >= 300) == [500, 500, 503]
        for headers, body, _ in receiver.got:
            payload = Webhook(hook["secret"]).verify(body, headers)
            assert payload["type"] == "StudioWorkspaceSettingsChanged" and "globalPosition" in payload
            digest = hmac.new(hook["secret"].encode(), body, hashlib.sha256).hexdigest()
            assert headers["x-studios-signature-256"] == f"sha256={digest}"
        retried = {h["webhook-id"] for h, _, status in receiver.got if status >= 300}
        assert retried <= {h["webhook-id"] for h, _, status in receiver.got if status == 200}  # same id again


async def test_410_disables_the_endpoint_and_the_log_shows_it(database_url: str) -> None:
    receiver = Receiver(plan=[410])
    async with serve(receiver.app()) as host, gateway(database_url) as gw:
        hook = await gw.register(f"http://{host}/hook")
        await gw.settings_changed(1)
        await wait_for(lambda: gw.api.get(f"/workspaces/{WS}/webhooks/{hook['id']}", headers=ALICE),
                       until=lambda r: r.json()["webhook"]["enabled"] is False, within=30, what="disabled")
        [failed] = await gw.deliveries(hook["id"])
        assert failed["status"] == "failed" and failed["lastStatusCode"] == 410
        assert [a["statusCode"] for a in failed["attemptLog"]] == [410]
        await gw.settings_changed(2)  # nothing is queued for a disabled endpoint
        r = await gw.api.get(f"/workspaces/{WS}/webhooks/{hook['id']}", headers=ALICE)
        assert "410" in r.json()["webhook"]["disabledReason"]
        assert len(await gw.deliveries(hook["id"])) == 1 and len(receiver.got) == 1


async def test_redeliver_sends_a_delivered_event_again_with_the_same_id(database_url: str) -> None:
    receiver = Receiver()
    async with serve(receiver.app()) as host, gateway(database_url) as gw:
        hook = await gw.register(f"http://{host}/hook")
        await gw.settings_changed(1)
        [done] = await wait_for(lambda: gw.deliveries(hook["id"], status="succeeded"), until=lambda d: len(d) == 1,
                                within=30)
        r = await gw.api.post(f"/workspaces/{WS}/webhooks/{hook['id']}/deliveries/{done['id']}/redeliver",
                              headers=ALICE)
        assert r.status_code == 202, r.text
        await wait_for(lambda: len(receiver.got) == 2 or None, within=30, what="the redelivery")
        first, again = receiver.got
        assert first[1] == again[1] and first[0]["webhook-id"] == again[0]["webhook-id"] == done["id"]
        [log] = await wait_for(lambda: gw.deliveries(hook["id"]), until=lambda d: len(d[0]["attemptLog"]) == 2)
        assert [a["statusCode"] for a in log["attemptLog"]] == [200, 200]


async def test_one_dead_receiver_does_not_hold_up_another(database_url: str) -> None:
    slow, fine = Receiver(plan=[500] * 8), Receiver()
    async with serve(slow.app()) as dead, serve(fine.app()) as alive, gateway(database_url) as gw:
        await gw.register(f"http://{dead}/hook")
        await gw.register(f"http://{alive}/hook")
        for hours in (1, 2, 3):
            await gw.settings_changed(hours)
        await wait_for(lambda: len(fine.delivered()) == 3 or None, within=30, what="the live receiver's three")
        assert sorted(fine.delivered()) == sorted(await event_ids(gw))


async def test_only_workspace_admins_manage_webhooks_and_private_receivers_are_refused(
        database_url: str) -> None:
    async with gateway(database_url, runtime.WebhookOptions(allow_private=False)) as gw:
        bob = {"Authorization": "Bearer bob"}  # launch role
        r = await gw.api.post(f"/workspaces/{WS}/webhooks", json={"url": "https://example.org/x"}, headers=bob)
        assert r.status_code == 403
        assert (await gw.api.get(f"/workspaces/{WS}/webhooks", headers=bob)).status_code == 403
        for url in ("http://127.0.0.1:9/x", "http://10.0.0.7/x", "http://169.254.169.254/latest/meta-data"):
            r = await gw.api.post(f"/workspaces/{WS}/webhooks", json={"url": url}, headers=ALICE)
            assert r.status_code == 400 and "STUDIOS_WEBHOOKS_ALLOW_PRIVATE" in r.json()["message"], r.text
        r = await gw.api.post(f"/workspaces/{WS}/webhooks", json={"url": "ftp://example.org"}, headers=ALICE)
        assert r.status_code == 400
        assert (await gw.api.get(f"/workspaces/{WS}/webhooks", headers=ALICE)).json() == {"webhooks": [],
                                                                                          "totalSize": 0}


@pytest.mark.parametrize("change", [{"eventTypes": ["StudioCreated"]}, {"enabled": False}])
async def test_a_changed_or_deleted_endpoint_gets_nothing_it_no_longer_wants(database_url: str,
                                                                            change: dict[str, Any]) -> None:
    receiver = Receiver()
    async with serve(receiver.app()) as host, gateway(database_url) as gw:
        hook = await gw.register(f"http://{host}/hook", description="ops")
        r = await gw.api.put(f"/workspaces/{WS}/webhooks/{hook['id']}", json=change, headers=ALICE)
        assert r.status_code == 200 and r.json()["webhook"]["description"] == "ops", r.text
        await gw.settings_changed(1)
        r = await gw.api.delete(f"/workspaces/{WS}/webhooks/{hook['id']}", headers=ALICE)
        assert r.status_code == 204
        await gw.settings_changed(2)
        assert (await gw.api.get(f"/workspaces/{WS}/webhooks/{hook['id']}", headers=ALICE)).status_code == 404
        assert gw.store is not None
        assert await gw.store.pool.fetchval("SELECT count(*) FROM webhooks.deliveries") == 0
        assert await gw.store.pool.fetchval("SELECT count(*) FROM webhooks.secrets") == 0


async def test_the_gateway_serves_webhooks_and_delivers_from_its_lifespan(database_url: str, nats_url: str,
                                                                          tmp_path: Path) -> None:
    settings = GatewaySettings(DATABASE_URL=database_url, NATS_URL=nats_url, STUDIOS_DATA_DIR=str(tmp_path),
                               STUDIOS_ADMIN_TOKEN="admin", STUDIOS_WEBHOOKS_ALLOW_PRIVATE="true")
    app = create_app(settings)
    receiver = Receiver()
    admin = {"Authorization": "Bearer admin"}
    async with serve(receiver.app()) as host, app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://gw") as client:
        r = await client.post("/workspaces/1/webhooks", json={"url": f"http://{host}/hook"}, headers=admin)
        assert r.status_code == 201, r.text
        await change_settings(app.state.store, 1, 1, {"lifespan_hours": 4}, now(), "1")
        await wait_for(lambda: receiver.delivered() or None, within=30, what="a delivery")
        [(headers, body, _)] = receiver.got
        assert Webhook(r.json()["secret"]).verify(body, headers)["data"]["lifespan_hours"] == 4
