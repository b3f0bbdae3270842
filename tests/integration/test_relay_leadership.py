"""Relay leadership against real PostgreSQL and NATS: non-leaders wait on the lock, a paused leader is superseded
by a lease PostgreSQL enforces, and its stale epoch neither moves the checkpoint nor publishes."""

from __future__ import annotations

import asyncio
import contextvars
import signal
from pathlib import Path
from typing import Any

import nats
import pytest
from nats.aio.client import Client as NATS

from libs.bus import publishing, relay_status
from libs.bus.leadership import LostLeadership
from libs.bus.relay import Relay
from libs.bus.streams import Topology
from libs.eventstore import EventStore
from libs.eventstore import checkpoints as cp
from libs.eventstore.errors import CheckpointMoved
from tests.integration.bus_helpers import (  # noqa: F401
    append_events,
    count_by_msg_id,
    nc_fixture,
    spawn_relay,
    topology_fixture,
    wait_for,
)

#: set in the task of a relay that is to "pause" (block) before reading its next batch
_PAUSE: contextvars.ContextVar[asyncio.Event | None] = contextvars.ContextVar("pause", default=None)


@pytest.fixture
def pausable_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    """Reads after the first batch wait for the ``_PAUSE`` gate of the task that reads (others are unaffected)."""
    read = publishing.read_ready

    async def paused_read(pool: Any, after: Any, *args: Any, **kwargs: Any) -> Any:
        if (gate := _PAUSE.get()) is not None and after.global_position > 0:
            await gate.wait()
        return await read(pool, after, *args, **kwargs)

    monkeypatch.setattr(publishing, "read_ready", paused_read)


async def _waiting_on_lock(store: EventStore) -> list[int]:
    rows = await store.pool.fetch(
        """SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'
              AND wait_event = 'advisory' AND query LIKE '%pg_advisory_lock(%'""")
    return [r["pid"] for r in rows]


async def _status(store: EventStore, topology: Topology) -> dict[str, Any]:
    return await relay_status(store, topology=topology)


async def test_a_non_leader_waits_on_the_lock_and_takes_over_on_the_same_connection(
        store: EventStore, nats_url: str, nc: NATS, topology: Topology) -> None:
    """The leader renews its 3 s lease while idle, so the waiting one never gets the lock until it stops."""
    first, second = (Relay(store, nats_url, topology=topology, lease_ttl=3.0, ack_timeout=1.0) for _ in range(2))
    stops = [asyncio.Event(), asyncio.Event()]
    ids = await append_events(store, 100)
    tasks = [asyncio.create_task(first.run(stops[0]))]
    try:
        await wait_for(lambda: _if(_status(store, topology), lambda s: s["leader"] and s["lag"] == 0))
        tasks.append(asyncio.create_task(second.run(stops[1])))
        [waiter] = await wait_for(lambda: _if(_waiting_on_lock(store), bool))
        ids += await append_events(store, 100)  # the leader goes on; the other one keeps waiting, unconnected anew
        head = (await store.head()).global_position
        await wait_for(lambda: _if(_status(store, topology), lambda s: s["position"] == head))
        assert await _waiting_on_lock(store) == [waiter]
        renewed = first.leadership.renewals
        await wait_for(lambda: _async(first.leadership.renewals >= renewed + 4 or None))  # idle past its ttl
        assert await _waiting_on_lock(store) == [waiter] and (await _status(store, topology))["epoch"] == 1
        stops[0].set()  # the leader stops: its lock goes to the waiting connection
        await asyncio.wait_for(tasks[0], 10)
        ids += await append_events(store, 100)
        head = (await store.head()).global_position
        status = await wait_for(lambda: _if(_status(store, topology), lambda s: s["position"] == head))
        assert status["leader"]["pid"] == waiter and status["epoch"] == 2
    finally:
        for stop in stops:
            stop.set()
        await asyncio.gather(*tasks)
    seen = await count_by_msg_id(nc.jetstream(), topology)
    assert set(seen) == set(ids) and set(seen.values()) == {1}


async def test_run_publishes_on_a_nats_connection_of_its_own(
        store: EventStore, nc: NATS, topology: Topology) -> None:
    """Given the service's client, ``run`` opens its own connection to the same servers (and closes it)."""
    relay = Relay(store, nc.jetstream(), topology=topology)
    ids = await append_events(store, 10)
    stop = asyncio.Event()
    task = asyncio.create_task(relay.run(stop))
    try:
        head = (await store.head()).global_position
        await wait_for(lambda: _if(_status(store, topology), lambda s: s["position"] == head))
        own = relay._own
        assert own is not None and own is not nc and own.is_connected and own.client_id != nc.client_id
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
    assert relay._own is None and own.is_closed and nc.is_connected
    assert set(await count_by_msg_id(nc.jetstream(), topology)) == set(ids)


