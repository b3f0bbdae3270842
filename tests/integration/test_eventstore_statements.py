"""The append as one statement (migration 0006, ``libs/eventstore/statements.py``): the happy path calls no
plpgsql function, a statement whose snapshot is older than the stream's lock decides again under it, and each
statement takes the lock before its transaction has an id."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import pytest

from libs.eventstore import AppendRequest, EventStore, Expected, NameNotHeld, NewEvent, WrongExpectedVersion
from libs.testing.waiting import wait_for
from tests.integration.eventstore_helpers import waiting_for_the_lock


def one(i: int = 0) -> list[NewEvent]:
    return [NewEvent("ThingHappened", {"i": i})]


@pytest.fixture
async def counted(database_url: str) -> AsyncIterator[EventStore]:
    """A store whose connections count plpgsql calls (``pg_stat_user_functions``), with one writer connection."""
    store = await EventStore.connect(database_url, writers=1, server_settings={"track_functions": "pl"})
    try:
        yield store
    finally:
        await store.close()


async def calls(store: EventStore, function: str) -> int:
    n = await store.pool.fetchval(
        "SELECT coalesce(sum(calls), 0) FROM pg_stat_user_functions WHERE schemaname = 'es' AND funcname = $1",
        function)
    return int(n)


async def test_appends_at_an_exact_version_or_to_a_new_stream_call_no_function(counted: EventStore) -> None:
    await counted.append("thing-1", one(0), Expected.NO_STREAM)
    for v in range(5):
        await counted.append("thing-1", one(v + 1), v)
    await counted.append("thing-1", [*one(6), *one(7)], 5)  # several events: the same
    await counted.append_many([AppendRequest("thing-2", one(), Expected.NO_STREAM),
                               AppendRequest("thing-1", one(8), 7)])
    await counted.append("thing-1", one(9))  # ANY needs the version read under the lock: one call
    # Statistics reach other sessions when the writer's backend flushes them, all of its counters at once.
    await wait_for(lambda: calls(counted, "append_version"), until=lambda n: n >= 1, what="the ANY append's call")
    assert await calls(counted, "append_version") == 1
    assert await calls(counted, "append_one") == await calls(counted, "append") == 0
    assert [e.stream_position for e in await counted.read_stream("thing-1")] == list(range(10))
    assert await counted.pool.fetchval("SELECT count(*) FROM es.streams WHERE stream_name LIKE 'thing-%'") == 2


async def test_an_exact_append_whose_snapshot_missed_the_lock_holder_decides_again_under_the_lock(
        counted: EventStore, database_url: str) -> None:
    """The statement's snapshot is taken before it waits for the stream's lock, so it cannot see the events of
    the writer it waited for. Appending at the version that writer left is right: es.append_version looks again
    with a fresh snapshot (the one call counted). A version the stream has passed is still refused."""
    await counted.append("thing-1", one(0), Expected.NO_STREAM)
    holder = await asyncpg.connect(database_url)
    try:
        async with holder.transaction():
            await holder.execute("SELECT pg_advisory_xact_lock(hashtextextended('thing-1', 0))")
            await holder.execute(
                """INSERT INTO es.events (stream_name, stream_position, event_id, event_type, data)
                   VALUES ('thing-1', 1, gen_random_uuid(), 'HolderWrote', '{}')""")
            right = asyncio.create_task(counted.append("thing-1", one(2), 1))  # at the holder's version
            await wait_for(lambda: waiting_for_the_lock(counted), until=bool, what="the append waiting")
        assert (await right).version == 2
    finally:
        await holder.close()
    with pytest.raises(WrongExpectedVersion) as e:
        await counted.append("thing-1", one(3), 1)  # the version before the last: the unique index refuses it
    assert e.value.extra["stream"] == "thing-1"
    await wait_for(lambda: calls(counted, "append_version"), until=lambda n: n >= 1, what="the second look")
    assert await calls(counted, "append_version") == 1
    assert [e.event_type for e in await counted.read_stream("thing-1")] == [
        "ThingHappened", "HolderWrote", "ThingHappened"]


async def test_every_statement_takes_the_lock_before_its_transaction_has_an_id(database_url: str) -> None:
    """While another transaction holds the streams' locks, an append of each kind waits without a transaction
    id: its id comes after the holder's commit, so commit-horizon order agrees with each stream's order."""
    store = await EventStore.connect(database_url, writers=6)  # one connection per kind: all wait at once
    await store.append("thing-1", one(0))
    holder = await asyncpg.connect(database_url)
    try:
        async with holder.transaction():
            for name in ("thing-1", "thing-2"):
                await holder.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", name)
            kinds = {"exact": store.append("thing-1", one(1), 0),
                     "exact, several": store.append("thing-1", [*one(2), *one(3)], 0),
                     "any": store.append("thing-1", one(4)),
                     "stream exists": store.append("thing-1", one(5), Expected.STREAM_EXISTS),
                     "no stream": store.append("thing-2", one(6), Expected.NO_STREAM),
                     "no stream, several": store.append("thing-2", [*one(7), *one(8)], Expected.NO_STREAM)}
            tasks = {kind: asyncio.create_task(a) for kind, a in kinds.items()}
            waiting = await wait_for(lambda: waiting_for_the_lock(store), until=lambda r: len(r) == len(tasks),
                                     what="every append waiting for the lock")
            assert [r["backend_xid"] for r in waiting] == [None] * len(tasks)
        results = dict(zip(tasks, await asyncio.gather(*tasks.values(), return_exceptions=True), strict=True))
        stored = await store.read_all(limit=100)
    finally:
        await holder.close()
        await store.close()
    failed = {kind for kind, r in results.items() if isinstance(r, BaseException)}
    assert all(isinstance(results[kind], WrongExpectedVersion) for kind in failed)
    assert not failed & {"any", "stream exists"}
    assert len({"no stream", "no stream, several"} - failed) == 1  # one new stream, once
    assert len({"exact", "exact, several"} - failed) <= 1
    for name in ("thing-1", "thing-2"):  # in commit-horizon order, each stream's positions count up from 0
        positions = [e.stream_position for e in stored if e.stream_name == name]
        assert positions == list(range(len(positions)))


async def test_the_release_check_runs_in_the_appends_that_carry_one_and_in_the_old_functions(
        store: EventStore) -> None:
    """No trigger on es.events any more (it cost every append): the statements and the previous release's
    es.append_one (a process of it may append during an upgrade) both refuse a release by someone else."""
    assert await store.pool.fetchval(
        "SELECT count(*) FROM pg_trigger WHERE tgrelid = 'es.events'::regclass AND NOT tgisinternal") == 0
    await store.append("username-erin", [NewEvent("NameReserved", {"owner": "user-1"})], Expected.NO_STREAM)
    for expected in (0, Expected.STREAM_EXISTS):
        with pytest.raises(NameNotHeld):
            await store.append("username-erin", [NewEvent("NameReleased", {"owner": "user-2"})], expected)
    with pytest.raises(asyncpg.PostgresError) as e:
        await store.pool.fetchrow(
            "SELECT * FROM es.append_one('username-erin', 0, gen_random_uuid(), 'NameReleased', 1::smallint, "
            """'{"owner": "user-2"}', '{}')""")
    assert e.value.sqlstate == "ES002"
    assert [ev.event_type for ev in await store.read_stream("username-erin")] == ["NameReserved"]
