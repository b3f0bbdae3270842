"""The event store's write guarantees against the real PostgreSQL: expected versions, idempotency, atomicity."""

from __future__ import annotations

import asyncio
import os
import re
import sys
import uuid
from pathlib import Path

import asyncpg
import pytest

from libs.eventstore import (
    AppendRequest,
    EventStore,
    Expected,
    IdempotencyConflict,
    NewEvent,
    WrongExpectedVersion,
)

ROOT = Path(__file__).resolve().parents[2]


def events(n: int, kind: str = "ThingHappened") -> list[NewEvent]:
    return [NewEvent(kind, {"i": i}) for i in range(n)]


async def stored(store: EventStore) -> tuple[int, int]:
    """(rows in es.events, rows in es.streams): what a failed append must leave untouched."""
    row = await store.pool.fetchrow("SELECT (SELECT count(*) FROM es.events), (SELECT count(*) FROM es.streams)")
    assert row is not None
    return row[0], row[1]


# -- expected version -----------------------------------------------------------------------------------------


async def test_any_appends_to_a_new_and_an_existing_stream(store: EventStore) -> None:
    assert (await store.append("thing-1", events(2), Expected.ANY)).version == 1
    assert (await store.append("thing-1", events(1), Expected.ANY)).version == 2


async def test_no_stream_succeeds_once_then_conflicts(store: EventStore) -> None:
    assert (await store.append("thing-1", events(2), Expected.NO_STREAM)).version == 1
    before = await stored(store)
    with pytest.raises(WrongExpectedVersion) as e:
        await store.append("thing-1", events(1), Expected.NO_STREAM)
    assert e.value.extra["stream"] == "thing-1"
    assert await stored(store) == before


async def test_stream_exists_conflicts_on_a_new_stream_then_succeeds(store: EventStore) -> None:
    with pytest.raises(WrongExpectedVersion):
        await store.append("thing-1", events(1), Expected.STREAM_EXISTS)
    assert (await stored(store))[0] == 0
    assert await store.stream_version("thing-1") == -1
    await store.append("thing-1", events(1))
    assert (await store.append("thing-1", events(1), Expected.STREAM_EXISTS)).version == 1


async def test_exact_version_succeeds_only_at_that_version(store: EventStore) -> None:
    await store.append("thing-1", events(3))
    before = await stored(store)
    for wrong in (0, 1, 3, 7):
        with pytest.raises(WrongExpectedVersion):
            await store.append("thing-1", events(1), wrong)
    assert await stored(store) == before
    with pytest.raises(WrongExpectedVersion):
        await store.append("thing-2", events(1), 0)  # exact 0 on a stream that does not exist
    assert (await store.append("thing-1", events(2), 2)).version == 4
    assert [e.stream_position for e in await store.read_stream("thing-1")] == [0, 1, 2, 3, 4]


# -- idempotency ----------------------------------------------------------------------------------------------


async def test_a_retry_returns_the_original_positions(store: EventStore) -> None:
    batch = events(3)
    first = await store.append("thing-1", batch, Expected.NO_STREAM)
    await store.append("thing-1", events(1))  # the stream moved on since
    before = await stored(store)
    again = await store.append("thing-1", batch, Expected.NO_STREAM)  # would conflict if not recognised
    assert again == first
    assert await stored(store) == before


async def test_a_partial_duplicate_conflicts_and_stores_nothing(store: EventStore) -> None:
    batch = events(2)
    await store.append("thing-1", batch)
    before = await stored(store)
    with pytest.raises(IdempotencyConflict):
        await store.append("thing-1", [*batch, *events(1)])
    with pytest.raises(IdempotencyConflict):
        await store.append("thing-1", [*events(1), batch[1]])
    assert await stored(store) == before


async def test_the_same_ids_on_another_stream_conflict(store: EventStore) -> None:
    batch = events(2)
    await store.append("thing-1", batch)
    before = await stored(store)
    with pytest.raises(IdempotencyConflict):
        await store.append("thing-2", batch)
    with pytest.raises(IdempotencyConflict):
        await store.append("thing-2", batch[:1])
    assert await stored(store) == before
    assert await store.stream_version("thing-2") == -1


# -- several streams at once ----------------------------------------------------------------------------------


