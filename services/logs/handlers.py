"""The logs service's answers: ``QueryLogs`` over request/reply, and forgetting a deleted studio's lines.

A query's reply is sent as bytes the service pastes together around the page PostgreSQL serialised
(``services.logs.pages``): the same ``Reply`` JSON a ``CommandServer`` sends, without a dict per line. A query that
fails takes ``CommandServer.dispatch``'s path, so its error reply is the standard one.
"""

from __future__ import annotations

import asyncpg
import orjson
from faststream.nats import NatsBroker, NatsMessage
from nats.js import JetStreamContext

from libs.bus import heartbeats
from libs.bus.commands import CommandServer, meta_from_headers, queue_group
from libs.bus.streams import Topology
from libs.contracts.commands import CommandMeta, Reply
from libs.contracts.logs import QueryLogs
from libs.contracts.subjects import command_subject
from services.logs.pages import read_page
from services.logs.queries import latest_run

#: Room left in a reply beside its page of lines: the envelope (run, next, floor) and the header block.
HEADROOM = 8 * 1024


class LogQueries:
    def __init__(self, pool: asyncpg.Pool, js: JetStreamContext, topology: Topology,
                 reply_bytes: int = 64 * 1024 * 1024, max_payload: int = 1024 * 1024) -> None:
        self.pool, self.js, self.topology, self.reply_bytes = pool, js, topology, reply_bytes
        self.max_payload = max_payload  # the server's, once serving (``serve``): a reply may not be bigger

    def budget(self) -> int:
        return max(16 * 1024, min(self.reply_bytes, self.max_payload - HEADROOM))

    async def ack_floor(self) -> int:
        """Every ``LOGS`` message up to this stream sequence is committed: the ingestion's stored position, moved
        in the same transaction as the rows (the consumer's own ack floor lags it, and restarts below it)."""
        value = await self.pool.fetchval("SELECT js_seq FROM logs.ingest_position WHERE stream = $1",
                                         self.topology.logs_stream)
        return int(value or 0)

    async def result_bytes(self, q: QueryLogs) -> bytes:
        """The reply's ``result`` object as JSON bytes."""
        # The floor is read before the lines: whatever it covers was committed before the query's snapshot.
        floor = await self.ack_floor() if q.follow else None
        run = q.run if q.run is not None else await latest_run(self.pool, q.kind, q.id)
        if run is None:
            return orjson.dumps({"run": None, "lines": [], "next": None, "floor": floor})
        lines, after = await read_page(self.pool, q, run, floor=floor, budget=self.budget())
        return b'{"run":%d,"lines":%b,"next":%b,"floor":%b}' % (run, lines, orjson.dumps(after), orjson.dumps(floor))

    async def handle(self, q: QueryLogs, meta: CommandMeta | None = None) -> Reply:
        """The same answer as a ``Reply`` (for a ``CommandServer``, and the error path)."""
        return Reply(result=orjson.loads(await self.result_bytes(q)))

    def serve(self, broker: NatsBroker, *, max_workers: int = 16) -> None:
        """Answer ``QueryLogs`` on its command subject in the service's queue group (before ``broker.start()``)."""
        server = CommandServer(broker, QueryLogs.service, max_workers=max_workers)

        async def on_request(msg: NatsMessage) -> bytes:
            self.max_payload = broker.connection.max_payload
            async with heartbeats.beating(broker.connection, msg.reply_to, msg.headers):
                try:
                    q = QueryLogs.model_validate_json(msg.body or b"{}")
                    return b'{"ok":true,"result":%b}' % await self.result_bytes(q)
                except Exception:  # the standard path says what was wrong, as any command's would
                    reply = await server.dispatch(QueryLogs, self.handle, msg.body, meta_from_headers(msg.headers))
                    return orjson.dumps(reply.model_dump(mode="json", exclude_none=True))

        broker.subscriber(command_subject(QueryLogs.service, QueryLogs.name), queue=queue_group(QueryLogs.service),
                          max_workers=max_workers)(on_request)


async def forget(pool: asyncpg.Pool, kind: str, ident: str) -> int:
    """Delete every line of ``(kind, id)`` (a deleted studio's lines go with it); returns how many."""
    async with pool.acquire() as conn, conn.transaction():
        status = await conn.execute("DELETE FROM logs.lines WHERE kind = $1 AND id = $2", kind, ident)
        await conn.execute("DELETE FROM logs.ingest_marks WHERE kind = $1 AND id = $2", kind, ident)
    return int(status.split()[-1])
