"""1,000,000 lines from 50 concurrent sessions (and a system line per 40 of theirs) arrive exactly once and in
per-source order, with the logs service killed with SIGKILL twice during ingestion (issue 9's must-hold)."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import asyncpg
import pytest
from nats.aio.client import Client as NATS

from libs.bus.streams import Topology, delete_streams, ensure_streams
from libs.logs import RunLog
from libs.testing.waiting import wait_for
from tests.integration.bus_helpers import ROOT, nc_fixture  # noqa: F401
from tests.integration.logs_helpers import publisher
from tests.integration.workers.logs_worker import args_for

SESSIONS = 50
LINES_PER_SESSION = 20_000  # 1,000,000 user lines in all
SYSTEM_EVERY = 40  # one system line per 40 user lines: a second source per session, with its own order


@pytest.fixture(name="topology")
async def big_topology(nc: NATS) -> AsyncIterator[Topology]:
    """A test topology whose ``LOGS`` holds the million lines (a test one keeps 64 MiB)."""
    t = replace(Topology.unique(), logs_max_bytes=1024**3)
    await ensure_streams(nc.jetstream(), t)
    try:
        yield t
    finally:
        await delete_streams(nc.jetstream(), t)


def _spawn(database_url: str, nats_url: str, topology: Topology, log: Path) -> subprocess.Popen[bytes]:
    args = [sys.executable, "-u", "-m", "tests.integration.workers.logs_worker", "--database-url", database_url,
            "--nats-url", nats_url, "--batch", "1000", "--ack-wait", "3", *args_for(topology)]
    return subprocess.Popen(args, cwd=ROOT, stdout=log.open("ab"), stderr=subprocess.STDOUT)


async def _stored(conn: asyncpg.Connection) -> int:
    return int(await conn.fetchval("SELECT count(*) FROM logs.lines") or 0)


async def test_lines_arrive_exactly_once_in_order_despite_two_sigkills(
        database_url: str, nats_url: str, nc: NATS, topology: Topology, tmp_path: Path) -> None:
    total_user = SESSIONS * LINES_PER_SESSION
    total = total_user + SESSIONS * (LINES_PER_SESSION // SYSTEM_EVERY)
    async with publisher(nc, topology, tmp_path / "spool", memory_lines=total + 10) as pub:
        users = [RunLog(pub, "session", f"k{s}", 1, first_seq=0) for s in range(SESSIONS)]
        systems = [RunLog.system(pub, "session", f"k{s}", 1) for s in range(SESSIONS)]
        for i in range(LINES_PER_SESSION):  # the sessions interleave, as concurrent ones do on the bus
            for s in range(SESSIONS):
                users[s].write(f"u {s} {i}", "stderr" if i % 5 == 0 else "stdout")
                if i % SYSTEM_EVERY == 0:
                    systems[s].write(f"s {s} {i}")
        assert await pub.flush(300)
    log = tmp_path / "worker.log"
    worker = _spawn(database_url, nats_url, topology, log)
    conn = await asyncpg.connect(database_url)
    try:
        for fraction in (0.2, 0.6):  # SIGKILL mid-ingestion, twice, then let a third process finish
            enough = total * fraction
            await wait_for(lambda: _stored_if_migrated(conn), until=lambda n, at=enough: n is not None and n >= at,
                           within=300, what=f"{fraction:.0%} of the lines stored")
            worker.send_signal(signal.SIGKILL)
            worker.wait(10)
            worker = _spawn(database_url, nats_url, topology, log)
        await wait_for(lambda: _stored(conn), until=lambda n: n >= total, within=300, what="every line stored")
        rows = await conn.fetch("SELECT id, source, seq, message FROM logs.lines "
                                "ORDER BY id, created_at, source, seq")
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(30)
        await conn.close()
    assert len(rows) == total  # exactly once: nothing lost, nothing twice (the key holds the rest)
    assert len({r["message"] for r in rows}) == total
    seen: dict[tuple[str, str], list[int]] = {}
    for r in rows:
        _, s, i = r["message"].split()
        seen.setdefault((r["id"], r["source"]), []).append(int(i))
    for (sid, source), order in seen.items():  # per-source order: read in the store's order, as queries do
        step = 1 if source == "user" else SYSTEM_EVERY
        assert order == list(range(0, LINES_PER_SESSION, step)), (sid, source)
    assert len(seen) == 2 * SESSIONS


async def _stored_if_migrated(conn: asyncpg.Connection) -> int | None:
    try:
        return await _stored(conn)
    except asyncpg.UndefinedTableError:
        return None  # the first worker has not applied the schema yet
