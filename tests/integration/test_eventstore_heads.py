"""Appends at a version the store has seen committed (``libs/eventstore/heads.py``): they skip the look for that
position, and every guarantee the look gave still holds. Only committed positions are trusted: not what a caller's
transaction wrote, not what a rolled-back ``append_many`` wrote, and nothing once a writer's connection was lost."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from libs.eventstore import AppendRequest, EventStore, Expected, NewEvent, WrongExpectedVersion
from libs.testing.waiting import wait_for
from tests.integration.eventstore_helpers import waiting_for_the_lock


def one(i: int = 0) -> list[NewEvent]:
    return [NewEvent("ThingHappened", {"i": i})]


async def stored(database_url: str, stream: str) -> list[int]:
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch("SELECT stream_position FROM es.events WHERE stream_name = $1 ORDER BY 1", stream)
        return [r["stream_position"] for r in rows]
    finally:
        await conn.close()


async def test_an_append_at_a_known_version_still_refuses_a_version_the_stream_passed(
        store: EventStore, database_url: str) -> None:
    await store.append("thing-1", one(0), Expected.NO_STREAM)
    await store.append("thing-1", one(1), 0)
    assert store.heads.covers("thing-1", 1)
    await store.append("thing-1", one(2), 1)  # known: no look for position 1
    with pytest.raises(WrongExpectedVersion) as e:
        await store.append("thing-1", one(9), 1)  # known too, and past: the unique index refuses position 2
    assert e.value.extra["stream"] == "thing-1"
    with pytest.raises(WrongExpectedVersion):
        await store.append("thing-1", one(9), 5)  # ahead of every known head: looked for, and not there
    assert await stored(database_url, "thing-1") == [0, 1, 2]


async def test_a_position_another_store_wrote_is_known_once_read(store: EventStore, database_url: str) -> None:
    other = await EventStore.connect(database_url, min_size=1, max_size=2)
    try:
        await other.append("thing-1", one(0), Expected.NO_STREAM)
        await other.append("thing-1", one(1), 0)
    finally:
        await other.close()
    assert not store.heads.covers("thing-1", 0)
    assert [e.stream_position for e in await store.read_stream("thing-1")] == [0, 1]
    assert store.heads.covers("thing-1", 1)
    assert (await store.append("thing-1", one(2), 1)).version == 2
    assert await stored(database_url, "thing-1") == [0, 1, 2]


async def test_what_a_callers_transaction_wrote_is_not_known_when_it_rolls_back(
        store: EventStore, database_url: str) -> None:
    """Had the position been trusted, the append at it would have gone to position 2 of a stream at 0: a gap."""
    await store.append("thing-1", one(0), Expected.NO_STREAM)
    async with store.pool.acquire() as conn:
        tx = conn.transaction()
        await tx.start()
        await store.append("thing-1", one(1), 0, conn=conn)
        assert (await store.read_stream("thing-1", conn=conn))[-1].stream_position == 1  # its own write
        await tx.rollback()
    assert not store.heads.covers("thing-1", 1)
    with pytest.raises(WrongExpectedVersion):
        await store.append("thing-1", one(2), 1)
    assert await stored(database_url, "thing-1") == [0]


async def test_a_rolled_back_append_many_leaves_no_known_position(store: EventStore, database_url: str) -> None:
    await store.append("thing-1", one(0), Expected.NO_STREAM)
    await store.append("thing-2", one(0), Expected.NO_STREAM)
    with pytest.raises(WrongExpectedVersion):  # thing-1 is written first in the transaction, then thing-2 fails
        await store.append_many([AppendRequest("thing-1", one(1), 0), AppendRequest("thing-2", one(1), 5)])
    assert not store.heads.covers("thing-1", 1)
    with pytest.raises(WrongExpectedVersion):
        await store.append("thing-1", one(2), 1)
    results = await store.append_many([AppendRequest("thing-1", one(1), 0), AppendRequest("thing-2", one(1), 0)])
    assert [r.version for r in results] == [1, 1]
    assert store.heads.covers("thing-1", 1) and store.heads.covers("thing-2", 1)  # committed: known
    assert await stored(database_url, "thing-1") == [0, 1]


async def test_a_lost_connection_forgets_every_known_position(store: EventStore, database_url: str) -> None:
    """A server that came back from a crash or a failover may lack its last commits (``synchronous_commit =
    off``, an asynchronous replica). Here the lost commit is removed by hand, as such a server would lack it."""
    await store.append("thing-1", one(0), Expected.NO_STREAM)
    await store.append("thing-1", one(1), 0)
    admin = await asyncpg.connect(database_url)
    try:
        pids = await admin.fetch("SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                                 "AND pid <> pg_backend_pid() AND query LIKE '%es.append%'")
        assert len(pids) == 1
        assert await admin.fetchval("SELECT pg_terminate_backend($1)", pids[0]["pid"])
        await admin.execute("DELETE FROM es.events WHERE stream_name = 'thing-1' AND stream_position = 1")
    finally:
        await admin.close()
    assert (await store.append("thing-2", one(0), Expected.NO_STREAM)).version == 0  # finds its connection lost
    assert not store.heads.covers("thing-1", 1)
    with pytest.raises(WrongExpectedVersion):
        await store.append("thing-1", one(2), 1)  # looked for again, and not there: no gap
    assert await stored(database_url, "thing-1") == [0]


async def test_a_known_and_an_unknown_exact_append_both_take_the_lock_before_their_id(database_url: str) -> None:
    """The two exact statements (the look skipped, the look made) wait for the stream's lock without a
    transaction id, like every other kind (``test_eventstore_statements``)."""
    knows = await EventStore.connect(database_url, min_size=1, max_size=2, writers=1)
    fresh = await EventStore.connect(database_url, min_size=1, max_size=2, writers=1)
    holder = await asyncpg.connect(database_url)
    try:
        await knows.append("thing-1", one(0), Expected.NO_STREAM)
        assert knows.heads.covers("thing-1", 0) and not fresh.heads.covers("thing-1", 0)
        async with holder.transaction():
            await holder.execute("SELECT pg_advisory_xact_lock(hashtextextended('thing-1', 0))")
            tasks = [asyncio.create_task(s.append("thing-1", one(1), 0)) for s in (knows, fresh)]
            waiting = await wait_for(lambda: waiting_for_the_lock(knows), until=lambda r: len(r) == 2,
                                     what="both appends waiting for the lock")
            assert [r["backend_xid"] for r in waiting] == [None, None]
        results = await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        await holder.close()
        await knows.close()
        await fresh.close()
    assert sorted(type(r).__name__ for r in results) == ["AppendResult", "WrongExpectedVersion"]
    assert await stored(database_url, "thing-1") == [0, 1]
