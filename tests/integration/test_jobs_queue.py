"""Jobs through lifecycle's command API on a real store and bus: a 2-slot cluster runs queued jobs in priority
order with their exit codes; canceled jobs end CANCELED with their processes gone."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import psutil

from libs.contracts.job import JobStatus, State
from libs.eventstore import EventStore
from libs.testing.waiting import wait_for
from tests.integration.jobs_helpers import cancel, starts, state, submit, wait_final
from tests.integration.lifecycle_harness import running_lifecycle

FAST: dict[str, Any] = {"STUDIOS_JOB_DISPATCH_INTERVAL_SECONDS": 0.02, "STUDIOS_LIFECYCLE_METRICS_PORT": 0}
N = int(os.environ.get("STUDIOS_TEST_JOBS", "200"))
LONG = 20


async def test_jobs_run_in_priority_order_with_their_exit_codes(database_url: str, nats_url: str,
                                                                tmp_path: Path) -> None:
    async with running_lifecycle(database_url, nats_url, tmp_path, **FAST) as lc:
        # two gate jobs hold both slots while the rest queue up, so the order they then run in is the queue's alone
        gate = tmp_path / "gate"
        gates = [await submit(lc, f"import os, time\nwhile not os.path.exists({str(gate)!r}): time.sleep(0.01)",
                              priority=0) for _ in range(2)]
        for g in gates:
            held: State = await wait_for(lambda g=g: state(lc.store, g), within=60,  # type: ignore[misc]
                                         until=lambda s: s.status == JobStatus.RUNNING)
            assert held.pid
        jobs = []
        for i in range(N):
            code, priority = i % 3, (i * 7) % 6
            jobs.append((await submit(lc, f"import sys; sys.exit({code})", priority=priority), priority, code))
        gate.touch()
        done = [await wait_final(lc.store, job_id, within=120) for job_id, _, _ in jobs]
        for s, (_, _, code) in zip(done, jobs, strict=True):
            assert s.exit_code == code
            assert s.status == (JobStatus.COMPLETE if code == 0 else JobStatus.FAILED)
        rows = await lc.store.pool.fetch("""SELECT stream_name FROM es.events WHERE event_type = 'JobDispatched'
                                             AND stream_name = ANY($1::text[]) ORDER BY global_position""",
                                         [f"job-{j}" for j, _, _ in jobs])
        order = [r["stream_name"][4:] for r in rows]
        expected = [j for j, _, _ in sorted(jobs, key=lambda t: t[1])]  # stable: FIFO within a priority
        assert order == expected
        for job_id, _, _ in jobs:
            assert len(await starts(lc.store, job_id)) == 1


async def test_canceled_jobs_end_canceled_with_their_processes_gone(database_url: str, nats_url: str,
                                                                    tmp_path: Path) -> None:
    async with running_lifecycle(database_url, nats_url, tmp_path, **FAST) as lc:
        quick = [await submit(lc, "print('ok')") for _ in range(10)]
        long = [await submit(lc, "import time; print('sleeping', flush=True); time.sleep(120)") for _ in range(LONG)]

        async def cancel_when_running(job_id: str) -> None:
            seen: State = await wait_for(lambda: state(lc.store, job_id), within=120,
                           until=lambda s: s.status in (JobStatus.RUNNING, JobStatus.QUEUED) and (
                               s.status == JobStatus.RUNNING or long.index(job_id) % 2 == 1))
            assert seen.status in (JobStatus.RUNNING, JobStatus.QUEUED)
            await cancel(lc, job_id)

        # half are canceled while they run, half while they wait for a slot
        await asyncio.gather(*(cancel_when_running(j) for j in long))
        for job_id in long:
            s = await wait_final(lc.store, job_id)
            assert s.status == JobStatus.CANCELED
            for start in await starts(lc.store, job_id):
                assert not psutil.pid_exists(start.pid) or psutil.Process(start.pid).status() == psutil.STATUS_ZOMBIE
                assert not _group_alive(start.pid)
        for job_id in quick:
            assert (await wait_final(lc.store, job_id)).status == JobStatus.COMPLETE


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
        return True
    except ProcessLookupError:
        return False


async def test_a_whole_system_shutdown_stops_running_jobs_and_says_why(database_url: str, nats_url: str,
                                                                       store: EventStore, tmp_path: Path) -> None:
    async with running_lifecycle(database_url, nats_url, tmp_path, **FAST) as lc:  # left as a system shutdown
        job_id = await submit(lc, "import time; time.sleep(300)")
        running: State = await wait_for(lambda: state(lc.store, job_id), within=60,
                                        until=lambda s: s.status == JobStatus.RUNNING)
    s = await state(store, job_id)
    assert s.status == JobStatus.FAILED and s.error_message == "Studios was shut down"
    assert running.pid is not None and not _group_alive(running.pid)
