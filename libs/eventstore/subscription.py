"""Catch-up-then-follow subscriptions for projections: the read-model change and the checkpoint commit together.

A batch is read by commit horizon, applied inside one transaction (a savepoint per event, so one poison event is
parked after ``max_attempts`` without losing the batch) and the checkpoint advanced by compare-and-set in that same
transaction: the effect is exactly once. Handlers get the transaction's connection and must do database work only:
no network call inside a transaction (DESIGN §2). Reactions with side effects belong on JetStream consumers.

Wake-up is by polling with back-off, plus an optional LISTEN wake-up (``run(wake=...)``, see ``wakeup.py``): the
relay sends one NOTIFY per pass. A NOTIFY in every append is left out on purpose: it would take the global
notify-queue lock at each commit and serialize all writers.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import cast

import asyncpg

from libs.eventstore import checkpoints
from libs.eventstore.store import EventStore
from libs.eventstore.types import Conn, Position, RecordedEvent

log = logging.getLogger("studios.subscription")

Handler = Callable[[asyncpg.Connection, RecordedEvent], Awaitable[None]]


@dataclass
class Subscription:
    store: EventStore
    name: str
    handler: Handler
    categories: Sequence[str] | None = None
    batch_size: int = 500
    max_attempts: int = 3
    poll_min: float = 0.02
    poll_max: float = 0.5

    async def run_once(self) -> int:
        """Apply one batch; returns how many events the checkpoint moved past (0 when caught up or paused)."""
        async with self.store.pool.acquire() as conn, conn.transaction():
            # Instances of one subscription take turns: a second one waits here for the first to commit, then
            # reads from where it left off, instead of applying the same batch (and deadlocking with it on the
            # read model's rows). The checkpoint's compare-and-set stays the guarantee.
            await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 1))", self.name)
            cp = await checkpoints.load(conn, self.name)
            if cp.paused:
                return 0
            events = await self.store.read_all(cp.position, categories=self.categories, limit=self.batch_size,
                                               conn=conn)
            if not events:
                return 0
            for event in events:
                await self._apply(conn, event)
            await checkpoints.advance(conn, self.name, cp.position, events[-1].position)
            return len(events)

    async def _apply(self, conn: Conn, event: RecordedEvent) -> None:
        error = ""
        for _ in range(self.max_attempts):
            try:
                async with conn.transaction():  # a savepoint: a failed handler leaves nothing behind
                    await self.handler(cast(asyncpg.Connection, conn), event)
                return
            except (asyncpg.InterfaceError, ConnectionError, OSError, asyncpg.TransactionRollbackError):
                # Not the event's fault: a lost connection, or a deadlock / serialization failure against another
                # transaction (e.g. a second instance of this subscription). Retry the batch, never park for it.
                raise
            except Exception as e:  # any handler failure counts as an attempt
                error = f"{type(e).__name__}: {e}"
        log.error("parking event %s (%s) for %s: %s", event.event_id, event.event_type, self.name, error)
        await conn.execute(
            """INSERT INTO es.parked (consumer, global_position, event_id, stream_name, event_type, attempts, error)
               VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING""",
            self.name, event.global_position, event.event_id, event.stream_name, event.event_type,
            self.max_attempts, error)

    async def catch_up(self) -> int:
        """Apply batches until nothing is left below the horizon."""
        total = 0
        while n := await self.run_once():
            total += n
        return total

    async def run(self, stop: asyncio.Event | None = None, wake: asyncio.Event | None = None) -> None:
        """Catch up, then follow until ``stop`` is set. Errors are logged and retried with back-off. ``wake``, when
        given, cuts an idle wait short (see ``wakeup.listening``); it is cleared each time it is used."""
        stop = stop or asyncio.Event()
        delay = self.poll_min
        while not stop.is_set():
            try:
                n = await self.run_once()
                delay = self.poll_min if n else min(delay * 2, self.poll_max)
                if n == self.batch_size:
                    continue
            except Exception:
                log.exception("subscription %s failed; retrying", self.name)
                delay = self.poll_max
            await idle(stop, wake, delay)

    async def position(self) -> Position:
        async with self.store.pool.acquire() as conn:
            return (await checkpoints.load(conn, self.name)).position


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
