"""The jobs read model: projected from the job streams by commit horizon, and a blue/green rebuild from position
zero gives the same rows."""

from __future__ import annotations

import asyncio
from pathlib import Path

from libs.contracts.job import JobStatus
from libs.eventstore import EventStore
from services.gateway.read import jobs as q
from services.gateway.read.projections import base as projections
from services.gateway.read.projections import rebuild
from services.gateway.read.projections.jobs import JOBS
from services.gateway.read.schema import GATEWAY
from tests.integration.jobs_helpers import cancel, submit, wait_final
from tests.integration.lifecycle_harness import running_lifecycle


async def test_the_jobs_read_model_follows_the_streams_and_rebuilds_the_same(database_url: str, nats_url: str,
                                                                           tmp_path: Path) -> None:
    store = await EventStore.connect(database_url, sources=[GATEWAY])
    stop = asyncio.Event()
    follower = asyncio.create_task(projections.run(store, JOBS, stop))
    try:
        async with running_lifecycle(database_url, nats_url, tmp_path,
                                     STUDIOS_JOB_DISPATCH_INTERVAL_SECONDS=0.05,
                                     STUDIOS_LIFECYCLE_METRICS_PORT=0) as lc:
            ok = await submit(lc, "print('hi')")
            failing = await submit(lc, "raise SystemExit(4)")
            waiting = await submit(lc, "print('later')", start_after="2999-01-01T00:00:00Z")
            await cancel(lc, waiting)
            for job_id in (ok, failing, waiting):
                await wait_final(lc.store, job_id)
            head = await store.head()
            assert await projections.wait_for_position(store.pool, JOBS, head.global_position, within=30)
        rows = {s.job_id: s for s in await q.jobs(store.pool, 1, limit=10)}
        assert rows[ok].status == JobStatus.COMPLETE and rows[ok].exit_code == 0
        assert rows[failing].status == JobStatus.FAILED and rows[failing].exit_code == 4
        assert rows[waiting].status == JobStatus.CANCELED and rows[waiting].running_at is None
        await rebuild.rebuild(store, "jobs")
        assert {s.job_id: s for s in await q.jobs(store.pool, 1, limit=10)} == rows
    finally:
        stop.set()
        await follower
        await store.close()
