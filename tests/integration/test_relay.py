"""The relay against real PostgreSQL and NATS: contract (on both publish paths), exactly once across SIGKILLs,
the LISTEN wake-up. Refusals and oversized events: ``test_relay_refusals.py``; leadership:
``test_relay_leadership.py``."""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import json
import re
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from nats.aio.client import Client as NATS

from libs.bus import Relay, Topology, ensure_streams, make_broker, relay_status
from libs.bus import headers as h
from libs.eventstore import EventStore, NewEvent, RecordedEvent, Subscription
from libs.eventstore.wakeup import listening
from tests.integration.bus_helpers import (  # noqa: F401
    append_events,
    collect,
    nc_fixture,
    spawn_relay,
    topology_fixture,
    wait_for,
)


@pytest.mark.parametrize("fast_path", [True, False], ids=["write-buffer", "public-publish"])
async def test_relay_publishes_the_contract(store: EventStore, nc: NATS, topology: Topology,
                                            fast_path: bool) -> None:
    meta = {"correlation_id": "corr-1", "causation_id": "cause-1", "traceparent": "00-abc-def-01"}
    await store.append("studio-42", [NewEvent("StudioCreated", {"name": "x"}, meta),
                                     NewEvent("Studio.Renamed", {"name": "y"})])
    relay = Relay(store, nc.jetstream(), topology=topology, fast_path=fast_path)
    try:
        assert await relay.run_once() == 2
        assert await relay.run_once() == 0
    finally:
        await relay.step_down()
    assert relay.fast_path is fast_path
    first, second = await collect(nc.jetstream(), topology.events_stream, f"{topology.events_prefix}.>")
    [e1, e2] = await store.read_all()
    assert first.subject == f"{topology.events_prefix}.studio.StudioCreated"
    assert second.subject == f"{topology.events_prefix}.studio.Studio_Renamed"
    assert json.loads(first.data) == {"name": "x"}
    hd = first.headers or {}
    assert hd[h.MSG_ID] == str(e1.event_id) and hd[h.CORRELATION_ID] == "corr-1"
    assert hd[h.CAUSATION_ID] == "cause-1" and hd[h.TRACEPARENT] == "00-abc-def-01"
    env = h.Envelope.from_headers(hd)
    assert (env.event_id, env.global_position, env.tx_id) == (e1.event_id, e1.global_position, e1.tx_id)
    assert (env.stream, env.stream_position, env.event_type, env.schema_version) == ("studio-42", 0,
                                                                                     "StudioCreated", 1)
    assert env.recorded_at == e1.recorded_at
    assert h.CORRELATION_ID not in (second.headers or {})
    assert h.Envelope.from_headers(second.headers or {}).global_position == e2.global_position
    status = await relay_status(store, topology=topology)
    assert status["position"] == status["head"] == e2.global_position and status["lag"] == 0
    assert status["leader"] is None and status["epoch"] == 1 and status["parked"] == 0


async def _wait_for(check: Any, within: float = 60.0) -> dict[str, Any]:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        status = await check()
        if status is not None:
            return status  # type: ignore[no-any-return]
        await asyncio.sleep(0.01)
    raise TimeoutError("condition not reached")


def _status_when(store: EventStore, topology: Topology, pred: Any) -> Any:
    async def check() -> dict[str, Any] | None:
        status = await relay_status(store, topology=topology)
        return status if pred(status) else None
    return check


def _kill(proc: subprocess.Popen[bytes], sig: int = signal.SIGKILL) -> None:
    proc.send_signal(sig)
    proc.wait(10)


async def _assert_exactly_once(nc: NATS, topology: Topology,
                               ids: list[str]) -> None:
    msgs = await collect(nc.jetstream(), topology.events_stream, f"{topology.events_prefix}.>")
    seen = collections.Counter((m.headers or {})[h.MSG_ID] for m in msgs)
    assert len(msgs) == len(ids) and set(seen) == set(ids) and max(seen.values()) == 1
    positions = [int((m.headers or {})[h.GLOBAL_POSITION]) for m in msgs]
    assert positions == sorted(positions)  # one writer, so commit order = position order here


@pytest.mark.slow
async def test_relay_killed_mid_batch_publishes_each_event_once(
        store: EventStore, database_url: str, nats_url: str, nc: NATS,
        topology: Topology, tmp_path: Path) -> None:
    ids = await append_events(store, 5000)
    head = (await store.head()).global_position
    killed_at = []
    for n, threshold in enumerate((1000, 2500)):
        log = tmp_path / f"run{n}.log"
        proc = spawn_relay(database_url, nats_url, topology, log)
        try:
            status = await _wait_for(_status_when(store, topology, lambda s, t=threshold: s["position"] >= t))
        finally:
            _kill(proc)
        info = await nc.jetstream().stream_info(topology.events_stream)
        killed_at.append((status["position"], info.state.messages))
        assert status["position"] < head
    assert killed_at[1][0] > killed_at[0][0] > 0
    # published past the checkpoint when killed: the restart republishes those and JetStream drops the repeats
    assert any(messages > position for position, messages in killed_at)
    log = tmp_path / "final.log"
    proc = spawn_relay(database_url, nats_url, topology, log, pace=0)
    try:
        await _wait_for(_status_when(store, topology, lambda s: s["position"] == head and s["lag"] == 0))
    finally:
        _kill(proc, signal.SIGTERM)
    assert _resumed_from(tmp_path / "run0.log") == [0]
    assert _resumed_from(tmp_path / "run1.log") == [killed_at[0][0]]  # not from zero: from its checkpoint
    assert _resumed_from(log) == [killed_at[1][0]]
    await _assert_exactly_once(nc, topology, ids)


