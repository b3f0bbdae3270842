"""A cron job on an injected clock, on a real store, with real job processes: each slot fires once (also across a
restart of the scheduler and when two race), a downtime that missed several slots runs once, each firing is a
run of its own."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from libs.contracts.job import JobStatus, JobSubmitted, stream_name
from libs.contracts.job_commands import SubmitJob
from libs.eventstore import EventStore
from libs.testing.fakes import ManualClock
from libs.testing.waiting import wait_for
from services.lifecycle.jobs.dispatcher import Dispatcher, JobsConfig
from services.lifecycle.jobs.handlers import JobHandlers
from tests.integration.jobs_helpers import spec, state

T0 = datetime(2026, 3, 1, 12, 0, 30, tzinfo=UTC)


async def _runs(store: EventStore, template: str) -> list[JobSubmitted]:
    rows = await store.pool.fetch("""SELECT data FROM es.events WHERE event_type = 'JobSubmitted'
                                       AND data->>'parent_id' = $1 ORDER BY global_position""", template)
    return [JobSubmitted.model_validate(r["data"]) for r in rows]


async def _settle(store: EventStore, dispatcher: Dispatcher, template: str,
                  *others: Dispatcher) -> list[JobSubmitted]:
    """Pass (each of the dispatchers) until every run of the template has ended (bounded)."""

    async def all_final() -> list[JobSubmitted] | None:
        for d in (dispatcher, *others):
            await d.tick()
        runs = await _runs(store, template)
        finals = [(await state(store, r.job_id)).final for r in runs]
        return runs if all(finals) else None

    runs: list[JobSubmitted] = await wait_for(all_final, within=60, what="runs final")
    return runs


async def test_a_cron_job_fires_each_slot_once(store: EventStore, tmp_path: Path) -> None:
    clock = ManualClock(T0)
    handlers = JobHandlers(store, clock=clock)
    config = JobsConfig(tmp_path, grace=2)
    dispatcher = Dispatcher(store, handlers, config, clock=clock)
    template = str(uuid.uuid4())
    await handlers.handle(SubmitJob(job_id=template, now=T0, actor="1", workspace_id="1", team="default",
                                    created_by="admin", spec=spec("print('tick')", cron_expression="* * * * *")))
    assert (await state(store, template)).status == JobStatus.TASK

    clock.now = T0 + timedelta(seconds=15)  # 12:00:45: the 12:00 slot is before the template
    assert await _settle(store, dispatcher, template) == []

    clock.now = datetime(2026, 3, 1, 12, 1, 5, tzinfo=UTC)
    runs = await _settle(store, dispatcher, template)
    assert [r.slot for r in runs] == [datetime(2026, 3, 1, 12, 1, tzinfo=UTC)]
    clock.advance(20)
    assert len(await _settle(store, dispatcher, template)) == 1  # same slot: nothing more

    restarted = Dispatcher(store, JobHandlers(store, clock=clock), config, clock=clock)
    assert len(await _settle(store, restarted, template)) == 1  # a new scheduler knows the slot fired

    clock.now = datetime(2026, 3, 1, 12, 5, 10, tzinfo=UTC)  # down since 12:01: four slots missed, one run
    runs = await _settle(store, restarted, template)
    assert [r.slot for r in runs][1:] == [datetime(2026, 3, 1, 12, 5, tzinfo=UTC)]

    clock.now = datetime(2026, 3, 1, 12, 6, 1, tzinfo=UTC)  # two schedulers race for one slot: one run
    a = Dispatcher(store, JobHandlers(store, clock=clock), config, clock=clock)
    b = Dispatcher(store, JobHandlers(store, clock=clock), config, clock=clock)
    await asyncio.gather(a.tick(), b.tick())
    runs = await _settle(store, a, template, b)  # whichever won the slot's dispatch runs it
    assert [r.slot.minute for r in runs if r.slot] == [1, 5, 6]
    for r in runs:
        s = await state(store, r.job_id)
        assert s.status == JobStatus.COMPLETE and s.parent_id == template
        assert (await store.read_stream(stream_name(r.job_id)))[0].event_type == "JobSubmitted"
