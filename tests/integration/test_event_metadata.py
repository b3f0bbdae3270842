"""The gateway's own writes (users, tokens, workspaces, compute environments…) record the request's trace in their
events' metadata, as the studio writes do (tests/integration/test_idempotency.py)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
from fastapi import FastAPI

from libs.eventstore import EventStore
from services.gateway.api.seqera.common import install_error_handlers, install_request_trace
from services.gateway.api.seqera.users import router
from services.gateway.bootstrap import ensure_defaults
from services.gateway.read.projections.base import wait_for_position
from services.gateway.read.projections.identity import IDENTITY, identity_subscription
from services.gateway.read.schema import GATEWAY

ADMIN = "admin-token-for-metadata"
TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


async def test_an_identity_write_over_http_carries_the_request_trace(database_url: str, tmp_path: Path) -> None:
    store = await EventStore.connect(database_url, sources=[GATEWAY])
    stop = asyncio.Event()
    task: asyncio.Task[None] | None = None
    try:
        position = await ensure_defaults(store, ADMIN, work_dir=str(tmp_path / "work"))
        task = asyncio.create_task(identity_subscription(store, poll_max=0.05).run(stop))
        assert await wait_for_position(store.pool, IDENTITY, position)  # the admin token is readable
        app = FastAPI()
        app.state.store = store
        install_error_handlers(app)
        install_request_trace(app)
        app.include_router(router)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw") as client:
            r = await client.post("/users", json={"userName": "ada", "email": "ada@example.org"}, headers={
                "Authorization": f"Bearer {ADMIN}", "traceparent": TRACEPARENT, "X-Request-Id": "req-7"})
        assert r.status_code == 200, r.text
        uid = r.json()["user"]["id"]
        rows = await store.pool.fetch("SELECT metadata::text AS m FROM es.events WHERE stream_name = $1",
                                      f"user-{uid}")
        assert rows
        for row in rows:
            md = json.loads(row["m"])
            assert (md["correlation_id"], md["traceparent"], md["source"]) == ("req-7", TRACEPARENT, "gateway")
            assert md["causation_id"] == md["command_id"] and md["actor"]
        boot = json.loads(await store.pool.fetchval("SELECT metadata::text FROM es.events ORDER BY global_position "
                                                     "LIMIT 1"))
        assert boot["correlation_id"] == boot["causation_id"] and "traceparent" not in boot  # outside a request
    finally:
        stop.set()
        if task is not None:
            await task
        await store.close()
