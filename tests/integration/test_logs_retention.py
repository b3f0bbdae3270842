"""Retention by age per kind (whole day partitions dropped) and a deleted studio's lines going with it."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import asyncpg
from nats.aio.client import Client as NATS

from libs.bus.streams import Topology
from libs.eventstore import migrate
from libs.testing.waiting import wait_for
from services.logs.ingest import Row, Writer
from services.logs.main import maintain
from services.logs.partitions import Partitions, partition_name
from services.logs.schema import LOGS
from tests.integration.bus_helpers import nc_fixture, topology_fixture  # noqa: F401
from tests.integration.logs_helpers import logs_settings, running_logs

TODAY = date(2026, 6, 15)


def _row(kind: str, ident: str, day: date, seq: int) -> Row:
    at = datetime(day.year, day.month, day.day, 12, tzinfo=UTC)
    return (kind, ident, 1, at, "user", seq, "stdout", f"{kind} {day}", False, seq + 1)


async def _tables(conn: asyncpg.Connection) -> set[str]:
    rows = await conn.fetch("SELECT relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                            "WHERE n.nspname = 'logs' AND c.relkind = 'r'")
    return {r["relname"] for r in rows}


async def test_partitions_older_than_their_kinds_retention_are_dropped_whole(database_url: str,
                                                                             nats_url: str) -> None:
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=2)
    assert pool is not None
    try:
        async with pool.acquire() as conn:
            await migrate(conn, LOGS)
            writer = Writer(conn, Partitions())  # type: ignore[arg-type]
            days = [TODAY - timedelta(days=n) for n in (40, 31, 30, 1, 0)]
            await writer.write([_row("session", "s", d, i) for i, d in enumerate(days)])
            await writer.write([_row("build", "b", TODAY - timedelta(days=40), 10)])  # a later batch
        settings = logs_settings(database_url, nats_url)  # session: 30 days, build: 90
        partitions = Partitions()
        dropped = await maintain(pool, partitions, settings, TODAY)
        assert sorted(dropped) == sorted(partition_name("session", TODAY - timedelta(days=n)) for n in (40, 31))
        async with pool.acquire() as conn:
            left = [str(r["message"]) for r in await conn.fetch("SELECT message FROM logs.lines ORDER BY created_at")]
            tables = await _tables(conn)
    finally:
        await pool.close()
    assert left == [f"build {TODAY - timedelta(days=40)}",
                    *(f"session {TODAY - timedelta(days=n)}" for n in (30, 1, 0))]
    assert {partition_name(k, TODAY + timedelta(days=n)) for k in ("session", "build", "job") for n in (1, 2)} <= tables


async def test_a_deleted_studios_lines_go_with_it(database_url: str, nats_url: str, nc: NATS,
                                                  topology: Topology) -> None:
    async with running_logs(database_url, nats_url, topology):
        conn = await asyncpg.connect(database_url)
        try:
            writer = Writer(conn, Partitions())
            today = datetime.now(UTC).date()
            await writer.write([_row("session", "gone", today, 0), _row("session", "kept", today, 0)])
            await nc.jetstream().publish(f"{topology.events_prefix}.studio.StudioDeleted", json.dumps(
                {"session_id": "gone", "workspace_id": "1", "name": "x", "at": datetime.now(UTC).isoformat(),
                 "actor": "u"}).encode())
            await wait_for(lambda: conn.fetchval("SELECT count(*) FROM logs.lines WHERE id = 'gone'"),
                           until=lambda n: n == 0, what="the deleted studio's lines gone")
            assert await conn.fetchval("SELECT count(*) FROM logs.lines WHERE id = 'kept'") == 1
        finally:
            await conn.close()
