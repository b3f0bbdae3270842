"""Every SQL read of ``logs.lines``: a run's lines in order, forward from a point or the last ``limit`` of them.

Order is ``(created_at, source, seq)`` within a run, the table's key order, so both directions are one index
range scan per day partition. A reply stops at ``reply_bytes`` of messages and says where to go on (``next``).
"""

from __future__ import annotations

from typing import Any

import asyncpg

from libs.contracts.logs import QueryLogs, cursor_time, parse_cursor

#: The cursor's microseconds come from the server (``cursor`` in Python costs a timedelta division a line).
_COLS = ("created_at, source, seq, stream, message, final, "
         "(extract(epoch FROM created_at) * 1000000)::bigint AS micros")


async def latest_run(conn: asyncpg.Connection | asyncpg.Pool, kind: str, ident: str) -> int | None:
    value = await conn.fetchval("SELECT max(run) FROM logs.lines WHERE kind = $1 AND id = $2", kind, ident)
    return None if value is None else int(value)


def where(q: QueryLogs, run: int, floor: int | None) -> tuple[list[str], list[Any]]:
    clauses = ["kind = $1", "id = $2", "run = $3"]
    args: list[Any] = [q.kind, q.id, run]

    def add(sql: str, value: Any) -> None:
        args.append(value)
        clauses.append(sql.replace("?", f"${len(args)}"))

    if q.start_at is not None:
        add("created_at >= ?", q.start_at)
    if q.end_at is not None:
        add("created_at < ?", q.end_at)
    if q.after is not None:
        micros, source, seq = parse_cursor(q.after)
        args.extend([cursor_time(micros), source, seq])
        n = len(args)
        clauses.append(f"(created_at, source, seq) > (${n - 2}, ${n - 1}, ${n})")
    if q.stream is not None:
        add("stream = ?", q.stream)
    if q.source is not None:
        add("source = ?", q.source)
    if floor is not None:
        add("js_seq <= ?", floor)
    return clauses, args


async def fetch(conn: asyncpg.Connection | asyncpg.Pool, sql: str, args: list[Any]) -> list[asyncpg.Record]:
    """The rows, read in the index's order. A long run (100,000 lines among 10 M) otherwise gets a bitmap scan of
    all its rows and a sort for the last 10,000, several times slower than walking the index back from its end:
    the planner prices the index's heap visits as random, though a batch's lines of one run lie together."""
    if isinstance(conn, asyncpg.Pool):
        async with conn.acquire() as c:
            return await fetch(c, sql, args)  # type: ignore[arg-type]  # a pool's proxy is a connection
    async with conn.transaction():
        await conn.execute("SET LOCAL enable_bitmapscan = off")
        return await conn.fetch(sql, *args)


async def read_lines(conn: asyncpg.Connection | asyncpg.Pool, q: QueryLogs, run: int, *, floor: int | None = None,
                     reply_bytes: int = 512 * 1024) -> dict[str, Any]:
    """Forward from ``start_at``/``after`` when either is given, else the last ``limit`` lines; oldest first."""
    clauses, args = where(q, run, floor)
    args.append(q.limit)
    cond = " AND ".join(clauses)
    if q.start_at is not None or q.after is not None:
        sql = f"SELECT {_COLS} FROM logs.lines WHERE {cond} ORDER BY created_at, source, seq LIMIT ${len(args)}"
    else:
        sql = (f"SELECT * FROM (SELECT {_COLS} FROM logs.lines WHERE {cond} "
               f"ORDER BY created_at DESC, source DESC, seq DESC LIMIT ${len(args)}) t "
               "ORDER BY created_at, source, seq")
    rows = await fetch(conn, sql, args)
    lines: list[dict[str, Any]] = []
    size = 0
    for created_at, source, seq, stream, message, final, micros in rows:  # by position: 10,000 rows a reply
        size += len(message) + 96
        if lines and size > reply_bytes:
            break
        line = {"id": f"{micros}-{source[0]}-{seq}", "message": message, "stream": stream, "source": source,
                "createdAt": created_at.isoformat()}
        if final:
            line["final"] = True
        lines.append(line)
    cut = len(lines) < len(rows)
    return {"run": run, "lines": lines, "next": lines[-1]["id"] if cut else None}
