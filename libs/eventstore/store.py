"""The event store on asyncpg: append (idempotent, optimistic, several streams atomically) and reads.

Every reader of the global order uses the commit horizon (DESIGN §2): identity order is not commit order, so a
reader only takes events whose transaction id is below the oldest transaction still running, and orders by
``(tx_id, global_position)``. The parts: ``connection`` (codecs, server settings, the pool), ``writers`` (the
append connections), ``append`` (the SQL of a write), ``heads`` (the stream positions seen committed).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TypeVar, cast

import asyncpg

from libs.eventstore.append import append_many_on, append_on, refuse_a_transaction_with_an_id
from libs.eventstore.connection import create_pool, init_connection
from libs.eventstore.heads import KnownHeads
from libs.eventstore.migrate import MigrationSource, migrate
from libs.eventstore.types import (
    START,
    AppendRequest,
    AppendResult,
    Conn,
    EventRow,
    Expected,
    ExpectedVersion,
    NewEvent,
    Position,
    RecordedEvent,
    event_columns,
)
from libs.eventstore.writers import Writers

__all__ = ["EventStore", "Writers", "append_on", "create_pool", "init_connection"]

_COLUMNS = event_columns()
_READ_ALL = f"""SELECT {_COLUMNS} FROM es.events
 WHERE (tx_id, global_position) > ($1::xid8, $2::bigint)
   AND tx_id < pg_snapshot_xmin(pg_current_snapshot())
 ORDER BY tx_id, global_position LIMIT $3"""
_READ_ALL_CATEGORIES = f"""SELECT {_COLUMNS} FROM es.events
 WHERE (tx_id, global_position) > ($1::xid8, $2::bigint)
   AND tx_id < pg_snapshot_xmin(pg_current_snapshot())
   AND category = ANY($4::text[])
 ORDER BY tx_id, global_position LIMIT $3"""
_READ_STREAM = f"""SELECT {_COLUMNS} FROM es.events
 WHERE stream_name = $1 AND stream_position >= $2 ORDER BY stream_position LIMIT $3"""

T = TypeVar("T")
A = TypeVar("A")


class EventStore:
    """The one way services write and read events. Holds an asyncpg pool for reads and a few connections of its
    own for appends (``Writers``); never connects at import."""

    def __init__(self, pool: asyncpg.Pool, writers: Writers | None = None) -> None:
        self.pool = pool
        self._writers = writers
        #: the stream positions this store has seen committed: an append at one of them skips the look for it
        self.heads = KnownHeads()
        if writers is not None:
            writers.on_lost = self.heads.forget

    @classmethod
    async def connect(cls, dsn: str, *, min_size: int = 2, max_size: int = 10, writers: int | None = None,
                      sources: Sequence[MigrationSource] = (),
                      server_settings: Mapping[str, str] | None = None) -> EventStore:
        """``writers``: at most this many connections for appends, opened on demand (default: half the pool).
        ``server_settings``: PostgreSQL settings for every connection, over ``connection.SERVER_SETTINGS``."""
        pool = await create_pool(dsn, min_size=min_size, max_size=max_size, settings=server_settings)
        async with pool.acquire() as conn:
            await migrate(conn, *sources)
        size = writers if writers is not None else max(1, max_size // 2)
        return cls(pool, Writers(dsn, size, server_settings))

    async def close(self) -> None:
        if self._writers is not None:
            await self._writers.close()
        await self.pool.close()

    # -- writes -------------------------------------------------------------------------------------------

    async def append(self, stream: str, events: Sequence[NewEvent],
                     expected: ExpectedVersion = Expected.ANY,
                     conn: Conn | None = None) -> AppendResult:
        return await self._write(append_on, AppendRequest(stream, list(events), expected), conn)

    async def append_many(self, requests: Sequence[AppendRequest],
                          conn: Conn | None = None) -> list[AppendResult]:
        """Append to several streams in one transaction: all or nothing."""
        return await self._write(append_many_on, requests, conn)

    async def _write(self, work: Callable[[Conn, A, KnownHeads | None], Awaitable[T]], arg: A,
                     conn: Conn | None) -> T:
        """``work`` on the caller's connection (its transaction, which must not have written yet), else on a
        writer connection. Only the store's own connections use and add to the known heads: what a caller's
        transaction wrote or read is not committed yet."""
        if conn is not None:
            await refuse_a_transaction_with_an_id(conn)
            return await work(conn, arg, None)
        if self._writers is not None:
            return await self._writers.run(work, arg, self.heads)
        async with self.pool.acquire() as c:
            return await work(c, arg, self.heads)

    async def next_id(self) -> int:
        """A new numeric id for a write-side entity (a user, a workspace ...), from ``es.ids``: the store's,
        never a read model's (a rebuilt or reset read schema must not hand out ids that exist)."""
        return int(await self.pool.fetchval("SELECT nextval('es.ids')"))

    # -- reads --------------------------------------------------------------------------------------------

    async def read_stream(self, stream: str, from_position: int = 0, limit: int = 1_000_000,
                          conn: Conn | None = None) -> list[RecordedEvent]:
        c = conn or self.pool
        rows = await c.fetch(_READ_STREAM, stream, from_position, limit, record_class=EventRow)
        if rows and conn is None:  # committed (on the pool): a command's append at this version skips the look
            self.heads.saw(stream, rows[-1]["stream_position"])
        return cast(list[RecordedEvent], rows)

    async def read_all(self, after: Position = START, *, categories: Sequence[str] | None = None,
                       limit: int = 1000, conn: Conn | None = None) -> list[RecordedEvent]:
        """Events committed after ``after``, in commit order, never one a later read could slip in before."""
        c = conn or self.pool
        if categories:
            rows = await c.fetch(_READ_ALL_CATEGORIES, after.tx_id, after.global_position, limit,
                                 list(categories), record_class=EventRow)
        else:
            rows = await c.fetch(_READ_ALL, after.tx_id, after.global_position, limit, record_class=EventRow)
        return cast(list[RecordedEvent], rows)  # rows built by asyncpg, in C: no Python object per row

    async def stream_version(self, stream: str) -> int:
        """Last stream position, -1 when the stream has no events."""
        v = await self.pool.fetchval(
            "SELECT coalesce(max(stream_position), -1) FROM es.events WHERE stream_name = $1", stream)
        return int(v)

    async def head(self) -> Position:
        """The newest position a horizon reader can see now."""
        row = await self.pool.fetchrow(
            """SELECT tx_id, global_position FROM es.events
                WHERE tx_id < pg_snapshot_xmin(pg_current_snapshot())
                ORDER BY tx_id DESC, global_position DESC LIMIT 1""")
        return Position(row["tx_id"], row["global_position"]) if row else START
