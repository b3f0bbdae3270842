"""http-echo: a tiny HTTP + WebSocket echo tool, for tests and smoke checks of the proxy path.

    python -m services.lifecycle.tools.http_echo [--port N]     (default: $CONNECT_TOOL_PORT)

Any request without ``X-Studios-Secret: $STUDIOS_SESSION_SECRET`` gets 403. Otherwise an HTTP request of any
method gets JSON ``{"path", "query", "session", "method", "headers", "body"}`` (secret headers redacted), and a
WebSocket echoes every message back. A raw asyncio server, with websockets' sans-I/O protocol for the WebSocket
part, because it must start fast: a web framework's imports alone cost more than the rest of the start-up.
It prints one line once it listens and exits with status 0 on SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hmac
import json
import os
import signal
import sys
from dataclasses import dataclass
from urllib.parse import urlsplit

from websockets.frames import Frame, Opcode
from websockets.http11 import Request
from websockets.server import ServerProtocol

_REDACTED = {"x-studios-secret", "authorization"}


@dataclass(frozen=True)
class _Request:
    method: str
    target: str
    headers: dict[str, str]  # lower-cased names; repeated headers joined with ", "
    raw_head: bytes

    @property
    def wants_websocket(self) -> bool:
        return self.headers.get("upgrade", "").lower() == "websocket"

    @property
    def keep_alive(self) -> bool:
        return self.headers.get("connection", "").lower() != "close"


def _parse_head(head: bytes) -> _Request:
    request_line, *lines = head.decode("latin-1").split("\r\n")
    method, target, _version = request_line.split(" ", 2)
    headers: dict[str, str] = {}
    for line in filter(None, lines):
        name, _, value = line.partition(":")
        key = name.strip().lower()
        headers[key] = f"{headers[key]}, {value.strip()}" if key in headers else value.strip()
    return _Request(method, target, headers, head)


async def _read_body(reader: asyncio.StreamReader, request: _Request) -> bytes:
    if "chunked" in request.headers.get("transfer-encoding", "").lower():
        return await _read_chunked(reader)
    return await reader.readexactly(int(request.headers.get("content-length", "0")))


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    chunks: list[bytes] = []
    while size := int((await reader.readuntil(b"\r\n")).split(b";")[0], 16):
        chunks.append(await reader.readexactly(size))
        await reader.readexactly(2)  # the CRLF after each chunk
    while await reader.readuntil(b"\r\n") != b"\r\n":
        pass  # trailers
    return b"".join(chunks)


def _echo(request: _Request, body: bytes, session_id: str) -> dict[str, object]:
    url = urlsplit(request.target)
    return {
        "path": url.path,
        "query": url.query,
        "session": session_id,
        "method": request.method,
        "headers": {k: v for k, v in request.headers.items() if k not in _REDACTED},
        "body": body.decode("utf-8", "replace"),
    }


async def _respond(writer: asyncio.StreamWriter, status: int, payload: object, keep_alive: bool) -> None:
    body = json.dumps(payload).encode()
    reason = {200: "OK", 403: "Forbidden"}.get(status, "")
    head = (f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {len(body)}\r\n"
            f"connection: {'keep-alive' if keep_alive else 'close'}\r\n\r\n")
    writer.write(head.encode() + body)
    await writer.drain()


async def _websocket(request: _Request, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    protocol = ServerProtocol()
    protocol.receive_data(request.raw_head)
    handshake = protocol.events_received()[0]
    if not isinstance(handshake, Request):
        return
    protocol.send_response(protocol.accept(handshake))
    while await _flush(protocol, writer):
        data = await reader.read(65536)
        if data:
            protocol.receive_data(data)
        else:
            protocol.receive_eof()
        for frame in protocol.events_received():
            if isinstance(frame, Frame):
                _echo_frame(protocol, frame.opcode, frame.data, frame.fin)


def _echo_frame(protocol: ServerProtocol, opcode: Opcode, data: bytes, fin: bool) -> None:
    if opcode is Opcode.TEXT:
        protocol.send_text(data, fin)
    elif opcode is Opcode.BINARY:
        protocol.send_binary(data, fin)
    elif opcode is Opcode.CONT:
        protocol.send_continuation(data, fin)
    # PING/PONG/CLOSE are answered by the protocol itself


async def _flush(protocol: ServerProtocol, writer: asyncio.StreamWriter) -> bool:
    """Write what the protocol has queued; False once it wants the TCP connection closed."""
    for data in protocol.data_to_send():
        if not data:  # websockets' marker for "half-close the connection now"
            return False
        writer.write(data)
    await writer.drain()
    return True


async def _serve_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                            session_id: str, secret: str) -> None:
    with contextlib.suppress(asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError, ValueError):
        keep_alive = True
        while keep_alive:
            request = _parse_head(await reader.readuntil(b"\r\n\r\n"))
            given = request.headers.get("x-studios-secret", "").encode()
            if not hmac.compare_digest(given, secret.encode()):  # constant time: the secret is the only lock
                await _respond(writer, 403, {"detail": "forbidden"}, keep_alive=False)
                break
            if request.wants_websocket:
                await _websocket(request, reader, writer)
                break
            body = await _read_body(reader, request)
            keep_alive = request.keep_alive
            await _respond(writer, 200, _echo(request, body, session_id), keep_alive)
    writer.close()


async def serve(port: int, session_id: str, secret: str) -> None:
    server = await asyncio.start_server(
        lambda r, w: _serve_connection(r, w, session_id, secret), "127.0.0.1", port)
    print(f"http_echo listening on http://127.0.0.1:{server.sockets[0].getsockname()[1]}", flush=True)
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(signum, stop.set)
    async with server:
        await stop.wait()
    print("http_echo stopped", flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="http_echo")
    parser.add_argument("--port", type=int, default=int(os.environ.get("CONNECT_TOOL_PORT", "0")))
    args = parser.parse_args(argv)
    secret = os.environ.get("STUDIOS_SESSION_SECRET")
    if not secret:
        sys.exit("http_echo: STUDIOS_SESSION_SECRET is not set; refusing to serve without a secret")
    asyncio.run(serve(args.port, os.environ.get("STUDIOS_SESSION_ID", ""), secret))


if __name__ == "__main__":
    main()
