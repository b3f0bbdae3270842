"""How the studio takes the session runner's and the proxy's reports (the ``Record*`` commands).

``decide`` has already dropped reports about another run. What is left is either news, or a report that arrives
late or twice (the status has moved on), which answers ``[]``: at-least-once delivery must be harmless.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from libs.contracts.errors import InvalidInput
from libs.contracts.events import Event
from libs.contracts.studio import (
    ProgressStatus,
    StopReason,
    StudioBuildFailed,
    StudioBuildStarted,
    StudioBuildSucceeded,
    StudioConnectionActive,
    StudioConnectionClosed,
    StudioConnectionOpened,
    StudioProgressRecorded,
    StudioSessionBusy,
    StudioSessionRunning,
    StudioSessionStopped,
    StudioStartFailed,
    StudioStatus,
)
from libs.contracts.studio_commands import (
    RecordBuildFailed,
    RecordBuildStarted,
    RecordBuildSucceeded,
    RecordConnection,
    RecordProgress,
    RecordSessionRunning,
    RecordSessionStopped,
    RecordStartFailed,
    RecordWork,
)
from libs.contracts.studio_state import State
from services.lifecycle.studio import rules

S = StudioStatus
STARTING_LIKE, AT_REST = rules.STARTING_LIKE, rules.AT_REST


def build_started(c: RecordBuildStarted, s: State) -> list[Event]:
    if s.status is not S.STARTING:
        return []  # already building (redelivery) or the run has moved on
    return [StudioBuildStarted(**c.event_fields(), run=c.run, build_id=c.build_id, build_url=c.build_url)]


def build_succeeded(c: RecordBuildSucceeded, s: State) -> list[Event]:
    if s.status is not S.BUILDING or c.build_id != s.build_id:
        return []
    return [StudioBuildSucceeded(**c.event_fields(), run=c.run, build_id=c.build_id)]


def build_failed(c: RecordBuildFailed, s: State) -> list[Event]:
    if s.status not in STARTING_LIKE:
        return []
    return [StudioBuildFailed(**c.event_fields(), run=c.run, build_id=c.build_id, message=c.message)]


def progress(c: RecordProgress, s: State) -> list[Event]:
    step = next((p for p in s.progress if p.message == c.step), None)
    if step is None:
        raise InvalidInput(f"unknown progress step {c.step!r}", field="step")
    if s.status not in STARTING_LIKE:
        return []  # late: the run is up, failed or stopped, and its progress is settled
    if (step.status, step.detail, step.warnings) == (c.status, c.detail, c.warnings):
        return []
    event = StudioProgressRecorded(
        **c.event_fields(), run=c.run, step=c.step, status=c.status, detail=c.detail, warnings=c.warnings
    )
    return [event]


def session_running(c: RecordSessionRunning, s: State) -> list[Event]:
    if s.status not in STARTING_LIKE:
        return []  # already running (redelivery), or stopped/failed meanwhile: the runner cleans up
    expires_at = rules.expiry(c.now, s.effective_lifespan_hours)
    return [StudioSessionRunning(**c.event_fields(), run=c.run, handle=c.handle, url=c.url, expires_at=expires_at)]


def start_failed(c: RecordStartFailed, s: State) -> list[Event]:
    if s.status not in STARTING_LIKE:
        return []
    failing = [p for p in s.progress if p.status is ProgressStatus.IN_PROGRESS]
    failing = failing or [p for p in s.progress if p.status is ProgressStatus.PENDING]
    failed_step = failing[0].message if failing else None
    return [StudioStartFailed(**c.event_fields(), run=c.run, message=c.message, failed_step=failed_step)]


def session_stopped(c: RecordSessionStopped, s: State) -> list[Event]:
    if s.status in AT_REST:
        return []
    if s.status is S.STOPPING:
        reason = c.stop_reason or s.stop_reason or StopReason.USER_REQUEST
    else:
        # It ended without being asked: exit 0 is the tool shut down from inside; anything else is a failure.
        reason = c.stop_reason or (StopReason.USER_REQUEST if c.exit_code == 0 else StopReason.ERROR)
    message = c.message
    if message is None and reason is StopReason.ERROR and c.exit_code is not None:
        message = f"Session exited with code {c.exit_code}"
    return [
        StudioSessionStopped(
            **c.event_fields(),
            run=c.run,
            stop_reason=reason,
            exit_code=c.exit_code,
            message=message,
            errored=s.status is not S.STOPPING and reason is StopReason.ERROR,
            usage=c.usage,
        )
    ]


def connection(c: RecordConnection, s: State) -> list[Event]:
    """Open (again: nothing), renew (an unknown connection opens: its open was lost), or close. A renewal of a
    connection opened in this very command's second is not news either."""
    mine = next((a for a in s.active_connections if a.user_id == c.user_id), None)
    is_open = mine is not None and c.connection_id in mine.connection_ids
    common = {**c.event_fields(), "run": s.run, "user_id": c.user_id, "connection_id": c.connection_id}
    if not c.connected:
        return [StudioConnectionClosed(**common)] if is_open else []
    if s.status is not S.RUNNING:
        return []
    if c.lease_seconds is not None and c.lease_seconds <= 0:
        raise InvalidInput("lease_seconds must be positive", field="lease_seconds")
    lease = c.now + timedelta(seconds=c.lease_seconds) if c.lease_seconds is not None else None
    if not is_open:
        return [StudioConnectionOpened(**common, user_name=c.user_name, lease_until=lease)]
    if c.active:
        return [StudioConnectionActive(**common, lease_until=lease)]
    return []


def work(c: RecordWork, s: State) -> list[Event]:
    if s.status is not S.RUNNING or not c.work:
        return []
    return [StudioSessionBusy(**c.event_fields(), run=c.run, work=tuple(c.work))]


DECIDERS: dict[type[Any], Callable[[Any, State], list[Event]]] = {
    RecordBuildStarted: build_started,
    RecordBuildSucceeded: build_succeeded,
    RecordBuildFailed: build_failed,
    RecordProgress: progress,
    RecordSessionRunning: session_running,
    RecordStartFailed: start_failed,
    RecordSessionStopped: session_stopped,
    RecordConnection: connection,
    RecordWork: work,
}
