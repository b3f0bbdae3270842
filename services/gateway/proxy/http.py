"""The reverse proxy to running tools: ``/connect/<sessionId>/<path>`` over HTTP (every method) and WebSocket.

A tool is started with its base URL ``/connect/<sessionId>/`` and listens on 127.0.0.1 demanding the session's
secret, so the proxy forwards the raw path unchanged and adds the secret; the tool never sees the user's Studios
token. Bodies stream both ways (a large download is never held whole). Browsers authenticate once with
``?access_token=``, which becomes an HttpOnly cookie scoped to the studio's path, and are redirected to the same URL
without the token. Who may connect is ``proxy_access.admit``; the WebSocket half is ``proxy_ws``; connection
tracking is ``connections.ConnectionTracker``.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from fastapi import APIRouter, Request, WebSocket
from fastapi.responses import JSONResponse, RedirectResponse, Response, StreamingResponse
from starlette.background import BackgroundTask
from starlette.requests import ClientDisconnect

from libs.platform.metrics import ServiceMetrics
from services.gateway.commands import CommandSender
from services.gateway.proxy.admission import (
    QUERY_TOKEN,
    Admitted,
    Authenticate,
    CanConnect,
    Denied,
    Lookup,
    SecretOf,
    U,
    Upstream,
    admit,
    handle_secret,
)
from services.gateway.proxy.connections import ConnectionTracker
from services.gateway.proxy.headers import COOKIE, Forwarding, downstream_headers, upstream_headers, without_query_param
from services.gateway.proxy.hosts import relocated, strip_for_tool
from services.gateway.proxy.ws import proxy_websocket, refuse

log = logging.getLogger(__name__)
_requests = ServiceMetrics("gateway").counter("proxy_requests_total", "HTTP requests through the proxy", ("status",))
METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
#: A pooled connection the tool closed just as a request went out on it (its keep-alive ran out: Node's and
#: uvicorn's is 5 s) fails with nothing answered. A request without a body or side effects is then sent once more,
#: on a new connection, instead of becoming a 502; any other request is not repeated (the tool may have acted).
_RESENT = frozenset({"GET", "HEAD", "OPTIONS"})
_CLOSED_UNANSWERED = (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError)


def proxy_router(lookup: Lookup, authenticate: Authenticate[U], can_connect: CanConnect[U],
                 commands: CommandSender, client: httpx.AsyncClient, *,
                 tracker: ConnectionTracker | None = None, secret_of: SecretOf = handle_secret) -> APIRouter:
    """Routes for ``/connect/{sessionId}/...``; their lifespan flushes connection records on shutdown.

    ``secret_of`` gives a running session's proxy secret: the gateway passes ``derived_secrets(key)``.

    ``client`` is used bare (no default headers, no redirects): give it ``trust_env=False`` (tools are on
    127.0.0.1; a proxy from the environment must not capture them), a connect timeout of a few seconds and a
    read timeout long enough for the slowest tool response.
    """
    track = tracker or ConnectionTracker(commands)

    @asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        yield
        await track.stop()

    router = APIRouter(lifespan=lifespan)

    @router.api_route("/connect/{session_id}", methods=METHODS, include_in_schema=False)
    async def add_slash(request: Request, session_id: str) -> Response:
        query = request.scope.get("query_string", b"").decode("latin-1")
        return RedirectResponse(f"/connect/{session_id}/" + (f"?{query}" if query else ""), status_code=307)

    @router.api_route("/connect/{session_id}/{path:path}", methods=METHODS, include_in_schema=False)
    async def proxy_http(request: Request, session_id: str, path: str) -> Response:
        admitted = await admit(request, session_id, lookup, authenticate, can_connect, secret_of)
        if isinstance(admitted, Denied):
            response: Response = problem(admitted)
        elif admitted.via == "query" and request.method in ("GET", "HEAD"):
            response = login_redirect(request, session_id, admitted.token)
        else:
            track.seen(admitted.state, admitted.user)
            stripped = strip_for_tool(request.scope, admitted.state.template, session_id)  # tools served at /
            response = await forward(request, admitted, client)
            if stripped:
                response.raw_headers = relocated(response.raw_headers, session_id)
        _requests(status=str(response.status_code)).inc()
        return response

    @router.websocket("/connect/{session_id}/{path:path}")
    async def proxy_ws(websocket: WebSocket, session_id: str, path: str) -> None:
        admitted = await admit(websocket, session_id, lookup, authenticate, can_connect, secret_of)
        if isinstance(admitted, Denied):
            await refuse(websocket, admitted)
            return
        strip_for_tool(websocket.scope, admitted.state.template, session_id)
        await proxy_websocket(websocket, admitted, track)

    return router


def problem(denied: Denied) -> JSONResponse:
    return JSONResponse({"message": denied.message}, status_code=denied.status)


def _raw_target(request: Request) -> tuple[bytes, bytes]:
    """The path exactly as the browser sent it (encoded slashes intact) and the query minus the token."""
    path: bytes = request.scope.get("raw_path") or request.url.path.encode()
    return path, without_query_param(request.scope.get("query_string", b""), QUERY_TOKEN)


def _is_https(request: Request) -> bool:
    proto = request.headers.get("x-forwarded-proto", request.url.scheme)
    return proto.split(",")[0].strip().lower() == "https"


def login_redirect(request: Request, session_id: str, token: str) -> Response:
    """Trade ``?access_token=`` for the studio's cookie and come back without it (out of history and logs)."""
    path, query = _raw_target(request)
    location = path.decode("latin-1") + (f"?{query.decode('latin-1')}" if query else "")
    response = RedirectResponse(location, status_code=302)
    response.set_cookie(COOKIE, token, path=f"/connect/{session_id}/", httponly=True, samesite="lax",
                        secure=_is_https(request))
    response.headers["cache-control"] = "no-store"
    return response


