"""Two lifecycle replicas on one host never work on one studio at once (``sessions/claims.py``).

Each replica here is a runner with claims of its own (its own PostgreSQL connection, as a process has); both
share one backend, as replicas on one host do.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from libs.contracts.studio import StudioStatus, stream_name
from libs.contracts.studio_state import State
from libs.eventstore import EventStore
from libs.testing.waiting import wait_for
from services.lifecycle.backends.fake import FakeBackend
from services.lifecycle.handlers import StudioHandlers
from services.lifecycle.sessions.claims import SessionClaims
from services.lifecycle.sessions.provisioning import Provisioner
from services.lifecycle.sessions.reconciler import Reconciler
from services.lifecycle.sessions.runner import SessionRunner
from tests.integration.lifecycle_harness import create

KEY = b"k" * 32


@pytest.fixture
async def claims(database_url: str) -> AsyncIterator[tuple[SessionClaims, SessionClaims]]:
    a, b = SessionClaims(database_url, poll=0.05), SessionClaims(database_url, poll=0.05)
    try:
        yield a, b
    finally:
        await a.close()
        await b.close()


def replica(store: EventStore, backend: FakeBackend, workspaces: Path, claims: SessionClaims) -> SessionRunner:
    runner = SessionRunner(StudioHandlers(store), backend, Provisioner(store, workspaces, KEY))
    runner.claims = runner.watcher.claims = claims
    return runner


async def events_of(store: EventStore, sid: str) -> list[tuple[str, dict[str, object]]]:
    rows = await store.pool.fetch("SELECT event_type, data::text AS data FROM es.events WHERE stream_name = $1 "
                                  "ORDER BY stream_position", stream_name(sid))
    return [(r["event_type"], json.loads(r["data"])) for r in rows]


class SlowRestores:
    """The checkpoints client, counting restores that each take a while (a workspace being written)."""

    def __init__(self) -> None:
        self.restores: list[str] = []
        self.busy = asyncio.Event()

    async def restore(self, state: State) -> str:
        self.restores.append(state.session_id)
        self.busy.set()
        await asyncio.sleep(0.5)
        return "restored"

    async def finalize(self, state: State) -> None:
        return None


async def test_a_start_under_way_in_one_replica_is_not_resumed_by_the_other(
        store: EventStore, tmp_path: Path, claims: tuple[SessionClaims, SessionClaims]) -> None:
    backend = FakeBackend()
    a, b = (replica(store, backend, tmp_path, c) for c in claims)
    checkpoints = SlowRestores()
    a.checkpoints = b.checkpoints = checkpoints  # type: ignore[assignment]
    cmd = create("claimed-start")
    await a.handlers.handle(cmd)
    a.start(cmd.session_id, 1)
    await asyncio.wait_for(checkpoints.busy.wait(), 30)  # replica a is restoring the workspace
    b.start(cmd.session_id, 1)  # what b's reconciler does: the studio is starting and b has no task for it
    await asyncio.gather(a.drain(), b.drain())

    state = await a.handlers.state(cmd.session_id)
    assert state.status is StudioStatus.RUNNING
    assert checkpoints.restores == [cmd.session_id]  # one restore into the workspace, not two at once
    steps = Counter((d["step"], d["status"]) for t, d in await events_of(store, cmd.session_id)
                    if t == "StudioProgressRecorded")
    assert steps and all(n == 1 for n in steps.values()), steps  # each step recorded once


async def test_a_tool_two_replicas_watch_has_its_end_recorded_once(
        store: EventStore, tmp_path: Path, claims: tuple[SessionClaims, SessionClaims]) -> None:
    backend = FakeBackend()
    a, b = (replica(store, backend, tmp_path, c) for c in claims)
    finals: list[str] = []

    async def finalize(state: State) -> None:  # the run's final checkpoint, counted
        finals.append(state.session_id)
        await asyncio.sleep(0.2)  # a save takes a while: long enough for the other watcher to get there too

    a.watcher.finalize = b.watcher.finalize = finalize
    cmd = create("watched-twice")
    await a.handlers.handle(cmd)
    a.start(cmd.session_id, 1)
    await a.drain()
    state = await a.handlers.state(cmd.session_id)
    handle = (await backend.list_sessions())[0]
    b.watcher.watch(cmd.session_id, state.run, handle)  # b's reconciler adopted the running tool as well

    backend.crash(handle, exit_code=3)
    await wait_for(lambda: _ended(a.handlers, cmd.session_id), until=bool, within=30, what="the end recorded")
    await wait_for(lambda: not (a.watcher.watching(cmd.session_id) or b.watcher.watching(cmd.session_id)) or None,
                   within=30, what="both watchers done")
    assert finals == [cmd.session_id]
    ends = [t for t, _ in await events_of(store, cmd.session_id) if t == "StudioSessionStopped"]
    assert ends == ["StudioSessionStopped"]


async def _ended(handlers: StudioHandlers, sid: str) -> bool:
    return (await handlers.state(sid)).status is not StudioStatus.RUNNING


async def test_a_vanished_tool_seen_by_the_leaders_reconciler_and_the_other_replicas_watcher_ends_once(
        store: EventStore, tmp_path: Path, claims: tuple[SessionClaims, SessionClaims]) -> None:
    backend = FakeBackend()
    a, b = (replica(store, backend, tmp_path, c) for c in claims)
    finals: list[str] = []

    async def finalize(state: State) -> None:
        finals.append(state.session_id)
        await asyncio.sleep(0.2)  # a save takes a while: the reconciler's pass comes meanwhile

    a.watcher.finalize = finalize
    b.checkpoints = SlowRestores()  # type: ignore[assignment]  # b's finalize is counted too
    b.checkpoints.finalize = finalize  # type: ignore[method-assign]
    cmd = create("vanished-once")
    await a.handlers.handle(cmd)
    a.start(cmd.session_id, 1)  # replica a runs it and watches it
    await a.drain()
    handle = (await backend.list_sessions())[0]
    backend.crash(handle, exit_code=3)
    await wait_for(lambda: finals or None, within=30, what="a's watcher finalizing")
    leader = Reconciler(store, b.handlers, b, backend)  # replica b leads: its pass finds the process gone
    assert await leader.run_once()
    await wait_for(lambda: _ended(a.handlers, cmd.session_id), until=bool, within=30, what="the end recorded")
    await wait_for(lambda: not a.watcher.watching(cmd.session_id) or None, within=30, what="a's watcher done")
    assert finals == [cmd.session_id]
    ends = [t for t, _ in await events_of(store, cmd.session_id) if t == "StudioSessionStopped"]
    assert ends == ["StudioSessionStopped"]
