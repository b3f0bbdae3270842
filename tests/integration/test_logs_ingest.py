"""Log lines from the producer helper through JetStream ``LOGS`` into ``logs.lines`` and back out of a query."""

from __future__ import annotations

import json
from pathlib import Path

import asyncpg
import pytest
from nats.aio.client import Client as NATS

from libs.bus.commands import CommandClient
from libs.bus.streams import Topology
from libs.contracts.errors import InvalidInput
from libs.contracts.logs import QueryLogs
from libs.logs import RunLog
from libs.testing.waiting import wait_for
from services.logs.ingest import Writer
from services.logs.partitions import Partitions
from tests.integration.bus_helpers import nc_fixture, topology_fixture  # noqa: F401
from tests.integration.logs_helpers import publisher, read_all, running_logs


async def test_lines_arrive_once_in_order_per_source(database_url: str, nats_url: str, nc: NATS,
                                                     topology: Topology, tmp_path: Path) -> None:
    async with running_logs(database_url, nats_url, topology), publisher(nc, topology, tmp_path / "spool") as pub:
        user = RunLog(pub, "session", "s1", 1, first_seq=0)
        system = RunLog.system(pub, "session", "s1", 1)
        for i in range(3000):
            user.write(f"out {i}", "stderr" if i % 7 == 0 else "stdout")
            if i % 100 == 0:
                system.write(f"step {i}")
        RunLog(pub, "session", "s1", 2, first_seq=0).write("second run")
        assert await pub.flush()
        lines = await wait_for(lambda: _all_when(nc, "s1", 1, 3030), what="3030 lines of run 1 stored")
    users = [x["message"] for x in lines if x["source"] == "user"]
    systems = [x["message"] for x in lines if x["source"] == "system"]
    assert users == [f"out {i}" for i in range(3000)]
    assert systems == [f"step {i}" for i in range(0, 3000, 100)]
    assert {x["stream"] for x in lines if x["message"] == "out 7"} == {"stderr"}
    assert len({x["id"] for x in lines}) == 3030


async def _all_when(nc: NATS, sid: str, run: int, n: int) -> list[dict[str, object]] | None:
    lines = await read_all(nc, sid, run)
    return lines if len(lines) >= n else None


async def test_latest_run_is_the_default_and_a_line_over_64_kib_is_split(
        database_url: str, nats_url: str, nc: NATS, topology: Topology, tmp_path: Path) -> None:
    async with running_logs(database_url, nats_url, topology), publisher(nc, topology, tmp_path / "spool") as pub:
        RunLog(pub, "session", "s2", 1, first_seq=0).write("old run")
        RunLog(pub, "session", "s2", 2, first_seq=0).write("é" * 70_000)  # 140,000 bytes
        assert await pub.flush()
        client = CommandClient(nc)
        reply = await wait_for(lambda: _reply_when(client, QueryLogs(id="s2"), 3), what="run 2 stored")
    assert reply["run"] == 2
    assert "".join(x["message"] for x in reply["lines"]) == "é" * 70_000
    assert all(len(x["message"].encode()) <= 64 * 1024 for x in reply["lines"])


async def _reply_when(client: CommandClient, q: QueryLogs, n: int) -> dict[str, object] | None:
    result = (await client.send(q)).result or {}
    return result if len(result.get("lines", [])) >= n else None


async def test_a_redelivered_batch_inserts_nothing_twice(database_url: str) -> None:
    from datetime import UTC, datetime

    from libs.eventstore import migrate
    from services.logs.schema import LOGS

    conn = await asyncpg.connect(database_url)
    try:
        await migrate(conn, LOGS)
        writer = Writer(conn, Partitions())
        at = datetime.now(UTC)
        rows = [("session", "s3", 1, at, "user", i, "stdout", f"l{i}", False, i + 1) for i in range(500)]
        await writer.write(rows)
        await writer.write([*rows[250:], ("session", "s3", 1, at, "user", 500, "stdout", "l500", False, 501)])
        assert await conn.fetchval("SELECT count(*) FROM logs.lines WHERE id = 's3'") == 501
    finally:
        await conn.close()


async def test_a_line_published_twice_is_stored_once(database_url: str) -> None:
    """A producer's republish outside JetStream's duplicate window is a new stream message with the same key:
    the per-(run, source, stream) mark drops it, and a new line after it is stored."""
    from datetime import UTC, datetime

    from libs.eventstore import migrate
    from services.logs.schema import LOGS

    conn = await asyncpg.connect(database_url)
    try:
        await migrate(conn, LOGS)
        at = datetime.now(UTC)
        rows = [("session", "s4", 1, at, "user", i, "stderr" if i % 2 else "stdout", f"l{i}", False, i + 1)
                for i in range(100)]
        assert await Writer(conn, Partitions()).write(rows) == 100
        again = [(*r[:9], r[9] + 100) for r in rows[50:]]  # the same lines, later in the stream
        new = ("session", "s4", 1, at, "user", 100, "stdout", "l100", False, 201)
        assert await Writer(conn, Partitions()).write([*again, new]) == 1  # a new writer: the marks are stored
        assert await conn.fetchval("SELECT count(*) FROM logs.lines WHERE id = 's4'") == 101
    finally:
        await conn.close()


async def test_invalid_queries_are_refused(database_url: str, nats_url: str, nc: NATS, topology: Topology) -> None:
    from datetime import UTC, datetime, timedelta

    now = datetime.now(UTC)
    with pytest.raises(ValueError):
        QueryLogs(id="s", start_at=now, end_at=now - timedelta(seconds=1))
    for limit in (0, 10_001):
        with pytest.raises(ValueError):
            QueryLogs(id="s", limit=limit)
    async with running_logs(database_url, nats_url, topology):
        msg = await nc.request("studios.cmd.logs.query_logs", b'{"id": "s", "limit": 0}', timeout=10)
    reply = json.loads(msg.data)
    assert reply["ok"] is False and reply["error"]["code"] == InvalidInput.code
