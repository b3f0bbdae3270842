"""Projection throughput: a ``Subscription`` applying batches without savepoints (ours) beside the same handler
with a savepoint per event (the earlier design, and the usual way to isolate one poison event), in one run.

A savepoint per written event is a subtransaction; past 64 in a transaction PostgreSQL's subtransaction cache
overflows and every snapshot in the server pays for it. Each side catches up over the same events into its own
table, two rounds each, alternating.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Sequence

import asyncpg

from bench.common import Stopwatch, infrastructure, parse_args, report, scratch_database
from libs.eventstore import EventStore, NewEvent, RecordedEvent, Subscription
from libs.eventstore.subscription import Handler


def counter(table: str, savepoint: bool) -> Handler:
    sql = (f"INSERT INTO {table} AS t (stream, n) VALUES ($1, 1) "
           "ON CONFLICT (stream) DO UPDATE SET n = t.n + 1")

    async def handle(conn: asyncpg.Connection, event: RecordedEvent) -> None:
        if savepoint:
            async with conn.transaction():
                await conn.execute(sql, event.stream_name)
        else:
            await conn.execute(sql, event.stream_name)

    return handle


async def fill(store: EventStore, n: int) -> None:
    rng = random.Random(7)
    while n:
        k = min(n, 100)
        await store.append(f"thing-{rng.randrange(500)}", [NewEvent("ThingHappened", {"i": i}) for i in range(k)])
        n -= k


async def catch_up(store: EventStore, name: str, savepoint: bool, n: int) -> float:
    table = f"bench_{name}"
    await store.pool.execute(f"DROP TABLE IF EXISTS {table}; CREATE TABLE {table} (stream text PRIMARY KEY, n int)")
    await store.pool.execute("DELETE FROM es.checkpoints WHERE name = $1", name)
    sub = Subscription(store, name, counter(table, savepoint), batch_size=500, batch_seconds=60)
    with Stopwatch() as t:
        assert await sub.catch_up() == n
    return t.rate(n)


async def run(events: int, server_url: str) -> None:
    async with scratch_database(server_url) as url:
        store = await EventStore.connect(url)
        try:
            await fill(store, events)
            ours, theirs = [], []
            for r in range(2):
                ours.append(await catch_up(store, f"ours_{r}", False, events))
                theirs.append(await catch_up(store, f"savepoints_{r}", True, events))
            report(f"projection-batch ({events} events, batches of 500)", max(ours), max(theirs))
        finally:
            await store.close()


def main(argv: Sequence[str] | None = None) -> None:
    events = parse_args(argv, events=20_000).events
    with infrastructure(nats=False) as infra:
        asyncio.run(run(events, infra.database_url))


if __name__ == "__main__":
    main()
