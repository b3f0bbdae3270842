"""A projection counting events per stream into ``read.counts``, run as a child process so a test can SIGKILL it.

usage: python -m tests.integration.workers.projector DATABASE_URL

``STUDIOS_KILL_AFTER=N`` makes it SIGKILL itself right after applying the N-th event of this run, inside the
batch's transaction, before the checkpoint and the read model commit. Exits 0 once caught up.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys

import asyncpg

from libs.eventstore import EventStore, RecordedEvent, Subscription
from libs.eventstore.subscription import Handler

NAME, TABLE, BATCH = "counts", "read.counts", 20


async def create_table(conn: asyncpg.Connection | asyncpg.Pool, table: str = TABLE) -> None:
    await conn.execute(f"CREATE SCHEMA IF NOT EXISTS read; "
                       f"CREATE TABLE IF NOT EXISTS {table} (stream text PRIMARY KEY, n int NOT NULL)")


def count_into(table: str = TABLE, kill_after: int = 0) -> Handler:
    """Not idempotent on purpose: an event applied twice shows up as a count one too high."""
    applied = 0

    async def handle(conn: asyncpg.Connection, event: RecordedEvent) -> None:
        nonlocal applied
        await conn.execute(f"INSERT INTO {table} AS t (stream, n) VALUES ($1, 1) "
                           "ON CONFLICT (stream) DO UPDATE SET n = t.n + 1", event.stream_name)
        applied += 1
        if applied == kill_after:
            os.kill(os.getpid(), signal.SIGKILL)

    return handle


async def main(url: str) -> None:
    store = await EventStore.connect(url, min_size=1, max_size=1)
    try:
        await create_table(store.pool)
        kill_after = int(os.environ.get("STUDIOS_KILL_AFTER", "0"))
        await Subscription(store, NAME, count_into(kill_after=kill_after), batch_size=BATCH).catch_up()
    finally:
        await store.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
