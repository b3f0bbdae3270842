"""The build aggregate: one open attempt per key, reuse of a succeeded artifact, stale reports, cancel, recovery."""

from __future__ import annotations

from datetime import UTC, datetime

from libs.contracts.build import (
    Artifact,
    BuildCancelled,
    BuildFailed,
    BuildRequested,
    BuildSpec,
    BuildStarted,
    BuildStatus,
    BuildSucceeded,
)
from libs.contracts.build_commands import CancelBuild, CompleteBuild, FailBuild, QueueBuild, RecoverBuild, StartBuild
from libs.contracts.errors import Conflict, NotFound
from libs.testing.given_when_then import Aggregate
from services.builder import build

NOW = datetime(2026, 1, 1, tzinfo=UTC)
SPEC = BuildSpec(requirements=("tinypkg",), python="3.11")
ID = "k1"
COMMON = {"build_id": ID, "at": NOW, "actor": "builder", "reason": None}
KEYED = {"key": ID, "spec": SPEC, "platform": "linux-x86_64", "builder_version": "1"}
ART = Artifact(uri="file:///envs/k1", sha256="ab" * 32, size=10)
spec = Aggregate.of(build)


def queue(**extra: object) -> QueueBuild:
    return QueueBuild(build_id=ID, now=NOW, actor="builder", **KEYED, **extra)  # type: ignore[arg-type]


def requested(attempt: int = 1) -> BuildRequested:
    return BuildRequested(**COMMON, attempt=attempt, **KEYED)


def started(attempt: int = 1) -> BuildStarted:
    return BuildStarted(**COMMON, attempt=attempt)


def succeeded(attempt: int = 1) -> BuildSucceeded:
    return BuildSucceeded(**COMMON, attempt=attempt, artifact=ART, duration_seconds=1.5)


def test_a_first_request_queues_attempt_one() -> None:
    state = spec.given().when(queue()).then(requested())
    assert state.status is BuildStatus.QUEUED and state.attempt == 1


def test_identical_requests_join_the_open_build() -> None:
    spec.given(requested()).when(queue()).then_nothing()
    spec.given(requested(), started()).when(queue()).then_nothing()


def test_a_succeeded_build_is_reused_unless_its_artifact_is_gone() -> None:
    spec.given(requested(), started(), succeeded()).when(queue()).then_nothing()
    state = spec.given(requested(), started(), succeeded()).when(queue(artifact_missing=True)).then(requested(2))
    assert state.artifact is None and state.builds == 1


def test_a_failed_build_asked_for_again_is_a_new_attempt() -> None:
    failed = BuildFailed(**COMMON, attempt=1, message="no such package")
    spec.given(requested(), started(), failed).when(queue()).then(requested(2))


def test_reports_about_another_attempt_or_after_a_cancel_decide_nothing() -> None:
    cancelled = BuildCancelled(**COMMON, attempt=1)
    complete = CompleteBuild(build_id=ID, now=NOW, actor="b", attempt=1, artifact=ART, duration_seconds=1.5)
    spec.given(requested(), started(), cancelled).when(complete).then_nothing()
    spec.given(requested(2), started(2)).when(complete).then_nothing()
    spec.given(requested(), started()).when(StartBuild(build_id=ID, now=NOW, actor="b", attempt=1)).then_nothing()
    state = spec.given(requested(), started()).when(complete).then(succeeded().model_copy(update={"actor": "b"}))
    assert state.status is BuildStatus.SUCCEEDED and state.artifact == ART


def test_a_failure_keeps_the_installer_message() -> None:
    fail = FailBuild(build_id=ID, now=NOW, actor="builder", attempt=1, message="No solution found: nope")
    state = spec.given(requested(), started()).when(fail).then(
        BuildFailed(**COMMON, attempt=1, message="No solution found: nope"))
    assert state.message == "No solution found: nope"


def test_cancel_ends_an_open_build_and_refuses_a_finished_one() -> None:
    cancel = CancelBuild(build_id=ID, now=NOW, actor="u")
    spec.given(requested()).when(cancel).then(BuildCancelled(**{**COMMON, "actor": "u"}, attempt=1))
    spec.given(requested(), BuildCancelled(**COMMON, attempt=1)).when(cancel).then_nothing()
    spec.given(requested(), started(), succeeded()).when(cancel).then_raises(Conflict)
    spec.given().when(cancel).then_raises(NotFound)


def test_a_build_interrupted_by_a_restart_is_retried_then_failed_with_a_reason() -> None:
    recover = RecoverBuild(build_id=ID, now=NOW, actor="builder", max_attempts=2)
    state = spec.given(requested(), started()).when(recover).then(requested(2).model_copy(
        update={"reason": "retry: the builder stopped during attempt 1"}))
    assert state.status is BuildStatus.QUEUED
    failed = spec.given(requested(), started(), requested(2), started(2)).when(recover).then(BuildFailed(
        **COMMON, attempt=2, message="the builder stopped during attempt 2 of 2; not retried again"))
    assert failed.status is BuildStatus.FAILED
    spec.given(requested()).when(recover).then_nothing()  # queued: it is simply run
