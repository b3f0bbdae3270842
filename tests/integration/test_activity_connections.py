"""Who is in a studio, end to end: the real lifecycle (NATS commands, PostgreSQL), a real tool behind the real proxy
on uvicorn, the studios projection and ``GET /studios/{id}/connections``. Two users connected over WebSockets are
listed with their email and avatar; closing their tabs removes them; a gateway that dies without a word (its
commands no longer reach anyone: no renewal, no close) leaves no ghost once the lease has passed. Leases are
seconds here (90 s in production) so the test waits on conditions, not on minutes."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from websockets.asyncio.client import ClientConnection, connect

from libs.contracts.commands import Command, Reply
from libs.contracts.studio import StudioStatus
from libs.contracts.studio_state import State
from libs.eventstore import EventStore
from libs.platform.session_keys import load_or_create_key
from libs.testing.fakes import ProxiedUser
from libs.testing.waiting import wait_for
from services.gateway.api.seqera import StudiosContext, install, router
from services.gateway.api.seqera.common import install_error_handlers
from services.gateway.proxy import reaper
from services.gateway.proxy.admission import derived_secrets
from services.gateway.proxy.connections import ConnectionTracker
from services.gateway.proxy.http import proxy_router
from services.gateway.read.projections import STUDIOS, run
from services.gateway.read.schema import GATEWAY
from tests.integration.lifecycle_harness import Lifecycle, create, running_lifecycle
from tests.integration.proxy_helpers import serve
from tests.integration.studios_api_helpers import WS, seed

USERS = {"alice": ProxiedUser("1", "alice"), "bob": ProxiedUser("2", "bob")}
LEASE = 2.0


async def authenticate(token: str) -> ProxiedUser | None:
    return USERS.get(token)


async def anyone(user: ProxiedUser, state: State) -> bool:
    return True


class DeadSender:
    """A gateway process that was SIGKILLed: from the lifecycle's side its commands simply stop arriving."""

    def __init__(self, commands: Lifecycle) -> None:
        self.commands, self.dead = commands, False

    async def send(self, cmd: Command) -> Reply:
        if self.dead:
            await asyncio.Event().wait()
        return await self.commands.send(cmd)


@dataclass
class Studio:
    lc: Lifecycle
    store: EventStore
    session_id: str
    api: httpx.AsyncClient
    gateways: dict[str, str]  # name -> host:port of a proxy
    senders: dict[str, DeadSender]

    async def connections(self) -> list[dict[str, Any]]:
        r = await self.api.get(f"/studios/{self.session_id}/connections", headers={"Authorization": "Bearer alice"})
        assert r.status_code == 200, r.text
        return r.json()["activeConnections"]  # type: ignore[no-any-return]

    async def names(self) -> list[str]:
        return sorted(c["userName"] for c in await self.connections())

    @contextlib.asynccontextmanager
    async def tab(self, user: str, gateway: str = "a") -> AsyncIterator[ClientConnection]:
        url = f"ws://{self.gateways[gateway]}/connect/{self.session_id}/api/kernels/k1/channels"
        async with connect(url, additional_headers={"Authorization": f"Bearer {user}"}) as ws:
            await ws.send("hello")
            assert await ws.recv() == "hello"
            yield ws


def _proxy_app(lc: Lifecycle, sender: DeadSender, key: bytes, upstream: httpx.AsyncClient) -> FastAPI:
    async def lookup(session_id: str) -> State | None:
        return await lc.state(session_id)

    tracker = ConnectionTracker(sender, lease=LEASE, renew=0.4, sweep_every=0.1)
    app = FastAPI()
    app.include_router(proxy_router(lookup, authenticate, anyone, sender, upstream, tracker=tracker,
                                    secret_of=derived_secrets(key)))
    return app


