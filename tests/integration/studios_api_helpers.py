"""Fixtures' helpers for the Studios API tests: seeded identity read rows, an in-process command sender."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx
from fastapi import FastAPI

from libs.contracts.commands import Command, CommandMeta, Reply
from libs.eventstore import EventStore
from libs.testing.seqera_schema import checked_client_hooks
from services.gateway.api.seqera import StudiosContext, install, router
from services.gateway.api.seqera.common import install_error_handlers
from services.gateway.read.projections import STUDIOS, run
from services.lifecycle.handlers import StudioHandlers
from services.lifecycle.studio.aggregate import StudioCommand

WS, ORG, CE = 10, 1, "ce1"
USERS = {"alice": (1, "owner"), "bob": (2, "launch"), "carol": (3, "view"), "dave": (4, "launch")}


class InProcessSender:
    """Executes studio commands against the store with the real domain, as the lifecycle service would."""

    def __init__(self, store: EventStore) -> None:
        self.handlers = StudioHandlers(store)

    async def send(self, cmd: Command, meta: CommandMeta | None = None) -> Reply:
        assert isinstance(cmd, StudioCommand)
        return await self.handlers.handle(cmd, meta)


async def seed(store: EventStore) -> None:
    db = store.pool
    await db.execute("INSERT INTO read.orgs (id, name, full_name, date_created, last_updated) "
                     "VALUES ($1, 'acme', 'Acme', now(), now())", ORG)
    await db.execute("INSERT INTO read.workspaces (id, org_id, name, full_name, visibility, date_created, "
                     "last_updated) VALUES ($1, $2, 'lab', 'Lab', 'PRIVATE', now(), now())", WS, ORG)
    for name, (uid, role) in USERS.items():
        await db.execute("INSERT INTO read.users (id, user_name, email, date_created, last_updated) "
                         "VALUES ($1, $2, $3, now(), now())", uid, name, f"{name}@example.org")
        await db.execute("INSERT INTO read.tokens (id, user_id, name, token_hash, date_created) "
                         "VALUES ($1, $1, 't', $2, now())", uid, hashlib.sha256(name.encode()).hexdigest())
        await db.execute("INSERT INTO read.participants (participant_id, workspace_id, user_id, role) "
                         "VALUES ($1, $2, $1, $3)", uid, WS, role)
    await db.execute(
        """INSERT INTO read.compute_envs (id, workspace_id, name, platform, config, status, created_by,
               date_created, last_updated) VALUES ($1, $2, 'local', 'local-platform', $3, 'AVAILABLE', '1',
               now(), now())""", CE, WS, {"workDir": "/tmp/studios"})


@dataclass
class Api:
    store: EventStore
    client: httpx.AsyncClient

    def auth(self, user: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {user}"}

    async def count_events(self) -> int:
        return int(await self.store.pool.fetchval("SELECT count(*) FROM es.events"))


@asynccontextmanager
async def running_api(store: EventStore) -> AsyncIterator[Api]:
    await seed(store)
    app = FastAPI()
    install_error_handlers(app)
    install(app, StudiosContext(store, InProcessSender(store), public_url="http://gw.test", sse_poll=0.05))
    app.include_router(router)
    stop = asyncio.Event()
    task = asyncio.create_task(run(store, STUDIOS, stop))
    transport = httpx.ASGITransport(app=app)
    try:
        # Every response to a path in Seqera's specs is checked against its schema (libs.testing.seqera_schema).
        async with httpx.AsyncClient(transport=transport, base_url="http://gw.test",
                                     event_hooks=checked_client_hooks()) as client:
            yield Api(store, client)
    finally:
        stop.set()
        await task
