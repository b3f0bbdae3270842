"""Restarts do no harm to users: with five running studios, each with an HTTP client and a WebSocket open through
the proxy, SIGTERM lifecycle, then the gateway (the supervisor restarts each). Every studio stays running with the
same tool process, the WebSockets reconnect and work, and nothing is lost from the store or the stream. Stopping
``studios up`` then stops every session, each recorded with ``SHUTDOWN``.

This module stops its own ``studios up`` at the end, so it keeps the module-scoped ``system`` to itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import time
from collections.abc import Awaitable, Callable

import httpx
import nats
import psutil
import websockets
from websockets.asyncio.client import ClientConnection

from libs.contracts.studio import StopReason, StudioStatus, stream_name
from libs.contracts.studio_state import INITIAL, State, evolve
from libs.eventstore import EventStore, load
from libs.testing.waiting import wait_for
from tests.e2e.conftest import System

WS = {"workspaceId": 1}
N = 5


async def until(condition: Callable[[], Awaitable[bool]], what: str, timeout: float = 90) -> None:
    """A bounded poll on ``condition`` (``libs.testing.waiting.wait_for``), named for what the test waits on."""
    await wait_for(condition, until=bool, within=timeout, every=0.1, what=what)


def service_pid(system: System, module: str) -> int | None:
    """The pid of the supervisor's child running ``python -m <module>``, if one runs."""
    for child in psutil.Process(system.proc.pid).children():
        with contextlib.suppress(psutil.Error):
            if module in child.cmdline() and child.status() != psutil.STATUS_ZOMBIE:
                return child.pid
    return None


def tool_pids(ids: set[str]) -> dict[str, int]:
    """Each studio's tool: the leader of the process group carrying its marker."""
    found: dict[str, int] = {}
    for p in psutil.process_iter(["pid"]):
        with contextlib.suppress(psutil.Error):
            sid = p.environ().get("STUDIOS_STUDIO_ID")
            if sid in ids and os.getpgid(p.pid) == p.pid and p.status() != psutil.STATUS_ZOMBIE:
                found[sid] = p.pid
    return found


async def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def nats_url(system: System) -> str:
    match = re.search(r"^\s+nats\s+(\S+)\s*$", (system.data_dir / "studios-up.log").read_text(), re.M)
    assert match, "the banner names the NATS server"
    return match.group(1)


async def open_ws(system: System, sid: str) -> ClientConnection:
    url = system.url.replace("http", "ws") + f"/connect/{sid}/ws"
    return await websockets.connect(url, additional_headers={"Authorization": f"Bearer {system.token}"})


async def echo(ws: ClientConnection, text: str) -> str:
    await ws.send(text)
    return str(await asyncio.wait_for(ws.recv(), 10))


async def reconnect(system: System, sid: str) -> ClientConnection:
    """What a browser does when its WebSocket drops: try again until the gateway is back."""
    deadline = time.monotonic() + 60
    while True:
        try:
            return await open_ws(system, sid)
        except (OSError, websockets.InvalidHandshake):
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)


async def get_hello(http: httpx.AsyncClient, sid: str, *, retry: bool = False) -> int:
    """One GET through the proxy; with ``retry``, a dropped keep-alive connection is retried, as clients do."""
    for attempt in range(50):
        try:
            return (await http.get(f"/connect/{sid}/hello")).status_code
        except httpx.TransportError:
            if not retry or attempt == 49:
                raise
            await asyncio.sleep(0.2)
    raise AssertionError("unreachable")


async def stored_events(store: EventStore) -> list[tuple[int, str]]:
    rows = await store.pool.fetch("SELECT global_position, event_id::text AS id FROM es.events ORDER BY 1")
    return [(r["global_position"], r["id"]) for r in rows]


async def stream_msg_ids(url: str) -> list[str]:
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        info = await js.stream_info("EVENTS")
        ids = []
        for seq in range(info.state.first_seq, info.state.last_seq + 1):
            msg = await js.get_msg("EVENTS", seq)
            ids.append((msg.headers or {})["Nats-Msg-Id"])
        return ids
    finally:
        await nc.close()


async def lifecycle_answers(url: str) -> bool:
    nc = await nats.connect(url)
    try:
        await nc.request("studios.cmd.lifecycle.delete_studio", b"{}", timeout=1)
        return True
    except Exception:
        return False
    finally:
        await nc.close()


async def fold(store: EventStore, sid: str) -> State:
    return (await load(store, stream_name(sid), evolve, INITIAL))[0]


