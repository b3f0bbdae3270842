"""http-echo: a tiny HTTP + WebSocket echo tool, for tests and smoke checks of the proxy path.

    python -m services.lifecycle.tools.http_echo [--port N]     (default: $CONNECT_TOOL_PORT)

Any request without ``X-Studios-Secret: $STUDIOS_SESSION_SECRET`` gets 403. Otherwise any HTTP request gets
JSON ``{"path", "session", "method", "headers", "query", "body"}`` (the secret headers redacted), and a WebSocket
echoes every message back. A raw ASGI app on uvicorn (already a project dependency) keeps it to one import and
well under half a second to start. SIGTERM shuts it down cleanly (exit 0).
"""

from __future__ import annotations

import argparse
import hmac
import json
import os
import socket
import sys
from collections.abc import Awaitable, Callable
from typing import Any

import uvicorn

Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

_SECRET_HEADER = b"x-studios-secret"
_REDACTED = {"x-studios-secret", "authorization"}


def make_app(session_id: str, secret: str) -> Callable[[Message, Receive, Send], Awaitable[None]]:
    async def app(scope: Message, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            return
        if not _authorized(scope, secret):
            await _deny(scope, send)
        elif scope["type"] == "websocket":
            await _echo_websocket(receive, send)
        else:
            await _echo_http(scope, receive, send, session_id)

    return app


def _authorized(scope: Message, secret: str) -> bool:
    given = dict(scope["headers"]).get(_SECRET_HEADER, b"")
    return hmac.compare_digest(given, secret.encode())  # constant time: the secret is the only lock


async def _deny(scope: Message, send: Send) -> None:
    if scope["type"] == "websocket":
        await send({"type": "websocket.close", "code": 1008})  # before accept, uvicorn turns this into a 403
        return
    await _respond(send, 403, b'{"detail": "forbidden"}')


async def _echo_http(scope: Message, receive: Receive, send: Send, session_id: str) -> None:
    body = await _read_body(receive)
    payload = {
        "path": scope["path"],
        "query": scope["query_string"].decode("latin-1"),
        "session": session_id,
        "method": scope["method"],
        "headers": {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]
                    if k.decode("latin-1") not in _REDACTED},
        "body": body.decode("utf-8", "replace"),
    }
    await _respond(send, 200, json.dumps(payload).encode())


async def _read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


async def _respond(send: Send, status: int, body: bytes) -> None:
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _echo_websocket(receive: Receive, send: Send) -> None:
    await receive()  # websocket.connect
    await send({"type": "websocket.accept"})
    while (message := await receive())["type"] == "websocket.receive":
        if message.get("text") is not None:
            await send({"type": "websocket.send", "text": message["text"]})
        else:
            await send({"type": "websocket.send", "bytes": message.get("bytes") or b""})


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="http_echo")
    parser.add_argument("--port", type=int, default=int(os.environ.get("CONNECT_TOOL_PORT", "0")))
    args = parser.parse_args(argv)
    secret = os.environ.get("STUDIOS_SESSION_SECRET")
    if not secret:
        sys.exit("http_echo: STUDIOS_SESSION_SECRET is not set; refusing to serve without a secret")
    app = make_app(os.environ.get("STUDIOS_SESSION_ID", ""), secret)
    # Bind before handing over to uvicorn so the "listening" line is true when printed.
    sock = socket.create_server(("127.0.0.1", args.port))
    print(f"http_echo listening on http://127.0.0.1:{sock.getsockname()[1]}", flush=True)
    config = uvicorn.Config(app, lifespan="off", ws="websockets-sansio", log_level="warning",
                            access_log=False, timeout_graceful_shutdown=2)
    uvicorn.Server(config).run(sockets=[sock])


if __name__ == "__main__":
    main()