@contextlib.asynccontextmanager
async def studio(database_url: str, nats_url: str, tmp_path: Path) -> AsyncIterator[Studio]:
    store = await EventStore.connect(database_url, sources=[GATEWAY])
    await seed(store)
    stop = asyncio.Event()
    async with running_lifecycle(database_url, nats_url, tmp_path) as lc:
        key = load_or_create_key(lc.settings.session_key_file)
        cmd = create("who-is-in").model_copy(update={"workspace_id": str(WS)})
        await lc.send(cmd)
        await lc.wait_status(cmd.session_id, StudioStatus.RUNNING)
        app = FastAPI()
        install_error_handlers(app)
        install(app, StudiosContext(store, lc, public_url="http://gw.test"))
        app.include_router(router)
        senders = {"a": DeadSender(lc), "b": DeadSender(lc)}
        tasks = [asyncio.create_task(run(store, STUDIOS, stop)),
                 asyncio.create_task(reaper.run(lambda: store.pool, lc, stop, every=0.2))]
        async with httpx.AsyncClient(trust_env=False, timeout=30) as upstream, \
                serve(_proxy_app(lc, senders["a"], key, upstream)) as a, \
                serve(_proxy_app(lc, senders["b"], key, upstream)) as b, \
                httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw.test") as api:
            # The route reads the studios read model, which the projection started above is still catching up on.
            await wait_for(lambda: api.get(f"/studios/{cmd.session_id}", headers={"Authorization": "Bearer alice"}),
                           until=lambda r: r.status_code == 200, within=20, what="the studio in the read model")
            try:
                yield Studio(lc, store, cmd.session_id, api, {"a": a, "b": b}, senders)
            finally:
                stop.set()
                await asyncio.gather(*tasks)
    await store.close()


async def test_two_users_are_listed_while_connected_and_gone_when_their_tabs_close(
        database_url: str, nats_url: str, tmp_path: Path) -> None:
    async with studio(database_url, nats_url, tmp_path) as s:
        async with s.tab("alice"), s.tab("bob"):
            await wait_for(s.names, until=lambda n: n == ["alice", "bob"], within=20, what="both listed")
            listed = {c["userName"]: c for c in await s.connections()}
            assert listed["bob"]["email"] == "bob@example.org" and listed["bob"]["id"] == 2
            assert listed["bob"]["avatar"].startswith("https://www.gravatar.com/avatar/")
            assert listed["alice"]["lastActive"]
            # renewed while open: past their first lease (the reaper runs), both still listed
            first = await s.lc.state(s.session_id)
            await wait_for(lambda: s.lc.state(s.session_id), within=20, what="renewals past the first lease",
                           until=lambda st: _renewed_past(first, st))
            assert await s.names() == ["alice", "bob"]
        await wait_for(s.names, until=lambda n: n == [], within=20, what="both gone")
        reasons = await _close_reasons(s)
        assert len(reasons) == 2 and not any(reasons)  # closed by their tabs, not by the lease


async def test_a_gateway_killed_without_a_word_leaves_no_ghost_after_the_lease(
        database_url: str, nats_url: str, tmp_path: Path) -> None:
    async with studio(database_url, nats_url, tmp_path) as s:
        async with s.tab("alice", "a"):
            async with s.tab("bob", "b"):
                await wait_for(s.names, until=lambda n: n == ["alice", "bob"], within=20, what="both listed")
                s.senders["b"].dead = True  # gateway b is gone: bob's tab lost its gateway; no close is sent
            await wait_for(s.names, until=lambda n: n == ["alice"], within=20, what="bob's ghost gone")
            reasons = await _close_reasons(s)
            assert reasons == [reaper.EXPIRED]
            assert await s.names() == ["alice"]  # alice's connection, renewed by a live gateway, stays


def _renewed_past(first: State, now: State) -> bool:
    """Every user's lease now ends more than a lease after it first did: renewed, and past the first one."""
    before = {c.user_id: c.lease_until for c in first.active_connections}
    after = {c.user_id: c.lease_until for c in now.active_connections}
    return set(before) == set(after) and all(
        b is not None and a is not None and (a - b).total_seconds() > LEASE for b, a in
        ((before[u], after[u]) for u in before))


async def _close_reasons(s: Studio) -> list[str | None]:
    rows = await s.store.pool.fetch(
        "SELECT data->>'reason' AS reason FROM es.events WHERE stream_name = $1 "
        "AND event_type = 'StudioConnectionClosed' ORDER BY global_position", f"studio-{s.session_id}")
    return [r["reason"] for r in rows]
