"""One reconciler acts at a time: a PostgreSQL session advisory lock held on a connection of its own.

Any number of lifecycle processes may run (replicas, or the old and the new one during a restart). Each runs a
reconciler, but only the one holding this lock reconciles, so two never both record a session stopped, restart
the same start or stop what the other launched as an "orphan". The lock lives on a dedicated connection, not a
pooled one: asyncpg's pool runs ``pg_advisory_unlock_all()`` when a connection goes back. When the leader's
process or connection dies PostgreSQL releases the lock, and the next pass of another reconciler takes it.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import socket

import asyncpg

log = logging.getLogger("studios.lifecycle.leadership")

def lock_key(name: str) -> int:
    """A stable signed 64-bit advisory-lock key for ``name``."""
    return int.from_bytes(hashlib.sha256(f"studios:{name}".encode()).digest()[:8], "big", signed=True)


class LeaderLock:
    def __init__(self, dsn: str, name: str = "lifecycle-reconciler") -> None:
        self.dsn, self.name, self.key = dsn, name, lock_key(name)
        self._conn: asyncpg.Connection | None = None

    @property
    def held(self) -> bool:
        return self._conn is not None

    async def hold(self) -> bool:
        """Keep or take the lock (one try, never waiting); True while this process is the leader.

        A held lock is checked with a round trip on every call (once per reconcile pass): a connection that died
        took the lock with it, and another process may already lead."""
        if self._conn is not None:
            try:
                await self._conn.fetchval("SELECT 1", timeout=5)
                return True
            except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError):
                log.warning("%s: lost the leader connection; stepping down", self.name)
                await self.release()
        app = f"{self.name} {socket.gethostname()}:{os.getpid()}"[:63]
        conn = await asyncpg.connect(self.dsn, server_settings={"application_name": app})
        try:
            if await conn.fetchval("SELECT pg_try_advisory_lock($1)", self.key):
                self._conn = conn
                log.info("%s: leader (pid %s)", self.name, os.getpid())
                return True
        except BaseException:
            conn.terminate()
            raise
        await conn.close()
        return False

    async def release(self) -> None:
        """Step down: closing the connection releases the lock at once for the next leader."""
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                await asyncio.wait_for(conn.close(), 5)
            except Exception:  # a dead connection has nothing left to release
                conn.terminate()
