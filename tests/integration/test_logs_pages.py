"""A query's page serialised by PostgreSQL (``services.logs.pages``): the same lines, byte for byte as JSON, as the
rows read in Python would give, and cut at its byte budget with the cursor to read on from."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg
import orjson
from nats.aio.client import Client as NATS

from libs.bus.streams import Topology
from libs.contracts.logs import QueryLogs
from libs.eventstore import migrate
from services.gateway.logs import LogsClient
from services.logs.ingest import Row, Writer
from services.logs.pages import read_page
from services.logs.partitions import Partitions
from services.logs.queries import read_lines
from services.logs.schema import LOGS
from tests.integration.bus_helpers import nc_fixture, topology_fixture  # noqa: F401
from tests.integration.logs_helpers import running_logs

AT = datetime(2026, 5, 4, 23, 59, 59, tzinfo=UTC)
#: What JSON must escape, what it must not mangle, and a NUL-free control character.
MESSAGES = ["plain", 'a "quoted" \\ back\\slash', "tab\tnew\nline\r", "\x01\x1f bell\x07", "é ü 日本 😀", "",
            "</script>"]


def _rows(ident: str, n: int) -> list[Row]:
    out: list[Row] = []
    for i in range(n):
        at = AT + timedelta(microseconds=0 if i % 3 == 0 else 1000 * i + 7) + timedelta(seconds=i)  # 0 fraction too
        source, stream = ("system", "stdout") if i % 4 == 0 else ("user", "stderr" if i % 2 else "stdout")
        out.append(("session", ident, 1, at, source, i, stream, MESSAGES[i % len(MESSAGES)], i == n - 1, i + 1))
    return out


async def _store(database_url: str, ident: str, n: int) -> asyncpg.Connection:
    conn = await asyncpg.connect(database_url)
    await migrate(conn, LOGS)
    await Writer(conn, Partitions()).write(_rows(ident, n))  # type: ignore[arg-type]
    return conn


async def test_the_page_postgresql_serialises_is_the_lines_python_reads(database_url: str) -> None:
    conn = await _store(database_url, "page-same", 40)
    try:
        first = (await read_lines(conn, QueryLogs(id="page-same"), 1))["lines"]
        queries = [QueryLogs(id="page-same"), QueryLogs(id="page-same", limit=7),
                   QueryLogs(id="page-same", start_at=AT + timedelta(seconds=5), limit=9),
                   QueryLogs(id="page-same", after=first[10]["id"]), QueryLogs(id="page-same", source="user"),
                   QueryLogs(id="page-same", stream="stderr", end_at=AT + timedelta(seconds=30))]
        for q in queries:
            expected = (await read_lines(conn, q, 1, reply_bytes=1 << 30))["lines"]
            page, after = await read_page(conn, q, 1, budget=1 << 30)
            assert orjson.loads(page) == expected, q
            assert after is None
        assert first[-1]["final"] is True and "final" not in first[0]
        assert {line["message"] for line in first} == set(MESSAGES)
        empty, after = await read_page(conn, QueryLogs(id="nobody"), 1)
        assert (orjson.loads(empty), after) == ([], None)
    finally:
        await conn.close()


async def test_a_page_stops_at_its_byte_budget_and_reading_on_from_its_cursor_misses_nothing(
        database_url: str) -> None:
    conn = await _store(database_url, "page-cut", 300)
    try:
        expected = (await read_lines(conn, QueryLogs(id="page-cut"), 1, reply_bytes=1 << 30))["lines"]
        got: list[dict[str, object]] = []
        q = QueryLogs(id="page-cut")
        while True:
            page, after = await read_page(conn, q, 1, budget=2000)
            assert len(page) <= 2000
            lines = orjson.loads(page)
            got.extend(lines)
            if after is None:
                break
            assert after == lines[-1]["id"]
            q = QueryLogs(id="page-cut", after=after, limit=q.limit - len(lines))
        assert got == expected
    finally:
        await conn.close()


async def test_a_line_bigger_than_the_budget_still_comes_alone(database_url: str) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        await migrate(conn, LOGS)
        rows: list[Row] = [("session", "page-big", 1, AT + timedelta(seconds=i), "user", i, "stdout", "y" * 5000,
                            False, i + 1) for i in range(3)]
        await Writer(conn, Partitions()).write(rows)  # type: ignore[arg-type]
        page, after = await read_page(conn, QueryLogs(id="page-big"), 1, budget=1000)
        lines = orjson.loads(page)
        assert len(lines) == 1 and lines[0]["message"] == "y" * 5000 and after == lines[0]["id"]
    finally:
        await conn.close()


async def test_a_tail_bigger_than_one_reply_comes_whole_through_the_service_in_several(
        database_url: str, nats_url: str, nc: NATS, topology: Topology) -> None:
    conn = await _store(database_url, "page-many", 3000)  # about 500 KB of JSON: eight replies of 64 KiB
    try:
        expected = (await read_lines(conn, QueryLogs(id="page-many"), 1, reply_bytes=1 << 30))["lines"]
        async with running_logs(database_url, nats_url, topology, STUDIOS_LOGS_REPLY_BYTES=64 * 1024):
            one, _ = await read_page(conn, QueryLogs(id="page-many"), 1, budget=64 * 1024)
            assert 0 < len(orjson.loads(one)) < 3000  # so the service had to answer in several replies
            got = await LogsClient(nc, topology).query(QueryLogs(id="page-many"))
        assert got["run"] == 1 and got["lines"] == expected and len(expected) == 3000
    finally:
        await conn.close()