def _upstream_url(up: Upstream, path: bytes, query: bytes) -> httpx.URL:
    host = f"[{up.host}]" if ":" in up.host else up.host
    return httpx.URL(f"http://{host}:{up.port}", raw_path=path + (b"?" + query if query else b""))


async def forward(request: Request, admitted: Admitted[Any], client: httpx.AsyncClient) -> Response:
    up = admitted.upstream
    via = Forwarding(request.client.host if request.client else None, "https" if _is_https(request) else "http",
                     request.headers.get("host"))
    has_body = "content-length" in request.headers or "transfer-encoding" in request.headers
    # a bare Request: the shared client's default headers (Accept-Encoding, User-Agent) and cookies stay out
    upstream_request = httpx.Request(
        request.method, _upstream_url(up, *_raw_target(request)),
        headers=upstream_headers(request.scope["headers"], up.secret, via),
        content=request.stream() if has_body else None,
        extensions={"timeout": client.timeout.as_dict()},
    )
    try:
        upstream = await _send(client, upstream_request, resend=not has_body and request.method in _RESENT)
    except httpx.TimeoutException as e:
        return problem(Denied(504 if isinstance(e, httpx.ReadTimeout) else 502,
                              f"The tool of studio {admitted.state.session_id} did not answer in time"))
    except ClientDisconnect:
        return Response(status_code=400)  # the browser went away while uploading: nobody reads this
    except httpx.HTTPError as e:
        return problem(Denied(502, f"The tool of studio {admitted.state.session_id} is not reachable: {e!r}"))
    response = StreamingResponse(_body(upstream), status_code=upstream.status_code,
                                 background=BackgroundTask(upstream.aclose))
    response.raw_headers = downstream_headers(upstream.headers.raw)
    return response


async def _send(client: httpx.AsyncClient, request: httpx.Request, resend: bool) -> httpx.Response:
    try:
        return await client.send(request, stream=True, follow_redirects=False)
    except _CLOSED_UNANSWERED:
        if not resend:
            raise
        return await client.send(request, stream=True, follow_redirects=False)


async def _body(upstream: httpx.Response) -> AsyncIterator[bytes]:
    try:
        async for chunk in upstream.aiter_raw():
            yield chunk
    except httpx.HTTPError as e:
        # the status is sent already: break the connection rather than pass a truncated body off as whole
        log.warning("proxied response broke off: %s %r", upstream.request.url, e)
        raise
    finally:
        await upstream.aclose()
