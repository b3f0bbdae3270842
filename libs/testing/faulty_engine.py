"""A Docker-API engine seen through a proxy that makes its log follows misbehave the ways a real engine rarely does.

Every request goes through to the real engine (``tests`` use Podman); only a log request with ``follow`` is
changed: ``break_follows`` of them lose their connection after their first frame, and with ``hold_follows`` a follow
the engine ended is kept open, as Podman's is when it misses the container's end. And ``break_waits`` container
waits lose their connection as they begin, and with ``hold_waits`` none is ever answered. The backend under test
sees the real engine otherwise, so what is tested is its own handling of a follow or wait that ends too soon or
never.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
from aiohttp import web

_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host"}


class FaultyEngine:
    def __init__(self, upstream: str, socket: Path) -> None:
        self.upstream = upstream.removeprefix("unix://")
        self.socket = socket
        self.break_follows = 0
        self.hold_follows = False
        self.follows = 0  # log follows seen, each one counted as it begins
        self.break_waits = 0  # container waits whose connection drops at once (an engine restarted mid-wait)
        self.hold_waits = False  # container waits never answered (an engine's wait that missed the end)
        self.waits = 0  # container waits seen

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    async def _pass(self, request: web.Request) -> web.StreamResponse:
        follow = request.path.endswith("/logs") and request.query.get("follow") in ("1", "true", "True")
        if request.path.endswith("/wait"):
            self.waits += 1
            if self.break_waits > 0:
                self.break_waits -= 1
                assert request.transport is not None
                request.transport.abort()
                return web.Response()  # never sent: the connection is gone
            if self.hold_waits:
                await asyncio.Event().wait()  # until the client gives up (the handler is cancelled then)
        headers = {name: value for name, value in request.headers.items() if name.lower() not in _HOP_BY_HOP}
        async with aiohttp.ClientSession(connector=aiohttp.UnixConnector(self.upstream),
                                         timeout=aiohttp.ClientTimeout()) as client, \
                client.request(request.method, f"http://engine{request.path_qs}", headers=headers,
                               data=await request.read()) as upstream:
            if not follow:
                return web.Response(status=upstream.status, body=await upstream.read(),
                                    headers={"Content-Type": upstream.headers.get("Content-Type", "text/plain")})
            self.follows += 1
            cut = self.break_follows > 0
            self.break_follows -= cut
            response = web.StreamResponse(status=upstream.status)
            response.content_type = upstream.headers.get("Content-Type", "application/octet-stream")
            await response.prepare(request)
            if cut:  # one whole frame, then the connection drops
                header = await upstream.content.readexactly(8)
                await response.write(header + await upstream.content.readexactly(int.from_bytes(header[4:], "big")))
                assert request.transport is not None
                request.transport.abort()
                return response
            async for chunk in upstream.content.iter_any():
                await response.write(chunk)
            if self.hold_follows:
                await asyncio.Event().wait()  # open until the client lets go (the handler is cancelled then)
            await response.write_eof()
            return response


@asynccontextmanager
async def faulty_engine(upstream: str, directory: Path) -> AsyncIterator[FaultyEngine]:
    engine = FaultyEngine(upstream, directory / "faulty-engine.sock")
    app = web.Application()
    app.router.add_route("*", "/{path:.*}", engine._pass)
    runner = web.AppRunner(app, handler_cancellation=True)
    await runner.setup()
    await web.UnixSite(runner, str(engine.socket)).start()
    try:
        yield engine
    finally:
        await runner.cleanup()
