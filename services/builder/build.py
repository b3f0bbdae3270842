"""The build aggregate (stream ``build-<key>``): pure ``decide``/``evolve``; no I/O, no clock.

At most one attempt is open (queued or running) at a time, which is what makes identical requests share one
build: a request finding one open joins it (no event). A succeeded build answers every later request with its
artifact, unless the artifact has gone from disk. Reports name their attempt; one about another attempt, or
arriving after the build moved on (a cancel won the race), decides nothing: delivery is at least once.
"""

from __future__ import annotations

from functools import singledispatch

from pydantic import BaseModel, ConfigDict

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
from libs.contracts.build_commands import (
    BuildCommand,
    CancelBuild,
    CompleteBuild,
    FailBuild,
    QueueBuild,
    RecoverBuild,
    StartBuild,
)
from libs.contracts.errors import Conflict, InvalidInput, NotFound
from libs.contracts.events import Event

OPEN = frozenset({BuildStatus.QUEUED, BuildStatus.RUNNING})

__all__ = ["INITIAL", "OPEN", "State", "decide", "evolve"]


class State(BaseModel):
    model_config = ConfigDict(frozen=True)

    build_id: str | None = None
    status: BuildStatus | None = None
    attempt: int = 0
    key: str | None = None
    spec: BuildSpec | None = None
    platform: str | None = None
    builder_version: str | None = None
    template_id: str | None = None
    artifact: Artifact | None = None
    message: str | None = None
    duration_seconds: float | None = None
    #: attempts that ran to an end (succeeded or failed), not those interrupted or cancelled
    builds: int = 0


INITIAL = State()


def decide(state: State, command: BuildCommand) -> list[Event]:
    return _decide(command, state)


@singledispatch
def _decide(command: BuildCommand, state: State) -> list[Event]:
    raise InvalidInput(f"unknown build command {type(command).__name__}")


@_decide.register
def _(c: QueueBuild, s: State) -> list[Event]:
    if s.key is not None and s.key != c.key:
        raise Conflict(f"build {c.build_id} has key {s.key}, not {c.key}")
    if s.status in OPEN:
        return []  # an identical request is queued or running: this one joins it
    if s.status is BuildStatus.SUCCEEDED and not c.artifact_missing:
        return []  # the same key: its artifact serves
    return [BuildRequested(**c.event_fields(), attempt=s.attempt + 1, key=c.key, spec=c.spec, platform=c.platform,
                           builder_version=c.builder_version, base_image_digest=c.base_image_digest,
                           template_id=c.template_id, requested_for=c.requested_for)]


@_decide.register
def _(c: StartBuild, s: State) -> list[Event]:
    if s.status is not BuildStatus.QUEUED or c.attempt != s.attempt:
        return []
    return [BuildStarted(**c.event_fields(), attempt=c.attempt)]


@_decide.register
def _(c: CompleteBuild, s: State) -> list[Event]:
    if s.status is not BuildStatus.RUNNING or c.attempt != s.attempt:
        return []
    return [BuildSucceeded(**c.event_fields(), attempt=c.attempt, artifact=c.artifact,
                           duration_seconds=c.duration_seconds)]


@_decide.register
def _(c: FailBuild, s: State) -> list[Event]:
    if s.status not in OPEN or c.attempt != s.attempt:
        return []
    return [BuildFailed(**c.event_fields(), attempt=c.attempt, message=c.message)]


@_decide.register
def _(c: CancelBuild, s: State) -> list[Event]:
    if s.status is None:
        raise NotFound(f"no build {c.build_id}")
    if s.status is BuildStatus.CANCELLED:
        return []
    if s.status not in OPEN:
        raise Conflict(f"build {c.build_id} has already {s.status.value}", status=s.status.value)
    return [BuildCancelled(**c.event_fields(), attempt=s.attempt)]


@_decide.register
def _(c: RecoverBuild, s: State) -> list[Event]:
    """A queued attempt is simply run again; a running one was cut short (the builder died under it)."""
    if s.status is not BuildStatus.RUNNING:
        return []
    fields = c.event_fields()
    if s.attempt >= c.max_attempts:
        message = f"the builder stopped during attempt {s.attempt} of {c.max_attempts}; not retried again"
        return [BuildFailed(**fields, attempt=s.attempt, message=message)]
    assert s.key and s.spec and s.platform and s.builder_version
    fields["reason"] = f"retry: the builder stopped during attempt {s.attempt}"
    return [BuildRequested(**fields, attempt=s.attempt + 1, key=s.key, spec=s.spec, platform=s.platform,
                           builder_version=s.builder_version, template_id=s.template_id)]


@singledispatch
def _evolve(event: Event, s: State) -> State:
    return s


def evolve(state: State, event: Event) -> State:
    return _evolve(event, state)


@_evolve.register
def _(e: BuildRequested, s: State) -> State:
    return s.model_copy(update=dict(build_id=e.build_id, status=BuildStatus.QUEUED, attempt=e.attempt, key=e.key,
                                    spec=e.spec, platform=e.platform,
                                    builder_version=e.builder_version, template_id=e.template_id, artifact=None,
                                    message=None, duration_seconds=None))


@_evolve.register
def _(e: BuildStarted, s: State) -> State:
    return s.model_copy(update=dict(status=BuildStatus.RUNNING))


@_evolve.register
def _(e: BuildSucceeded, s: State) -> State:
    return s.model_copy(update=dict(status=BuildStatus.SUCCEEDED, artifact=e.artifact,
                                    duration_seconds=e.duration_seconds, builds=s.builds + 1))


@_evolve.register
def _(e: BuildFailed, s: State) -> State:
    return s.model_copy(update=dict(status=BuildStatus.FAILED, message=e.message, builds=s.builds + 1))


@_evolve.register
def _(e: BuildCancelled, s: State) -> State:
    return s.model_copy(update=dict(status=BuildStatus.CANCELLED, message=e.reason or "cancelled"))
