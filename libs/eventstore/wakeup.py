"""The optional LISTEN wake-up for subscriptions in other processes: one NOTIFY per relay pass, never per append.

A NOTIFY inside every append would take PostgreSQL's global notify-queue lock at each commit and serialise all
writers. The relay already reads every committed event in commit order, so it sends one ``NOTIFY studios_events``
(no payload: a follower reads from its own checkpoint) after each pass that published something. A follower in any
process listens on a connection of its own and wakes at once instead of at its next poll::

    async with listening(dsn) as woken:
        await subscription.run(stop, wake=woken)

Polling stays the guarantee (a notification can be missed while a listener reconnects); the wake-up only cuts the
wait. The latency it adds is the relay's idle poll (50 ms).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import asyncpg

from libs.eventstore.types import Conn

CHANNEL = "studios_events"


async def notify(conn: Conn | asyncpg.Pool, payload: str = "", channel: str = CHANNEL) -> None:
    await conn.execute("SELECT pg_notify($1, $2)", channel, payload)


@contextlib.asynccontextmanager
async def listening(dsn: str, channel: str = CHANNEL) -> AsyncIterator[asyncio.Event]:
    """An event set by every notification on ``channel`` (the follower clears it when it wakes)."""
    woken = asyncio.Event()

    def on_notification(*_: Any) -> None:
        woken.set()

    conn = await asyncpg.connect(dsn)
    try:
        await conn.add_listener(channel, on_notification)
        yield woken
    finally:
        with contextlib.suppress(OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
            await asyncio.wait_for(conn.close(), 5)
        conn.terminate()


async def idle(stop: asyncio.Event, wake: asyncio.Event | None, delay: float) -> None:
    """Until ``stop``, ``wake`` or ``delay`` seconds, whichever comes first."""
    waits = [asyncio.ensure_future(stop.wait())]
    if wake is not None:
        waits.append(asyncio.ensure_future(wake.wait()))
    try:
        await asyncio.wait(waits, timeout=delay, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waits:
            w.cancel()
        if wake is not None:
            wake.clear()
