"""Jobs through lifecycle's command API on a real store and bus (lifecycle in process, its own streams), each figure
beside a baseline from the same run.

    python -m bench.jobs [--samples 20] [--jobs 1000] [--queued 10000]

1. ``job_submit_to_running``: ``SubmitJob`` for a no-op script until its stream shows ``JobStarted`` (polled every
   5 ms), one at a time; median and p95. Baseline: the same script (``python -u main.py``) spawned directly, until
   ``Popen`` returns (the process exists), and until it exited.
2. ``jobs_<n>_on_2_slots``: ``--jobs`` no-op jobs submitted at once to a cluster of ``max_workers`` 2, wall time
   until all ended (jobs/s); baseline: the same scripts run directly two at a time.
3. ``job_dispatch_with_<n>_queued``: (1) again while ``--queued`` jobs wait on another cluster whose one slot a
   long job holds (they are appended straight to the store, as ``SubmitJob`` would, to set up quickly): what a
   dispatcher pass over a long queue costs a new job.

No figure here is asserted anywhere.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import nats

from bench.common import infrastructure, scratch_database
from libs.bus.commands import CommandClient
from libs.bus.streams import Topology, delete_streams
from libs.contracts.job import JobSpec, JobStatus, JobSubmitted, stream_name
from libs.contracts.job_commands import CancelJob, SubmitJob
from libs.eventstore import AppendRequest, EventStore, to_new_events
from libs.eventstore.types import Expected
from libs.platform.signals import Stop
from services.lifecycle import main as lifecycle
from services.lifecycle.settings import LifecycleSettings

NOOP = "pass\n"


def _args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("--samples", type=int, default=20)
    p.add_argument("--jobs", type=int, default=1000)
    p.add_argument("--queued", type=int, default=10_000)
    return p.parse_known_args(argv)[0]


def _spec(query: str, cluster: str = "bench", max_workers: int = 2) -> JobSpec:
    return JobSpec(query=query, cluster_id=cluster, cluster_name=cluster, max_workers=max_workers)


def _submit(job_id: str, spec: JobSpec) -> SubmitJob:
    return SubmitJob(job_id=job_id, now=datetime.now(UTC), actor="bench", workspace_id="1", team="default",
                     created_by="bench", spec=spec)


async def _started(store: EventStore, job_id: str) -> None:
    # a client's poll of the store, as what the figure is about
    while not await store.pool.fetchval("SELECT 1 FROM es.events WHERE stream_name = $1 AND "  # noqa: ASYNC110
                                        "event_type = 'JobStarted'", stream_name(job_id)):
        await asyncio.sleep(0.005)


async def _ended(store: EventStore, ids: list[str]) -> None:
    streams = [stream_name(i) for i in ids]
    while await _count_ended(store, streams) < len(ids):  # noqa: ASYNC110 (a client's poll of the store)
        await asyncio.sleep(0.05)


async def _count_ended(store: EventStore, streams: list[str]) -> int:
    return int(await store.pool.fetchval("""SELECT count(*) FROM es.events WHERE stream_name = ANY($1::text[])
                                             AND event_type IN ('JobFinished', 'JobCanceled')""", streams))


async def _submit_to_running(client: CommandClient, store: EventStore, samples: int) -> list[float]:
    times = []
    for _ in range(samples):
        job_id = str(uuid.uuid4())
        t = time.perf_counter()
        await client.send(_submit(job_id, _spec(NOOP, "free")))
        await _started(store, job_id)
        times.append(time.perf_counter() - t)
        await _ended(store, [job_id])
    return times


def _direct(samples: int, folder: Path) -> tuple[list[float], list[float]]:
    (folder / "main.py").write_text(NOOP)
    spawned, exited = [], []
    for _ in range(samples):
        t = time.perf_counter()
        p = subprocess.Popen([sys.executable, "-u", "main.py"], cwd=folder, stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        spawned.append(time.perf_counter() - t)
        p.wait()
        exited.append(time.perf_counter() - t)
    return spawned, exited


def _direct_two_at_a_time(n: int, folder: Path) -> float:
    t = time.perf_counter()
    running: list[subprocess.Popen[bytes]] = []
    for _ in range(n):
        if len(running) == 2:
            running.pop(0).wait()
        running.append(subprocess.Popen([sys.executable, "-u", "main.py"], cwd=folder, stdin=subprocess.DEVNULL,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    for p in running:
        p.wait()
    return time.perf_counter() - t


def _ms(xs: list[float]) -> str:
    xs = sorted(xs)
    p95 = xs[min(len(xs) - 1, int(len(xs) * 0.95))]
    return f"median={statistics.median(xs) * 1000:.1f}ms p95={p95 * 1000:.1f}ms"


async def _queue_up(store: EventStore, n: int) -> None:
    """``n`` waiting jobs on cluster ``busy``, appended in batches as ``SubmitJob`` would decide them."""
    for start in range(0, n, 500):
        reqs = []
        for _ in range(min(500, n - start)):
            job_id = str(uuid.uuid4())
            e = JobSubmitted(job_id=job_id, at=datetime.now(UTC), actor="bench", workspace_id="1", team="default",
                             created_by="bench", spec=_spec(NOOP, "busy", 1), status=JobStatus.QUEUED)
            reqs.append(AppendRequest(stream_name(job_id), to_new_events([e]), Expected.NO_STREAM))
        await store.append_many(reqs)


async def run(args: argparse.Namespace, database_url: str, nats_url: str) -> None:
    root = Path(tempfile.mkdtemp(prefix="studios-bench-jobs-"))
    topology = Topology.unique("bj")
    settings = LifecycleSettings(DATABASE_URL=database_url, NATS_URL=nats_url, STUDIOS_DATA_DIR=str(root),
                                 STUDIOS_JOB_DISPATCH_INTERVAL_SECONDS=0.02, STUDIOS_LIFECYCLE_METRICS_PORT=0)
    stop = Stop()
    task = asyncio.create_task(lifecycle.run(settings, stop, topology))
    store = await EventStore.connect(database_url)
    nc = await nats.connect(nats_url)
    client = CommandClient(nc, timeout=30)
    holder = str(uuid.uuid4())
    try:
        while True:  # until lifecycle answers commands
            with contextlib.suppress(Exception):
                await nc.request("studios.cmd.lifecycle.submit_job", b"{}", timeout=0.2)
                break
            await asyncio.sleep(0.05)
        spawned, exited = _direct(args.samples, root)
        ours = await _submit_to_running(client, store, args.samples)
        print(f"job_submit_to_running: ours {_ms(ours)}; baseline direct spawn {_ms(spawned)}, "
              f"direct spawn-to-exit {_ms(exited)}", flush=True)

        ids = [str(uuid.uuid4()) for _ in range(args.jobs)]
        t = time.perf_counter()
        await asyncio.gather(*(client.send(_submit(i, _spec(NOOP))) for i in ids))
        await _ended(store, ids)
        ours_s, base_s = time.perf_counter() - t, _direct_two_at_a_time(args.jobs, root)
        print(f"jobs_{args.jobs}_on_2_slots: ours={args.jobs / ours_s:.1f} jobs/s ({ours_s:.1f}s) "
              f"baseline direct 2 at a time={args.jobs / base_s:.1f} jobs/s ({base_s:.1f}s) "
              f"ratio={base_s / ours_s:.2f}", flush=True)

        await client.send(_submit(holder, _spec("import time; time.sleep(3600)", "busy", 1)))
        await _started(store, holder)
        await _queue_up(store, args.queued)
        queued = await _submit_to_running(client, store, args.samples)
        print(f"job_dispatch_with_{args.queued}_queued: ours {_ms(queued)}; baseline (none queued) {_ms(ours)}",
              flush=True)
    finally:
        with contextlib.suppress(Exception):
            await client.send(CancelJob(job_id=holder, now=datetime.now(UTC), actor="bench"))
            await asyncio.wait_for(_ended(store, [holder]), 30)
        stop.request()
        await asyncio.wait_for(task, 60)
        pid = await store.pool.fetchval("SELECT (data->>'pid')::int FROM es.events WHERE stream_name = $1 AND "
                                        "event_type = 'JobStarted'", stream_name(holder))
        if pid:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
        await delete_streams(nc.jetstream(), topology)
        await nc.close()
        await store.close()


def main(argv: Sequence[str] | None = None) -> None:
    args = _args(argv)

    async def go(server_url: str, nats_url: str) -> None:
        async with scratch_database(server_url) as db:
            await run(args, db, nats_url)

    with infrastructure() as infra:
        asyncio.run(go(infra.database_url, infra.nats_url))


if __name__ == "__main__":
    main()
