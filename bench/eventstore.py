"""The event store beside raw asyncpg on the same database, in the same run.

append_1x1   one event per append, one client        vs  single-row INSERT transactions into a plain table
append_1x8   one event per append, eight clients     vs  the same with eight connections
append_10x1  ten events per append, one client       vs  a ten-row executemany in a transaction
read_all     store.read_all in pages                 vs  a plain keyset SELECT of the same rows, same page size

The plain table has the columns of ``es.events`` and a primary key, nothing else: the baseline is the cost of
storing the bytes, and the ratio is what the store's guarantees cost on top. Our appends state the exact expected
version, as command handlers do. ``--events N`` (default 100,000).
"""

from __future__ import annotations

import asyncio
import json
import statistics
import uuid
from collections.abc import Awaitable, Callable, Sequence

import asyncpg

from bench.common import Stopwatch, infrastructure, parse_args, report, scratch_database
from libs.eventstore import START, EventStore, Expected, ExpectedVersion, NewEvent

CLIENTS, STREAMS_PER_CLIENT, PAGE, ROUNDS = 8, 100, 2_000, 10
PLAIN = """CREATE TABLE plain_events (
  global_position bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  tx_id xid8 NOT NULL DEFAULT pg_current_xact_id(), stream_name text NOT NULL, stream_position bigint NOT NULL,
  event_id uuid NOT NULL, event_type text NOT NULL, schema_version smallint NOT NULL, data jsonb NOT NULL,
  metadata jsonb NOT NULL, recorded_at timestamptz NOT NULL DEFAULT clock_timestamp())"""
INSERT = """INSERT INTO plain_events (stream_name, stream_position, event_id, event_type, schema_version, data,
  metadata) VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7::jsonb)"""
SELECT = """SELECT global_position, tx_id, stream_name, stream_position, event_id, event_type, schema_version, data,
  metadata, recorded_at FROM es.events WHERE global_position > $1 ORDER BY global_position LIMIT $2"""

Append = Callable[[int, str, int, list[NewEvent]], Awaitable[None]]  # client, stream, version, events


def event() -> NewEvent:
    """About 300 bytes of data and metadata, like a typical domain event."""
    sid = str(uuid.uuid4())
    return NewEvent("StudioStarted", {"studio_id": sid, "session_id": str(uuid.uuid4()), "workspace_id": 42,
                                      "tool": "jupyterlab", "cpu": 2, "memory_mib": 4096, "actor": "user-7",
                                      "at": "2025-01-01T12:00:00+00:00", "reason": "started from the UI"},
                    {"correlation_id": sid, "source": "lifecycle"})


class Writer:
    """One client's streams and their versions, so every append can state its exact expected version."""

    def __init__(self, name: str) -> None:
        self.versions = dict.fromkeys((f"{name}x{i}" for i in range(STREAMS_PER_CLIENT)), -1)
        self.streams, self.turn = list(self.versions), 0

    async def write(self, client: int, appends: int, per: int, append: Append) -> None:
        for _ in range(appends):
            stream = self.streams[self.turn % STREAMS_PER_CLIENT]
            self.turn += 1
            await append(client, stream, self.versions[stream], [event() for _ in range(per)])
            self.versions[stream] += per


async def drive(name: str, total: int, per: int, clients: int, ours: Append, plain: Append) -> tuple[float, float]:
    """Events/s of ``ours`` and ``plain``, ``total`` events each, in alternating rounds: load on a shared machine
    drifts, and alternation spreads the drift over both sides alike."""
    appends = max(1, total // per // clients // ROUNDS)
    seconds = {"ours": 0.0, "plain": 0.0}
    writers = {side: [Writer(f"{name}-{side}-{c}-") for c in range(clients)] for side in seconds}
    for _ in range(ROUNDS):
        for side, append in (("ours", ours), ("plain", plain)):
            with Stopwatch() as t:
                await asyncio.gather(*(w.write(c, appends, per, append) for c, w in enumerate(writers[side])))
            seconds[side] += t.seconds
    done = appends * per * clients * ROUNDS
    return done / seconds["ours"], done / seconds["plain"]


def ours(store: EventStore) -> Append:
    async def append(client: int, stream: str, version: int, events: list[NewEvent]) -> None:
        expected: ExpectedVersion = version if version >= 0 else Expected.NO_STREAM
        await store.append(stream, events, expected)

    return append


def plain(conns: Sequence[asyncpg.Connection]) -> Append:
    async def append(client: int, stream: str, version: int, events: list[NewEvent]) -> None:
        rows = [(stream, version + 1 + i, e.event_id, e.event_type, e.schema_version, json.dumps(e.data),
                 json.dumps(e.metadata)) for i, e in enumerate(events)]
        conn = conns[client]
        if len(rows) == 1:
            await conn.execute(INSERT, *rows[0])
        else:
            async with conn.transaction():
                await conn.executemany(INSERT, rows)

    return append


async def read_ours(store: EventStore, total: int) -> float:
    seen, after = 0, START
    with Stopwatch() as t:
        while seen < total and (page := await store.read_all(after, limit=min(PAGE, total - seen))):
            seen, after = seen + len(page), page[-1].position
    return t.rate(seen)


async def read_plain(conn: asyncpg.Connection, total: int) -> float:
    seen, after = 0, 0
    with Stopwatch() as t:
        while seen < total and (page := await conn.fetch(SELECT, after, min(PAGE, total - seen))):
            seen, after = seen + len(page), page[-1]["global_position"]
    return t.rate(seen)


async def measure(url: str, events: int) -> list[str]:
    store = await EventStore.connect(url, min_size=1, max_size=CLIENTS, writers=CLIENTS)
    conns = [await asyncpg.connect(url) for _ in range(CLIENTS)]
    try:
        await conns[0].execute(PLAIN)
        lines = []
        for name, per, clients in (("append_1x1", 1, 1), ("append_1x8", 1, CLIENTS), ("append_10x1", 10, 1)):
            lines.append(report(name, *await drive(name, events, per, clients, ours(store), plain(conns))))
        await conns[0].execute("VACUUM ANALYZE es.events")
        await read_plain(conns[0], events)  # warm the cache for both
        mine, theirs = [], []
        for _ in range(ROUNDS):
            mine.append(await read_ours(store, events))
            theirs.append(await read_plain(conns[0], events))
        lines.append(report("read_all", statistics.median(mine), statistics.median(theirs)))
        return lines
    finally:
        for c in conns:
            await c.close()
        await store.close()


async def run(events: int) -> list[str]:
    with infrastructure(nats=False) as infra:
        async with scratch_database(infra.database_url) as url:
            return await measure(url, events)


def main(argv: Sequence[str] | None = None) -> list[str]:
    return asyncio.run(run(parse_args(argv).events))


if __name__ == "__main__":
    main()