async def scenario(system: System) -> None:
    store = await EventStore.connect(system.database_url)
    headers = {"Authorization": f"Bearer {system.token}"}
    api = httpx.AsyncClient(base_url=system.url, headers=headers, timeout=30)
    proxied = [httpx.AsyncClient(base_url=system.url, headers=headers, timeout=30) for _ in range(N)]
    sockets: list[ClientConnection] = []
    try:
        ids = []
        for i in range(N):
            r = await api.post("/studios", params=WS, json={"name": f"restart-{i}", "computeEnvId": "local",
                                                              "dataStudioToolUrl": "studios/http-echo:1"})
            assert r.status_code == 200, r.text
            ids.append(r.json()["studio"]["sessionId"])

        async def all_running() -> bool:
            dtos = [(await api.get(f"/studios/{sid}", params=WS)).json() for sid in ids]
            return all(d["statusInfo"]["status"] == "running" for d in dtos)

        await until(all_running, "every studio runs")
        before = {sid: await fold(store, sid) for sid in ids}
        pids = tool_pids(set(ids))
        assert set(pids) == set(ids)
        for http, sid in zip(proxied, ids, strict=True):
            assert await get_hello(http, sid) == 200
        sockets = [await open_ws(system, sid) for sid in ids]
        assert [await echo(ws, f"hi {i}") for i, ws in enumerate(sockets)] == [f"hi {i}" for i in range(N)]
        events_before = await stored_events(store)
        bus = nats_url(system)

        # 1. SIGTERM lifecycle: the supervisor restarts it; the proxy's connections never notice.
        old = service_pid(system, "services.lifecycle")
        assert old is not None
        psutil.Process(old).send_signal(signal.SIGTERM)
        await until(lambda: gone(old), "the old lifecycle exited")

        async def new_lifecycle_serves() -> bool:
            pid = service_pid(system, "services.lifecycle")
            return pid not in (None, old) and await lifecycle_answers(bus)

        await until(new_lifecycle_serves, "a new lifecycle answers commands")
        assert [await echo(ws, f"after lifecycle {i}") for i, ws in enumerate(sockets)] == \
            [f"after lifecycle {i}" for i in range(N)]
        for http, sid in zip(proxied, ids, strict=True):
            assert await get_hello(http, sid) == 200

        # 2. SIGTERM the gateway: WebSockets drop, clients reconnect to the restarted gateway and carry on.
        old_gateway = service_pid(system, "services.gateway")
        assert old_gateway is not None
        psutil.Process(old_gateway).send_signal(signal.SIGTERM)
        for ws in sockets:
            await asyncio.wait_for(ws.wait_closed(), 60)
        sockets = [await reconnect(system, sid) for sid in ids]
        assert service_pid(system, "services.gateway") not in (None, old_gateway)
        assert [await echo(ws, f"after gateway {i}") for i, ws in enumerate(sockets)] == \
            [f"after gateway {i}" for i in range(N)]
        for http, sid in zip(proxied, ids, strict=True):
            assert await get_hello(http, sid, retry=True) == 200

        # Every studio runs the same run with the same tool process, as far as the API and the store say.
        for sid in ids:
            dto = (await api.get(f"/studios/{sid}", params=WS)).json()
            assert dto["statusInfo"]["status"] == "running", dto["statusInfo"]
            now = await fold(store, sid)
            assert (now.status, now.run, now.handle) == (StudioStatus.RUNNING, before[sid].run, before[sid].handle)
        assert tool_pids(set(ids)) == pids

        # Nothing lost: every event is still where it was, and the stream holds each stored event exactly once.
        events_after = await stored_events(store)
        assert set(events_before) <= set(events_after)

        async def stream_caught_up() -> bool:
            return {i for _, i in await stored_events(store)} <= set(await stream_msg_ids(bus))

        await until(stream_caught_up, "the relay published every stored event")
        in_stream = await stream_msg_ids(bus)
        assert len(in_stream) == len(set(in_stream)), "an event is in EVENTS twice"

        for ws in sockets:
            await ws.close()
        sockets = []

        # 3. Stopping `studios up` is a whole-system shutdown: every session stops, recorded as SHUTDOWN.
        system.proc.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(system.proc.wait, 120) == 0
        for sid in ids:
            final = await fold(store, sid)
            assert final.status is StudioStatus.STOPPED and final.stop_reason is StopReason.SHUTDOWN, sid
        assert not tool_pids(set(ids)), "a tool outlived the shutdown"
    finally:
        for ws in sockets:
            with contextlib.suppress(Exception):
                await ws.close()
        for client in (api, *proxied):
            await client.aclose()
        await store.close()


def test_restarting_lifecycle_and_gateway_does_no_harm_to_users(system: System) -> None:
    asyncio.run(scenario(system))
