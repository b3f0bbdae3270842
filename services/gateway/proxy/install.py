"""Wiring of subdomain mode into the gateway's app (called by the composition root before the path proxy).

The look-ups are bound late, as ``main._proxy``'s are: the pool exists only once the lifespan has run.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import httpx
from fastapi import APIRouter, FastAPI

from libs.contracts.commands import Command, Reply
from libs.contracts.errors import Unauthenticated
from libs.contracts.studio_state import State
from services.gateway.access import auth
from services.gateway.access.auth import Principal
from services.gateway.access.tickets import Tickets
from services.gateway.proxy.admission import SecretOf
from services.gateway.proxy.connections import LEASE, ConnectionTracker, tracker_with_lease
from services.gateway.proxy.entry import entry_router
from services.gateway.proxy.hosts import StudioHosts, StudioOrigins
from services.gateway.proxy.origin import OriginAdmission, origin_router
from services.gateway.proxy.wiring import connect_permission, lookup_studio, token_authenticator


def install_origins(app: FastAPI, origins: StudioOrigins, http: httpx.AsyncClient, secret_of: SecretOf, *,
                    public_url: str | None = None, ticket_seconds: float = 60.0,
                    session_seconds: float = 12 * 3600.0, connection_lease: float = LEASE) -> None:
    """Subdomain mode only: the entry point on the main origin, the studio-origin routes, and ``Host`` routing."""
    if not origins.subdomains:
        return

    def pool() -> asyncpg.Pool:
        return app.state.store.pool  # type: ignore[no-any-return]

    async def lookup(session_id: str) -> State | None:
        return await lookup_studio(pool())(session_id)

    async def authenticate(token: str) -> Principal | None:
        return await token_authenticator(pool())(token)

    async def authenticate_hash(token_hash: str) -> Principal | None:
        try:
            return await auth.authenticate_hash(pool(), token_hash)
        except Unauthenticated:
            return None

    async def can_connect(user: Principal, state: State) -> bool:
        return await connect_permission(pool())(user, state)

    class LateSender:
        async def send(self, cmd: Command) -> Reply:
            return await app.state.sender.send(cmd)  # type: ignore[no-any-return]

    tickets = Tickets(pool, ticket_seconds=ticket_seconds, session_seconds=session_seconds)
    tracker = tracker_with_lease(LateSender(), connection_lease)
    app.include_router(entry_router(origins, tickets, lookup, authenticate, can_connect, secret_of=secret_of,
                                    public_url=public_url))
    admission = OriginAdmission(tickets, lookup, authenticate, authenticate_hash, can_connect, secret_of)
    app.include_router(_flushing(origin_router(admission, http, tracker, public_url=public_url), tracker))
    app.add_middleware(StudioHosts, origins=origins)


def _flushing(router: APIRouter, tracker: ConnectionTracker) -> APIRouter:
    """Connection records of the studio origins are flushed on shutdown, as the path proxy's are."""

    @asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        yield
        await tracker.stop()

    wrapped = APIRouter(lifespan=lifespan)
    wrapped.include_router(router)
    return wrapped
