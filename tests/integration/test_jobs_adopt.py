"""A leader killed between spawning a job and recording its start: the next leader finds the run ended (its
wrapper's pid and exit code on disk, no JobStarted in the stream) and records the start, then the end, once each;
it never launches the job a second time."""

from __future__ import annotations

import os
import uuid
from datetime import UTC, datetime
from pathlib import Path

from libs.contracts.job import JobStatus
from libs.contracts.job_commands import SubmitJob
from libs.eventstore import EventStore
from libs.testing.fakes import ManualClock
from libs.testing.waiting import wait_for
from services.lifecycle.jobs import processes
from services.lifecycle.jobs.dispatcher import Dispatcher, JobsConfig
from services.lifecycle.jobs.handlers import JobHandlers
from services.lifecycle.jobs.job import DispatchJob
from tests.integration.jobs_helpers import spec, starts, state

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


async def test_a_run_that_ended_unrecorded_gets_its_one_start_and_its_end(store: EventStore, tmp_path: Path) -> None:
    clock = ManualClock(T0)
    handlers = JobHandlers(store, clock=clock)
    job_id = str(uuid.uuid4())
    marks = tmp_path / "marks"
    await handlers.handle(SubmitJob(job_id=job_id, now=T0, actor="1", workspace_id="1", team="default",
                                    created_by="admin", spec=spec(f"open({str(marks)!r}, 'a').write('again')")))
    dispatched = await handlers.own(DispatchJob(job_id, T0))  # the killed leader's dispatch
    attempt = dispatched.state.attempt
    run = processes.run_dir(tmp_path, job_id, attempt)  # ...and what its wrapper left before the kill
    run.mkdir(parents=True)
    (run / "launched").write_text(str(os.getpid()))
    (run / "pid").write_text("4242\n")
    (run / "exit").write_text("0\n")

    dispatcher = Dispatcher(store, JobHandlers(store, clock=clock), JobsConfig(tmp_path, grace=2), clock=clock)

    async def final() -> bool:
        await dispatcher.tick()
        return (await state(store, job_id)).final

    assert await wait_for(final, until=bool, within=30, what="the job recorded final")
    s = await state(store, job_id)
    assert s.status == JobStatus.COMPLETE
    recorded = await starts(store, job_id)
    assert [(r.attempt, r.pid) for r in recorded] == [(attempt, 4242)]
    assert recorded[0].started_at == (run / "pid").stat().st_mtime
    assert not marks.exists()  # not launched again
