"""A small aiohttp server standing in for the Kubernetes API, with the real kubernetes_asyncio client in front of it:
for what no cluster here can show (none runs: kube_cluster.py), such as a follow that breaks on cue."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from aiohttp import web
from kubernetes_asyncio import client


@contextlib.asynccontextmanager
async def serving(app: web.Application) -> AsyncIterator[client.ApiClient]:
    """``app`` on a free port of 127.0.0.1 until the block ends, and a client of it."""
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    api = client.ApiClient(client.Configuration(host=f"http://127.0.0.1:{runner.addresses[0][1]}"))
    try:
        yield api
    finally:
        await api.close()
        await runner.cleanup()
