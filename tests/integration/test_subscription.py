"""Subscriptions: the read-model change and the checkpoint commit together, whatever kills the process when."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sys
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import psutil
import pytest

from libs.eventstore import (
    START,
    CheckpointMoved,
    EventStore,
    NewEvent,
    Position,
    RecordedEvent,
    Subscription,
    checkpoints,
)
from tests.integration.workers.projector import BATCH, NAME, count_into, create_table

ROOT = Path(__file__).resolve().parents[2]


async def fill(store: EventStore, total: int, streams: int, rng: random.Random) -> None:
    while total:
        n = min(total, rng.randint(1, 10))
        await store.append(f"thing-{rng.randrange(streams)}", [NewEvent("ThingHappened", {"i": i}) for i in range(n)])
        total -= n


async def counts(store: EventStore, table: str = "read.counts") -> dict[str, int]:
    return {r[0]: r[1] for r in await store.pool.fetch(f"SELECT stream, n FROM {table}")}


async def rebuilt(store: EventStore) -> dict[str, int]:
    """The same read model from scratch: a plain aggregate over the events."""
    rows = await store.pool.fetch("SELECT stream_name, count(*)::int FROM es.events GROUP BY 1")
    return {r[0]: r[1] for r in rows}


async def applied_vs_checkpoint(store: EventStore) -> tuple[int, int]:
    """(events counted by the read model, events at or before its checkpoint), in one snapshot."""
    row = await store.pool.fetchrow(
        """SELECT (SELECT coalesce(sum(n), 0)::int FROM read.counts),
                  (SELECT count(*)::int FROM es.events e JOIN es.checkpoints c ON c.name = $1
                    WHERE (e.tx_id, e.global_position) <= (c.tx_id, c.global_position))""", NAME)
    assert row is not None
    return row[0], row[1]


async def run_projector(url: str, *, kill_after: float | None = None, env: dict[str, str] | None = None) -> int:
    """Run the worker; SIGKILL it after ``kill_after`` seconds if still running. Returns its exit code."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.integration.workers.projector", url, cwd=ROOT,
        env={**os.environ, **(env or {})})
    try:
        return await asyncio.wait_for(proc.wait(), kill_after if kill_after is not None else 60)
    except TimeoutError:
        proc.send_signal(signal.SIGKILL)
        return await proc.wait()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def test_a_killed_projection_resumes_without_losing_or_repeating(store: EventStore, database_url: str) -> None:
    rng = random.Random(5000)
    await fill(store, 5000, 150, rng)
    await create_table(store.pool)
    for _ in range(6):
        await run_projector(database_url, kill_after=rng.uniform(0.4, 1.2))
        applied, expected = await applied_vs_checkpoint(store)
        assert applied == expected
    # A kill between apply and commit, mid-batch: nothing of that batch may show. (Make sure two batches are left
    # to apply, however far the random kills let it get.)
    await fill(store, BATCH * 2, 150, rng)
    before = await applied_vs_checkpoint(store)
    rc = await run_projector(database_url, env={"STUDIOS_KILL_AFTER": str(BATCH + 7)})
    assert rc == -signal.SIGKILL
    assert await applied_vs_checkpoint(store) == (before[0] + BATCH, before[1] + BATCH)  # one batch, not two
    assert await run_projector(database_url) == 0
    assert await counts(store) == await rebuilt(store)
    async with store.pool.acquire() as conn:
        assert (await checkpoints.load(conn, NAME)).position == await store.head()


async def test_a_poison_event_is_parked_and_the_rest_applied(store: EventStore) -> None:
    await create_table(store.pool)
    count = count_into()
    attempts = 0

    async def handler(conn: asyncpg.Connection, event: RecordedEvent) -> None:
        nonlocal attempts
        await count(conn, event)  # undone by the savepoint when the handler fails
        if event.event_type == "PoisonPill":
            attempts += 1
            raise RuntimeError("cannot digest")

    await fill(store, 20, 3, random.Random(1))
    poison = NewEvent("PoisonPill", {})
    await store.append("thing-0", [poison])
    await fill(store, 20, 3, random.Random(2))
    # unordered: a counter may take a stream's later events without the parked one
    sub = Subscription(store, "poisoned", handler, batch_size=7, max_attempts=3, ordered=False, backoff_min=0.001)
    assert await sub.catch_up() == 41
    assert attempts == 3
    parked = await store.pool.fetch("SELECT consumer, event_id, attempts, error FROM es.parked")
    assert [tuple(r) for r in parked] == [("poisoned", poison.event_id, 3, "RuntimeError: cannot digest")]
    expected = await rebuilt(store)
    expected["thing-0"] -= 1
    assert await counts(store) == expected
    assert await sub.position() == await store.head()


async def test_a_paused_subscription_processes_nothing(store: EventStore) -> None:
    await create_table(store.pool)
    await fill(store, 10, 2, random.Random(3))
    sub = Subscription(store, "paused", count_into())
    async with store.pool.acquire() as conn:
        await checkpoints.load(conn, "paused")
    assert await checkpoints.set_paused(store.pool, "paused", True)
    assert await sub.run_once() == 0
    assert await sub.catch_up() == 0
    assert await counts(store) == {}
    assert await sub.position() == START
    assert await checkpoints.set_paused(store.pool, "paused", False)
    assert await sub.catch_up() == 10
    assert await counts(store) == await rebuilt(store)


async def test_two_instances_never_apply_an_event_twice(store: EventStore) -> None:
    """Two live instances of one subscription take turns batch by batch: every event applied once, no conflict."""
    await create_table(store.pool)
    await fill(store, 300, 40, random.Random(4))
    applied_by: dict[int, int] = {0: 0, 1: 0}

    def slow_counter(instance: int) -> Subscription:
        count = count_into()

        async def handler(conn: asyncpg.Connection, event: RecordedEvent) -> None:
            await asyncio.sleep(0.001)  # long enough for the other instance to come in meanwhile
            await count(conn, event)
            applied_by[instance] += 1

        return Subscription(store, NAME, handler, batch_size=20)

    await asyncio.wait_for(asyncio.gather(slow_counter(0).catch_up(), slow_counter(1).catch_up()), 60)
    assert await counts(store) == await rebuilt(store)
    assert sum((await counts(store)).values()) == 300
    assert sum(applied_by.values()) == 300 and all(applied_by.values()), applied_by  # both worked, none twice


async def test_a_checkpoint_moved_underneath_is_refused(store: EventStore) -> None:
    """The compare-and-set stays the guarantee when something moves the checkpoint behind the lock's back."""
    async with store.pool.acquire() as conn:
        at = (await checkpoints.load(conn, "cas")).position
        await checkpoints.advance(conn, "cas", at, Position(at.tx_id, at.global_position + 5))
        with pytest.raises(CheckpointMoved):
            await checkpoints.advance(conn, "cas", at, Position(at.tx_id, at.global_position + 9))


@pytest.fixture(autouse=True)
def no_child_survives() -> Iterator[None]:
    before = {p.pid for p in psutil.Process().children(recursive=True)}  # the session's servers
    yield
    assert {p.pid for p in psutil.Process().children(recursive=True)} <= before
