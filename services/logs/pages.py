"""A query's reply built by PostgreSQL: the page of lines comes back already serialised as one JSON array.

Python building 10,000 lines into dicts (a cursor string, an ISO time each), then pydantic and the JSON encoder
walking them again, cost 15x the SQL; here the server writes each line's JSON text (``final`` only when true) as
UTF-8 bytes, and the service joins them into the page's array up to ``budget`` bytes (so a reply never exceeds
NATS' ``max_payload``) and pastes that into the reply's bytes unparsed. (Aggregating the page in SQL too, with a
window sum of the sizes and ``string_agg``, took twice as long: a sort and a window over 10,000 rows.)

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


def page_sql(forward: bool, where_sql: str, n_limit: int) -> str:
    """The matching lines' JSON texts (UTF-8 bytes: no decoding into str and back), oldest first."""
    order = "created_at, source, seq"
    inner = order if forward else "created_at DESC, source DESC, seq DESC"
    return f"""
    SELECT convert_to({_LINE}, 'UTF8') AS line
    FROM (SELECT created_at, source, seq, stream, message, final,
                 (extract(epoch FROM created_at) * 1000000)::bigint AS micros,
                 (created_at AT TIME ZONE 'UTC')::text AS ts
          FROM logs.lines WHERE {where_sql} ORDER BY {inner} LIMIT ${n_limit}) t
    ORDER BY {order}"""


async def read_page(conn: asyncpg.Connection | asyncpg.Pool, q: Any, run: int, *, floor: int | None = None,
                    budget: int = 512 * 1024) -> tuple[bytes, str | None]:
    """The JSON array of the page's lines (at most ``budget`` bytes, at least one line) and the cursor to read on
    from when the page stopped short of what matched (else None). Forward from ``start_at``/``after`` when either
    is given, else the last ``limit`` lines; oldest first."""
    clauses, args = where(q, run, floor)
    args.append(q.limit)
    forward = q.start_at is not None or q.after is not None
    sql = page_sql(forward, " AND ".join(clauses), len(args))
    if isinstance(conn, asyncpg.Pool):
        async with conn.acquire() as c:
            rows = await _fetch_page(c, sql, args)  # type: ignore[arg-type]  # a pool's proxy is a connection
    else:
        rows = await _fetch_page(conn, sql, args)
    texts = [r[0] for r in rows]
    size, n = 1, 0  # the array's brackets and each line's comma
    for text in texts:
        size += len(text) + 1
        if n and size > budget:
            break
        n += 1
    if n == len(texts):
        return b"[" + b",".join(texts) + b"]", None
    last = texts[n - 1]
    return b"[" + b",".join(texts[:n]) + b"]", last[7:last.index(b'"', 7)].decode()  # '{"id":"<cursor>",…'


async def _fetch_page(conn: asyncpg.Connection, sql: str, args: list[Any]) -> list[asyncpg.Record]:
    # The index walked in order, as ``queries.fetch`` explains; and the time's text in ISO form whatever the
    # connection's DateStyle.
    async with conn.transaction():
        await conn.execute("SET LOCAL enable_bitmapscan = off; SET LOCAL DateStyle = 'ISO'")
        return await conn.fetch(sql, *args)
