"""A studio's own origin, ``<sessionId>.<domain>`` (``StudioHosts`` routes it here): the tool served at ``/``.

Credentials here are ``Authorization: Bearer`` (API clients) or the studio session cookie ``studios_session``
(host-only, HttpOnly, SameSite=Lax, Secure on HTTPS) that a connect ticket (``?studios_ticket=``, from the entry
point on the gateway's main origin) is exchanged for. A browser without a session is sent to the entry point.
Every request authenticates again and checks the studio policy again, so losing access ends the session at once.
A request whose ``Origin`` is not this studio's is refused: no other studio's page (nor any other site) may act
here with the user's cookie, and no WebSocket opens from another origin. No Studios credential reaches the tool.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from fastapi import APIRouter, Request, WebSocket
from fastapi.responses import RedirectResponse, Response
from starlette.requests import HTTPConnection

from libs.contracts.errors import StudiosError
from libs.contracts.studio import StudioStatus
from services.gateway.access.tickets import Tickets
from services.gateway.proxy.admission import (
    Admitted,
    Authenticate,
    CanConnect,
    Denied,
    Lookup,
    SecretOf,
    U,
    Via,
    upstream_of,
)
from services.gateway.proxy.connections import ConnectionTracker
from services.gateway.proxy.entry import METHODS, TICKET_PARAM, entry_url, is_https
from services.gateway.proxy.headers import CREDENTIAL_COOKIES, without_query_param
from services.gateway.proxy.hosts import ORIGIN_PREFIX, session_path, takes_base_path, tool_path
from services.gateway.proxy.http import forward
from services.gateway.proxy.pages import answer, navigating, ticket_refused
from services.gateway.proxy.ws import proxy_websocket, refuse

SESSION_COOKIE = CREDENTIAL_COOKIES[1]
#: A token's hash to its user; None when the token is unknown, expired or revoked.
AuthenticateHash = Callable[[str], Awaitable[U | None]]


def foreign_origin(conn: HTTPConnection) -> bool:
    """``Origin`` names another origin than the one asked for (browsers send it on every cross-origin request, and
    on same-origin ones other than GET/HEAD with the same value)."""
    origin = conn.headers.get("origin")
    if origin is None:
        return False
    scheme = "https" if is_https(conn) else "http"
    return origin.lower() != f"{scheme}://{conn.headers.get('host', '')}".lower()


def main_url(public_url: str | None, conn: HTTPConnection) -> str:
    """The gateway's main origin: the public URL, else this host minus the studio's label."""
    if public_url:
        return public_url.rstrip("/")
    host = conn.headers.get("host", "")
    scheme = "https" if is_https(conn) else "http"
    return f"{scheme}://{host.partition('.')[2]}"


class OriginAdmission:
    """Who the caller is on a studio's origin, then the same checks and order as ``admission.admit``."""

    def __init__(self, tickets: Tickets, lookup: Lookup, authenticate: Authenticate[U],
                 authenticate_hash: AuthenticateHash[U], can_connect: CanConnect[U], secret_of: SecretOf) -> None:
        self.tickets, self.lookup, self.can_connect, self.secret_of = tickets, lookup, can_connect, secret_of
        self.authenticate, self.authenticate_hash = authenticate, authenticate_hash

    async def user(self, conn: HTTPConnection, session_id: str) -> tuple[Any, Via] | Denied:
        scheme, _, token = conn.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            user = await self.authenticate(token.strip())
            return (user, "bearer") if user is not None else Denied(401, "Invalid, expired or revoked token")
        cookie = conn.cookies.get(SESSION_COOKIE, "").strip()
        if not cookie:
            return Denied(401, "Not signed in to this studio")
        found = await self.tickets.session(cookie, session_id)
        user = await self.authenticate_hash(found.token_hash) if found else None
        return (user, "cookie") if user is not None else Denied(401, "Your session for this studio has ended")

    async def admit(self, conn: HTTPConnection, session_id: str) -> Admitted[Any] | Denied:
        who = await self.user(conn, session_id)
        if isinstance(who, Denied):
            return who
        user, via = who
        if foreign_origin(conn):
            return Denied(403, "Cross-origin request refused")
        state = await self.lookup(session_id)
        if state is None or state.deleted or not state.exists:
            return Denied(404, f"Studio {session_id} not found")
        try:
            if not await self.can_connect(user, state):
                return Denied(403, f"You may not connect to studio {session_id}")
        except StudiosError as e:
            return Denied(e.status, e.detail)
        if state.status is not StudioStatus.RUNNING:
            return Denied(409, f"studio is not running (status: {state.status.value if state.status else 'unknown'})")
        upstream = upstream_of(state, self.secret_of)
        if upstream is None:
            return Denied(502, f"Studio {session_id} is running but its tool's address is not known yet")
        return Admitted(user, state, upstream, "", via)


