"""The job aggregate, given events, when a command, then events (no I/O)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from libs.contracts.errors import Conflict, InvalidInput, NotFound
from libs.contracts.job import (
    JobCanceled,
    JobCancelRequested,
    JobDispatched,
    JobFinished,
    JobFired,
    JobProvisioning,
    JobSpec,
    JobStarted,
    JobStatus,
    JobSubmitted,
)
from libs.contracts.job_commands import CancelJob, SubmitJob
from libs.testing.given_when_then import Aggregate
from services.lifecycle.jobs import job
from services.lifecycle.jobs.job import (
    DispatchJob,
    FireSlot,
    RecordJobExited,
    RecordJobProvisioning,
    RecordJobStarted,
)
from services.lifecycle.jobs.provision import requirement_lines

T0 = datetime(2026, 1, 1, tzinfo=UTC)
T1 = T0 + timedelta(seconds=5)
spec = Aggregate.of(job)
SPEC = JobSpec(query="print(1)", cluster_id="local", cluster_name="local", max_workers=2)


def submit(**over: object) -> SubmitJob:
    return SubmitJob(job_id="j1", now=T0, actor="1", workspace_id="1", team="default", created_by="admin",
                     spec=SPEC.model_copy(update=over))


def submitted(status: JobStatus = JobStatus.QUEUED, **over: object) -> JobSubmitted:
    return JobSubmitted(job_id="j1", at=T0, actor="1", workspace_id="1", team="default", created_by="admin",
                        spec=SPEC.model_copy(update=over), status=status)


DISPATCHED = JobDispatched(job_id="j1", at=T1, actor="dispatcher", attempt=1)
STARTED = JobStarted(job_id="j1", at=T1, actor="dispatcher", attempt=1, pid=42, started_at=1.0)


def test_submit_queues_a_job() -> None:
    spec.given().when(submit()).then([submitted()])


def test_submit_with_a_future_start_after_is_scheduled_and_a_cron_job_is_a_task() -> None:
    spec.given().when(submit(start_after=T1)).then([submitted(JobStatus.SCHEDULED, start_after=T1)])
    spec.given().when(submit(cron_expression="*/5 * * * *")).then(
        [submitted(JobStatus.TASK, cron_expression="*/5 * * * *")])


@pytest.mark.parametrize("over", [{"query": "  "}, {"priority": 6}, {"priority": -1}, {"workers": 0},
                                  {"cron_expression": "every day"}])
def test_submit_refuses_bad_input(over: dict[str, object]) -> None:
    spec.given().when(submit(**over)).then_raises(InvalidInput)


def test_a_job_id_is_unique() -> None:
    spec.given(submitted()).when(submit()).then_raises(Conflict)


def test_dispatch_takes_a_queued_job_once() -> None:
    spec.given(submitted()).when(DispatchJob("j1", T1)).then([DISPATCHED])
    spec.given(submitted(), DISPATCHED).when(DispatchJob("j1", T1)).then([])


def test_a_scheduled_job_is_dispatched_only_once_due() -> None:
    given = spec.given(submitted(JobStatus.SCHEDULED, start_after=T1))
    given.when(DispatchJob("j1", T0)).then([])
    given.when(DispatchJob("j1", T1)).then([JobDispatched(job_id="j1", at=T1, actor="dispatcher", attempt=1)])


def test_started_then_exit_codes_complete_or_fail() -> None:
    spec.given(submitted(), DISPATCHED).when(RecordJobStarted("j1", 1, 42, 1.0, T1)).then([STARTED])
    state = spec.given(submitted(), DISPATCHED, STARTED).when(RecordJobExited("j1", 1, 0, T1)).then(
        [JobFinished(job_id="j1", at=T1, actor="dispatcher", status=JobStatus.COMPLETE, exit_code=0)])
    assert state.status == JobStatus.COMPLETE and state.finished_at == T1
    spec.given(submitted(), DISPATCHED, STARTED).when(RecordJobExited("j1", 1, 3, T1)).then(
        [JobFinished(job_id="j1", at=T1, actor="dispatcher", status=JobStatus.FAILED, exit_code=3,
                     error_message="exited with code 3")])


def test_a_report_of_another_attempt_is_stale() -> None:
    spec.given(submitted(), DISPATCHED, STARTED).when(RecordJobExited("j1", 2, 0, T1)).then([])
    spec.given(submitted(), DISPATCHED, STARTED).when(RecordJobStarted("j1", 1, 43, 2.0, T1)).then([])


def test_cancel_a_waiting_job_is_final_at_once_a_running_one_is_canceling() -> None:
    state = spec.given(submitted()).when(CancelJob(job_id="j1", now=T1, actor="1")).then(
        [JobCanceled(job_id="j1", at=T1, actor="1", reason="Canceled")])
    assert state.status == JobStatus.CANCELED
    state = spec.given(submitted(), DISPATCHED, STARTED).when(CancelJob(job_id="j1", now=T1, actor="1")).then(
        [JobCancelRequested(job_id="j1", at=T1, actor="1", reason="Canceled")])
    assert state.status == JobStatus.CANCELING


def test_a_canceling_job_that_exits_is_canceled_and_a_finished_one_cannot_be_canceled() -> None:
    canceling = JobCancelRequested(job_id="j1", at=T1, actor="1")
    state = spec.given(submitted(), DISPATCHED, STARTED, canceling).when(RecordJobExited("j1", 1, -15, T1)).then(
        [JobCanceled(job_id="j1", at=T1, actor="dispatcher", exit_code=-15, reason="Canceled")])
    assert state.status == JobStatus.CANCELED
    done = JobFinished(job_id="j1", at=T1, actor="d", status=JobStatus.COMPLETE, exit_code=0)
    spec.given(submitted(), DISPATCHED, STARTED, done).when(CancelJob(job_id="j1", now=T1, actor="1")).then_raises(
        Conflict)


def test_a_cancel_while_launching_stays_canceling_when_the_process_starts() -> None:
    canceling = JobCancelRequested(job_id="j1", at=T1, actor="1")
    state = spec.given(submitted(), DISPATCHED, canceling).when(RecordJobStarted("j1", 1, 42, 1.0, T1)).then(
        [STARTED])
    assert state.status == JobStatus.CANCELING and state.pid == 42


def test_a_task_fires_each_slot_once() -> None:
    task = submitted(JobStatus.TASK, cron_expression="* * * * *")
    fired = JobFired(job_id="j1", at=T1, actor="scheduler", slot=T1, run_id="r1")
    spec.given(task).when(FireSlot("j1", T1, "r1", T1)).then([fired])
    spec.given(task, fired).when(FireSlot("j1", T1, "r1", T1)).then([])
    spec.given(task, fired).when(FireSlot("j1", T0, "r0", T1)).then([])


def test_unknown_job_is_not_found() -> None:
    spec.given().when(CancelJob(job_id="j1", now=T1, actor="1")).then_raises(NotFound)


def test_a_job_with_requirements_provisions_then_starts_and_can_be_canceled_meanwhile() -> None:
    provisioning = JobProvisioning(job_id="j1", at=T1, actor="dispatcher", attempt=1, build_id="b1")
    state = spec.given(submitted(), DISPATCHED).when(RecordJobProvisioning("j1", 1, "b1", T1)).then([provisioning])
    assert state.status == JobStatus.PROVISIONING and state.build_id == "b1"
    spec.given(submitted(), DISPATCHED, provisioning).when(RecordJobProvisioning("j1", 1, "b2", T1)).then([])
    spec.given(submitted(), DISPATCHED, provisioning).when(RecordJobStarted("j1", 1, 42, 1.0, T1)).then([STARTED])
    state = spec.given(submitted(), DISPATCHED, provisioning).when(CancelJob(job_id="j1", now=T1, actor="1")).then(
        [JobCancelRequested(job_id="j1", at=T1, actor="1", reason="Canceled")])
    spec.given(submitted(), DISPATCHED, provisioning, JobCancelRequested(job_id="j1", at=T1, actor="1")).when(
        RecordJobExited("j1", 1, None, T1)).then(
        [JobCanceled(job_id="j1", at=T1, actor="dispatcher", reason="Canceled")])


def test_requirement_lines_skip_blanks_and_comments() -> None:
    assert requirement_lines("numpy==1.24.0\n\n# pinned\npandas  # data\n") == ("numpy==1.24.0", "pandas")
    assert requirement_lines(None) == ()
