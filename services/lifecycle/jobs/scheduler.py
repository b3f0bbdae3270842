"""Cron templates firing their slots (glue): for each ``TASK`` the latest due slot (``cron.due_slot``) is fired as
a run of its own, its ``JobSubmitted`` appended with ``no_stream`` in the same transaction as the template's
``JobFired``, so a slot fires exactly once however many schedulers race or restart."""

from __future__ import annotations

import logging
from datetime import datetime

from libs.contracts.job import JobStatus, JobSubmitted, State, stream_name
from libs.eventstore import AppendRequest, to_new_events
from libs.eventstore.errors import IdempotencyConflict, WrongExpectedVersion
from libs.eventstore.types import Expected
from services.lifecycle.jobs import cron
from services.lifecycle.jobs.handlers import JobHandlers
from services.lifecycle.jobs.index import JobIndex
from services.lifecycle.jobs.job import FireSlot

log = logging.getLogger("studios.lifecycle.jobs")


async def fire_due(index: JobIndex, handlers: JobHandlers, now: datetime) -> None:
    for s in index.of_status(JobStatus.TASK):
        assert s.spec is not None and s.spec.cron_expression and s.created_at is not None
        slot = cron.due_slot(s.spec.cron_expression, s.created_at, s.last_slot, now)
        if slot is None:
            continue
        last = index.state(s.last_run_id) if s.last_run_id else None
        if s.last_run_id and not (last and last.final):
            continue  # runs of one template never overlap: this slot waits for the last run to end
        await _fire(handlers, s, slot, now)


async def _fire(handlers: JobHandlers, s: State, slot: datetime, now: datetime) -> None:
    assert s.spec is not None
    rid = cron.run_id(s.job_id, slot)
    run = JobSubmitted(job_id=rid, at=now, actor="scheduler", workspace_id=s.workspace_id, team=s.team,
                       created_by=s.created_by,
                       spec=s.spec.model_copy(update={"cron_expression": None, "start_after": None}),
                       status=JobStatus.QUEUED, parent_id=s.job_id, slot=slot)
    submit = AppendRequest(stream_name(rid), to_new_events([run], {"source": "lifecycle", "actor": "scheduler"}),
                           Expected.NO_STREAM)
    try:
        await handlers.own(FireSlot(s.job_id, slot, rid, now), also=lambda _s, evs: [submit] if evs else [])
    except (WrongExpectedVersion, IdempotencyConflict):
        log.info("slot %s of %s fired elsewhere", slot, s.job_id)