def _to_tool(conn: HTTPConnection, admitted: Admitted[Any]) -> None:
    """The tool's path for this request, in place: ``forward`` and the WebSocket relay send ``raw_path``."""
    raw = conn.scope.get("raw_path") or conn.scope["path"].encode()
    conn.scope["raw_path"] = tool_path(raw, admitted.state.session_id,
                                       base_path=takes_base_path(admitted.state.template), on_studio_origin=True)


def origin_router(admission: OriginAdmission, client: httpx.AsyncClient, tracker: ConnectionTracker, *,
                  public_url: str | None = None) -> APIRouter:
    router = APIRouter()

    def back(conn: HTTPConnection, session_id: str) -> str:
        raw = conn.scope.get("raw_path") or b"/"
        query = without_query_param(conn.scope.get("query_string", b""), TICKET_PARAM).decode("latin-1")
        return entry_url(main_url(public_url, conn), session_id, session_path(raw, session_id), query)

    async def exchange(request: Request, session_id: str, ticket: str) -> Response:
        cookie = await admission.tickets.redeem(ticket, session_id)
        if cookie is None:
            return ticket_refused(back(request, session_id))
        raw = "/" + (request.scope.get("raw_path") or b"/").decode("latin-1").lstrip("/")  # never //other.host
        query = without_query_param(request.scope.get("query_string", b""), TICKET_PARAM).decode("latin-1")
        response = RedirectResponse(raw + (f"?{query}" if query else ""),
                                    status_code=302 if request.method in ("GET", "HEAD") else 307)
        response.set_cookie(SESSION_COOKIE, cookie, max_age=int(admission.tickets.session_ttl.total_seconds()),
                            path="/", httponly=True, samesite="lax", secure=is_https(request))
        response.headers["cache-control"] = "no-store"
        return response

    @router.api_route(ORIGIN_PREFIX + "/{session_id}/{path:path}", methods=METHODS, include_in_schema=False)
    async def studio_http(request: Request, session_id: str, path: str) -> Response:
        if ticket := request.query_params.get(TICKET_PARAM):
            return await exchange(request, session_id, ticket)
        admitted = await admission.admit(request, session_id)
        if isinstance(admitted, Denied):
            if admitted.status == 401 and navigating(request):
                return RedirectResponse(back(request, session_id), status_code=302)
            return answer(request, admitted.status, admitted.message, back(request, session_id))
        _to_tool(request, admitted)
        tracker.seen(admitted.state, admitted.user)
        return await forward(request, admitted, client)

    @router.websocket(ORIGIN_PREFIX + "/{session_id}/{path:path}")
    async def studio_ws(websocket: WebSocket, session_id: str, path: str) -> None:
        admitted = await admission.admit(websocket, session_id)
        if isinstance(admitted, Denied):
            await refuse(websocket, admitted)
            return
        _to_tool(websocket, admitted)
        await proxy_websocket(websocket, admitted, tracker)

    return router

