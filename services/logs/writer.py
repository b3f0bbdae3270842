"""One batch of rows into ``logs.lines`` and the ingestion position, in one transaction.

Idempotency without a unique key: the ingestor commits ``LOGS`` in stream order (``ingest.py``), and the
position row (``logs.ingest_position``: the last stream sequence committed) moves in the same transaction as the
rows. A row at or below it is a redelivery and is skipped before COPY, so a batch delivered twice inserts nothing
twice. The rows are COPYed straight into their day partitions (no routing through the parent), sorted by
``(id, run)`` so one session's lines of a batch lie together on disk: reading a run's tail then touches a few
pages per batch instead of one per line.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date
from operator import itemgetter

import asyncpg

from services.logs.partitions import Partitions, partition_name
from services.logs.rows import COLUMNS, JS_SEQ, Row

DEFAULT_STREAM = "LOGS"
_by_run = itemgetter(1, 2)


class Writer:
    """Writes batches of one stream's rows on one connection."""

    def __init__(self, conn: asyncpg.Connection, partitions: Partitions, stream: str = DEFAULT_STREAM) -> None:
        self.conn, self.partitions, self.stream = conn, partitions, stream
        self._ready = False

    async def position(self) -> int:
        """How far the stream is committed (0: nothing yet)."""
        return int(await self.conn.fetchval("SELECT js_seq FROM logs.ingest_position WHERE stream = $1",
                                            self.stream) or 0)

    async def set_position(self, js_seq: int) -> None:
        await self.conn.execute("INSERT INTO logs.ingest_position (stream, js_seq) VALUES ($1, $2) "
                                "ON CONFLICT (stream) DO UPDATE SET js_seq = excluded.js_seq", self.stream, js_seq)

    async def write(self, rows: list[Row], upto: int | None = None) -> int:
        """Commit the rows not yet committed and move the position to ``upto`` (default: the rows' last stream
        sequence; a batch's unreadable messages count too). Returns how many rows were new."""
        if not self._ready:
            await self.conn.execute("INSERT INTO logs.ingest_position (stream, js_seq) VALUES ($1, 0) "
                                    "ON CONFLICT DO NOTHING", self.stream)
            self._ready = True
        if upto is None:
            upto = max((r[JS_SEQ] for r in rows), default=0)
        try:
            return await self._commit(rows, upto)
        except asyncpg.UndefinedTableError:  # another process dropped a partition this one knew
            self.partitions.forget()
            return await self._commit(rows, upto)

    async def _commit(self, rows: list[Row], upto: int) -> int:
        conn = self.conn
        # The mark is read under its row lock: a second writer of the same stream waits, then sees our rows.
        async with conn.transaction():
            mark = int(await conn.fetchval("SELECT js_seq FROM logs.ingest_position WHERE stream = $1 FOR UPDATE",
                                           self.stream))
            fresh = [r for r in rows if r[JS_SEQ] > mark]
            if not fresh and upto <= mark:
                return 0
            days: dict[tuple[str, date], list[Row]] = defaultdict(list)
            for r in fresh:
                days[(r[0], r[3].astimezone(UTC).date())].append(r)
            await self.partitions.ensure(conn, days)
            for (kind, day), part in days.items():
                part.sort(key=_by_run)  # stable: each source keeps its order
                await conn.copy_records_to_table(partition_name(kind, day), schema_name="logs", records=part,
                                                 columns=COLUMNS)
            if upto > mark:
                await conn.execute("UPDATE logs.ingest_position SET js_seq = $2 WHERE stream = $1",
                                   self.stream, upto)
        return len(fresh)
