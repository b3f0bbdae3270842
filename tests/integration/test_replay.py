"""Replays: every event in range under ``<event id>:<replay id>``, resumable, never twice per replay id."""

from __future__ import annotations

import asyncio
import collections

from nats.aio.client import Client as NATS

from libs.bus import Topology, replay
from libs.bus import headers as h
from libs.bus.publishing import load_checkpoint
from libs.bus.replay import replay_checkpoint
from libs.eventstore import EventStore
from tests.integration.bus_helpers import append_events, collect, nc_fixture, topology_fixture  # noqa: F401


async def _replayed(nc: NATS, topology: Topology, replay_id: str,
                    expect: int | None = None) -> collections.Counter[str]:
    # With several replays in the stream, say how many this one should have: the stream's total is not it.
    msgs = await collect(nc.jetstream(), topology.replay_stream, f"{topology.replay_prefix}.{replay_id}.>",
                         expect=expect)
    return collections.Counter((m.headers or {})[h.MSG_ID] for m in msgs)


async def test_replay_publishes_the_range_once_per_replay_id(store: EventStore, nc: NATS,
                                                             topology: Topology) -> None:
    ids = await append_events(store, 1000)
    js = nc.jetstream()
    assert await replay(store, js, replay_id="r1", subject_prefix=topology.replay_prefix) == 1000
    assert await _replayed(nc, topology, "r1") == collections.Counter(f"{i}:r1" for i in ids)
    [msg] = await collect(js, topology.replay_stream, f"{topology.replay_prefix}.r1.thing.>", expect=1)
    assert msg.subject == f"{topology.replay_prefix}.r1.thing.ThingHappened"
    assert (msg.headers or {})[h.REPLAY_ID] == "r1" and (msg.headers or {})[h.EVENT_ID] == ids[0]

    assert await replay(store, js, replay_id="r1", subject_prefix=topology.replay_prefix) == 0  # done already
    assert await replay(store, js, replay_id="r2", subject_prefix=topology.replay_prefix) == 1000
    assert await _replayed(nc, topology, "r2", expect=len(ids)) == collections.Counter(f"{i}:r2" for i in ids)
    assert (await js.stream_info(topology.replay_stream)).state.messages == 2 * len(ids)  # nothing twice
    events = (await js.stream_info(topology.events_stream)).state.messages
    assert events == 0  # a replay never lands on the live stream


async def test_an_interrupted_replay_resumes_without_repeats(store: EventStore,
                                                             nc: NATS,
                                                             topology: Topology) -> None:
    ids = await append_events(store, 3000)
    js = nc.jetstream()
    task = asyncio.create_task(replay(store, js, replay_id="cut", subject_prefix=topology.replay_prefix,
                                      batch=100, window=50))
    while (await js.stream_info(topology.replay_stream)).state.messages < 1000:  # noqa: ASYNC110
        await asyncio.sleep(0.005)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    saved = (await load_checkpoint(store, replay_checkpoint("cut"))).global_position
    assert saved > 0
    after = await store.pool.fetchval("SELECT count(*) FROM es.events WHERE global_position > $1", saved)
    published = await replay(store, js, replay_id="cut", subject_prefix=topology.replay_prefix)
    assert published == after  # resumed from the checkpoint (0 if the cut came too late to cut anything)
    assert await _replayed(nc, topology, "cut") == collections.Counter(f"{i}:cut" for i in ids)


async def test_replay_by_range_and_category(store: EventStore, nc: NATS,
                                            topology: Topology) -> None:
    ids = await append_events(store, 1000)  # positions 1..1000; thing: 1-100, 201-300, ...
    n = await replay(store, nc.jetstream(), replay_id="part", from_position=101, until_position=600,
                     categories=["widget"], subject_prefix=topology.replay_prefix)
    expected = [i for pos, i in enumerate(ids, 1) if 101 <= pos <= 600 and (pos - 1) // 100 % 2 == 1]
    assert n == len(expected) == 300
    assert await _replayed(nc, topology, "part") == collections.Counter(f"{i}:part" for i in expected)
