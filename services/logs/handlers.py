"""The logs service's answers: ``QueryLogs`` over request/reply, and forgetting a deleted studio's lines."""

from __future__ import annotations

import asyncpg
from nats.js import JetStreamContext

from libs.bus.streams import Topology
from libs.contracts.commands import CommandMeta, Reply
from libs.contracts.logs import QueryLogs
from services.logs.queries import latest_run, read_lines


class LogQueries:
    def __init__(self, pool: asyncpg.Pool, js: JetStreamContext, topology: Topology,
                 reply_bytes: int = 512 * 1024) -> None:
        self.pool, self.js, self.topology, self.reply_bytes = pool, js, topology, reply_bytes

    async def ack_floor(self) -> int:
        """Every ``LOGS`` message up to this stream sequence is committed: the ingestion's stored position, moved
        in the same transaction as the rows (the consumer's own ack floor lags it, and restarts below it)."""
        value = await self.pool.fetchval("SELECT js_seq FROM logs.ingest_position WHERE stream = $1",
                                         self.topology.logs_stream)
        return int(value or 0)

    async def handle(self, q: QueryLogs, meta: CommandMeta | None = None) -> Reply:
        # The floor is read before the lines: whatever it covers was committed before the query's snapshot.
        floor = await self.ack_floor() if q.follow else None
        run = q.run if q.run is not None else await latest_run(self.pool, q.kind, q.id)
        if run is None:
            return Reply(result={"run": None, "lines": [], "next": None, "floor": floor})
        result = await read_lines(self.pool, q, run, floor=floor, reply_bytes=self.reply_bytes)
        result["floor"] = floor
        return Reply(result=result)


async def forget(pool: asyncpg.Pool, kind: str, ident: str) -> int:
    """Delete every line of ``(kind, id)`` (a deleted studio's lines go with it); returns how many."""
    async with pool.acquire() as conn, conn.transaction():
        status = await conn.execute("DELETE FROM logs.lines WHERE kind = $1 AND id = $2", kind, ident)
        await conn.execute("DELETE FROM logs.ingest_marks WHERE kind = $1 AND id = $2", kind, ident)
    return int(status.split()[-1])