async def test_a_paused_leader_is_superseded_and_its_stale_epoch_is_refused(
        store: EventStore, nats_url: str, nc: NATS, topology: Topology, pausable_reads: None) -> None:
    """The old leader blocks between two batches past its lease (2 s); the other takes over and publishes
    everything; woken up, the old one publishes nothing more and cannot move the checkpoint."""
    ids = await append_events(store, 300, per_append=50)
    own = await nats.connect(nats_url)  # the paused relay's: its public publishes show in its stats
    paused = Relay(store, own, topology=topology, batch=50, lease_ttl=2.0, ack_timeout=1.0, fast_path=False)
    other = Relay(store, nats_url, topology=topology, lease_ttl=2.0, ack_timeout=1.0)
    gate, stop = asyncio.Event(), asyncio.Event()

    async def paused_pass() -> int:
        _PAUSE.set(gate)
        return await paused.run_once()

    old = asyncio.create_task(paused_pass())
    await wait_for(lambda: _if(_status(store, topology), lambda s: s["epoch"] == 1))
    taking_over = asyncio.create_task(other.run(stop))
    try:
        head = (await store.head()).global_position
        status = await wait_for(lambda: _if(_status(store, topology), lambda s: s["position"] == head))
        assert status["epoch"] == 2 and not old.done()
        before = own.stats["out_msgs"]
        assert before >= 50  # its first batch
        gate.set()  # the old leader wakes up with a batch read and its epoch-1 lease long gone
        with pytest.raises(LostLeadership):
            await asyncio.wait_for(old, 10)
        assert own.stats["out_msgs"] == before  # it published nothing after the pause
        async with store.pool.acquire() as conn:
            at = (await cp.load(conn, paused.checkpoint)).position
            with pytest.raises(CheckpointMoved):  # the position matches; the epoch does not
                await cp.advance_as_leader(conn, paused.checkpoint, at, at, epoch=1)
        assert (await _status(store, topology))["position"] == head
    finally:
        stop.set()
        await asyncio.wait_for(taking_over, 10)
        await own.close()
    seen = await count_by_msg_id(nc.jetstream(), topology)
    assert set(seen) == set(ids) and set(seen.values()) == {1}


async def _if(value: Any, pred: Any) -> Any:
    got = await value
    return got if pred(got) else None


@pytest.mark.slow
async def test_a_leader_stopped_by_sigstop_is_superseded_and_stands_down_on_sigcont(
        store: EventStore, database_url: str, nats_url: str, nc: NATS, topology: Topology,
        tmp_path: Path) -> None:
    ids = await append_events(store, 3000)
    head = (await store.head()).global_position
    logs = [tmp_path / "stopped.log", tmp_path / "other.log"]
    stopped = spawn_relay(database_url, nats_url, topology, logs[0], lease_ttl=2.0)
    procs = [stopped]
    try:
        await wait_for(lambda: _if(_status(store, topology), lambda s: s["position"] >= 500))
        stopped.send_signal(signal.SIGSTOP)  # a frozen leader: its PostgreSQL session stays open
        other = spawn_relay(database_url, nats_url, topology, logs[1], pace=0, lease_ttl=2.0)
        procs.append(other)
        status = await wait_for(lambda: _if(_status(store, topology), lambda s: s["position"] == head))
        assert status["epoch"] == 2 and status["leader"]["application_name"].endswith(f":{other.pid}")
        stopped.send_signal(signal.SIGCONT)
        await wait_for(lambda: _if(_async(logs[0].read_text()), lambda t: "stepping down" in t), within=30)
        ids += await append_events(store, 500)
        head = (await store.head()).global_position
        status = await wait_for(lambda: _if(_status(store, topology), lambda s: s["position"] == head))
        assert status["epoch"] == 2 and status["leader"]["application_name"].endswith(f":{other.pid}")
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGCONT)
            proc.terminate()
            proc.wait(10)
    assert logs[0].read_text().count("leader (pid") == 1  # it never led again: the other held the lock
    seen = await count_by_msg_id(nc.jetstream(), topology)
    assert set(seen) == set(ids) and set(seen.values()) == {1}


async def _async(value: Any) -> Any:
    return value
