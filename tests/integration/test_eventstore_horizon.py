"""No event is ever skipped: a reader tailing by commit horizon sees every committed event exactly once.

Identity order is not commit order. A transaction that took global position p and commits after a later one
(p' > p) has already been passed by a reader that tails ``global_position > last`` alone: that reader skips it
forever. ``read_all`` only reads below the oldest running transaction, so it waits for the slow one instead.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

import asyncpg

from libs.eventstore import START, AppendRequest, EventStore, NewEvent, Position, RecordedEvent
from libs.eventstore.append import _LOCK_STREAMS, append_on
from libs.eventstore.connection import init_connection

WRITERS, STREAMS, TOTAL = 8, 500, 20_000
SLOW_TXS = 3  # transactions kept open while later ones commit
LATER = 500  # events committed by other writers while a slow transaction stays open


@dataclass
class Run:
    written: int = 0
    slow_ids: set[uuid.UUID] = field(default_factory=set)  # appended in a transaction kept open
    extra: int = 0  # events besides the writers' TOTAL
    naive_last: int = 0
    writers_done: asyncio.Event = field(default_factory=asyncio.Event)


def some_events(n: int) -> list[NewEvent]:
    return [NewEvent("ThingHappened", {"pad": "x" * 200, "i": i}) for i in range(n)]


async def connect(url: str) -> asyncpg.Connection:
    conn = await asyncpg.connect(url)
    await init_connection(conn)
    return conn


async def until(condition: Callable[[], bool]) -> None:
    for _ in range(3000):  # 30 s
        if condition():
            return
        await asyncio.sleep(0.01)
    raise TimeoutError("condition not met")


async def writer(url: str, store: EventStore, quota: int, run: Run, rng: random.Random) -> None:
    conn = await connect(url)
    try:
        while quota:
            n = min(quota, rng.randint(1, 5))
            await store.append(f"thing-{rng.randrange(STREAMS)}", some_events(n), conn=conn)
            quota -= n
            run.written += n
    finally:
        await conn.close()


async def slow_writer(url: str, store: EventStore, run: Run, rng: random.Random) -> None:
    """Open a transaction, append, let a later append commit and the naive reader pass it, then commit."""
    conn = await connect(url)
    try:
        for k in range(SLOW_TXS):
            threshold = (k + 1) * TOTAL // (SLOW_TXS + 1)
            await until(lambda: run.written >= threshold)  # noqa: B023 - awaited right here
            evs = some_events(rng.randint(1, 3))
            async with conn.transaction():
                result = await store.append(f"slow-{k}", evs, conn=conn)
                witness = some_events(1)
                await store.append(f"witness-{k}", witness)  # commits at once, on another connection
                await until(lambda: run.naive_last > result.position)  # noqa: B023 - awaited right here
                # Stay open while later transactions commit behind this one: the horizon reader must hold back
                # for them until this commits, the naive one has passed it. (Bounded by what is left to write.)
                later = min(run.written + LATER, TOTAL)
                await until(lambda: run.written >= later)  # noqa: B023 - awaited right here
            run.slow_ids |= {e.event_id for e in evs}
            run.extra += len(evs) + len(witness)
    finally:
        await conn.close()


async def horizon_reader(store: EventStore, run: Run) -> list[RecordedEvent]:
    seen: list[RecordedEvent] = []
    after: Position = START
    while True:
        done = run.writers_done.is_set()  # read before the batch: an empty batch after it means caught up
        batch = await store.read_all(after, limit=700)
        if batch:
            seen += batch
            after = batch[-1].position
        elif done:
            return seen
        else:
            await asyncio.sleep(0.005)


async def naive_reader(store: EventStore, run: Run) -> set[uuid.UUID]:
    seen: set[uuid.UUID] = set()
    while True:
        done = run.writers_done.is_set()
        rows = await store.pool.fetch(
            "SELECT global_position, event_id FROM es.events WHERE global_position > $1 "
            "ORDER BY global_position LIMIT 700", run.naive_last)
        if rows:
            seen |= {r["event_id"] for r in rows}
            run.naive_last = rows[-1]["global_position"]
        elif done:
            return seen
        else:
            await asyncio.sleep(0.005)


async def test_a_horizon_reader_never_skips_an_event(store: EventStore, database_url: str) -> None:
    rng, run = random.Random(20_000), Run()
    quotas = [TOTAL // WRITERS] * WRITERS
    readers = asyncio.gather(horizon_reader(store, run), naive_reader(store, run))
    await asyncio.gather(*(writer(database_url, store, q, run, random.Random(rng.random())) for q in quotas),
                         slow_writer(database_url, store, run, rng))
    run.writers_done.set()
    seen, naive = await asyncio.wait_for(readers, 60)

    stored = {r["event_id"] for r in await store.pool.fetch("SELECT event_id FROM es.events")}
    ids = [e.event_id for e in seen]
    assert len(stored) == TOTAL + run.extra
    assert len(ids) == len(set(ids)) == len(stored)
    assert set(ids) == stored
    positions: dict[str, list[int]] = defaultdict(list)
    for e in seen:
        positions[e.stream_name].append(e.stream_position)
    assert all(p == list(range(len(p))) for p in positions.values())
    # Why the horizon exists: the naive tailer passed each slow transaction's events before they committed.
    # (It may miss others too, wherever two writers' commits crossed.)
    assert run.slow_ids and run.slow_ids <= stored - naive


async def test_commit_order_agrees_with_stream_order_across_multi_stream_appends(store: EventStore) -> None:
    """A transaction gets its id at its first write. If a multi-stream append wrote stream X (taking an id) and
    then waited for stream S, a writer that got into S meanwhile would commit *later* with a *larger* id, and
    horizon order would put the waiting append's S event first, against S's own order. The stream locks are
    taken before any write, so the waiting writer has no id yet."""
    async with store.pool.acquire() as b:
        tx = b.transaction()
        await tx.start()
        await b.execute(_LOCK_STREAMS, ["x-1", "s-1"])  # what append_many does first
        assert await b.fetchval("SELECT pg_current_xact_id_if_assigned()") is None  # a lock takes no id
        await append_on(b, AppendRequest("x-1", [NewEvent("B", {})]))  # append_many's steps, one by one
        other = asyncio.create_task(store.append("s-1", [NewEvent("A", {})]))  # waits for b's lock on s-1
        await waiting_for_an_advisory_lock(store)
        assert not other.done()
        await append_on(b, AppendRequest("s-1", [NewEvent("B", {})]))
        await tx.commit()
        await other
    s_events = [e for e in await store.read_all(limit=10) if e.stream_name == "s-1"]
    assert [(e.event_type, e.stream_position) for e in s_events] == [("B", 0), ("A", 1)]


async def waiting_for_an_advisory_lock(store: EventStore) -> None:
    for _ in range(3000):  # 30 s
        if await store.pool.fetchval("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted "
                                     "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"):
            return
        await asyncio.sleep(0.01)
    raise TimeoutError("no session ever waited for an advisory lock")
