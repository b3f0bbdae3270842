"""The event store on asyncpg: append (idempotent, optimistic, several streams atomically) and reads.

Every reader of the global order uses the commit horizon (DESIGN §2): identity order is not commit order, so a
reader only takes events whose transaction id is below the oldest transaction still running, and orders by
``(tx_id, global_position)``.
"""

from __future__ import annotations

import json
import json.scanner
from collections.abc import Sequence
from typing import Any

import asyncpg

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
_COLUMNS = ("global_position, tx_id, stream_name, stream_position, event_id, event_type, schema_version, "
            "data, metadata, recorded_at")
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


_c_scanner = getattr(json.scanner, "c_make_scanner", None)
_scan_json = _c_scanner(json.JSONDecoder()) if _c_scanner else None


def _loads(text: str) -> Any:
    """json.loads without its per-call Python overhead (~25% of read_all): PostgreSQL's json text needs no
    whitespace stripping or validation, so the C scanner alone is enough."""
    return _scan_json(text, 0)[0] if _scan_json else json.loads(text)


async def init_connection(conn: Conn) -> None:
    """Codecs are client-side, so they survive any reset (session settings would not). ``xid8`` needs none:
    asyncpg exchanges it as ``int`` in binary."""
    for typ in ("jsonb", "json"):
        await conn.set_type_codec(typ, encoder=json.dumps, decoder=_loads, schema="pg_catalog")


async def _keep_session(conn: asyncpg.Connection) -> None:
    """The pool's reset: none. asyncpg still rolls back a transaction left open; the default ``RESET ALL;
    UNLISTEN *; pg_advisory_unlock_all()`` round trip per release halved single-event appends. So nothing may
    leave session state on a pooled connection: use ``SET LOCAL`` and ``pg_advisory_xact_lock``, or a connection
    of its own (as the relay's leader lock does)."""


def _row_to_event(r: asyncpg.Record) -> RecordedEvent:
    return RecordedEvent(*r)


class EventStore:
    """The one way services write and read events. Holds an asyncpg pool; never connects at import."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    @classmethod
    async def connect(cls, dsn: str, *, min_size: int = 2, max_size: int = 10,
                      sources: Sequence[MigrationSource] = ()) -> EventStore:
        pool = await create_pool(dsn, min_size=min_size, max_size=max_size)
        async with pool.acquire() as conn:
            await migrate(conn, *sources)
        return cls(pool)

    async def close(self) -> None:
        await self.pool.close()

    # -- writes -------------------------------------------------------------------------------------------

    async def append(self, stream: str, events: Sequence[NewEvent],
                     expected: ExpectedVersion = Expected.ANY,
                     conn: Conn | None = None) -> AppendResult:
        if conn is not None:
            return await append_on(conn, AppendRequest(stream, list(events), expected))
        async with self.pool.acquire() as c:
            return await append_on(c, AppendRequest(stream, list(events), expected))

    async def append_many(self, requests: Sequence[AppendRequest],
                          conn: Conn | None = None) -> list[AppendResult]:
        """Append to several streams in one transaction: all or nothing."""
        if conn is not None:
            return await _append_many_on(conn, requests)
        async with self.pool.acquire() as c:
            return await _append_many_on(c, requests)

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
        v = await self.pool.fetchval("SELECT version FROM es.streams WHERE stream_name = $1", stream)
        return -1 if v is None else int(v)

    async def head(self) -> Position:
        """The newest position a horizon reader can see now."""
        row = await self.pool.fetchrow(
            """SELECT tx_id, global_position FROM es.events
                WHERE tx_id < pg_snapshot_xmin(pg_current_snapshot())
                ORDER BY tx_id DESC, global_position DESC LIMIT 1""")
        return Position(row["tx_id"], row["global_position"]) if row else START


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
    if not req.events:
        raise ValueError("append needs at least one event")
    params = _params(req)
    for attempt in range(2):
        try:
            rows = await conn.fetch(_APPEND, *params)
            last = rows[-1]
            return AppendResult(req.stream, last["stream_position"], last["global_position"])
        except asyncpg.UniqueViolationError:
            # Two writers raced with the same event ids; the loser retries once and takes the idempotent path.
            if attempt == 1 or conn.is_in_transaction():
                raise IdempotencyConflict(f"event ids already stored for {req.stream}") from None
        except asyncpg.PostgresError as e:
            raise _translate(e) from e
    raise AssertionError("unreachable")


async def _append_many_on(conn: Conn, requests: Sequence[AppendRequest]) -> list[AppendResult]:
    async with conn.transaction():
        return [await append_on(conn, r) for r in requests]


def _translate(e: asyncpg.PostgresError) -> Exception:
    state = getattr(e, "sqlstate", None)
    msg = getattr(e, "message", str(e))
    if state == "ES001":
        # The function puts the conflicting stream in DETAIL, so a multi-stream append can tell which one lost.
        return WrongExpectedVersion(msg, stream=getattr(e, "detail", None))
    if state == "ES002":
        return IdempotencyConflict(msg)
    if state == "22023":
        return ValueError(msg)
    return e