def _resumed_from(log: Path) -> list[int]:
    return [int(n) for n in re.findall(r"leader \(pid \d+, epoch \d+\), resuming after position (\d+)",
                                       log.read_text())]


def _leader_pid(status: dict[str, Any]) -> int | None:
    leader = status["leader"]
    return int(leader["application_name"].rsplit(":", 1)[1]) if leader else None


@pytest.mark.slow
async def test_two_relays_one_publishes_and_the_other_takes_over(
        store: EventStore, database_url: str, nats_url: str, nc: NATS,
        topology: Topology, tmp_path: Path) -> None:
    ids = await append_events(store, 5000)
    head = (await store.head()).global_position
    procs = {p.pid: (p, tmp_path / f"{i}.log") for i, p in enumerate(
        spawn_relay(database_url, nats_url, topology, tmp_path / f"{i}.log") for i in range(2))}
    try:
        status = await _wait_for(_status_when(store, topology, lambda s: s["position"] >= 1000))
        leader = _leader_pid(status)
        assert leader in procs
        [other] = [pid for pid in procs if pid != leader]
        assert "leader" not in procs[other][1].read_text()
        _kill(procs[leader][0])
        status = await _wait_for(_status_when(store, topology, lambda s: s["position"] == head))
        assert _leader_pid(status) == other
        assert _resumed_from(procs[other][1])[0] >= 1000
    finally:
        for proc, _ in procs.values():
            if proc.poll() is None:
                _kill(proc, signal.SIGTERM)
    await _assert_exactly_once(nc, topology, ids)


async def test_streams_are_ensured_idempotently_and_the_broker_publishes_into_them(
        nats_url: str, nc: NATS, topology: Topology) -> None:
    js = nc.jetstream()
    await ensure_streams(js, topology)  # again, unchanged
    longer = dataclasses.replace(topology, events_max_age=60 * 86_400.0)
    await ensure_streams(js, longer)  # updated in place
    info = await js.stream_info(topology.events_stream)
    assert info.config.max_age == 60 * 86_400.0 and info.config.duplicate_window == 15 * 60.0
    assert info.config.subjects == [f"{topology.events_prefix}.>"]
    assert (await js.stream_info(topology.replay_stream)).config.subjects == [f"{topology.replay_prefix}.>"]
    broker = make_broker(nats_url, name="test-broker", quiet=True)
    await broker.connect()
    try:
        assert broker.publish_timeout == 10.0
        ack = await broker.publish({"x": 1}, f"{topology.logs_prefix}.session.s1", stream=topology.logs_stream)
        assert ack.stream == topology.logs_stream and ack.seq == 1
        assert (await broker.js.stream_info(topology.logs_stream)).state.messages == 1
    finally:
        await broker.stop()


class CountingSubscription(Subscription):
    """A subscription that says when each of its passes is over (so a test knows it is waiting, not reading)."""

    passes: list[int]

    async def run_once(self) -> int:
        n = await super().run_once()
        self.passes = [*getattr(self, "passes", []), n]
        return n


async def test_a_relay_pass_wakes_a_follower_in_another_process_by_listen(
        store: EventStore, nc: NATS, topology: Topology, database_url: str) -> None:
    """The follower's poll is a minute long; the relay's one NOTIFY per pass is what brings the event in now."""
    seen: list[str] = []

    async def handler(conn: object, event: RecordedEvent) -> None:
        seen.append(event.event_type)

    follower = CountingSubscription(store, "wakeup-test", handler, poll_min=60, poll_max=60)
    relay = Relay(store, nc.jetstream(), topology=topology)
    stop = asyncio.Event()
    async with listening(database_url) as woken:
        task = asyncio.create_task(follower.run(stop, wake=woken))
        try:
            # its first pass is over and found nothing: it is in (or entering) its minute-long wait
            assert await wait_for(lambda: _async(getattr(follower, "passes", None)), within=30) == [0]
            await store.append("thing-1", [NewEvent("Appended", {})])
            assert await relay.run_once() == 1
            # its second pass, within half its poll: only the wake-up can have started it
            await wait_for(lambda: _async(len(follower.passes) >= 2 or None), within=30)
            assert seen == ["Appended"] and follower.passes[:2] == [0, 1]
        finally:
            stop.set()
            await relay.step_down()
            await asyncio.wait_for(task, 10)


async def _async(value: Any) -> Any:
    return value
