"""Which lifecycle process works on a session right now: one PostgreSQL session advisory lock per studio.

With replicas, a start can reach two processes: the one that took the ``StudioStartRequested`` message, and the
leader's reconciler, which sees the studio ``starting`` with no task of its own under way (it cannot see the other
process's tasks) and resumes it. Both would provision the same workspace, restore its checkpoint into it at the
same time and record every progress step twice. A stop can race a start in another process, and two processes'
exit watchers can record the end of one tool twice. So a start, a stop and the record of a tool's end each hold
the studio's claim while they run:

- a start that finds the claim held elsewhere does nothing (the holder re-reads the studio when it acts, and a
  start that is still wanted afterwards is resumed by the reconciler's next pass);
- a stop and the record of an end wait for it (polling: a blocked ``pg_advisory_lock`` would hold the one
  connection every claim of this process shares).

All of a process's claims are held on one connection of its own (not pooled: the pool's reset would release
them). A process killed at any instant loses its connection, and PostgreSQL lets its claims go at once. Within one
process a claim is re-entrant (PostgreSQL counts session locks per session), which is what the runner wants: it
orders its own tasks for a studio itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import AsyncIterator

import asyncpg

from services.lifecycle.sessions.leadership import lock_key

log = logging.getLogger("studios.lifecycle.claims")


class SessionClaims:
    def __init__(self, dsn: str, poll: float = 0.2, name: str = "lifecycle-claims") -> None:
        self.dsn, self.poll, self.name = dsn, poll, name
        self._conn: asyncpg.Connection | None = None
        self._lock = asyncio.Lock()  # one query at a time on the shared connection

    async def _connection(self) -> asyncpg.Connection:
        if self._conn is None or self._conn.is_closed():
            app = f"{self.name} {socket.gethostname()}:{os.getpid()}"[:63]
            self._conn = await asyncpg.connect(self.dsn, server_settings={"application_name": app,
                                                                           "statement_timeout": "10s"})
        return self._conn

    async def _try(self, key: int) -> tuple[bool, asyncpg.Connection | None]:
        async with self._lock:
            try:
                conn = await self._connection()
                return bool(await conn.fetchval("SELECT pg_try_advisory_lock($1)", key)), conn
            except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError):
                await self._drop()  # its claims went with it; the next try opens another
                raise

    async def _release(self, key: int, conn: asyncpg.Connection | None) -> None:
        async with self._lock:
            if conn is None or conn is not self._conn or conn.is_closed():
                return  # the connection it was taken on is gone, and the claim with it
            try:
                await conn.fetchval("SELECT pg_advisory_unlock($1)", key)
            except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError):
                await self._drop()

    async def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.terminate()

    @contextlib.asynccontextmanager
    async def attempt(self, session_id: str) -> AsyncIterator[bool]:
        """Take the studio's claim if no other process holds it; yields whether it was taken."""
        key = lock_key(f"session:{session_id}")
        taken, conn = await self._try(key)
        try:
            yield taken
        finally:
            if taken:
                await self._release(key, conn)

    @contextlib.asynccontextmanager
    async def hold(self, session_id: str) -> AsyncIterator[None]:
        """Wait until this process holds the studio's claim, and hold it for the block."""
        key = lock_key(f"session:{session_id}")
        while True:
            taken, conn = await self._try(key)
            if taken:
                break
            await asyncio.sleep(self.poll)
        try:
            yield
        finally:
            await self._release(key, conn)

    async def close(self) -> None:
        async with self._lock:
            conn, self._conn = self._conn, None
            if conn is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(conn.close(), 5)
