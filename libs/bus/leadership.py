"""Relay leadership: a session advisory lock, a server-enforced lease on it, and an epoch in the checkpoint.

The leader holds ``pg_advisory_lock`` on a connection of its own (not a pooled one: the pool's reset would release
it). That connection runs with ``idle_session_timeout = ttl``, so when the leader stops talking to PostgreSQL --
its process paused by SIGSTOP, its VM frozen, its network cut -- the server ends the session after ``ttl`` and the
lock goes to the next relay, which is already waiting on it (a blocking ``pg_advisory_lock``, not a retry loop).

On winning the lock a relay claims the next *epoch* of its checkpoint row, and moves the checkpoint only by a
compare-and-set naming that epoch (``checkpoints.advance_as_leader``). A former leader that wakes up cannot move
the checkpoint any more. It does not publish either: before each batch it confirms its epoch on its lock
connection, and before each message it checks its lease locally (``valid``: half the ttl since the last confirm
began, by the monotonic clock, which runs on while a process is stopped), confirming again when that ran out.
At most what was already in the NATS client's write buffer when it was paused still goes out, and JetStream's
duplicate window drops it unless the pause outlasted that window.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Awaitable, Callable

import asyncpg

from libs.eventstore import checkpoints as cp
from libs.eventstore.errors import CheckpointMoved

log = logging.getLogger("studios.bus.relay")

Connect = Callable[[dict[str, str]], Awaitable[asyncpg.Connection]]


class LostLeadership(CheckpointMoved):
    """Another relay holds the leader lock, or this one can no longer prove it does: stop publishing."""


def lock_key(checkpoint: str) -> int:
    """A stable signed 64-bit advisory-lock key for a relay's checkpoint name."""
    return int.from_bytes(hashlib.sha256(f"studios:{checkpoint}".encode()).digest()[:8], "big", signed=True)


class Leadership:
    """The leader lock for ``checkpoint``; ``connect(server_settings)`` opens a dedicated connection."""

    def __init__(self, connect: Connect, checkpoint: str, ttl: float = 30.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if ttl < 1.0:
            raise ValueError("the lease ttl is at least 1 s (PostgreSQL's idle_session_timeout is in ms, but a "
                             "shorter lease would be lost to an ordinary pause)")
        self._connect, self.checkpoint, self.ttl, self._clock = connect, checkpoint, ttl, clock
        self.key = lock_key(checkpoint)
        self.epoch: int | None = None
        self._conn: asyncpg.Connection | None = None
        self._confirmed_at = float("-inf")
        self.renewals = 0  # successful confirms: the lease renewed on the server as well

    @property
    def leading(self) -> bool:
        return self._conn is not None

    def valid(self) -> bool:
        """Whether the lease is surely still held (no round trip): half the ttl since the last confirm began."""
        return self._conn is not None and self._clock() - self._confirmed_at < self.ttl / 2

    async def _open(self) -> asyncpg.Connection:
        # statement_timeout 0: a non-leader's pg_advisory_lock waits as long as the leader lives, whatever the
        # operator's default. idle_session_timeout: the lease PostgreSQL itself enforces on the leader's session.
        lease = {"idle_session_timeout": str(int(self.ttl * 1000))}
        try:
            return await self._connect({"statement_timeout": "0", **lease})
        except asyncpg.UndefinedObjectError:  # PostgreSQL before 14: no server-side lease
            log.warning("%s: this PostgreSQL has no idle_session_timeout (14+): a paused leader keeps the lock "
                        "until its connection dies; its epoch still cannot move the checkpoint", self.checkpoint)
            return await self._connect({"statement_timeout": "0"})

    async def try_acquire(self) -> bool:
        """Take the lock if it is free (one attempt); True when this relay leads."""
        if self._conn is not None:
            return True
        conn = await self._open()
        try:
            if await conn.fetchval("SELECT pg_try_advisory_lock($1)", self.key):
                await self._won(conn)
                return True
        except BaseException:
            conn.terminate()
            raise
        await conn.close()
        return False

    async def acquire(self, stop: asyncio.Event) -> bool:
        """Wait on the lock until it is this relay's (True) or ``stop`` is set (False)."""
        if self._conn is not None:
            return True
        conn = await self._open()
        locking = asyncio.ensure_future(conn.fetchval("SELECT pg_advisory_lock($1)", self.key))
        stopping = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait({locking, stopping}, return_when=asyncio.FIRST_COMPLETED)
            if not locking.done():
                conn.terminate()  # ends the wait server-side too; a lock granted meanwhile goes with the session
                return False
            locking.result()
            await self._won(conn)
            return True
        except BaseException:
            conn.terminate()
            raise
        finally:
            for task in (locking, stopping):
                task.cancel()
            await asyncio.gather(locking, stopping, return_exceptions=True)

    async def _won(self, conn: asyncpg.Connection) -> None:
        started = self._clock()
        self.epoch = await cp.claim_epoch(conn, self.checkpoint)
        self._conn, self._confirmed_at = conn, started

    async def confirm(self) -> None:
        """Prove on the lock connection that this relay still leads at its epoch (renewing the lease), or raise
        LostLeadership after stepping down."""
        if self._conn is None:
            raise LostLeadership(f"{self.checkpoint}: not the leader")
        started = self._clock()
        try:
            epoch = await cp.epoch_of(self._conn, self.checkpoint, timeout=max(1.0, self.ttl / 4))
        except Exception as e:  # whatever it is (closed by the server, a timeout, a query cut short by a pause),
            # this connection no longer proves the lock is held
            await self.release()
            raise LostLeadership(f"{self.checkpoint}: lost the leader connection ({type(e).__name__})") from None
        if epoch != self.epoch:
            mine = self.epoch
            await self.release()
            raise LostLeadership(f"{self.checkpoint}: leader epoch {mine} superseded by {epoch}")
        self._confirmed_at = started
        self.renewals += 1

    async def keep(self) -> None:
        """Renew the lease when a third of the ttl passed since the last confirm (an idle leader's heartbeat)."""
        if self._conn is not None and self._clock() - self._confirmed_at >= self.ttl / 3:
            await self.confirm()

    async def advance(self, name: str, expected: cp.Position, new: cp.Position) -> None:
        """The checkpoint's compare-and-set under this relay's epoch (on the lock connection)."""
        if self._conn is None or self.epoch is None:
            raise LostLeadership(f"{self.checkpoint}: not the leader")
        try:
            await cp.advance_as_leader(self._conn, name, expected, new, self.epoch)
        except CheckpointMoved:
            await self.release()
            raise
        except Exception as e:
            await self.release()
            raise LostLeadership(f"{self.checkpoint}: lost the leader connection ({type(e).__name__})") from None

    async def release(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                await asyncio.wait_for(conn.close(), 5)
            except Exception:  # a dead connection has nothing left to release
                conn.terminate()
