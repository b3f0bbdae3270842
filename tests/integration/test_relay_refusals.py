"""The relay when JetStream refuses, or a message cannot be sent: only JetStream's acks move the checkpoint,
never another subscriber's answer; an event too large for the server is parked, never retried."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

import nats
import pytest
from nats.aio.client import Client as NATS
from nats.js.api import DiscardPolicy

from libs.bus import Relay, Topology, ensure_streams, relay_status
from libs.eventstore import EventStore, NewEvent
from libs.platform.metrics import registry
from tests.integration.bus_helpers import (  # noqa: F401
    AnsweringSubscriber,
    append_events,
    collect,
    count_by_msg_id,
    nats_server,
    nc_fixture,
    topology_fixture,
    wait_for,
)


@pytest.mark.parametrize("refusal", ["subjects-removed", "full-with-discard-new"])
async def test_no_checkpoint_passes_an_event_jetstream_did_not_store(
        store: EventStore, nc: NATS, nats_url: str, topology: Topology, refusal: str) -> None:
    """A plain subscriber answers every event with a JSON object while JetStream refuses: the checkpoint never
    passes an unstored event, and once JetStream accepts again every event is in EVENTS exactly once."""
    js = nc.jetstream()
    [config, *_] = topology.configs()
    stored = 0  # how many of the events JetStream can take while refusing
    if refusal == "subjects-removed":  # nothing answers but the subscriber
        await js.update_stream(dataclasses.replace(config, subjects=[f"{topology.events_prefix}_gone.>"]))
    else:
        stored = 30
        await js.update_stream(dataclasses.replace(config, max_msgs=stored, discard=DiscardPolicy.NEW))
    ids = await append_events(store, 200, per_append=50)
    events = await store.read_all()
    limit = events[stored - 1].global_position if stored else 0
    relay = Relay(store, nats_url, topology=topology, ack_timeout=0.5, leader_retry=0.05)
    stop = asyncio.Event()
    checkpoints: list[int] = []

    async def retried() -> bool | None:  # the relay tried every event and went back to its checkpoint
        checkpoints.append((await relay_status(store, topology=topology))["position"])
        return True if answering.seen[ids[stored]] >= 2 and len(answering.seen) == len(ids) else None

    async with AnsweringSubscriber(nc, topology) as answering:
        task = asyncio.create_task(relay.run(stop))
        try:
            await wait_for(retried)
            assert max(checkpoints) <= limit  # never past what JetStream stored
            assert (await js.stream_info(topology.events_stream)).state.messages == stored
            await js.update_stream(config)  # JetStream accepts again
            head = (await store.head()).global_position
            await wait_for(lambda: _at(store, topology, head))
        finally:
            stop.set()
            await asyncio.wait_for(task, 10)
    seen = await count_by_msg_id(js, topology)
    assert set(seen) == set(ids) and set(seen.values()) == {1}


async def test_an_event_too_large_for_max_payload_is_parked_not_retried(
        store: EventStore, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """The store takes events up to 256 KB; a server whose max_payload is smaller must not see them (it would
    close the connection at every try)."""
    with nats_server(tmp_path, max_payload=32 * 1024) as url:
        nc = await nats.connect(url)
        topology = Topology.unique()
        await ensure_streams(nc.jetstream(), topology)
        try:
            await _park_the_huge_one(store, nc, topology, caplog)
        finally:
            await nc.close()


async def _park_the_huge_one(store: EventStore, nc: NATS, topology: Topology,
                             caplog: pytest.LogCaptureFixture) -> None:
    big = "x" * nc.max_payload  # with the headers, past the server's limit
    assert nc.max_payload == 32 * 1024
    await store.append("thing-1", [NewEvent("Small", {"i": 1}), NewEvent("Huge", {"pad": big}),
                                   NewEvent("Small", {"i": 2})])
    [_, huge, last] = await store.read_all()
    relay = Relay(store, nc.jetstream(), topology=topology)
    labels = {"service": "bus", "consumer": relay.checkpoint, "reason": "too_large"}
    before = registry().get_sample_value("studios_bus_parked_events_total", labels) or 0.0
    try:
        assert await relay.run_once() == 2
        assert await relay.run_once() == 0  # parked once, never retried
    finally:
        await relay.step_down()
    parked = await store.pool.fetch("SELECT consumer, event_id, error FROM es.parked")
    assert [(p["consumer"], p["event_id"]) for p in parked] == [(relay.checkpoint, huge.event_id)]
    assert "max_payload" in parked[0]["error"]
    assert registry().get_sample_value("studios_bus_parked_events_total", labels) == before + 1
    assert any("parked event" in r.getMessage() and str(huge.event_id) in r.getMessage() for r in caplog.records)
    status = await relay_status(store, topology=topology)
    assert status["position"] == last.global_position and status["parked"] == 1
    assert nc.is_connected and nc.stats["reconnects"] == 0  # the server never had to close the connection
    msgs = await collect(nc.jetstream(), topology.events_stream, f"{topology.events_prefix}.>")
    assert [m.subject.rsplit(".", 1)[1] for m in msgs] == ["Small", "Small"]


async def _at(store: EventStore, topology: Topology, head: int) -> bool | None:
    return True if (await relay_status(store, topology=topology))["position"] == head else None
