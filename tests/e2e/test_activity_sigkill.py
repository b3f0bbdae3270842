"""A gateway killed with SIGKILL leaves no ghost connection (issue 12): with ``studios up``, a WebSocket open through
the proxy is listed in ``GET /studios/{id}/connections``; the gateway process is SIGKILLed (it sends no close, and
the supervisor starts a new one); once the lease has passed, the connection is gone, closed by a reaper with the
reason "lease expired". The lease is 3 s here (``STUDIOS_CONNECTION_LEASE_SECONDS``; 90 s by default)."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from collections.abc import Callable
from typing import Any

import httpx
import psutil
import pytest
import websockets

from tests.e2e.conftest import System
from tests.e2e.helpers import status_is, wait_studio

WS = {"workspaceId": 1}


@pytest.fixture(scope="module")
def system_env() -> dict[str, str]:
    return {"STUDIOS_CONNECT_MODE": "path", "STUDIOS_CONNECTION_LEASE_SECONDS": "3"}


def _gateway_pid(system: System) -> int | None:
    for child in psutil.Process(system.proc.pid).children():
        with contextlib.suppress(psutil.Error):
            if "services.gateway" in child.cmdline() and child.status() != psutil.STATUS_ZOMBIE:
                return int(child.pid)
    return None


def _poll(check: Callable[[], Any], until: Callable[[Any], bool], what: str, within: float = 60) -> Any:
    """A bounded poll on a condition; a gateway that is restarting answers nothing for a moment."""
    deadline = time.monotonic() + within
    last: Any = None
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            last = check()
            if until(last):
                return last
        time.sleep(0.1)
    raise AssertionError(f"{what}: not reached (last seen {last!r})")


def test_a_sigkilled_gateway_leaves_no_ghost_connection_after_the_lease(system: System) -> None:
    with system.client() as c:
        r = c.post("/studios", params=WS, json={"name": "ghost-check", "computeEnvId": "local",
                                                "dataStudioToolUrl": "studios/http-echo:1"})
        assert r.status_code == 200, r.text
        sid = r.json()["studio"]["sessionId"]
        wait_studio(c, sid, status_is("running"))

        def connections() -> list[dict[str, Any]]:
            r = c.get(f"/studios/{sid}/connections", params=WS)
            r.raise_for_status()
            return r.json()["activeConnections"]  # type: ignore[no-any-return]

        async def connect_and_kill() -> None:
            url = system.url.replace("http", "ws") + f"/connect/{sid}/ws"
            async with websockets.connect(url, additional_headers={"Authorization": f"Bearer {system.token}"}) as ws:
                await ws.send("hello")
                assert await asyncio.wait_for(ws.recv(), 10) == "hello"
                listed = await asyncio.to_thread(_poll, connections, lambda cs: len(cs) == 1, "listed")
                assert listed[0]["userName"] == "admin"
                old = _gateway_pid(system)
                assert old is not None
                psutil.Process(old).send_signal(signal.SIGKILL)  # no close can be sent: the process is gone
                with contextlib.suppress(websockets.ConnectionClosed):
                    await asyncio.wait_for(ws.recv(), 30)

        asyncio.run(connect_and_kill())
        _poll(connections, lambda cs: cs == [], "the ghost gone after the lease", within=90)
        history = _poll(lambda: c.get(f"/studios/{sid}/history", params=WS).json()["events"],
                        lambda evs: any(e["eventType"] == "StudioConnectionClosed" for e in evs), "the close")
        closed = [e for e in history if e["eventType"] == "StudioConnectionClosed"]
        assert [e["actor"] for e in closed] == ["gateway"]  # the reaper, not the killed gateway
