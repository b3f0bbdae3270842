"""The WebSocket half of the proxy: open the tool's WebSocket, accept the browser's with the same subprotocol, and
relay text and binary frames both ways until one side closes, passing its close code on to the other.

Refusals before the handshake are HTTP answers (401/403/404/502, through the ASGI denial-response extension where
the server has it; close code 1008 otherwise); a studio that is not running is accepted and closed with 1013
(try again later), as the proxy contract says.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import uuid
from typing import Any
from urllib.parse import urlsplit

from fastapi import WebSocket
from fastapi.responses import JSONResponse
from starlette.websockets import WebSocketDisconnect
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus
from websockets.typing import Subprotocol

from libs.platform.metrics import ServiceMetrics
from services.gateway.proxy.admission import QUERY_TOKEN, Admitted, Denied
from services.gateway.proxy.connections import ConnectionTracker
from services.gateway.proxy.headers import Forwarding, upstream_headers, without_query_param

log = logging.getLogger(__name__)
_open = ServiceMetrics("gateway").gauge("proxy_websockets_open", "WebSockets open through the proxy")
_HOST = re.compile(r"^[A-Za-z0-9.\-]+(:\d+)?$|^\[[0-9A-Fa-f:.]+\](:\d+)?$")
MAX_MESSAGE = 256 * 2**20
OPEN_TIMEOUT = 10.0


async def refuse(ws: WebSocket, denied: Denied) -> None:
    if denied.status == 409:  # not running: a WebSocket client understands "try again later" best
        await ws.accept()
        await ws.close(code=1013, reason=denied.message[:120])
    elif "websocket.http.response" in ws.scope.get("extensions", {}):
        await ws.send_denial_response(JSONResponse({"message": denied.message}, status_code=denied.status))
    else:
        await ws.close(code=1008, reason=denied.message[:120])


def cross_origin(ws: WebSocket) -> bool:
    """A browser page from another origin riding on the cookie (cross-site WebSocket hijacking)."""
    origin = ws.headers.get("origin")
    return origin is not None and urlsplit(origin).netloc.lower() != ws.headers.get("host", "").lower()


def _uri(ws: WebSocket, admitted: Admitted[Any]) -> str:
    """The tool's URL as the browser named it: same ``Host`` (tools compare it with ``Origin``), same raw path."""
    up = admitted.upstream
    host = ws.headers.get("host", "")
    host = host if _HOST.match(host) else f"{up.host}:{up.port}"
    path = ws.scope.get("raw_path") or ws.scope["path"].encode()
    query = without_query_param(ws.scope.get("query_string", b""), QUERY_TOKEN)
    return f"ws://{host}{path.decode('latin-1')}" + (f"?{query.decode('latin-1')}" if query else "")


async def open_upstream(ws: WebSocket, admitted: Admitted[Any]) -> ClientConnection | Denied:
    up = admitted.upstream
    via = Forwarding(ws.client.host if ws.client else None, "https" if ws.url.scheme == "wss" else "http",
                     ws.headers.get("host"))
    headers = upstream_headers(ws.scope["headers"], up.secret, via, websocket=True)
    try:
        return await connect(_uri(ws, admitted), host=up.host, port=up.port,
                             subprotocols=[Subprotocol(p) for p in ws.scope.get("subprotocols") or ()] or None,
                             additional_headers=[(k.decode("latin-1"), v.decode("latin-1")) for k, v in headers],
                             user_agent_header=None, compression=None, max_size=MAX_MESSAGE,
                             open_timeout=OPEN_TIMEOUT, proxy=None)  # the URI names the gateway, not the tool
    except InvalidStatus as e:
        return Denied(e.response.status_code if e.response.status_code >= 400 else 502,
                      f"The tool refused the WebSocket (HTTP {e.response.status_code})")
    except (OSError, TimeoutError, InvalidHandshake) as e:
        return Denied(502, f"The tool of studio {admitted.state.session_id} is not reachable: {e}")


def _sendable(code: int | None) -> int:
    """Close codes that may go on the wire (1005/1006/1015 only describe what happened)."""
    if code is None or code == 1005:
        return 1000
    return 1011 if code in (1006, 1015) else code


async def _browser_to_tool(ws: WebSocket, tool: ClientConnection) -> None:
    while True:
        message = await ws.receive()
        if message["type"] == "websocket.disconnect":
            await tool.close(code=_sendable(message.get("code")), reason=message.get("reason") or "")
            return
        if message.get("text") is not None:
            await tool.send(message["text"])
        elif message.get("bytes") is not None:
            await tool.send(message["bytes"])


async def _tool_to_browser(ws: WebSocket, tool: ClientConnection) -> None:
    with contextlib.suppress(ConnectionClosed):
        async for data in tool:
            if isinstance(data, str):
                await ws.send_text(data)
            else:
                await ws.send_bytes(data)
    with contextlib.suppress(Exception):
        await ws.close(code=_sendable(tool.close_code), reason=tool.close_reason or "")


async def relay(ws: WebSocket, tool: ClientConnection) -> None:
    tasks = [asyncio.create_task(_browser_to_tool(ws, tool)), asyncio.create_task(_tool_to_browser(ws, tool))]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            if (e := task.exception()) is not None and not isinstance(e, WebSocketDisconnect | ConnectionClosed):
                log.warning("WebSocket relay failed: %r", e)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await tool.close()


async def proxy_websocket(ws: WebSocket, admitted: Admitted[Any], tracker: ConnectionTracker) -> None:
    if admitted.via == "cookie" and cross_origin(ws):
        await refuse(ws, Denied(403, "Cross-origin WebSocket refused"))
        return
    tool = await open_upstream(ws, admitted)
    if isinstance(tool, Denied):
        await refuse(ws, tool)
        return
    connection_id = str(uuid.uuid4())
    try:
        await ws.accept(subprotocol=tool.subprotocol)
    except Exception:
        await tool.close()
        raise
    tracker.opened(admitted.state, admitted.user, connection_id)
    _open.inc()
    try:
        await relay(ws, tool)
    finally:
        _open.dec()
        tracker.closed(admitted.state, admitted.user, connection_id)
