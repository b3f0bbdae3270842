"""Log ingestion and reads (issue 9), each figure beside its baseline in the same run:

- ingestion of 100-byte lines, ours end to end (JetStream ``LOGS`` -> ``Ingestor`` -> ``logs.lines``) beside a raw
  COPY of the same rows into the same table (target: >= 0.5x and >= 100,000 lines/s); the lines are on the stream
  as ``LogPublisher`` puts them there (packed by subject), and again one line a message for comparison;
- publish -> visible in a follow stream (``LogsClient.follow``), p50/p99, beside a bare core-NATS subscriber of
  the same subject (target p99 < 250 ms);
- the last 10,000 lines of one session among ``--rows`` stored (target < 100 ms), beside the same query without
  the index (a full scan and sort);
- dropping a day's partition beside deleting the same rows;
- a tool printing as fast as it can: its run time while its output is followed into ``LOGS``, beside the same tool
  writing to /dev/null and into a pipe drained by ``cat`` (the tool writes to a file, never to a pipe of ours, so
  it is not held back by us), buffered and with ``python -u``.

``python -m bench.logs [--events N] [--rows M] [--parts ingest,follow,tail,drop,tool]`` (defaults: 200,000 lines
ingested, 10,000,000 rows stored as the issue asks; loading them takes a few minutes, ``--rows`` fewer for a quick
look).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from tempfile import mkdtemp
from typing import Any

import asyncpg
import nats

from bench.common import Stopwatch, infrastructure, parse_args, report, scratch_database
from libs.bus.streams import Topology, delete_streams, ensure_streams
from libs.contracts.errors import Unavailable
from libs.contracts.logs import QueryLogs
from libs.eventstore import migrate
from libs.logs import LogPublisher, RunLog
from libs.logs.lines import LogLine, packs
from libs.logs.publisher import BATCH as PUBLISH_BATCH
from services.gateway.logs import LogsClient
from services.logs.ingest import COLUMNS, Ingestor, Row
from services.logs.pages import read_page
from services.logs.partitions import Partitions
from services.logs.queries import read_lines
from services.logs.schema import LOGS

MESSAGE = "x" * 100


def durations(name: str, ours: float, baseline: float, unit: str = "ms") -> None:
    print(f"{name}: ours={ours:.1f} {unit} baseline={baseline:.1f} {unit} ratio={baseline / ours:.1f}x", flush=True)


async def ingestion(db: str, nats_url: str, n: int, rounds: int = 3) -> None:
    """Ours and the raw COPY in alternating rounds (the machine's load drifts), each on the same lines."""
    ours: list[float] = []
    raw: list[float] = []
    single: list[float] = []
    for r in range(rounds):
        ours.append(await _ingest_round(db, nats_url, n, r))
        raw.append(await _raw_round(db, n, r))
        single.append(await _ingest_round(db, nats_url, n, r, packed=False))
        print(f"  round {r + 1}: ours={ours[-1]:.0f}/s raw COPY={raw[-1]:.0f}/s "
              f"(one line a message: {single[-1]:.0f}/s)", flush=True)
    report("logs ingestion, JetStream to table (ours) vs raw COPY", statistics.median(ours), statistics.median(raw))
    report("  the same with one line a JetStream message (no packing) vs raw COPY", statistics.median(single),
           statistics.median(raw))


def _rows(n: int, tag: str) -> list[Row]:
    """The lines one round carries, as the table's rows: 50 sessions interleaved, 100-byte messages."""
    now = datetime.now(UTC)
    return [("session", f"{tag}{i % 50}", 1, now + timedelta(microseconds=i), "user", i // 50, "stdout", MESSAGE,
             False, i + 1) for i in range(n)]


async def _ingest_round(db: str, nats_url: str, n: int, r: int, packed: bool = True) -> float:
    """Publish ``n`` lines into a fresh ``LOGS`` (untimed) as ``LogPublisher`` sends them (each batch of
    ``PUBLISH_BATCH`` packed by subject; ``packed=False``: one line a message), then time the drain until all are in
    the table."""
    nc = await nats.connect(nats_url)
    topology = replace(Topology.unique("bl"), logs_max_bytes=4 * 1024**3)  # a test topology keeps only 64 MiB
    js = nc.jetstream()
    await ensure_streams(js, topology)
    tag = f"ing{r}{'p' if packed else 's'}-"
    lines = [LogLine(k, i, run, src, seq, stream, msg, at) for k, i, run, at, src, seq, stream, msg, _, _
             in _rows(n, tag)]
    records = [(x.subject(topology.logs_prefix), x.payload()) for x in lines]
    messages = [m for i in range(0, n, PUBLISH_BATCH) for m in packs(records[i:i + PUBLISH_BATCH])] if packed \
        else [(subject, payload, 1) for subject, payload in records]
    with Stopwatch() as published:  # core publishes (the stream captures them), then until all are stored
        for subject, payload, _ in messages:
            await nc.publish(subject, payload)  # as LogPublisher: no header
        await nc.flush()
        while (await js.stream_info(topology.logs_stream)).state.messages < len(messages):  # noqa: ASYNC110
            await asyncio.sleep(0.05)
    print(f"  published {n} lines as {len(messages)} messages in {published.seconds:.1f} s (untimed)", flush=True)
    ingestor = Ingestor(db, js, topology, Partitions())
    stop = asyncio.Event()
    with Stopwatch() as drained:
        task = asyncio.create_task(ingestor.run(stop))
        while ingestor.committed < n and not task.done():  # noqa: ASYNC110 - 5 ms off at most
            await asyncio.sleep(0.005)
    stop.set()
    await task
    conn = await asyncpg.connect(db)
    stored = await conn.fetchval("SELECT count(*) FROM logs.lines WHERE id LIKE $1", f"{tag}%")
    await conn.close()
    assert stored == n, (stored, n)
    await delete_streams(js, topology)
    await nc.close()
    return drained.rate(n)


async def _raw_round(db: str, n: int, r: int, batch: int = 5000) -> float:
    """The same lines COPYed into the same table (through its parent, as a plain loader would), a transaction
    per batch of the ingestor's size."""
    rows = _rows(n, f"raw{r}-")
    conn = await asyncpg.connect(db)
    with Stopwatch() as t:
        for i in range(0, n, batch):
            async with conn.transaction():
                await conn.copy_records_to_table("lines", schema_name="logs", records=rows[i:i + batch],
                                                 columns=COLUMNS)
    await conn.close()
    return t.rate(n)


async def follow_latency(nats_url: str, db: str, lines: int = 400) -> None:
    nc = await nats.connect(nats_url)
    topology = Topology.unique("bf")
    await ensure_streams(nc.jetstream(), topology)
    ingestor = Ingestor(db, nc.jetstream(), topology, Partitions())  # the follow's replay asks for its floor
    stop = asyncio.Event()
    ingesting = asyncio.create_task(ingestor.run(stop))
    from libs.bus.broker import make_broker
    from services.logs.handlers import LogQueries

    broker = make_broker(nats_url, name="bench-logs", quiet=True)
    pool = await asyncpg.create_pool(db, min_size=1, max_size=2)
    assert pool is not None
    await broker.connect()
    LogQueries(pool, broker.js, topology).serve(broker)
    await broker.start()
    sent: dict[int, float] = {}
    seen: dict[int, float] = {}
    bare: dict[int, float] = {}

    sub = await nc.subscribe(f"{topology.logs_prefix}.session.lat")
    sub_task = asyncio.create_task(_drain(sub, bare))

    async def never_over(run: int) -> bool:
        return False

    async def follow() -> None:
        async for line in LogsClient(nc, topology).follow(QueryLogs(id="lat"), 1, never_over):
            if line.get("final"):
                return
            seen[len(seen)] = time.perf_counter()

    follower = asyncio.create_task(follow())
    while (await nc.jetstream().stream_info(topology.logs_stream)).state.consumer_count < 2:  # noqa: ASYNC110
        await asyncio.sleep(0.01)  # until the follower tails LOGS (the ingestor's consumer is the other one)
    pub = LogPublisher(nc.jetstream(), Path(mkdtemp()) / "spool", prefix=topology.logs_prefix, batch=1)
    pub.start()
    log = RunLog(pub, "session", "lat", 1, first_seq=0)
    for i in range(lines):
        sent[i] = time.perf_counter()
        log.write(f"line {i}")
        await asyncio.sleep(0.005)
    log.close(final=True, message="end")
    await asyncio.wait_for(follower, 60)
    ours = sorted((seen[i] - sent[i]) * 1000 for i in range(lines))
    base = sorted((bare[i] - sent[i]) * 1000 for i in range(lines) if i in bare)
    for q, name in ((0.5, "p50"), (0.99, "p99")):
        durations(f"logs publish -> follow stream {name}", ours[int(q * (len(ours) - 1))],
                  base[int(q * (len(base) - 1))])
    sub_task.cancel()
    stop.set()
    await ingesting
    await pub.close()
    await broker.stop()
    await pool.close()
    await delete_streams(nc.jetstream(), topology)
    await nc.close()


async def _drain(sub: Any, into: dict[int, float]) -> None:
    async for _ in sub.messages:
        into[len(into)] = time.perf_counter()


#: 10 M rows laid out as the ingestor writes them: batches of 5,000 lines of 100 sessions interleaved, each batch
#: sorted by session (``writer.py``). Row ``g`` is line ``i`` of the interleaved feed (``created_at`` ``i`` ms).
_BULK = """INSERT INTO logs.lines (kind, id, run, created_at, source, seq, stream, message, final, js_seq)
           SELECT 'session', 'q' || (g % 5000 / 50), 1, $1::timestamptz + i * interval '1 ms', 'user', i / 100,
                  'stdout', repeat('x', 100), false, i + 1
           FROM (SELECT g, g / 5000 * 5000 + g % 50 * 100 + g % 5000 / 50 AS i
                 FROM generate_series(0, $2::bigint - 1) g) t ORDER BY g"""


async def tail_query(db: str, rows: int, nats_url: str) -> None:
    """The last 10,000 lines of one session among ``rows``: as the gateway asks (``LogsClient.query`` over
    request/reply, paging past the reply size), beside the same SQL on a bare connection."""
    from libs.bus.broker import make_broker
    from services.logs.handlers import LogQueries

    conn = await asyncpg.connect(db, command_timeout=3600)
    base = datetime(2026, 3, 1, tzinfo=UTC)
    span = max(1, rows // 86_400_000 + 1)
    await Partitions().ensure(conn, [("session", (base + timedelta(days=d)).date()) for d in range(span + 1)])
    with Stopwatch() as loaded:
        await conn.execute(_BULK, base, rows)
        await conn.execute("VACUUM ANALYZE logs.lines")
    print(f"  ({rows} rows bulk-loaded in {loaded.seconds:.0f} s, untimed)", flush=True)
    nc = await nats.connect(nats_url)
    topology = Topology.unique("bq")
    broker = make_broker(nats_url, name="bench-logs-q", quiet=True)
    pool = await asyncpg.create_pool(db, min_size=1, max_size=2)
    assert pool is not None
    await broker.connect()
    LogQueries(pool, broker.js, topology).serve(broker)
    await broker.start()
    client, q = LogsClient(nc, topology), QueryLogs(id="q7")
    for _ in range(100):  # FastStream starts subscribers in no fixed order: until the query subject answers
        try:
            await client.query(q)
            break
        except Unavailable:
            await asyncio.sleep(0.1)
    ours: list[float] = []
    bare: list[float] = []
    page: list[float] = []
    got: dict[str, Any] = {}
    for _ in range(7):  # alternating, after one warm-up of each
        with Stopwatch() as t:
            got = await client.query(q)
        ours.append(t.seconds * 1000)
        with Stopwatch() as t:
            plain = await read_lines(conn, q, 1, reply_bytes=1 << 30)
        bare.append(t.seconds * 1000)
        with Stopwatch() as t:
            await read_page(conn, q, 1, budget=1 << 30)
        page.append(t.seconds * 1000)
    async with conn.transaction():  # the plan the service's read runs (queries.fetch)
        await conn.execute("SET LOCAL enable_bitmapscan = off")
        plan = await conn.fetch("EXPLAIN (ANALYZE) SELECT * FROM (SELECT created_at, source, seq FROM logs.lines "
                                "WHERE kind = 'session' AND id = 'q7' AND run = 1 ORDER BY created_at DESC, "
                                "source DESC, seq DESC LIMIT 10000) t ORDER BY created_at, source, seq")
    print("  plan: " + "; ".join(r[0].strip() for r in plan if "Scan" in r[0] or "Execution" in r[0]))
    stored = await conn.fetchval("SELECT count(*) FROM logs.lines WHERE kind = 'session' AND id = 'q7'")
    assert len(got["lines"]) == 10_000 and got["lines"] == plain["lines"], "the two reads differ"
    print(f"  ({rows} rows stored, {stored} of them the session's, {len(got['lines'])} read; the page SQL alone, "
          f"serialised by PostgreSQL, on a bare connection: {statistics.median(page[1:]):.1f} ms; the server's "
          f"max_payload {nc.max_payload} bytes)")
    durations(f"logs last 10,000 lines of one session among {rows}, through request/reply (ours) vs bare SQL",
              statistics.median(ours[1:]), statistics.median(bare[1:]))
    await broker.stop()
    await pool.close()
    await nc.close()
    await conn.close()


async def drop_partition(db: str, rows: int) -> None:
    conn = await asyncpg.connect(db, command_timeout=600)
    days = [datetime(2027, 1, d, tzinfo=UTC) for d in (1, 2)]
    await Partitions().ensure(conn, [("job", d.date()) for d in days])
    for d in days:
        await conn.execute("""INSERT INTO logs.lines SELECT 'job', 'j' || (g % 100), 1, $1::timestamptz
                              + g * interval '1 ms', 'user', g, 'stdout', repeat('x', 100), false, g
                              FROM generate_series(1, $2::bigint) g""", d, rows)
    with Stopwatch() as dropped:
        await Partitions().drop(conn, "job", days[0].date())
    with Stopwatch() as deleted:
        await conn.execute("DELETE FROM logs.lines WHERE kind = 'job' AND created_at >= $1 AND created_at < $2",
                           days[1], days[1] + timedelta(days=1))
    durations(f"logs drop a day's partition ({rows} rows) vs DELETE of them", dropped.seconds * 1000,
              deleted.seconds * 1000)
    await conn.close()


#: The tool times itself (on stderr), so the figure is its own run time, not when we noticed it had ended.
TOOL = ("import sys, time\nt = time.perf_counter()\nw = sys.stdout.write\nfor i in range({n}):\n"
        "    w('x' * 99 + '\\n')\nsys.stdout.flush()\nsys.stderr.write(str(time.perf_counter() - t))\n")


async def _timed_tool(code: str, unbuffered: bool, stdout: Any) -> float:
    """The tool's own run time, its stdout to ``stdout`` (a file object or descriptor)."""
    import os
    import subprocess
    import sys

    # The environment decides the tool's buffering (PYTHONUNBUFFERED=1, set on some machines, makes every line a
    # write(2)): both shapes are measured on purpose, never left to whoever runs the benchmark.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    args = [sys.executable, *(["-u"] if unbuffered else []), "-c", code]
    proc = await asyncio.create_subprocess_exec(*args, stdout=stdout, stderr=subprocess.PIPE, env=env)
    return float((await proc.communicate())[1])


async def _to_a_pipe(code: str, unbuffered: bool, into: Path) -> float:
    """The tool's stdout into a pipe that ``cat`` drains into a file: what a pipe itself allows."""
    import os

    r, w = os.pipe()
    with into.open("wb") as out:
        cat = await asyncio.create_subprocess_exec("cat", stdin=r, stdout=out)
    os.close(r)
    try:
        return await _timed_tool(code, unbuffered, w)
    finally:
        os.close(w)
        await cat.wait()


async def _followed(code: str, unbuffered: bool, pub: LogPublisher, run: int) -> tuple[float, float]:
    """The tool's stdout into its file while a ``FileTail`` forwards it to ``LOGS``, as lifecycle does; its run
    time and how long forwarding took to catch up after it ended."""
    from libs.logs.tail import FileTail

    path = Path(mkdtemp()) / "tool.log"
    tail = FileTail(path, RunLog(pub, "session", "fast", run, first_seq=0))
    with path.open("wb") as out:
        timing = asyncio.ensure_future(_timed_tool(code, unbuffered, out))
        while not timing.done():
            await asyncio.to_thread(tail.poll)  # following it as lifecycle does, meanwhile
            await asyncio.sleep(0.05)
    with Stopwatch() as caught_up:
        tail.finish()
        await pub.flush(600)
    return timing.result(), caught_up.seconds


async def tool_speed(nats_url: str, n: int = 200_000, rounds: int = 5) -> None:
    """A tool printing ``n`` 100-byte lines as fast as it can, its stdout followed into ``LOGS`` (ours), beside
    the same tool writing to /dev/null, into a pipe drained by ``cat`` (what a pipe itself allows) and into a file
    nobody follows (what the file itself allows: lifecycle gives a tool a file, not a pipe), in alternating rounds;
    medians. Twice: with Python's block-buffered stdout (a write(2) per 8 KiB, as a tool's
    stdio does when its output is not a terminal) and with ``python -u`` (a write(2) per line)."""
    code = TOOL.format(n=n)
    nc = await nats.connect(nats_url)
    topology = replace(Topology.unique("bt"), logs_max_bytes=4 * 1024**3)
    await ensure_streams(nc.jetstream(), topology)
    pub = LogPublisher(nc.jetstream(), Path(mkdtemp()) / "spool", prefix=topology.logs_prefix)
    pub.start()
    run = 0
    for unbuffered in (False, True):
        null, pipe, file, ours, behind = [], [], [], [], []
        for _ in range(rounds):
            null.append(await _timed_tool(code, unbuffered, asyncio.subprocess.DEVNULL))
            pipe.append(await _to_a_pipe(code, unbuffered, Path(mkdtemp()) / "piped.log"))
            with (Path(mkdtemp()) / "unfollowed.log").open("wb") as out:
                file.append(await _timed_tool(code, unbuffered, out))
            run += 1
            took, caught_up = await _followed(code, unbuffered, pub, run)
            ours.append(took)
            behind.append(caught_up)
        shape = "python -u, a write(2) per line" if unbuffered else "buffered stdout"
        med = statistics.median
        print(f"logs a tool printing {n} lines ({shape}), median of {rounds}: followed (ours) "
              f"{med(ours) * 1000:.1f} ms | into a pipe drained by cat {med(pipe) * 1000:.1f} ms "
              f"(ours/pipe {med(ours) / med(pipe):.2f}) | into a file nobody follows {med(file) * 1000:.1f} ms "
              f"(ours/file {med(ours) / med(file):.2f}) | to /dev/null {med(null) * 1000:.1f} ms "
              f"(ours/null {med(ours) / med(null):.2f}); forwarding caught up {med(behind):.2f} s after it ended",
              flush=True)
    print(f"  ({pub.published} lines published, {pub.dropped} dropped)", flush=True)
    await pub.close()
    await delete_streams(nc.jetstream(), topology)
    await nc.close()


async def run(ns: argparse.Namespace, server_url: str, nats_url: str) -> None:
    async with scratch_database(server_url) as db:
        conn = await asyncpg.connect(db)
        await migrate(conn, LOGS)
        await Partitions().ensure_ahead(conn, datetime.now(UTC).date(), 2)
        await conn.close()
        parts = set(ns.parts.split(","))
        if "ingest" in parts:
            await ingestion(db, nats_url, ns.events)
        if "follow" in parts:
            await follow_latency(nats_url, db)
        if "tail" in parts:
            await tail_query(db, ns.rows, nats_url)
        if "drop" in parts:
            await drop_partition(db, min(ns.rows, 500_000))
        if "tool" in parts:
            await tool_speed(nats_url)


def main(argv: Sequence[str] | None = None) -> None:
    ns = parse_args(argv, events=200_000)
    extra = argparse.ArgumentParser(add_help=False)
    extra.add_argument("--rows", type=int, default=10_000_000)
    extra.add_argument("--parts", default="ingest,follow,tail,drop,tool", help="which figures, comma-separated")
    known = extra.parse_known_args(argv)[0]
    ns.rows, ns.parts = known.rows, known.parts
    with infrastructure() as infra:
        asyncio.run(run(ns, infra.database_url, infra.nats_url))


if __name__ == "__main__":
    main()
