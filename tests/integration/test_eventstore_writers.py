"""The store's writer connections: a lost or cancelled connection is replaced, never handed on half-used, and an
append whose connection the server cut is retried once, stored exactly once."""

from __future__ import annotations

import asyncio

import asyncpg

from libs.eventstore import EventStore, Expected, NewEvent
from libs.testing.waiting import wait_for
from tests.integration.eventstore_helpers import waiting_for_the_lock


def one(i: int = 0) -> list[NewEvent]:
    return [NewEvent("ThingHappened", {"i": i})]


async def writer_pids(store: EventStore) -> list[int]:
    rows = await store.pool.fetch(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() "
        "AND query LIKE '%es.append%'")
    return [r["pid"] for r in rows]


async def test_an_idle_store_opens_no_writer_and_writers_are_reused(database_url: str) -> None:
    store = await EventStore.connect(database_url, writers=2)
    try:
        assert await writer_pids(store) == []
        for i in range(20):
            await store.append("thing-1", one(i))
        assert len(await writer_pids(store)) == 1  # sequential appends share one connection
        await asyncio.gather(*(store.append(f"thing-{i}", one()) for i in range(2, 12)))
        assert len(await writer_pids(store)) <= 2
        assert await store.stream_version("thing-1") == 19
    finally:
        await store.close()
    check = await asyncpg.connect(database_url)
    try:  # close() closed the writers too
        assert await check.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ) == 0
    finally:
        await check.close()


async def test_an_append_survives_the_server_cutting_its_connection(store: EventStore) -> None:
    await store.append("thing-1", one(0), Expected.NO_STREAM)
    [pid] = await writer_pids(store)
    assert await store.pool.fetchval("SELECT pg_terminate_backend($1)", pid)
    result = await store.append("thing-1", one(1), 0)  # the dead connection first, then a fresh one
    assert result.version == 1
    assert [p for p in await writer_pids(store) if p == pid] == []
    assert await store.pool.fetchval("SELECT count(*) FROM es.events WHERE stream_name = 'thing-1'") == 2


async def test_a_cancelled_append_leaves_no_connection_behind_in_a_bad_state(store: EventStore,
                                                                          database_url: str) -> None:
    blocker = await asyncpg.connect(database_url)
    try:
        await store.append("thing-1", one(0))
        async with blocker.transaction():  # hold the stream's lock so the next append waits inside the server
            await blocker.execute("SELECT pg_advisory_xact_lock(hashtextextended('thing-1', 0))")
            task = asyncio.create_task(store.append("thing-1", one(1)))
            await wait_for(lambda: waiting_for_the_lock(store), until=bool, what="the append waiting for the lock")
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        assert task.cancelled()
        await store.append("thing-1", one(2))
        # Like any call cancelled after it was sent, the cancelled append may or may not have been stored; what
        # must hold is that the writer handed on afterwards worked and nothing was stored twice.
        stored = [e.data["i"] for e in await store.read_stream("thing-1")]
        assert stored in ([0, 2], [0, 1, 2])
    finally:
        await blocker.close()
