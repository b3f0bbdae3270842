"""The proxy over real HTTP and real WebSockets: uvicorn serving the router, real tool processes behind it."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from contextlib import ExitStack
from dataclasses import dataclass

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.typing import Origin, Subprotocol

from libs.contracts.studio import StudioStatus
from libs.contracts.studio_commands import RecordConnection
from libs.platform.metrics import registry
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
from tests.integration.tools_echo import pattern

ALICE = {"Authorization": "Bearer tok-alice"}
KERNEL = Subprotocol("v1.kernel.websocket.jupyter.org")
BIG = 20 * 2**20


@dataclass
class Env:
    base: str
    http: httpx.AsyncClient
    sender: RecordingSender

    def ws(self, path: str) -> str:
        return f"ws://{self.base}{path}"


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def env() -> AsyncIterator[Env]:
    echo_port, tool_port = free_port(), free_port()
    states = {s.session_id: s for s in (
        studio("s-run", echo_port), studio("s-tool", tool_port),
        studio("s-private", echo_port, is_private=True, user_id="9"),
        studio("s-stopped", echo_port, status=StudioStatus.STOPPED, handle=None),
        studio("s-down", free_port()),
    )}

    async def lookup(session_id: str):  # type: ignore[no-untyped-def]
        return states.get(session_id)

    sender = RecordingSender()
    with ExitStack() as processes:
        procs = [processes.enter_context(tool_process("services.lifecycle.tools.http_echo", echo_port)),
                 processes.enter_context(tool_process("tests.integration.tools_echo", tool_port))]
        async with httpx.AsyncClient(timeout=httpx.Timeout(30, connect=5), trust_env=False) as upstream:
            app = FastAPI()
            app.include_router(proxy_router(lookup, authenticate, can_connect, sender, upstream))
            async with serve(app) as base, httpx.AsyncClient(base_url=f"http://{base}", timeout=30) as http:
                yield Env(base, http, sender)
    assert all(p.poll() is not None for p in procs), "a tool process survived"


async def test_get_is_forwarded_with_the_secret_and_without_the_users_token(env: Env) -> None:
    r = await env.http.get("/connect/s-run/lab/tree?x=1", headers={**ALICE, "Cookie": "studios_token=tok-alice; o=1"})
    assert r.status_code == 200
    echoed = r.json()
    assert (echoed["path"], echoed["query"], echoed["method"]) == ("/connect/s-run/lab/tree", "x=1", "GET")
    assert echoed["headers"]["cookie"] == "o=1"
    assert echoed["headers"]["host"] == env.base and echoed["headers"]["x-forwarded-for"] == "127.0.0.1"
    assert registry().get_sample_value("studios_proxy_requests_total", {"service": "gateway", "status": "200"})


async def test_the_tool_sees_the_secret_as_a_jupyter_token(env: Env) -> None:
    r = await env.http.get("/connect/s-tool/headers", headers=ALICE)
    headers = dict(r.json())
    assert headers["authorization"] == f"token {SECRET}" and headers["x-studios-secret"] == SECRET
    assert "tok-alice" not in str(r.json())


async def test_post_bodies_are_forwarded(env: Env) -> None:
    r = await env.http.post("/connect/s-run/api/contents", json={"type": "notebook"}, headers=ALICE)
    assert (r.status_code, r.json()["method"], r.json()["body"]) == (200, "POST", '{"type":"notebook"}')


async def test_a_large_download_streams_through_intact(env: Env) -> None:
    digest, size = hashlib.sha256(), 0
    async with env.http.stream("GET", f"/connect/s-tool/big?size={BIG}", headers=ALICE) as r:
        assert r.status_code == 200 and r.headers["content-length"] == str(BIG)
        async for chunk in r.aiter_raw():
            digest.update(chunk)
            size += len(chunk)
    assert (size, digest.hexdigest()) == (BIG, hashlib.sha256(pattern(BIG)).hexdigest())


async def test_a_large_upload_streams_through_intact(env: Env) -> None:
    async def body() -> AsyncIterator[bytes]:
        for _ in range(20):
            yield pattern(2**20)

    r = await env.http.post("/connect/s-tool/upload", content=body(), headers=ALICE)
    assert r.json() == {"size": BIG, "sha256": hashlib.sha256(pattern(2**20) * 20).hexdigest()}


async def test_repeated_response_headers_survive(env: Env) -> None:
    r = await env.http.get("/connect/s-tool/cookies", headers=ALICE)
    assert r.headers.get_list("set-cookie") == ["a=1; Path=/", "b=2; Path=/"]


async def test_websocket_relays_text_and_binary_and_is_tracked(env: Env) -> None:
    before = len(env.sender.sent)
    async with connect(env.ws("/connect/s-run/api/kernels/k1/channels"), additional_headers=ALICE) as ws:
        await ws.send("hello")
        assert await ws.recv() == "hello"
        await ws.send(b"\x00\x01\xff")
        assert await ws.recv() == b"\x00\x01\xff"
    sent = [c for c in await env.sender.wait_for(before + 2) if not c.connection_id.startswith("http-")][-2:]
    assert all(isinstance(c, RecordConnection) for c in sent)
    assert [(c.connected, c.user_id, c.user_name, c.run) for c in sent] == [(True, "7", "alice", 3),
                                                                          (False, "7", "alice", 3)]
    assert sent[0].connection_id == sent[1].connection_id


async def test_websocket_subprotocol_and_close_code_pass_through(env: Env) -> None:
    async with connect(env.ws("/connect/s-tool/api/kernels/k1/channels"), additional_headers=ALICE,
                       subprotocols=[KERNEL]) as ws:
        assert ws.subprotocol == KERNEL
        await ws.send("close:4001")
        with pytest.raises(ConnectionClosed) as closed:
            await ws.recv()
    assert closed.value.rcvd is not None and (closed.value.rcvd.code, closed.value.rcvd.reason) == (4001, "bye")


async def test_access_token_becomes_a_cookie_and_is_dropped_from_the_url(env: Env) -> None:
    async with httpx.AsyncClient(base_url=f"http://{env.base}") as browser:
        r = await browser.get("/connect/s-run/lab?access_token=tok-alice&x=1")
        assert (r.status_code, r.headers["location"]) == (302, "/connect/s-run/lab?x=1")
        cookie = r.headers["set-cookie"].lower()
        assert "studios_token=tok-alice" in cookie and "httponly" in cookie and "samesite=lax" in cookie
        assert "path=/connect/s-run/" in cookie
        again = await browser.get(r.headers["location"])
    assert again.status_code == 200 and "cookie" not in again.json()["headers"]


async def test_cookie_websockets_must_come_from_the_same_origin(env: Env) -> None:
    cookie = {"Cookie": "studios_token=tok-alice"}
    same = Origin(f"http://{env.base}")
    async with connect(env.ws("/connect/s-run/ws"), additional_headers=cookie, origin=same) as ws:
        await ws.send("same-origin")
        assert await ws.recv() == "same-origin"
    with pytest.raises(InvalidStatus) as refused:
        await connect(env.ws("/connect/s-run/ws"), additional_headers=cookie, origin=Origin("http://evil.example"))
    assert refused.value.response.status_code == 403


@pytest.mark.parametrize(("path", "headers", "status", "message"), [
    ("/connect/s-run/lab", {}, 401, "Authentication required"),
    ("/connect/s-run/lab", {"Authorization": "Bearer nope"}, 401, "Invalid"),
    ("/connect/s-private/lab", ALICE, 404, "Studio s-private not found"),
    ("/connect/s-nothing/lab", ALICE, 404, "Studio s-nothing not found"),
    ("/connect/s-run/lab", {"Authorization": "Bearer tok-viewer"}, 403, "may not connect"),
    ("/connect/s-stopped/lab", ALICE, 409, "studio is not running (status: stopped)"),
    ("/connect/s-down/lab", ALICE, 502, "is not reachable"),
])
async def test_refusals(env: Env, path: str, headers: dict[str, str], status: int, message: str) -> None:
    r = await env.http.get(path, headers=headers)
    assert r.status_code == status and message in r.json()["message"]
    if status == 409:
        async with connect(env.ws(path), additional_headers=headers) as ws:
            with pytest.raises(ConnectionClosed) as closed:
                await ws.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1013
    else:
        with pytest.raises(InvalidStatus) as refused:
            await connect(env.ws(path), additional_headers=headers)
        assert refused.value.response.status_code == status


async def test_the_creator_of_a_private_studio_connects(env: Env) -> None:
    r = await env.http.get("/connect/s-private/lab", headers={"Authorization": "Bearer tok-bob"})
    assert r.status_code == 200


async def test_http_use_is_recorded_once_per_minute_per_user_and_run(env: Env) -> None:
    for _ in range(3):
        assert (await env.http.get("/connect/s-run/x", headers=ALICE)).status_code == 200
    sent = await env.sender.wait_for(1)
    http = [c for c in sent if c.connection_id == "http-7-3" and c.session_id == "s-run"]
    assert [c.connected for c in http] == [True]


async def test_the_bare_studio_url_gets_its_slash(env: Env) -> None:
    r = await env.http.get("/connect/s-run?a=1")
    assert (r.status_code, r.headers["location"]) == (307, "/connect/s-run/?a=1")


async def _answers_once_per_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """A tool whose keep-alive runs out under the next request: each connection's first request is answered, the
    second is read and the connection closed without a word."""
    try:
        for served in range(2):
            head = await reader.readuntil(b"\r\n\r\n")
            if served:
                return
            length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                           if line.lower().startswith(b"content-length:")), 0)
            await reader.readexactly(length)
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: keep-alive\r\n\r\nfresh")
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


async def test_a_safe_request_on_a_connection_the_tool_just_closed_is_sent_again() -> None:
    port = free_port()
    tool = await asyncio.start_server(_answers_once_per_connection, "127.0.0.1", port)
    states = {"s-drops": studio("s-drops", port)}

    async def lookup(session_id: str):  # type: ignore[no-untyped-def]
        return states.get(session_id)

    # one connection to the tool: every request after the first goes out on the connection the last one used
    async with tool, httpx.AsyncClient(trust_env=False, limits=httpx.Limits(max_connections=1)) as upstream:
        app = FastAPI()
        app.include_router(proxy_router(lookup, authenticate, can_connect, RecordingSender(), upstream))
        async with serve(app) as base, httpx.AsyncClient(base_url=f"http://{base}", timeout=30) as http:
            for _ in range(3):  # the second and third each meet a closed connection, and are sent again
                r = await http.get("/connect/s-drops/x", headers=ALICE)
                assert (r.status_code, r.text) == (200, "fresh")
            r = await http.post("/connect/s-drops/x", content=b"a body", headers=ALICE)  # may have acted: not resent
            assert r.status_code == 502 and "not reachable" in r.json()["message"]
