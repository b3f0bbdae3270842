"""Catch-up-then-follow subscriptions for projections: the read-model change and the checkpoint commit together.

A batch is read by commit horizon and applied in one transaction with the checkpoint's compare-and-set: the effect
is exactly once. A batch is bounded by count and by time (``batch_seconds``), because while its transaction is open
it holds the commit horizon back for every reader. Events are applied without savepoints: one per event would pass
PostgreSQL's 64-entry subtransaction cache, and an overflowed cache slows every snapshot in the server. When a
handler fails, the batch is rolled back and the events before the failing one are applied again on their own.

A failing event is retried with exponential back-off (the checkpoint waits right before it and says why) and
parked in ``es.parked`` after ``max_attempts``; a ``StreamGap`` is parked at once. An ordered subscription (the
default) then holds every later event of that stream as parked too, so a folding read model never applies position
N+1 over a missing N; the stream shows as stopped in the checkpoint's error until ``studios parked retry``, which
this subscription carries out on its next poll, applies the stream's parked events in order (``parked.py``).

Handlers get the transaction's connection and must do database work only: no network call inside a transaction
(DESIGN §2). Reactions with side effects belong on JetStream consumers. Wake-up is by polling with back-off, plus
an optional LISTEN wake-up (``run(wake=...)``, see ``wakeup.py``) fed by one NOTIFY per relay pass, never per append.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import cast

import asyncpg

from libs.eventstore import checkpoints, parked
from libs.eventstore.parked import HandlerFailed, StreamGap, take_turn
from libs.eventstore.store import EventStore
from libs.eventstore.types import Conn, Position, RecordedEvent
from libs.eventstore.wakeup import idle
from libs.platform.metrics import parked_events

__all__ = ["TRANSIENT", "Handler", "StreamGap", "Subscription", "idle"]

log = logging.getLogger("studios.subscription")

Handler = Callable[[asyncpg.Connection, RecordedEvent], Awaitable[None]]

# Not the event's fault: a lost connection, or a deadlock / serialization failure against another transaction.
# The batch is retried as a whole; never a try against the event, never parked for it.
TRANSIENT = (asyncpg.InterfaceError, ConnectionError, OSError, asyncpg.TransactionRollbackError)


@dataclass
class _Failing:
    """The event this subscription is backing off on (kept in memory: a restart only means more tries)."""

    event_id: uuid.UUID
    attempts: int = 0
    due: float = 0.0
    error: str = ""


@dataclass
class Subscription:
    store: EventStore
    name: str
    handler: Handler
    categories: Sequence[str] | None = None
    batch_size: int = 500
    #: a batch commits once it has run this long, however many of its events are left
    batch_seconds: float = 0.5
    max_attempts: int = 5
    backoff_min: float = 0.05
    backoff_max: float = 5.0
    #: hold a stream's later events behind a parked one (False: apply them anyway; for counters and the like)
    ordered: bool = True
    poll_min: float = 0.02
    poll_max: float = 0.5
    #: the ``service`` label of the ``studios_parked_events`` gauge
    service: str = "eventstore"
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    _failing: _Failing | None = field(default=None, init=False, repr=False)
    _gauge_set: bool = field(default=False, init=False, repr=False)

    async def run_once(self) -> int:
        """Apply one batch; returns how many events the checkpoint moved past (0 when caught up, paused, or
        backing off from a failing event: see ``retry_in``)."""
        async with self.store.pool.acquire() as conn:
            if not self._gauge_set:  # what earlier runs parked counts from the start, not from the next batch
                self._show_gauge(await parked.stopped(conn, self.name))
            await self._retry_requested(conn)
            if self.retry_in():
                return 0
            pending: HandlerFailed | None = None
            for _ in range(self.batch_size + 1):  # each round stops earlier in the batch
                try:
                    n = await self._batch(conn, pending.event.event_id if pending else None)
                except HandlerFailed as f:
                    parking = self._count(f)
                    if f.index > 0:  # first commit the events before it, on their own
                        pending = f
                        continue
                    if parking:
                        return await self._park(conn, f)
                    await self._note(conn, f)
                    return 0
                if pending is not None and self._failing is not None:
                    await self._note(conn, pending)
                elif pending is None:
                    # a whole batch went through: the failing event applied, or another instance took it past
                    self._failing = None
                return n
            return 0

    def retry_in(self) -> float | None:
        """Seconds until the failing event is tried again (0: now); None when nothing is failing."""
        if self._failing is None:
            return None
        return max(0.0, self._failing.due - self.clock())

    async def _batch(self, conn: Conn, stop_before: uuid.UUID | None) -> int:
        async with conn.transaction():
            await take_turn(conn, self.name)
            cp = await checkpoints.load(conn, self.name)
            if cp.paused:
                return 0
            events = await self.store.read_all(cp.position, categories=self.categories, limit=self.batch_size,
                                               conn=conn)
            if not events:
                return 0
            stopped = await parked.stopped(conn, self.name)
            deadline = self.clock() + self.batch_seconds
            done: list[RecordedEvent] = []
            for index, event in enumerate(events):
                if event.event_id == stop_before:
                    break
                held = stopped.get(event.stream_name) if self.ordered else None
                if held is not None:
                    await parked.park(conn, self.name, event, 0,
                                      f"held: {held.stream_name} is stopped at position {held.first_position}")
                    stopped[event.stream_name] = parked.Stopped(held.stream_name, held.first_position,
                                                                held.parked + 1)
                else:
                    await self._handle(conn, event, index, cp.position)
                done.append(event)
                if self.clock() >= deadline:
                    break
            if not done:
                return 0
            await checkpoints.advance(conn, self.name, cp.position, done[-1].position)
            await self._show(conn, stopped)
        return len(done)

    async def _handle(self, conn: Conn, event: RecordedEvent, index: int, start: Position) -> None:
        try:
            await self.handler(cast(asyncpg.Connection, conn), event)
        except TRANSIENT:
            raise
        except Exception as e:  # leaves the transaction: it rolls back, nothing of the failed handler stays
            raise HandlerFailed(event, e, index, start) from e

    def _count(self, f: HandlerFailed) -> bool:
        """Count a try against the event; True when it is to be parked now."""
        if self._failing is None or self._failing.event_id != f.event.event_id:
            self._failing = _Failing(f.event.event_id)
        failing, now = self._failing, self.clock()
        failing.attempts += 1
        failing.error = f"{type(f.error).__name__}: {f.error}"
        if isinstance(f.error, StreamGap) or failing.attempts >= self.max_attempts:
            failing.due = now
            return True
        failing.due = now + min(self.backoff_max, self.backoff_min * 2 ** (failing.attempts - 1))
        return False

    async def _note(self, conn: Conn, f: HandlerFailed) -> None:
        failing = self._failing
        assert failing is not None
        e = f.event
        log.warning("%s: event %s (%s, %s@%s) failed, try %d/%d: %s", self.name, e.event_id, e.event_type,
                    e.stream_name, e.stream_position, failing.attempts, self.max_attempts, failing.error)
        await checkpoints.record_error(
            conn, self.name, f"retrying {e.event_type} {e.stream_name}@{e.stream_position} (try "
                             f"{failing.attempts}/{self.max_attempts}): {failing.error}")

    async def _park(self, conn: Conn, f: HandlerFailed) -> int:
        failing = self._failing
        assert failing is not None
        e = f.event
        async with conn.transaction():
            await take_turn(conn, self.name)
            await checkpoints.load(conn, self.name)  # its row may have been created in the batch that rolled back
            await parked.park(conn, self.name, e, failing.attempts, failing.error)
            # from where the failing batch started (the event was its first): refused if anyone moved it since
            await checkpoints.advance(conn, self.name, f.start, e.position)
            await self._show(conn, await parked.stopped(conn, self.name))
        log.error("%s: parked event %s (%s, %s@%s) after %d tries: %s", self.name, e.event_id, e.event_type,
                  e.stream_name, e.stream_position, failing.attempts, failing.error)
        self._failing = None
        return 1

    async def _show(self, conn: Conn, stopped: dict[str, parked.Stopped]) -> None:
        """The checkpoint's error says which streams are stopped (``advance`` just cleared it); and the gauge."""
        if stopped:
            await checkpoints.record_error(conn, self.name, parked.summary(stopped))
        self._show_gauge(stopped)

    def _show_gauge(self, stopped: dict[str, parked.Stopped]) -> None:
        parked_events(self.service)(consumer=self.name).set(sum(s.parked for s in stopped.values()))
        self._gauge_set = True

    async def _retry_requested(self, conn: Conn) -> None:
        """Carry out ``studios parked retry`` for this consumer (``parked.retry_requested``)."""
        stopped = await parked.retry_requested(conn, self.name, self._handle)
        if stopped is not None:
            self._show_gauge(stopped)

    async def catch_up(self) -> int:
        """Apply batches until nothing is left below the horizon, waiting out the back-off of a failing event
        (which ends, at the latest, when it is parked)."""
        total = 0
        while True:
            n = await self.run_once()
            total += n
            if n:
                continue
            wait = self.retry_in()
            if wait is None:
                return total
            await self.sleep(wait)

    async def run(self, stop: asyncio.Event | None = None, wake: asyncio.Event | None = None) -> None:
        """Catch up, then follow until ``stop`` is set. Errors are logged and retried with back-off. ``wake``, when
        given, cuts an idle wait short (see ``wakeup.listening``); it is cleared each time it is used."""
        stop = stop or asyncio.Event()
        delay = self.poll_min
        while not stop.is_set():
            try:
                n = await self.run_once()
                if n:
                    delay = self.poll_min
                    continue
                delay = min(delay * 2, self.poll_max)
                backoff = self.retry_in()
                if backoff is not None:  # a wake-up must not cut a back-off short
                    await idle(stop, None, backoff)
                    continue
            except Exception:
                log.exception("subscription %s failed; retrying", self.name)
                delay = self.poll_max
            await idle(stop, wake, delay)

    async def position(self) -> Position:
        async with self.store.pool.acquire() as conn:
            return (await checkpoints.load(conn, self.name)).position
