"""A test tool for what ``services.lifecycle.tools.http_echo`` does not cover: large streamed bodies, the exact
headers the tool receives (``Authorization`` included), repeated ``Set-Cookie``, WebSocket subprotocols and close
codes. Raw ASGI on uvicorn; ``python -m tests.integration.tools_echo --port N`` with ``STUDIOS_SESSION_SECRET``.

- ``.../big?size=N``: N bytes (``pattern(N)``) in 1 MiB chunks, with Content-Length.
- ``.../upload``: reads the body as it streams; answers ``{"size", "sha256"}``.
- ``.../headers``: every request header as ``[[name, value], ...]``; ``.../cookies``: two ``Set-Cookie``.
- WebSocket: accepts the first subprotocol offered, echoes; the text ``close:<code>`` closes with that code.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
from collections.abc import Awaitable, Callable
from typing import Any

import uvicorn

Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
CHUNK = 2**20


def pattern(size: int) -> bytes:
    return (bytes(range(256)) * (size // 256 + 1))[:size]


def make_app(secret: str) -> Callable[[Message, Receive, Send], Awaitable[None]]:
    async def app(scope: Message, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            return
        if dict(scope["headers"]).get(b"x-studios-secret") != secret.encode():
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1008})
            else:
                await _json(send, {"detail": "forbidden"}, 403)
        elif scope["type"] == "websocket":
            await _websocket(scope, receive, send)
        else:
            await _http(scope, receive, send)

    return app


async def _json(send: Send, body: Any, status: int = 200, extra: list[tuple[bytes, bytes]] | None = None) -> None:
    data = json.dumps(body).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers + (extra or [])})
    await send({"type": "http.response.body", "body": data})


async def _http(scope: Message, receive: Receive, send: Send) -> None:
    path: str = scope["path"]
    if path.endswith("/big"):
        size = int(dict(p.split("=") for p in scope["query_string"].decode().split("&") if p).get("size", "0"))
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/octet-stream"), (b"content-length", b"%d" % size)]})
        body = pattern(size)
        for i in range(0, size, CHUNK):
            await send({"type": "http.response.body", "body": body[i:i + CHUNK], "more_body": True})
        await send({"type": "http.response.body", "body": b""})
    elif path.endswith("/upload"):
        digest, size = hashlib.sha256(), 0
        while True:
            message = await receive()
            chunk = message.get("body", b"")
            digest.update(chunk)
            size += len(chunk)
            if not message.get("more_body"):
                break
        await _json(send, {"size": size, "sha256": digest.hexdigest()})
    elif path.endswith("/cookies"):
        await _json(send, {}, extra=[(b"set-cookie", b"a=1; Path=/"), (b"set-cookie", b"b=2; Path=/")])
    else:
        await _json(send, [[k.decode("latin-1"), v.decode("latin-1")] for k, v in scope["headers"]])


async def _websocket(scope: Message, receive: Receive, send: Send) -> None:
    await receive()  # websocket.connect
    offered = scope.get("subprotocols") or []
    await send({"type": "websocket.accept", "subprotocol": offered[0] if offered else None})
    while (message := await receive())["type"] == "websocket.receive":
        text = message.get("text")
        if text is not None and text.startswith("close:"):
            await send({"type": "websocket.close", "code": int(text[6:]), "reason": "bye"})
            return
        if text is not None:
            await send({"type": "websocket.send", "text": text})
        else:
            await send({"type": "websocket.send", "bytes": message.get("bytes") or b""})


def main() -> None:
    parser = argparse.ArgumentParser(prog="tools_echo")
    parser.add_argument("--port", type=int, required=True)
    port = parser.parse_args().port
    app = make_app(os.environ["STUDIOS_SESSION_SECRET"])
    uvicorn.run(app, host="127.0.0.1", port=port, lifespan="off", log_level="warning", access_log=False,
                ws="websockets-sansio", timeout_graceful_shutdown=1)


if __name__ == "__main__":
    main()
