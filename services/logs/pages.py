"""A query's reply built by PostgreSQL: the page of lines comes back already serialised as one JSON array.

Python building 10,000 lines into dicts (a cursor string, an ISO time each), then pydantic and the JSON encoder
walking them again, cost 15x the SQL; here the server writes each line's JSON text (``final`` only when true),
sums the lines' sizes in order and cuts the page where it would pass ``budget`` bytes, so a reply never exceeds
NATS' ``max_payload``. The service pastes that text into the reply's bytes unparsed.

``createdAt`` is written as Python's ``datetime.isoformat()`` writes a UTC time (no fraction when it is zero,
``+00:00``) and ``id`` as ``libs.contracts.logs.cursor``: a replayed line and a live one look the same.
"""

from __future__ import annotations

from typing import Any

import asyncpg

from services.logs.queries import where

#: A line as JSON text, by concatenation (a third of ``row_to_json``'s cost): ``to_json`` escapes the message;
#: stream and source are one of a few plain words. The time's text is PostgreSQL's ISO output (``DateStyle`` set
#: for the query) with its fraction padded to six digits, or none when it is zero, as Python writes it.
_LINE = """'{"id":"' || micros || '-' || left(source, 1) || '-' || seq || '","message":' || to_json(message)::text
        || ',"stream":"' || stream || '","source":"' || source || '","createdAt":"'
        || overlay(CASE WHEN length(ts) = 19 THEN ts ELSE rpad(ts, 26, '0') END PLACING 'T' FROM 11 FOR 1)
        || '+00:00"' || CASE WHEN final THEN ',"final":true}' ELSE '}' END"""


def page_sql(forward: bool, where_sql: str, n_limit: int, n_budget: int) -> str:
    """One row: the page's JSON array text, how many lines it holds, how many the query matched, its last id."""
    order = "created_at, source, seq"
    desc = "created_at DESC, source DESC, seq DESC"
    inner = order if forward else desc
    return f"""
    WITH t AS (SELECT created_at, source, seq, stream, message, final,
                      (extract(epoch FROM created_at) * 1000000)::bigint AS micros,
                      (created_at AT TIME ZONE 'UTC')::text AS ts
               FROM logs.lines WHERE {where_sql} ORDER BY {inner} LIMIT ${n_limit}),
         j AS MATERIALIZED (SELECT created_at, source, seq, micros, {_LINE} AS line FROM t),
         c AS (SELECT *, octet_length(line) + 1 AS size,
                      sum(octet_length(line) + 1) OVER (ORDER BY {order} ROWS UNBOUNDED PRECEDING) AS acc FROM j)
    SELECT coalesce('[' || string_agg(line, ',' ORDER BY {order}) FILTER (WHERE kept) || ']', '[]') AS lines,
           count(*) FILTER (WHERE kept) AS n, count(*) AS matched,
           (array_agg(micros || '-' || left(source, 1) || '-' || seq ORDER BY {desc}) FILTER (WHERE kept))[1] AS last
    FROM (SELECT *, acc <= ${n_budget} OR acc = size AS kept FROM c) k"""


async def read_page(conn: asyncpg.Connection | asyncpg.Pool, q: Any, run: int, *, floor: int | None = None,
                    budget: int = 512 * 1024) -> tuple[bytes, str | None]:
    """The JSON array of the page's lines (at most ``budget`` bytes, at least one line) and the cursor to read on
    from when the page stopped short of what matched (else None). Forward from ``start_at``/``after`` when either
    is given, else the last ``limit`` lines; oldest first."""
    clauses, args = where(q, run, floor)
    args.extend([q.limit, budget])
    forward = q.start_at is not None or q.after is not None
    sql = page_sql(forward, " AND ".join(clauses), len(args) - 1, len(args))
    if isinstance(conn, asyncpg.Pool):
        async with conn.acquire() as c:
            row = await _fetch_page(c, sql, args)  # type: ignore[arg-type]  # a pool's proxy is a connection
    else:
        row = await _fetch_page(conn, sql, args)
    lines, n, matched, last = row
    return lines.encode(), (last if n < matched else None)


async def _fetch_page(conn: asyncpg.Connection, sql: str, args: list[Any]) -> asyncpg.Record:
    # The index walked in order, as ``queries.fetch`` explains; and the time's text in ISO form whatever the
    # connection's DateStyle.
    async with conn.transaction():
        await conn.execute("SET LOCAL enable_bitmapscan = off; SET LOCAL DateStyle = 'ISO'")
        row = await conn.fetchrow(sql, *args)
    assert row is not None  # an aggregate without GROUP BY always answers one row
    return row
