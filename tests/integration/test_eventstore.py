"""What only the PostgreSQL store can show: appends in a caller's transaction, per-connection settings, the
position index as the last line of defence, the benchmark. The store's contract (expected versions, idempotency,
atomicity, reads, reservations) runs against both stores in ``test_eventstore_contract.py``."""

from __future__ import annotations

import asyncio
import os
import re
import sys
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from libs.eventstore import AppendRequest, EventStore, NewEvent, TransactionHasId, WrongExpectedVersion

ROOT = Path(__file__).resolve().parents[2]


def events(n: int, kind: str = "ThingHappened") -> list[NewEvent]:
    return [NewEvent(kind, {"i": i}) for i in range(n)]


# -- stored events as read ----------------------------------------------------------------------------------------


async def test_a_read_event_parses_its_data_once_and_equals_the_same_event_read_again(store: EventStore) -> None:
    await store.append("thing-1", [NewEvent("A", {"n": 1}, {"actor": "user-7"})])
    first, = await store.read_all()
    again, = await store.read_stream("thing-1")
    assert first.data is first.data and first.metadata is first.metadata  # parsed on first access, then kept
    assert first.data == {"n": 1} and first.metadata == {"actor": "user-7"}
    assert first == again and hash(first) == hash(again) and first is not again  # by event id
    assert (first.category, first.position) == ("thing", again.position)
    assert repr(first).startswith("RecordedEvent(thing-1@0, A, ")


# -- appends in a caller's transaction --------------------------------------------------------------------------


async def test_an_append_in_a_caller_transaction_that_has_not_written_commits_with_it(store: EventStore) -> None:
    async with store.pool.acquire() as conn:
        async with conn.transaction():
            await store.append_many([AppendRequest("thing-1", events(1)), AppendRequest("other-1", events(1))],
                                    conn=conn)  # several streams: one append_many, all its locks first
            assert await store.stream_version("thing-1") == -1  # not committed yet
        assert await store.stream_version("thing-1") == await store.stream_version("other-1") == 0
    async with store.pool.acquire() as conn, conn.transaction():
        await store.append("thing-1", events(1), conn=conn)
    assert await store.stream_version("thing-1") == 1


async def test_an_append_in_a_transaction_that_already_has_an_id_is_refused(store: EventStore) -> None:
    """Its events would commit out of horizon order: refused with a clear error, nothing stored, the caller's
    transaction still usable."""
    await store.pool.execute("CREATE TABLE scratch (n int)")
    async with store.pool.acquire() as conn:
        async with conn.transaction():
            await conn.execute("INSERT INTO scratch VALUES (1)")  # the transaction has an id now
            for append in (lambda: store.append("thing-1", events(1), conn=conn),
                           lambda: store.append_many([AppendRequest("thing-1", events(1))], conn=conn)):
                with pytest.raises(TransactionHasId, match="already has a transaction id"):
                    await append()
            await store.append("thing-1", events(1), conn=None)  # the store's own connection is fine
        with pytest.raises(TransactionHasId):
            async with conn.transaction():
                await store.append("a-1", events(1), conn=conn)
                await store.append("b-1", events(1), conn=conn)  # a second append: use append_many
    assert await store.stream_version("thing-1") == 0
    assert await store.stream_version("a-1") == -1  # rolled back with the caller's transaction
    assert await store.pool.fetchval("SELECT count(*) FROM scratch") == 1


# -- per-connection server settings ------------------------------------------------------------------------------


async def settings_of(conn: Any) -> tuple[str, str]:
    return (await conn.fetchval("SHOW idle_in_transaction_session_timeout"),
            await conn.fetchval("SHOW statement_timeout"))


async def test_pool_and_writer_connections_carry_the_timeouts(store: EventStore) -> None:
    """Set per connection (startup parameters), so any server DATABASE_URL names gets them, not only ours."""
    async with store.pool.acquire() as conn:
        assert await settings_of(conn) == ("1min", "1min")
        await conn.execute("RESET ALL")  # what a pool's default reset would do: the startup values stay
        assert await settings_of(conn) == ("1min", "1min")
    assert store._writers is not None
    assert await store._writers.run(settings_of) == ("1min", "1min")


async def test_the_dsn_and_the_caller_override_the_timeouts(database_url: str) -> None:
    store = await EventStore.connect(f"{database_url}?statement_timeout=5s",
                                     server_settings={"idle_in_transaction_session_timeout": "7s",
                                                      "statement_timeout": "9s"})
    try:
        async with store.pool.acquire() as conn:
            assert await settings_of(conn) == ("7s", "5s")  # the DSN wins over the caller, the caller over ours
        assert store._writers is not None
        assert await store._writers.run(settings_of) == ("7s", "5s")
    finally:
        await store.close()


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
