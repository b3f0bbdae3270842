"""What the job tests share: submitting through lifecycle's command API and reading a job's state."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from libs.contracts.job import FINAL, INITIAL, JobSpec, JobStarted, State, evolve, stream_name
from libs.contracts.job_commands import CancelJob, SubmitJob
from libs.eventstore import EventStore, load
from libs.testing.waiting import wait_for
from tests.integration.lifecycle_harness import Lifecycle


def spec(query: str, **over: Any) -> JobSpec:
    return JobSpec(query=query, cluster_id="local", cluster_name="local", max_workers=2, **over)


async def submit(lc: Lifecycle, query: str, **over: Any) -> str:
    job_id = str(uuid.uuid4())
    reply = await lc.send(SubmitJob(job_id=job_id, now=datetime.now(UTC), actor="1", workspace_id="1",
                                    team="default", created_by="admin", spec=spec(query, **over)))
    assert reply.ok, reply.error
    return job_id


async def cancel(lc: Lifecycle, job_id: str) -> None:
    reply = await lc.send(CancelJob(job_id=job_id, now=datetime.now(UTC), actor="1"))
    assert reply.ok, reply.error


async def state(store: EventStore, job_id: str) -> State:
    return (await load(store, stream_name(job_id), evolve, INITIAL))[0]


async def wait_final(store: EventStore, job_id: str, within: float = 60.0) -> State:
    s: State = await wait_for(lambda: state(store, job_id), within=within, until=lambda s: s.final,
                              what=f"job {job_id} final")
    return s


async def starts(store: EventStore, job_id: str) -> list[JobStarted]:
    """Every launch recorded for the job (a job that ran twice has two)."""
    rows = await store.read_stream(stream_name(job_id))
    return [JobStarted.model_validate(r.data) for r in rows if r.event_type == "JobStarted"]


__all__ = ["FINAL", "cancel", "spec", "starts", "state", "submit", "wait_final"]
