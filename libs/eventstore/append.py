"""Append: one SQL statement per stream (``statements.py``), idempotent by event ids, several streams atomically.

These functions run on a connection the caller chose (a writer, or the caller's own transaction); ``EventStore``
picks it. They never retry on another connection themselves: ``Writers.run`` does, when one was lost. Given the
store's ``KnownHeads``, they skip the look for an exact version already seen committed, and add what they commit.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import asyncpg

from libs.contracts.reservations import NameReleased
from libs.eventstore.errors import (
    EventTooLarge,
    IdempotencyConflict,
    NameNotHeld,
    TransactionHasId,
    WrongExpectedVersion,
)
from libs.eventstore.heads import KnownHeads
from libs.eventstore.statements import statement
from libs.eventstore.types import AppendRequest, AppendResult, Conn, expected_to_sql

#: the one event type the store vets itself (es.check_releases): a name is given back only by its holder
_RELEASE = NameReleased.event_type
_HAS_XID = "SELECT pg_current_xact_id_if_assigned() IS NOT NULL"


async def refuse_a_transaction_with_an_id(conn: Conn) -> None:
    """A caller's transaction may append only before it wrote anything. A transaction gets its id at its first
    write; one that has it already and then waits for a stream's lock commits *after* a writer that got its id
    later, so horizon order ((tx_id, global_position)) would put its event before that writer's, against the
    stream's own order. One round trip, paid only on this path (a caller's open transaction)."""
    if conn.is_in_transaction() and await conn.fetchval(_HAS_XID):
        raise TransactionHasId("append(conn=...) needs a transaction that has written nothing yet (it already has "
                               "a transaction id): append first, or append on a connection of the store's own")


def _params(req: AppendRequest, expected: int | None) -> tuple[Any, ...]:
    evs = req.events
    if len(evs) == 1:
        e = evs[0]
        return req.stream, expected, e.event_id, e.event_type, e.schema_version, e.data, e.metadata
    return (req.stream, expected, [e.event_id for e in evs], [e.event_type for e in evs],
            [e.schema_version for e in evs], [e.data for e in evs], [e.metadata for e in evs])


async def append_on(conn: Conn, req: AppendRequest, heads: KnownHeads | None = None) -> AppendResult:
    """One stream's append. A failure that a retry of an append already stored would cause (a duplicate event
    id, a version that moved on) is checked against the stored ids: a true retry answers the original positions.
    ``heads``: the positions the store has seen committed; what this append commits is added (not when it runs in
    a transaction, which the caller commits)."""
    if not req.events:
        raise ValueError("append needs at least one event")
    if conn.is_in_transaction():  # the caller's transaction: its failure is checked once it rolled back
        return await _append_once(conn, req, heads)
    try:
        result = await _append_once(conn, req, heads)
    except (WrongExpectedVersion, IdempotencyConflict) as e:
        result = await _stored_or_raise(conn, req, e)
    if heads is not None:
        heads.saw(result.stream, result.version)
    return result


async def _append_once(conn: Conn, req: AppendRequest, heads: KnownHeads | None) -> AppendResult:
    expected = expected_to_sql(req.expected)
    known = heads is not None and expected is not None and expected >= 0 and heads.covers(req.stream, expected)
    sql = statement(expected, len(req.events) > 1, any(e.event_type == _RELEASE for e in req.events), known)
    last: asyncpg.Record | None
    try:
        if len(req.events) > 1:
            last = (await conn.fetch(sql, *_params(req, expected)))[-1]
        else:
            last = await conn.fetchrow(sql, *_params(req, expected))
    except asyncpg.UniqueViolationError as e:
        if getattr(e, "constraint_name", None) == _POSITION_KEY:
            raise WrongExpectedVersion(_moved_on(req.stream, expected), stream=req.stream) from None
        raise IdempotencyConflict(f"some event ids are already stored (appending to {req.stream})") from None
    except asyncpg.PostgresError as e:
        raise _translate(e, req.stream) from e
    assert last is not None
    return AppendResult(req.stream, last["stream_position"], last["global_position"])


def _moved_on(stream: str, expected: int | None) -> str:
    """The message of a position the unique index refused. At an exact version or on a new stream that is how
    the statement learns the stream is past it; otherwise only a writer that bypassed the stream's lock does it."""
    if expected == -1:
        return f"wrong expected version: expected no stream, {stream} exists"
    if expected is not None and expected >= 0:
        return f"wrong expected version: expected {expected}, {stream} is past it"
    return f"{stream} moved on while appending"


_POSITION_KEY = "events_stream_name_stream_position_key"
#: es.events' CHECK (pg_column_size(data) <= 262144): ``types.MAX_DATA``
_DATA_SIZE = "events_data_check"
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


async def append_many_on(conn: Conn, requests: Sequence[AppendRequest],
                         heads: KnownHeads | None = None) -> list[AppendResult]:
    if len(requests) == 1:  # one statement is atomic already: no BEGIN/COMMIT round trips
        return [await append_on(conn, requests[0], heads)]
    outer = conn.is_in_transaction()  # the caller's: nothing is committed here
    try:
        async with conn.transaction():
            if len({r.stream for r in requests}) > 1:
                # Every stream's lock before the first write, in one order for all writers (no deadlock): see the
                # comment in es.locked_version (migration 0002) on why the transaction id must come after them.
                await conn.execute(_LOCK_STREAMS, [r.stream for r in requests])
            done = [await append_on(conn, r, heads) for r in requests]
    except (WrongExpectedVersion, IdempotencyConflict) as e:
        if conn.is_in_transaction():
            raise
        # Rolled back: a retry of this very append_many finds every one of its events stored.
        results = [await _stored(conn, r) for r in requests]
        if any(r is None for r in results):
            raise e from None
        done = [r for r in results if r is not None]
    if heads is not None and not outer:
        for r in done:
            heads.saw(r.stream, r.version)
    return done


def _translate(e: asyncpg.PostgresError, stream: str) -> Exception:
    state = getattr(e, "sqlstate", None)
    if state == "23514" and getattr(e, "constraint_name", None) == _DATA_SIZE:
        return EventTooLarge(stream)
    msg = getattr(e, "message", str(e))
    if state == "ES001":
        # The function puts the conflicting stream in DETAIL, so a multi-stream append can tell which one lost.
        return WrongExpectedVersion(msg, stream=getattr(e, "detail", None))
    if state == "22023":
        return ValueError(msg)
    if state == "ES002":
        return NameNotHeld(msg, stream=getattr(e, "detail", None))
    return e
