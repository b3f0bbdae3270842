"""Heartbeats on long commands: a requester can tell a command still being worked on from one whose replica died.

A plain NATS request delivered to a queue-group member that is then killed gets no reply and no error: the
requester waits out its whole timeout, and a long command's timeout is long (a checkpoint save may take an hour).
So a requester that asks for it (header ``Studios-Heartbeat: <seconds>``) gets, while the handler runs, an empty
message with header ``Studios-Working: 1`` on its reply inbox every that many seconds, and gives up once
``MISSED`` of them in a row did not come (``ResponderLost``): the replica that took the command is gone, and the
command may be sent again (with the same command id, so what the first attempt recorded is not recorded twice).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping

import nats.aio.client
import nats.errors
from nats.aio.msg import Msg

from libs.contracts.errors import Unavailable

HEARTBEAT = "Studios-Heartbeat"
WORKING = "Studios-Working"
#: heartbeats missed in a row before the responder counts as gone
MISSED = 3
_STATUS, _NO_RESPONDERS = "Status", "503"


class ResponderLost(Unavailable):
    """The service took the command and then stopped answering: its process is gone. Safe to send again."""


@contextlib.asynccontextmanager
async def beating(nc: nats.aio.client.Client, reply: str | None,
                  headers: Mapping[str, str] | None) -> AsyncIterator[None]:
    """While the block runs, tell the requester the command is being worked on, if it asked to be told."""
    try:
        every = float((headers or {}).get(HEARTBEAT) or 0)
    except ValueError:
        every = 0.0
    if not reply or every <= 0:
        yield
        return

    async def beat() -> None:
        while True:
            await asyncio.sleep(every)
            with contextlib.suppress(Exception):  # a beat lost is one the requester tolerates
                await nc.publish(reply, b"", headers={WORKING: "1"})

    task = asyncio.create_task(beat())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def request(nc: nats.aio.client.Client, subject: str, data: bytes, headers: Mapping[str, str] | None, *,
                  every: float, timeout: float) -> Msg:
    """A request whose responder sends heartbeats every ``every`` seconds; the reply, or ``ResponderLost`` once
    ``MISSED`` beats did not come, ``nats.errors.TimeoutError`` after ``timeout`` in all,
    ``nats.errors.NoRespondersError`` when nobody serves ``subject``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    inbox = nc.new_inbox()
    sub = await nc.subscribe(inbox)
    try:
        await nc.publish(subject, data, reply=inbox, headers={**(headers or {}), HEARTBEAT: f"{every:g}"})
        while True:
            left = deadline - loop.time()
            if left <= 0:
                raise nats.errors.TimeoutError
            try:
                msg = await sub.next_msg(timeout=min(left, every * MISSED))
            except nats.errors.TimeoutError:
                if deadline - loop.time() <= 0:
                    raise
                raise ResponderLost(f"the service handling {subject} stopped answering (no heartbeat for "
                                    f"{every * MISSED:g} s): its process is gone") from None
            if msg.headers and msg.headers.get(_STATUS) == _NO_RESPONDERS and not msg.data:
                raise nats.errors.NoRespondersError
            if msg.headers and msg.headers.get(WORKING):
                continue
            return msg
    finally:
        with contextlib.suppress(Exception):
            await sub.unsubscribe()
