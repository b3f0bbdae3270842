"""One batch of rows into ``logs.lines`` and the ingestion position, in one transaction.

Idempotency without a unique key, in two marks moved in the same transaction as the rows: the ingestor commits
``LOGS`` in stream order (``ingest.py``) and ``logs.ingest_position`` is the last stream sequence committed, so a
redelivered message is at or below it; ``logs.ingest_marks`` is the highest ``seq`` committed per (kind, id, run,
source, stream), so a line its producer sent twice (each sends in seq order) is at or below that. Both are
filtered out here, before COPY: a batch delivered or published twice inserts nothing twice.

The rows are COPYed straight into their day partitions (no routing through the parent), sorted by ``(id, run)``
so one session's lines of a batch lie together on disk: reading a run's tail then touches a few pages per batch
instead of one per line.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date
from operator import itemgetter

import asyncpg

from services.logs.partitions import Partitions, partition_name
from services.logs.rows import COLUMNS, Row

DEFAULT_STREAM = "LOGS"
_by_run = itemgetter(1, 2)
Key = tuple[str, str, int, str, str]  # kind, id, run, source, stream
_key = itemgetter(0, 1, 2, 4, 6)
#: Marks cached in memory (valid while this writer is the only one: it holds the ingestion lock).
_CACHE = 200_000
_MARKS = """SELECT m.kind, m.id, m.run, m.source, m.stream, m.seq FROM logs.ingest_marks m
            JOIN unnest($1::text[], $2::text[], $3::int[], $4::text[], $5::text[]) AS k(kind, id, run, source, stream)
            USING (kind, id, run, source, stream)"""
_SAVE = """INSERT INTO logs.ingest_marks (kind, id, run, source, stream, seq)
           SELECT * FROM unnest($1::text[], $2::text[], $3::int[], $4::text[], $5::text[], $6::bigint[])
           ON CONFLICT (kind, id, run, source, stream) DO UPDATE SET seq = excluded.seq, at = now()"""


class Writer:
    """Writes batches of one stream's rows on one connection."""

    def __init__(self, conn: asyncpg.Connection, partitions: Partitions, stream: str = DEFAULT_STREAM) -> None:
        self.conn, self.partitions, self.stream = conn, partitions, stream
        self._ready = False
        self._marks: dict[Key, int] = {}

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
            upto = max((r[9] for r in rows), default=0)
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
            marks = await self._load(conn, {_key(r) for r in rows if r[9] > mark})  # r[9]: js_seq
            moved: dict[Key, int] = {}
            fresh = []
            for r in rows:
                k = _key(r)
                if r[9] > mark and r[5] > moved.get(k, marks[k]):
                    fresh.append(r)
                    moved[k] = r[5]
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
            if moved:
                await conn.execute(_SAVE, *(list(c) for c in zip(*((*k, v) for k, v in moved.items()), strict=True)))
            if upto > mark:
                await conn.execute("UPDATE logs.ingest_position SET js_seq = $2 WHERE stream = $1",
                                   self.stream, upto)
        if len(self._marks) > _CACHE:
            self._marks.clear()
        self._marks.update(moved)  # only once committed
        return len(fresh)

    async def _load(self, conn: asyncpg.Connection, keys: set[Key]) -> dict[Key, int]:
        """The marks of ``keys`` (-1: nothing yet), from the cache or, for the ones it lacks, the table."""
        marks = {k: self._marks[k] for k in keys if k in self._marks}
        missing = [k for k in keys if k not in marks]
        if missing:
            marks.update(dict.fromkeys(missing, -1))
            for r in await conn.fetch(_MARKS, *(list(c) for c in zip(*missing, strict=True))):
                marks[(r["kind"], r["id"], r["run"], r["source"], r["stream"])] = int(r["seq"])
        return marks
