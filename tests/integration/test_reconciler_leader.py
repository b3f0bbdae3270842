"""Two lifecycle replicas, two reconcilers, one store: only the holder of the leader lock reconciles.

Each replica here has its own backend, as two hosts would: the standby's backend lists none of the leader's
sessions, so a standby that acted would record them vanished (``RECONCILED``). It must not.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from libs.contracts.studio import StopReason, StudioStatus
from libs.eventstore import EventStore
from services.lifecycle.backends.fake import FakeBackend
from services.lifecycle.handlers import StudioHandlers
from services.lifecycle.sessions.leadership import LeaderLock
from services.lifecycle.sessions.provisioning import Provisioner
from services.lifecycle.sessions.reconciler import Reconciler
from services.lifecycle.sessions.runner import SessionRunner
from tests.integration.lifecycle_harness import create

KEY = b"k" * 32


@dataclass
class Replica:
    backend: FakeBackend
    runner: SessionRunner
    reconciler: Reconciler
    lock: LeaderLock


@pytest.fixture
async def replicas(store: EventStore, database_url: str, tmp_path: Path) -> AsyncIterator[tuple[Replica, Replica]]:
    made = []
    handlers = StudioHandlers(store)
    for name in ("a", "b"):
        backend = FakeBackend()
        runner = SessionRunner(handlers, backend, Provisioner(store, tmp_path / name, KEY))
        lock = LeaderLock(database_url)
        made.append(Replica(backend, runner, Reconciler(store, handlers, runner, backend, leader=lock), lock))
    try:
        yield made[0], made[1]
    finally:
        for r in made:
            await r.lock.release()


async def _running_on(replica: Replica, handlers: StudioHandlers, name: str) -> str:
    cmd = create(name)
    await handlers.handle(cmd)
    replica.runner.start(cmd.session_id, 1)
    await replica.runner.drain()
    assert (await handlers.state(cmd.session_id)).status is StudioStatus.RUNNING
    return cmd.session_id


async def test_two_reconcilers_never_both_act(replicas: tuple[Replica, Replica]) -> None:
    a, b = replicas
    acted = await asyncio.gather(a.reconciler.run_once(), b.reconciler.run_once())
    assert sorted(acted) == [False, True]
    for _ in range(3):  # and it stays that way, pass after pass, whoever asks first
        assert sorted(await asyncio.gather(b.reconciler.run_once(), a.reconciler.run_once())) == [False, True]
    assert a.lock.held != b.lock.held


async def test_the_standby_does_not_stop_the_leaders_sessions(
        replicas: tuple[Replica, Replica], store: EventStore) -> None:
    a, b = replicas
    handlers = a.reconciler.handlers
    sid = await _running_on(a, handlers, "on-host-a")
    assert await a.reconciler.run_once()
    assert not await b.reconciler.run_once()  # its backend does not list the session, and it did nothing
    state = await handlers.state(sid)
    assert state.status is StudioStatus.RUNNING and a.backend.stopped == [] and b.backend.stopped == []

    # A whole-system shutdown seen by the standby stops nothing either: only the leader speaks for the store.
    await b.reconciler.shutdown()
    assert (await handlers.state(sid)).status is StudioStatus.RUNNING and a.backend.stopped == []


async def test_when_the_leader_goes_the_other_takes_over(
        replicas: tuple[Replica, Replica], store: EventStore) -> None:
    a, b = replicas
    handlers = a.reconciler.handlers
    sid = await _running_on(a, handlers, "host-a-goes")
    assert await a.reconciler.run_once() and not await b.reconciler.run_once()
    await a.reconciler.release()  # replica a exits (a restart): the lock is free at once
    assert await b.reconciler.run_once()
    assert not await a.reconciler.run_once()
    # host a's sessions are invisible to b's backend, so b, now leading, records them vanished: proof it acts
    state = await handlers.state(sid)
    assert state.status is StudioStatus.STOPPED and state.stop_reason is StopReason.RECONCILED


async def test_a_leader_whose_connection_died_steps_down(
        replicas: tuple[Replica, Replica], store: EventStore) -> None:
    a, b = replicas
    assert await a.reconciler.run_once()
    await store.pool.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name LIKE $1 || '%' "
        "AND pid IN (SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted)", a.lock.name)
    for _ in range(200):  # the server ends that session, and its lock, a moment after it was asked to
        if await b.reconciler.run_once():
            break
        await asyncio.sleep(0.05)
    assert b.lock.held
    assert not await a.reconciler.run_once() and not a.lock.held


async def test_two_lifecycles_starting_one_studio_keep_its_one_process(
        store: EventStore, tmp_path: Path) -> None:
    # One host (a shared backend), two runners: a replica's start and another's resume of it race. The loser finds
    # the winner recorded the very process it adopted, and must not stop it as "no longer wanted".
    handlers, backend = StudioHandlers(store), FakeBackend()
    runners = [SessionRunner(handlers, backend, Provisioner(store, tmp_path / n, KEY)) for n in ("a", "b")]
    cmd = create("raced-start")
    await handlers.handle(cmd)
    for runner in runners:
        runner.start(cmd.session_id, 1)
    await asyncio.gather(*(r.drain() for r in runners))
    state = await handlers.state(cmd.session_id)
    assert state.status is StudioStatus.RUNNING
    assert [h.ident for h in await backend.list_sessions()] == [(state.handle or {})["ident"]]
    assert backend.stopped == []
