"""A bounded window of in-flight JetStream publishes whose acks are settled in order.

Only JetStream settles a publish. Any core-NATS subscriber of the subject also receives the message with its reply
subject and may answer it first (FastStream answers every message that has one), so a reply counts as the ack only
when it is one: a JSON object with ``stream`` equal to the target stream and an integer ``seq``. A JetStream error
(``{"error": {"code": …}}``) or the server's "no responders" status fails the publish; any other answer is someone
else's and is ignored -- the publish then waits for JetStream's own ack, or fails after ``ack_timeout``.
"""

from __future__ import annotations

import asyncio
import collections
import inspect
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js import JetStreamContext

from libs.eventstore import Position

_hpub_cmd: Callable[[str, str, bytes, bytes], bytes] | None
try:  # a private nats-py module: the fast path is used only where it is found (``fast_path_available``)
    from nats.protocol.command import hpub_cmd as _hpub_cmd
except ImportError:  # pragma: no cover - depends on the installed nats-py
    _hpub_cmd = None

log = logging.getLogger("studios.bus.acks")


class PublishFailed(Exception):
    """An ack did not come (in time) or JetStream refused a message; republish from the checkpoint."""


@dataclass(frozen=True, slots=True)
class Ack:
    stream: str
    seq: int
    duplicate: bool = False


Outcome = Ack | PublishFailed


def classify(data: bytes, headers: dict[str, str] | None, stream: str | None) -> Outcome | None:
    """What a reply on the ack inbox means: JetStream's ack, JetStream's refusal, or None (someone else's answer).

    ``stream`` is the stream the subject belongs to; None accepts an ack from any stream (a replay to a prefix
    whose stream the caller does not know)."""
    if headers and headers.get("Status") == "503":
        return PublishFailed("no stream took the subject and nobody answered (503 no responders)")
    if data[:1] != b"{":
        return None
    try:
        body = json.loads(data)
    except ValueError:
        return None
    if not isinstance(body, dict):
        return None
    error = body.get("error")
    if isinstance(error, dict) and _is_int(error.get("code")):
        return PublishFailed(f"JetStream refused it: {error.get('description', error)}")
    name, seq = body.get("stream"), body.get("seq")
    if isinstance(name, str) and (stream is None or name == stream) and isinstance(seq, int) and _is_int(seq) \
            and seq >= 0:
        return Ack(name, seq, body.get("duplicate") is True)
    return None


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def header_block(headers: dict[str, str]) -> bytes:
    """The NATS header section for ``headers`` (values lose any CR/LF, as nats-py does)."""
    lines = "".join(f"{k}: {v.translate(_NO_NEWLINES)}\r\n" for k, v in headers.items())
    return f"NATS/1.0\r\n{lines}\r\n".encode()


_NO_NEWLINES = str.maketrans({"\r": " ", "\n": " "})


def fast_path_available(nc: object) -> bool:
    """Whether nats-py's private write buffer is there as this module uses it (tested with nats-py 2.16, the
    minor range pyproject.toml pins).

    The fast path hands an HPUB frame encoded here in one step to ``_send_command`` and kicks ``_flush_pending``:
    nats-py validates and encodes each header separately, which for the dozen headers of the event contract cost
    about a third of the relay's CPU. A nats-py without these falls back to the public ``publish``."""
    send, flush = getattr(nc, "_send_command", None), getattr(nc, "_flush_pending", None)
    if _hpub_cmd is None or not callable(send) or not callable(flush) or not hasattr(nc, "_flush_queue"):
        return False
    try:
        return (list(inspect.signature(send).parameters)[:1] == ["cmd"]
                and len(inspect.signature(_hpub_cmd).parameters) == 4)
    except (TypeError, ValueError):
        return False


class AckWindow:
    """Pipelined JetStream publishes to ``stream`` with at most ``size`` acks in flight, settled in order.

    ``acked`` is the position up to which *every* publish was acknowledged (or skipped: parked, see ``skip``).
    Publishes carry a reply inbox of this window's own (the protocol of nats-py's ``publish_async``). ``fast``
    chooses the private fast path (``fast_path_available``); None detects it.
    """

    def __init__(self, nc: NATS, stream: str | None, size: int = 1000, ack_timeout: float = 10.0,
                 fast: bool | None = None) -> None:
        self.nc, self.stream, self.size, self.ack_timeout = nc, stream, size, ack_timeout
        self.fast = fast_path_available(nc) if fast is None else fast
        self._pending: collections.deque[tuple[asyncio.Future[Outcome], Position]] = collections.deque()
        self._futures: dict[str, asyncio.Future[Outcome]] = {}
        self._inbox = ""
        self._sub: Subscription | None = None
        self._seq = 0
        self.acked: Position | None = None
        self.count = 0
        self.duplicates = 0
        self.foreign = 0  # replies that were not JetStream's (another subscriber answered)

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
        outcome = classify(msg.data, msg.headers, self.stream)
        if outcome is None:
            self.foreign += 1
            return
        future = self._futures.pop(msg.subject.rpartition(".")[2], None)
        if future is not None and not future.done():
            future.set_result(outcome)

    def too_large(self, size: int) -> bool:
        """Whether a message of ``size`` bytes (header block plus payload) exceeds the server's ``max_payload``:
        the server would answer it by closing the connection."""
        return size > self.nc.max_payload

    def skip(self, position: Position) -> None:
        """Settle ``position`` without publishing (an event parked instead): ``acked`` passes it in order."""
        future: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        future.set_result(_SKIPPED)
        self._pending.append((future, position))

    async def publish(self, subject: str, payload: bytes, headers: dict[str, str], position: Position,
                      block: bytes | None = None) -> None:
        """Publish one message (``block``: its ``header_block``, when the caller built it already)."""
        self._seq += 1
        token = str(self._seq)
        reply = f"{self._inbox}.{token}"
        future: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        self._futures[token] = future
        self._pending.append((future, position))
        nc: Any = self.nc
        if self.fast and nc.is_connected:
            await nc._send_command(_hpub(subject, reply, block or header_block(headers), payload))
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
                raise PublishFailed(f"no JetStream ack within {self.ack_timeout}s for position {position}"
                                    f" ({self.foreign} replies from other subscribers ignored)") from None
        self._pending.popleft()
        self._take(future, position)
        self._settle_done()

    def _take(self, future: asyncio.Future[Outcome], position: Position) -> None:
        outcome = future.result()
        if isinstance(outcome, PublishFailed):
            raise PublishFailed(f"position {position}: {outcome}")
        if outcome is not _SKIPPED:
            self.count += 1
        self.duplicates += outcome.duplicate
        self.acked = position


_SKIPPED = Ack("", -1)  # never a JetStream ack: classify() takes only seq >= 0
def _hpub(subject: str, reply: str, block: bytes, payload: bytes) -> bytes:
    assert _hpub_cmd is not None  # AckWindow.fast is True only when fast_path_available() found it
    return _hpub_cmd(subject, reply, block, payload)


def connection_of(conn: NATS | JetStreamContext) -> NATS:
    """The core connection behind a JetStream context (its ``_nc``), or the connection itself."""
    return conn._nc if isinstance(conn, JetStreamContext) else conn
