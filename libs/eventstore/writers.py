"""Connections kept for appends, outside the pool (see ``Writers``)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Concatenate, ParamSpec, TypeVar

import asyncpg

from libs.contracts.errors import StudiosError
from libs.eventstore.connection import connect

P = ParamSpec("P")
T = TypeVar("T")

# Failures that leave the connection as it was: the statement failed on the server, or the store refused it.
_CONNECTION_INTACT = (asyncpg.PostgresError, StudiosError, ValueError)


class _ConnectionLost(Exception):
    def __init__(self, error: Exception) -> None:
        super().__init__(str(error))
        self.error = error


class Writers:
    """Connections kept for appends, outside the pool, handed out last-in first-out.

    Why not the pool: an append is one short statement, and asyncpg's acquire/release costs about as much client
    time as the statement (release shields a new task, resets under a timeout, and every call goes through a
    proxy). With eight writers on two cores the pool held single-event appends to 0.54x of plain INSERTs; these
    connections reach ~0.7x (``bench/eventstore.py``). A slot is ``None`` until first used, so an idle store opens
    no writer at all. A connection whose work failed in any other way than a refused statement (cancelled, lost,
    left in a transaction) is dropped and its slot reopened on next use: nothing half-done is ever handed on.
    """

    def __init__(self, dsn: str, size: int, settings: Mapping[str, str] | None = None) -> None:
        self._dsn, self._settings = dsn, settings
        self._slots: asyncio.LifoQueue[asyncpg.Connection | None] = asyncio.LifoQueue()
        for _ in range(size):
            self._slots.put_nowait(None)
        self._open: set[asyncpg.Connection] = set()
        #: called when a connection was lost: the server may have restarted (``EventStore`` forgets its heads)
        self.on_lost: Callable[[], None] | None = None

    async def run(self, work: Callable[Concatenate[asyncpg.Connection, P], Awaitable[T]],
                  *args: P.args, **kwargs: P.kwargs) -> T:
        """``work(connection, *args, **kwargs)`` on a writer connection, once more on a fresh one if the
        connection was lost (a restarted server, a cut idle connection): ``work`` must be idempotent, as appends
        are by their event ids (a lost reply to a committed append is answered from the store on the retry)."""
        try:
            return await self._run_once(work, *args, **kwargs)
        except _ConnectionLost:
            self._lost()
            try:
                return await self._run_once(work, *args, **kwargs)
            except _ConnectionLost as lost:
                raise lost.error from None

    async def _run_once(self, work: Callable[Concatenate[asyncpg.Connection, P], Awaitable[T]],
                        *args: P.args, **kwargs: P.kwargs) -> T:
        conn = await self._acquire()
        intact = False
        try:
            result = await work(conn, *args, **kwargs)
            intact = True
            return result
        except Exception as error:
            if conn.is_closed():
                raise _ConnectionLost(error) from error
            intact = isinstance(error, _CONNECTION_INTACT)
            raise
        finally:
            self._release(conn, intact)

    async def _acquire(self) -> asyncpg.Connection:
        conn = await self._slots.get()
        if conn is not None:
            if not conn.is_closed():
                return conn
            self._open.discard(conn)
            self._lost()  # closed while it waited in its slot: the server cut it
        try:
            conn = await connect(self._dsn, self._settings)
        except BaseException:
            self._slots.put_nowait(None)
            raise
        self._open.add(conn)
        return conn

    def _lost(self) -> None:
        if self.on_lost is not None:
            self.on_lost()

    def _release(self, conn: asyncpg.Connection, intact: bool) -> None:
        if intact and not conn.is_closed() and not conn.is_in_transaction():
            self._slots.put_nowait(conn)
            return
        self._open.discard(conn)
        conn.terminate()
        self._slots.put_nowait(None)

    async def close(self) -> None:
        open_, self._open = self._open, set()
        for conn in open_:
            try:
                await asyncio.wait_for(conn.close(), 5)
            except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError):
                conn.terminate()
