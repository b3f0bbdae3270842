"""A bounded window of in-flight JetStream publishes whose acks are settled in order."""

from __future__ import annotations

import asyncio
import collections
import json
from typing import Any

from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js import JetStreamContext
from nats.protocol.command import hpub_cmd

from libs.eventstore import Position


class PublishFailed(Exception):
    """An ack did not come (in time) or JetStream refused a message; republish from the checkpoint."""


def header_block(headers: dict[str, str]) -> bytes:
    """The NATS header section for ``headers`` (values lose any CR/LF, as nats-py does)."""
    lines = "".join(f"{k}: {v.translate(_NO_NEWLINES)}\r\n" for k, v in headers.items())
    return f"NATS/1.0\r\n{lines}\r\n".encode()


_NO_NEWLINES = str.maketrans({"\r": " ", "\n": " "})


class AckWindow:
    """Pipelined JetStream publishes with at most ``size`` acks in flight, settled in order.

    ``acked`` is the position up to which *every* ack came. Publishes are JetStream publishes with a reply inbox
    of this window's own (the same protocol as nats-py's ``publish_async``), but the header section is encoded
    here in one step: nats-py validates and encodes each header separately, which for the dozen headers of the
    event contract cost about a third of the relay's CPU. The encoded message goes through nats-py's write
    buffer (``_send_command``, a private method) while connected, and through the public ``publish`` otherwise.
    """

    def __init__(self, nc: NATS, size: int = 1000, ack_timeout: float = 10.0) -> None:
        self.nc, self.size, self.ack_timeout = nc, size, ack_timeout
        self._pending: collections.deque[tuple[asyncio.Future[bytes], Position]] = collections.deque()
        self._futures: dict[str, asyncio.Future[bytes]] = {}
        self._inbox = ""
        self._sub: Subscription | None = None
        self._seq = 0
        self.acked: Position | None = None
        self.count = 0
        self.duplicates = 0

    async def __aenter__(self) -> AckWindow:
        self._inbox = self.nc.new_inbox()
        self._sub = await self.nc.subscribe(f"{self._inbox}.*", cb=self._on_ack)
        return self

    async def __aexit__(self, *exc: object) -> None:
        while self._pending:  # what is still in flight is forgotten: it will be republished and deduplicated
            self._pending.popleft()[0].cancel()
        self._futures.clear()
        if self._sub is not None:
            await self._sub.unsubscribe()

    async def _on_ack(self, msg: Msg) -> None:
        if not _from_jetstream(msg):
            # A plain NATS subscriber of the subject answered the reply subject too (FastStream replies to every
            # message that has one, with an empty body when the handler returns nothing). Taking that for the ack
            # made the relay fail and republish a batch now and then, a second late each time.
            return
        future = self._futures.pop(msg.subject.rpartition(".")[2], None)
        if future is not None and not future.done():
            future.set_result(msg.data)

    async def publish(self, subject: str, payload: bytes, headers: dict[str, str], position: Position) -> None:
        self._seq += 1
        token = str(self._seq)
        reply = f"{self._inbox}.{token}"
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._futures[token] = future
        self._pending.append((future, position))
        nc: Any = self.nc
        if nc.is_connected:
            await nc._send_command(hpub_cmd(subject, reply, header_block(headers), payload))
            if nc._flush_queue is not None and nc._flush_queue.empty():
                await nc._flush_pending()
        else:
            await nc.publish(subject, payload, reply=reply, headers=headers)
        self._settle_done()
        while len(self._pending) >= self.size:
            await self._settle_oldest()

    async def drain(self) -> None:
        while self._pending:
            await self._settle_oldest()

    def _settle_done(self) -> None:
        while self._pending and self._pending[0][0].done():
            self._take(*self._pending.popleft())

    async def _settle_oldest(self) -> None:
        future, position = self._pending[0]
        if not future.done():
            try:
                await asyncio.wait_for(asyncio.shield(future), self.ack_timeout)
            except TimeoutError:
                raise PublishFailed(f"no ack within {self.ack_timeout}s for position {position}") from None
        self._pending.popleft()
        self._take(future, position)
        self._settle_done()

    def _take(self, future: asyncio.Future[bytes], position: Position) -> None:
        data = future.result()
        try:
            ack = json.loads(data)
        except ValueError:
            ack = {"error": {"description": "no stream answered (is the subject in a stream?)"}}
        if "error" in ack:
            raise PublishFailed(f"JetStream refused position {position}: {ack['error']}")
        self.count += 1
        self.duplicates += bool(ack.get("duplicate"))
        self.acked = position


def _from_jetstream(msg: Msg) -> bool:
    """A JetStream publish ack (a JSON object) or the server's "no responders" status; nothing else."""
    return msg.data[:1] == b"{" or (msg.headers or {}).get("Status") == "503"


def connection_of(conn: NATS | JetStreamContext) -> NATS:
    """The core connection behind a JetStream context (its ``_nc``), or the connection itself."""
    return conn._nc if isinstance(conn, JetStreamContext) else conn
