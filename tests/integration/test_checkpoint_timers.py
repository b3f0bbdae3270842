"""The interim timer (with an injected clock) on real PostgreSQL: a running session's checkpoint is saved again
once it is older than the interval and not before; a stopped one is left alone; a restore into a running studio is
refused."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from libs.contracts.checkpoint import SaveKind, checkpoint_id
from libs.contracts.checkpoint_commands import RestoreCheckpoint, SaveCheckpoint
from libs.contracts.errors import Conflict
from libs.contracts.studio import (
    StopReason,
    StudioConfiguration,
    StudioCreated,
    StudioSessionRunning,
    StudioSessionStopped,
    StudioStartRequested,
    StudioTemplate,
)
from libs.contracts.studio import stream_name as studio_stream
from libs.eventstore import AppendRequest, EventStore, Expected, to_new_events
from libs.testing.fakes import ManualClock
from services.checkpoints import queries
from services.checkpoints.handlers import CheckpointHandlers
from services.checkpoints.storage.engine import Engine
from services.checkpoints.timers import interim_round

T0 = datetime.now(UTC)
EVERY = timedelta(minutes=5)


@pytest.fixture
async def handlers(store: EventStore, tmp_path: Path) -> AsyncIterator[CheckpointHandlers]:
    engine = Engine(str(tmp_path / "blobs"), workers=0)
    yield CheckpointHandlers(store, engine, clock=lambda: T0)
    engine.close()


async def running(store: EventStore, session: str, stopped: bool = False) -> None:
    common = {"session_id": session, "at": T0, "actor": "1"}
    template = StudioTemplate(repository="studios/http-echo:1", tool="http-echo")
    events = [
        StudioCreated(**common, workspace_id="1", user_id="1", name=session, compute_env_id="local",
                      template=template, configuration=StudioConfiguration(), effective_lifespan_hours=0),
        StudioStartRequested(**common, run=1, compute_env_id="local", template=template,
                             configuration=StudioConfiguration(), effective_lifespan_hours=0, progress_steps=()),
        StudioSessionRunning(**common, run=1, handle={}, url="/connect/x/"),
    ]
    if stopped:
        events.append(StudioSessionStopped(**common, run=1, stop_reason=StopReason.USER_REQUEST))
    await store.append_many([AppendRequest(studio_stream(session), to_new_events(events), Expected.NO_STREAM)])


def one_file(ws: Path) -> None:
    ws.mkdir(parents=True, exist_ok=True)
    (ws / "a.txt").write_text("a")


async def started(handlers: CheckpointHandlers, session: str, ws: Path) -> None:
    one_file(ws)
    await handlers.save(SaveCheckpoint(session_id=session, now=T0, actor="lifecycle", run=1, kind=SaveKind.START,
                                       workspace=str(ws), workspace_id="1", author_id="1"))


async def test_a_running_session_is_saved_every_interval_and_not_before(
        store: EventStore, handlers: CheckpointHandlers, tmp_path: Path) -> None:
    live, gone = uuid.uuid4().hex[:8], uuid.uuid4().hex[:8]
    await running(store, live)
    await running(store, gone, stopped=True)
    await started(handlers, live, tmp_path / "live")
    await started(handlers, gone, tmp_path / "gone")
    clock = ManualClock(T0 + timedelta(minutes=4))
    assert await interim_round(store, handlers, EVERY, clock) == 0  # younger than the interval
    clock.advance(120)
    (tmp_path / "live" / "b.txt").write_text("b")
    handlers.clock = clock
    assert await interim_round(store, handlers, EVERY, clock) == 1  # the live one only
    state, _ = await queries.checkpoint(store, checkpoint_id(live, 1))
    assert state.status.value == "interim" and state.file_count == 2 and state.date_saved == clock()
    assert await interim_round(store, handlers, EVERY, clock) == 0  # just saved


async def test_restoring_into_a_running_studio_is_refused(store: EventStore, handlers: CheckpointHandlers,
                                                          tmp_path: Path) -> None:
    session = uuid.uuid4().hex[:8]
    await running(store, session)
    with pytest.raises(Conflict):
        await handlers.restore(RestoreCheckpoint(session_id=session, now=T0, actor="lifecycle", run=2,
                                                 workspace=str(tmp_path / "x")))