async def test_append_many_is_all_or_nothing(store: EventStore) -> None:
    await store.append("other-1", events(1))
    before = await stored(store)
    with pytest.raises(WrongExpectedVersion) as e:
        await store.append_many([
            AppendRequest("thing-1", events(2), Expected.NO_STREAM),
            AppendRequest("other-1", events(1), Expected.NO_STREAM),
        ])
    assert e.value.extra["stream"] == "other-1"
    assert await stored(store) == before
    assert await store.read_stream("thing-1") == []
    results = await store.append_many([
        AppendRequest("thing-1", events(2), Expected.NO_STREAM),
        AppendRequest("other-1", events(1), 0),
    ])
    assert [(r.stream, r.version) for r in results] == [("thing-1", 1), ("other-1", 1)]


async def test_append_many_rolls_back_on_an_idempotency_conflict(store: EventStore) -> None:
    taken = events(1)
    await store.append("other-1", taken)
    before = await stored(store)
    with pytest.raises(IdempotencyConflict):
        await store.append_many([AppendRequest("thing-1", events(1)), AppendRequest("thing-2", taken)])
    assert await stored(store) == before


async def test_bad_input_is_refused_before_storing(store: EventStore) -> None:
    with pytest.raises(ValueError):
        await store.append("nocategory", events(1))
    with pytest.raises(ValueError):
        await store.append("thing-1", [])
    with pytest.raises(ValueError):
        await store.append("thing-1", events(1), -5)
    assert await stored(store) == (0, 0)


async def test_concurrent_retries_of_one_append_store_it_once(store: EventStore) -> None:
    """Two writers racing with the same ids: one stores, the other gets the same positions back."""
    batch = [NewEvent("ThingHappened", {"i": i}, event_id=uuid.uuid4()) for i in range(3)]
    results = await asyncio.gather(*(store.append("thing-1", batch) for _ in range(4)))
    assert len(set(results)) == 1
    assert (await stored(store))[0] == 3


async def test_concurrent_writers_of_one_stream_get_gapless_positions(store: EventStore) -> None:
    """The stream's lock serialises its writers: every append lands, at the next position, none lost or doubled."""
    results = await asyncio.gather(*(store.append("thing-1", events(1 + i % 3)) for i in range(40)))
    total = sum(1 + i % 3 for i in range(40))
    assert sorted(r.version for r in results)[-1] == total - 1
    positions = [e.stream_position for e in await store.read_stream("thing-1")]
    assert positions == list(range(total))
    assert await store.stream_version("thing-1") == total - 1


async def waiting_on_a_transaction(store: EventStore) -> None:
    """Until some session of this database waits for another transaction to end (as a unique index insert does)."""
    for _ in range(600):
        if await store.pool.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock' AND wait_event = 'transactionid'"):
            return
        await asyncio.sleep(0.05)
    raise AssertionError("no session ever waited")


async def test_a_writer_that_bypasses_the_lock_is_caught_by_the_position_index(store: EventStore,
                                                                              database_url: str) -> None:
    """Never done by the store itself: a row inserted behind the stream's lock, uncommitted while an append runs.
    The unique (stream, position) index stops the append, reported as a moved stream, not as a duplicate id."""
    await store.append("thing-1", events(1))
    intruder = await asyncpg.connect(database_url)
    try:
        tx = intruder.transaction()
        await tx.start()
        await intruder.execute(
            """INSERT INTO es.events (stream_name, stream_position, event_id, event_type, data)
               VALUES ('thing-1', 1, gen_random_uuid(), 'Intruded', '{}')""")
        append = asyncio.create_task(store.append("thing-1", events(1)))
        await waiting_on_a_transaction(store)  # the append took position 1 and waits on the intruder's entry
        await tx.commit()
        with pytest.raises(WrongExpectedVersion) as e:
            await append
        assert e.value.extra["stream"] == "thing-1"
    finally:
        await intruder.close()
    assert [ev.event_type for ev in await store.read_stream("thing-1")] == ["ThingHappened", "Intruded"]


async def test_the_benchmark_prints_its_figures(server_database_url: str) -> None:
    """Runs ``python -m bench.eventstore`` on a few events: the output shape only, never the figures."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.eventstore", "--events", "200", cwd=ROOT,
        env={**os.environ, "DATABASE_URL": server_database_url}, stdout=asyncio.subprocess.PIPE)
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), 120)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode == 0
    names = [m.group(1) for m in re.finditer(r"^(\w+): ours=\d+/s baseline=\d+/s ratio=[\d.]+$", out.decode(), re.M)]
    assert names == ["append_1x1", "append_1x8", "append_10x1", "read_all"]
