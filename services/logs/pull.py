"""A pull consumer's batches read as raw frames, below nats-py's ``Msg``.

nats-py's ``PullSubscription.fetch`` waits for each message with ``next_msg(timeout)`` (an ``asyncio.wait_for``
per message, a task each): at several thousand messages a batch that alone held ingestion near 6,000 lines/s. And
each delivered message costs nats-py a ``Msg`` object, its headers' parse and an ``asyncio.Queue`` put and get: a
quarter of the ingestor's time. Here a pull request (``$JS.API.CONSUMER.MSG.NEXT``) is answered into an inbox
whose messages the connection hands over as they are parsed, ``(subject, reply, data)`` bytes appended to a list
(the connection's ``_process_msg`` is wrapped for this inbox's subscription id only; every other subscription's
messages go the usual way). A batch ends when it is full or the server says the request is over (a status
message: 404 no messages, 408 expired, 409 …), or after a grace, should that word be lost.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from nats.aio.client import Client as NATS
from nats.aio.subscription import Subscription

_GRACE = 1.0
#: One delivered message: its subject, its reply (ack) subject, its payload.
Frame = tuple[bytes, bytes, bytes]
_STATUS = b"NATS/1.0 "
_Process = Callable[[int, bytes, bytes, bytes, bytes | None], Awaitable[None]]


class Puller:
    def __init__(self, nc: NATS, api_prefix: str, stream: str, durable: str) -> None:
        self.nc = nc
        self.subject = f"{api_prefix}.CONSUMER.MSG.NEXT.{stream}.{durable}"
        self.inbox = nc.new_inbox()
        self._sub: Subscription | None = None
        self._frames: list[Frame] = []
        self._over = 0  # status messages (a request's end) not yet consumed
        self._arrived = asyncio.Event()
        self._hook: _Process | None = None

    async def start(self) -> None:
        self._sub = await self.nc.subscribe(self.inbox)
        sid, passed_on, arrived = self._sub._id, self.nc._process_msg, self._arrived

        async def process(s: int, subject: bytes, reply: bytes, data: bytes, headers: bytes | None) -> None:
            if s != sid:
                return await passed_on(s, subject, reply, data, headers)  # type: ignore[arg-type]  # nats-py passes None
            if headers and not data and headers.startswith(_STATUS):
                if headers[len(_STATUS):len(_STATUS) + 3] == b"100":  # a heartbeat (not asked for): not the end
                    return None
                self._over += 1
            else:
                self._frames.append((subject, reply, data))
            arrived.set()
            return None

        self._hook = process
        self.nc._process_msg = process  # type: ignore[method-assign,assignment]  # see the module's docstring

    async def stop(self) -> None:
        if self._hook is not None and self.nc._process_msg is self._hook:  # type: ignore[comparison-overlap]
            del self.nc._process_msg  # the class's method again (the wrapper passes others on if left)
        self._hook = None
        if self._sub is not None:
            await self._sub.unsubscribe()
            self._sub = None

    async def fetch(self, batch: int, wait: float) -> list[Frame]:
        """Up to ``batch`` messages: what is there at once or, when nothing is, what comes within ``wait``."""
        # First ask for what is there (``no_wait``: the server answers at once, then says 404 when it ran short).
        # Only when that is nothing, a lingering request: one with ``expires`` throughout would end a big batch
        # early (408) whenever delivering it took longer than ``wait``.
        msgs = await self._request({"batch": batch, "no_wait": True}, batch, _GRACE)
        if not msgs:
            msgs = await self._request({"batch": batch, "expires": int(wait * 1e9)}, batch, wait + _GRACE)
        return msgs

    async def _request(self, request: dict[str, Any], batch: int, within: float) -> list[Frame]:
        assert self._sub is not None, "start() first"
        # One request at a time. What a request given up on delivers late stays for this one (in stream order:
        # never dropped, the batch's ack would ack it too); its late status ends this one early (a short batch).
        self._over = 0
        self._arrived.clear()
        await self.nc.publish(self.subject, orjson.dumps(request), reply=self.inbox)
        deadline = time.monotonic() + within
        while len(self._frames) < batch and not self._over:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), left)
            except TimeoutError:
                break
        frames = self._frames[:batch]
        self._frames = self._frames[batch:]  # (never more than asked for: the server sends at most ``batch``)
        return frames
