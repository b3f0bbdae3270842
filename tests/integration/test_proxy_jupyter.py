"""A real JupyterLab behind the proxy: browser login by ``?access_token=``, a kernel created by POST (Jupyter's
origin and XSRF checks), its channels WebSocket with Jupyter's subprotocol, and code run through it."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Origin, Subprotocol

from services.gateway.proxy.http import proxy_router
from tests.integration.proxy_helpers import (
    SECRET,
    RecordingSender,
    authenticate,
    can_connect,
    free_port,
    serve,
    studio,
    tool_process,
)

pytest.importorskip("jupyterlab")
pytestmark = pytest.mark.jupyter
KERNEL = Subprotocol("v1.kernel.websocket.jupyter.org")


def _execute(code: str) -> bytes:
    """An ``execute_request`` in Jupyter's v1 WebSocket framing: part count, offsets, channel, then JSON parts."""
    header = {"msg_id": uuid.uuid4().hex, "username": "u", "session": "s", "msg_type": "execute_request",
              "version": "5.3"}
    parts = [b"shell", json.dumps(header).encode(), b"{}", b"{}",
             json.dumps({"code": code, "silent": False}).encode()]
    offsets = [8 * (len(parts) + 2)]
    for part in parts:
        offsets.append(offsets[-1] + len(part))
    return b"".join(n.to_bytes(8, "little") for n in [len(offsets), *offsets]) + b"".join(parts)


def _parts(frame: bytes) -> list[bytes]:
    count = int.from_bytes(frame[:8], "little")
    offsets = [int.from_bytes(frame[8 * (i + 1):8 * (i + 2)], "little") for i in range(count)]
    return [frame[offsets[i]:offsets[i + 1]] for i in range(count - 1)]


async def test_jupyterlab_works_through_the_proxy(tmp_path: Path) -> None:
    port = free_port()
    args = ["--no-browser", "--allow-root", f"--port={port}", "--ip=127.0.0.1", "--ServerApp.base_url=/connect/s-j/",
            f"--IdentityProvider.token={SECRET}", f"--ServerApp.root_dir={tmp_path}"]
    state = studio("s-j", port)

    async def lookup(session_id: str):  # type: ignore[no-untyped-def]
        return state if session_id == "s-j" else None

    with tool_process("jupyterlab", port, args=args, timeout=60) as proc:
        async with httpx.AsyncClient(trust_env=False, timeout=30) as upstream:
            app = FastAPI()
            app.include_router(proxy_router(lookup, authenticate, can_connect, RecordingSender(), upstream))
            async with serve(app) as base, httpx.AsyncClient(base_url=f"http://{base}", timeout=30) as browser:
                origin = f"http://{base}"
                assert (await browser.get("/connect/s-j/lab?access_token=tok-alice")).status_code == 302
                assert (await browser.get("/connect/s-j/lab")).status_code == 200
                r = await browser.post("/connect/s-j/api/kernels", json={"name": "python3"}, headers={"Origin": origin})
                assert r.status_code == 201, r.text
                kernel = r.json()["id"]
                cookies = "; ".join(f"{k}={v}" for k, v in browser.cookies.items())
                async with connect(f"ws://{base}/connect/s-j/api/kernels/{kernel}/channels?session_id=s",
                                   origin=Origin(origin), additional_headers={"Cookie": cookies},
                                   subprotocols=[KERNEL], max_size=None) as ws:
                    assert ws.subprotocol == KERNEL
                    await ws.send(_execute("print(6 * 7)"))
                    assert await _stream_output(ws) == "42"
                r = await browser.delete(f"/connect/s-j/api/kernels/{kernel}", headers={"Origin": origin})
                assert r.status_code == 204
    assert proc.poll() is not None


async def _stream_output(ws: ClientConnection) -> str:
    """The text of the first ``stream`` message."""
    async with asyncio.timeout(30):
        while True:
            frame = await ws.recv()
            parts = _parts(frame if isinstance(frame, bytes) else frame.encode())
            header, content = json.loads(parts[1]), json.loads(parts[4])
            if header["msg_type"] == "stream":
                return str(content["text"]).strip()
    raise AssertionError("unreachable")
