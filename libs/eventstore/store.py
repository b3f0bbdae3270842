"""The event store on asyncpg: append (idempotent, optimistic, several streams atomically) and reads.

Every reader of the global order uses the commit horizon (DESIGN §2): identity order is not commit order, so a
reader only takes events whose transaction id is below the oldest transaction still running, and orders by
``(tx_id, global_position)``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Concatenate, ParamSpec, TypeVar

import asyncpg
import orjson

from libs.contracts.errors import StudiosError
from libs.eventstore.errors import IdempotencyConflict, WrongExpectedVersion
from libs.eventstore.migrate import MigrationSource, migrate
from libs.eventstore.types import (
    START,
    AppendRequest,
    AppendResult,
    Conn,
    Expected,
    ExpectedVersion,
    NewEvent,
    Position,
    RecordedEvent,
    expected_to_sql,
)

_APPEND = "SELECT global_position, stream_position FROM es.append($1, $2, $3, $4, $5, $6, $7)"
_APPEND_ONE = "SELECT * FROM es.append_one($1, $2, $3, $4, $5, $6, $7)"
# data and metadata as text: RecordedEvent parses them on first access (see types.py).
_COLUMNS = ("global_position, tx_id, stream_name, stream_position, event_id, event_type, schema_version, "
            "data::text, metadata::text, recorded_at")
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


P = ParamSpec("P")
T = TypeVar("T")
A = TypeVar("A")


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


async def init_connection(conn: Conn) -> None:
    """Codecs are client-side, so they survive any reset (session settings would not). ``xid8`` needs none:
    asyncpg exchanges it as ``int`` in binary."""
    for typ in ("jsonb", "json"):
        await conn.set_type_codec(typ, encoder=_dumps, decoder=orjson.loads, schema="pg_catalog")


async def _keep_session(conn: asyncpg.Connection) -> None:
    """The pool's reset: none. asyncpg still rolls back a transaction left open; the default ``RESET ALL;
    UNLISTEN *; pg_advisory_unlock_all()`` round trip per release halved single-event appends. So nothing may
    leave session state on a pooled connection: use ``SET LOCAL`` and ``pg_advisory_xact_lock``, or a connection
    of its own (as the relay's leader lock does)."""


def _row_to_event(r: asyncpg.Record) -> RecordedEvent:
    return RecordedEvent(*r)


class EventStore:
    """The one way services write and read events. Holds an asyncpg pool for reads and a few connections of its
    own for appends (``Writers``); never connects at import."""

    def __init__(self, pool: asyncpg.Pool, writers: Writers | None = None) -> None:
        self.pool = pool
        self._writers = writers

    @classmethod
    async def connect(cls, dsn: str, *, min_size: int = 2, max_size: int = 10, writers: int | None = None,
                      sources: Sequence[MigrationSource] = ()) -> EventStore:
        """``writers``: at most this many connections for appends, opened on demand (default: half the pool)."""
        pool = await create_pool(dsn, min_size=min_size, max_size=max_size)
        async with pool.acquire() as conn:
            await migrate(conn, *sources)
        return cls(pool, Writers(dsn, writers if writers is not None else max(1, max_size // 2)))

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
        return await self._write(_append_many_on, requests, conn)

    async def _write(self, work: Callable[[Conn, A], Awaitable[T]], arg: A, conn: Conn | None) -> T:
        """``work`` on the caller's connection (its transaction), else on a writer connection."""
        if conn is not None:
            return await work(conn, arg)
        if self._writers is not None:
            return await self._writers.run(work, arg)
        async with self.pool.acquire() as c:
            return await work(c, arg)

    # -- reads --------------------------------------------------------------------------------------------

    async def read_stream(self, stream: str, from_position: int = 0, limit: int = 1_000_000,
                          conn: Conn | None = None) -> list[RecordedEvent]:
        c = conn or self.pool
        rows = await c.fetch(_READ_STREAM, stream, from_position, limit)
        return [_row_to_event(r) for r in rows]

    async def read_all(self, after: Position = START, *, categories: Sequence[str] | None = None,
                       limit: int = 1000, conn: Conn | None = None) -> list[RecordedEvent]:
        """Events committed after ``after``, in commit order, never one a later read could slip in before."""
        c = conn or self.pool
        if categories:
            rows = await c.fetch(_READ_ALL_CATEGORIES, after.tx_id, after.global_position, limit,
                                 list(categories))
        else:
            rows = await c.fetch(_READ_ALL, after.tx_id, after.global_position, limit)
        return [_row_to_event(r) for r in rows]

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

    def __init__(self, dsn: str, size: int) -> None:
        self._dsn = dsn
        self._slots: asyncio.LifoQueue[asyncpg.Connection | None] = asyncio.LifoQueue()
        for _ in range(size):
            self._slots.put_nowait(None)
        self._open: set[asyncpg.Connection] = set()

    async def run(self, work: Callable[Concatenate[asyncpg.Connection, P], Awaitable[T]],
                  *args: P.args, **kwargs: P.kwargs) -> T:
        """``work(connection, *args, **kwargs)`` on a writer connection, once more on a fresh one if the
        connection was lost (a restarted server, a cut idle connection): ``work`` must be idempotent, as appends
        are by their event ids (a lost reply to a committed append is answered from the store on the retry)."""
        try:
            return await self._run_once(work, *args, **kwargs)
        except _ConnectionLost:
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
        if conn is not None and not conn.is_closed():
            return conn
        try:
            conn = await asyncpg.connect(self._dsn)
            await init_connection(conn)
        except BaseException:
            self._slots.put_nowait(None)
            raise
        self._open.add(conn)
        return conn

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


async def create_pool(dsn: str, *, min_size: int = 2, max_size: int = 10) -> asyncpg.Pool:
    pool = await asyncpg.create_pool(dsn, min_size=min_size, max_size=max_size, init=init_connection,
                                     reset=_keep_session)
    assert pool is not None
    return pool


def _params(req: AppendRequest) -> tuple[Any, ...]:
    evs = req.events
    return (req.stream, expected_to_sql(req.expected), [e.event_id for e in evs], [e.event_type for e in evs],
            [e.schema_version for e in evs], [e.data for e in evs], [e.metadata for e in evs])


async def append_on(conn: Conn, req: AppendRequest) -> AppendResult:
    """One stream's append. A failure that a retry of an append already stored would cause (a duplicate event
    id, a version that moved on) is checked against the stored ids: a true retry answers the original positions."""
    if not req.events:
        raise ValueError("append needs at least one event")
    if conn.is_in_transaction():  # the caller's transaction: its failure is checked once it rolled back
        return await _append_once(conn, req)
    try:
        return await _append_once(conn, req)
    except (WrongExpectedVersion, IdempotencyConflict) as e:
        return await _stored_or_raise(conn, req, e)


async def _append_once(conn: Conn, req: AppendRequest) -> AppendResult:
    try:
        if len(req.events) == 1:
            e = req.events[0]
            row = await conn.fetchrow(_APPEND_ONE, req.stream, expected_to_sql(req.expected), e.event_id,
                                      e.event_type, e.schema_version, e.data, e.metadata)
            assert row is not None
            rows = [row]
        else:
            rows = await conn.fetch(_APPEND, *_params(req))
    except asyncpg.UniqueViolationError as e:
        if getattr(e, "constraint_name", None) == _POSITION_KEY:
            # Only if a writer bypassed the stream's lock (or read under an older snapshot): the stream moved on.
            raise WrongExpectedVersion(f"{req.stream} moved on while appending", stream=req.stream) from None
        raise IdempotencyConflict(f"some event ids are already stored (appending to {req.stream})") from None
    except asyncpg.PostgresError as e:
        raise _translate(e) from e
    last = rows[-1]
    return AppendResult(req.stream, last["stream_position"], last["global_position"])


_POSITION_KEY = "events_stream_name_stream_position_key"
_STORED = "SELECT event_id, stream_name, stream_position, global_position FROM es.events WHERE event_id = ANY($1)"


async def _stored(conn: Conn, req: AppendRequest) -> AppendResult | None:
    """The original result if every event of ``req`` is stored, in order, on its stream; None if none is;
    IdempotencyConflict if only some are, or elsewhere."""
    ids = [e.event_id for e in req.events]
    found = {r["event_id"]: r for r in await conn.fetch(_STORED, ids)}
    if not found:
        return None
    rows = [found.get(i) for i in ids]
    positions = [r["stream_position"] for r in rows if r is not None and r["stream_name"] == req.stream]
    if len(positions) != len(ids) or positions != list(range(positions[0], positions[0] + len(ids))):
        raise IdempotencyConflict(f"{len(found)} of {len(ids)} event ids are already stored, not as this append "
                                  f"to {req.stream}")
    last = rows[-1]
    assert last is not None
    return AppendResult(req.stream, last["stream_position"], last["global_position"])


async def _stored_or_raise(conn: Conn, req: AppendRequest, error: Exception) -> AppendResult:
    result = await _stored(conn, req)
    if result is None:
        raise error
    return result


_LOCK_STREAMS = """SELECT count(pg_advisory_xact_lock(h))
  FROM (SELECT DISTINCT hashtextextended(s, 0) AS h FROM unnest($1::text[]) s ORDER BY h) locks"""


async def _append_many_on(conn: Conn, requests: Sequence[AppendRequest]) -> list[AppendResult]:
    if len(requests) == 1:  # one statement is atomic already: no BEGIN/COMMIT round trips
        return [await append_on(conn, requests[0])]
    try:
        async with conn.transaction():
            if len({r.stream for r in requests}) > 1:
                # Every stream's lock before the first write, in one order for all writers (no deadlock): see the
                # comment in es.append on why the transaction id must come after the locks.
                await conn.execute(_LOCK_STREAMS, [r.stream for r in requests])
            return [await append_on(conn, r) for r in requests]
    except (WrongExpectedVersion, IdempotencyConflict) as e:
        if conn.is_in_transaction():
            raise
        # Rolled back: a retry of this very append_many finds every one of its events stored.
        results = [await _stored(conn, r) for r in requests]
        if any(r is None for r in results):
            raise e from None
        return [r for r in results if r is not None]


def _translate(e: asyncpg.PostgresError) -> Exception:
    state = getattr(e, "sqlstate", None)
    msg = getattr(e, "message", str(e))
    if state == "ES001":
        # The function puts the conflicting stream in DETAIL, so a multi-stream append can tell which one lost.
        return WrongExpectedVersion(msg, stream=getattr(e, "detail", None))
    if state == "22023":
        return ValueError(msg)
    return e
