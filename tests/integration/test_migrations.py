"""Migrations: several processes starting at once on an empty database all come up; each migration runs once."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import asyncpg
import pytest

from libs.eventstore import migrate
from libs.eventstore.migrate import _LOCK_KEY, EVENT_STORE

ROOT = Path(__file__).resolve().parents[2]
CONNECT = """
import asyncio, sys
from libs.eventstore import EventStore

async def main():
    store = await EventStore.connect(sys.argv[1], min_size=1, max_size=1)
    await store.close()

asyncio.run(main())
"""


async def start_service(url: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(sys.executable, "-c", CONNECT, url, cwd=ROOT,
                                                stderr=asyncio.subprocess.PIPE)


async def waiting_for_the_lock(conn: asyncpg.Connection) -> int:
    return int(await conn.fetchval(
        """SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database
            WHERE d.datname = current_database() AND l.locktype = 'advisory' AND NOT l.granted"""))


async def test_processes_starting_at_once_migrate_once(database_url: str) -> None:
    gate = await asyncpg.connect(database_url)
    procs = []
    try:
        async with gate.transaction():  # hold the migration lock until both wait on it: a sure race
            await gate.execute("SELECT pg_advisory_xact_lock($1)", _LOCK_KEY)
            procs = [await start_service(database_url) for _ in range(2)]
            for _ in range(1200):
                if await waiting_for_the_lock(gate) == 2:
                    break
                await asyncio.sleep(0.05)
            else:
                raise TimeoutError("the two processes never reached the migration lock")
        results = await asyncio.wait_for(asyncio.gather(*(p.communicate() for p in procs)), 60)
    finally:
        for p in procs:
            if p.returncode is None:
                p.kill()
                await p.wait()
        await gate.close()
    assert [p.returncode for p in procs] == [0, 0], [err.decode() for _, err in results]
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch("SELECT namespace, version, count(*) FROM public.schema_migrations GROUP BY 1, 2")
        assert sorted((r[0], r[1], r[2]) for r in rows) == [("eventstore", v, 1) for v, _ in EVENT_STORE.files()]
        assert await migrate(conn) == []
        assert await conn.fetchval("SELECT count(*) FROM public.schema_migrations") == len(EVENT_STORE.files())
    finally:
        await conn.close()


async def test_a_store_written_before_0002_keeps_its_streams_after_it(database_url: str) -> None:
    """Upgrade: events appended by the 0001 functions (version row) carry on at the right positions under 0002."""
    from libs.eventstore import EventStore, Expected, NewEvent

    conn = await asyncpg.connect(database_url)
    try:
        [first] = EVENT_STORE.files()[:1]
        await conn.execute(first[1].read_text())
        await conn.execute("""SELECT es.append('thing-1', -1, ARRAY[gen_random_uuid(), gen_random_uuid()],
            ARRAY['A', 'B'], ARRAY[1, 1]::smallint[], ARRAY['{}', '{}']::jsonb[], ARRAY['{}', '{}']::jsonb[])""")
        await conn.execute("""CREATE TABLE public.schema_migrations (namespace text NOT NULL, version int NOT NULL,
            name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (namespace, version));
            INSERT INTO public.schema_migrations VALUES ('eventstore', 1, '0001_event_store.sql')""")
    finally:
        await conn.close()
    store = await EventStore.connect(database_url)  # applies 0002
    try:
        assert await store.stream_version("thing-1") == 1
        assert (await store.append("thing-1", [NewEvent("C", {})], 1)).version == 2
        assert (await store.append("thing-2", [NewEvent("D", {})], Expected.NO_STREAM)).version == 0
        assert [e.event_type for e in await store.read_stream("thing-1")] == ["A", "B", "C"]
        assert await store.pool.fetchval("SELECT count(*) FROM es.streams") == 2
    finally:
        await store.close()


@pytest.mark.parametrize(("read_ids", "member_id", "next_id"), [(4321, 7000, 7001), (9000, 7000, 9001)])
async def test_an_upgraded_store_hands_out_ids_above_every_id_in_use(database_url: str, read_ids: int,
                                                                     member_id: int, next_id: int) -> None:
    """0005 moves id allocation from read.ids to es.ids: it carries on above read.ids and above any numeric id the
    events hold (read.ids may have been reset, events never are)."""
    from libs.eventstore import EventStore

    conn = await asyncpg.connect(database_url)
    try:
        before = [f for v, f in EVENT_STORE.files() if v < 5]
        for path in before:
            await conn.execute(path.read_text())
        await conn.execute("""CREATE TABLE public.schema_migrations (namespace text NOT NULL, version int NOT NULL,
            name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (namespace, version))""")
        for v, path in EVENT_STORE.files():
            if v < 5:
                await conn.execute("INSERT INTO public.schema_migrations VALUES ('eventstore', $1, $2)", v, path.name)
        await conn.execute("CREATE SCHEMA read; CREATE SEQUENCE read.ids START WITH 1000")
        await conn.execute("SELECT setval('read.ids', $1)", read_ids)
        await conn.execute("""SELECT es.append('org-1500', -1, ARRAY[gen_random_uuid()], ARRAY['OrgCreated'],
            ARRAY[1]::smallint[], ARRAY[$1::jsonb], ARRAY['{}']::jsonb[])""",
                           f'{{"org_id": 1500, "member_id": {member_id}, "name": "x"}}')
    finally:
        await conn.close()
    store = await EventStore.connect(database_url)  # applies 0005
    try:
        assert await store.next_id() == next_id
    finally:
        await store.close()
