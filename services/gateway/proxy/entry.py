"""The entry point on the gateway's main origin in subdomain mode: ``/connect/<sessionId>/<path>``.

With the user's credentials here (``Authorization: Bearer``, ``?access_token=`` or the gateway's sign-in cookie) it
answers with a redirect to the studio's own origin carrying a single-use connect ticket (``access.tickets``), so
links and scripts that open ``/connect/<id>/`` keep working and the user's token never reaches the studio's origin.
Without credentials a browser gets the sign-in page. ``?access_token=`` also signs the browser in here (an HttpOnly
cookie for ``/connect/`` on this origin only), so the next studio opens without the token.

WebSockets on ``/connect/<id>/`` stay with ``proxy.http`` (bearer clients; a cookie only from this origin).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.requests import HTTPConnection

from services.gateway.access.tickets import Tickets, digest
from services.gateway.proxy.admission import (
    QUERY_TOKEN,
    Admitted,
    Authenticate,
    CanConnect,
    Denied,
    Lookup,
    SecretOf,
    U,
    admit,
)
from services.gateway.proxy.headers import COOKIE, without_query_param
from services.gateway.proxy.hosts import StudioOrigins, session_path, takes_base_path
from services.gateway.proxy.pages import answer

TICKET_PARAM = "studios_ticket"
METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


def is_https(conn: HTTPConnection) -> bool:
    proto = conn.headers.get("x-forwarded-proto", conn.url.scheme)
    return proto.split(",")[0].strip().lower() in ("https", "wss")


def gateway_url(public_url: str | None, conn: Request) -> str:
    return (public_url or str(conn.base_url)).rstrip("/")


def entry_url(base: str, session_id: str, path: str = "/", query: str = "") -> str:
    """The entry point for ``path`` of a studio (``path`` as the studio's origin names it)."""
    url = f"{base}/connect/{session_id}/{path.lstrip('/')}"  # a raw path: percent-encoded as it came
    return url + (f"?{query}" if query else "")


def _query(request: Request) -> str:
    return without_query_param(request.scope.get("query_string", b""), QUERY_TOKEN).decode("latin-1")


def refused_from_page(request: Request, admitted: Admitted[Any]) -> Denied | None:
    """The sign-in cookie is ambient: a ticket for it only on a navigation from a page of this origin (a script in a
    studio's page could otherwise fetch this and ride on it)."""
    if admitted.via != "cookie":
        return None
    mode, origin = request.headers.get("sec-fetch-mode"), request.headers.get("origin")
    if (mode is not None and mode != "navigate") or (origin is not None and origin != gateway_origin(request)):
        return Denied(403, "A studio opens only by navigating to its link")
    return None


def gateway_origin(request: Request) -> str:
    return f"{'https' if is_https(request) else 'http'}://{request.headers.get('host', '')}".lower()


def entry_router(origins: StudioOrigins, tickets: Tickets, lookup: Lookup, authenticate: Authenticate[U],
                 can_connect: CanConnect[U], *, secret_of: SecretOf, public_url: str | None = None) -> APIRouter:
    """HTTP ``/connect/<id>/...`` in subdomain mode; include it before ``proxy_router`` so it answers first."""
    router = APIRouter()

    @router.api_route("/connect/{session_id}", methods=METHODS, include_in_schema=False)
    @router.api_route("/connect/{session_id}/{path:path}", methods=METHODS, include_in_schema=False)
    async def enter(request: Request, session_id: str, path: str = "") -> Response:
        base = gateway_url(public_url, request)
        path = session_path(request.scope.get("raw_path") or request.url.path.encode(), session_id)
        admitted = await admit(request, session_id, lookup, authenticate, can_connect, secret_of)
        if isinstance(admitted, Admitted):
            admitted = refused_from_page(request, admitted) or admitted
        if isinstance(admitted, Denied):
            back = entry_url(base, session_id, path, _query(request))
            return answer(request, admitted.status, admitted.message, back)
        if takes_base_path(admitted.state.template):  # it links under its prefix: keep the browser there too
            path = (request.scope.get("raw_path") or request.url.path.encode()).decode("latin-1")
        ticket = await tickets.issue(session_id, digest(admitted.token))
        query = "&".join(q for q in (_query(request), f"{TICKET_PARAM}={ticket}") if q)
        location = f"{origins.origin(base, session_id)}{path}?{query}"
        response = RedirectResponse(location, status_code=302 if request.method in ("GET", "HEAD") else 307)
        response.headers["cache-control"] = "no-store"
        response.headers["referrer-policy"] = "no-referrer"
        if admitted.via == "query":  # signed in here: the next studio opens without the token in a URL
            response.set_cookie(COOKIE, admitted.token, path="/connect/", httponly=True, samesite="lax",
                                secure=is_https(request))
        return response

    return router
