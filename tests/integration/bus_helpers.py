"""Helpers shared by the bus tests: a NATS connection, a private stream topology, events, and stream contents."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator

import nats
import pytest
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from libs.bus.streams import Topology, delete_streams, ensure_streams
from libs.eventstore import AppendRequest, EventStore, NewEvent


@pytest.fixture(name="nc")
async def nc_fixture(nats_url: str) -> AsyncIterator[NATS]:
    conn = await nats.connect(nats_url)
    try:
        yield conn
    finally:
        await conn.drain()


@pytest.fixture(name="topology")
async def topology_fixture(nc: NATS) -> AsyncIterator[Topology]:
    t = Topology.unique()
    await ensure_streams(nc.jetstream(), t)
    try:
        yield t
    finally:
        await delete_streams(nc.jetstream(), t)


async def append_events(store: EventStore, n: int, *, per_append: int = 100,
                        categories: tuple[str, ...] = ("thing", "widget")) -> list[str]:
    """``n`` events of ~300 bytes over several streams; returns their ids in append order."""
    ids: list[str] = []
    for i in range(0, n, per_append):
        category = categories[(i // per_append) % len(categories)]
        events = [NewEvent("ThingHappened", {"n": i + j, "pad": "x" * 250},
                           {"correlation_id": f"c-{i}", "causation_id": f"k-{i + j}"})
                  for j in range(min(per_append, n - i))]
        await store.append_many([AppendRequest(f"{category}-{i // per_append}", events)])
        ids += [str(e.event_id) for e in events]
    return ids


async def collect(js: JetStreamContext, stream: str, subject: str, *, expect: int | None = None) -> list[Msg]:
    """Every message of ``stream`` on ``subject`` (all of them, or until ``expect`` arrived)."""
    total = (await js.stream_info(stream)).state.messages if expect is None else expect
    sub = await js.pull_subscribe(subject, stream=stream, config=ConsumerConfig(
        ack_policy=AckPolicy.NONE, deliver_policy=DeliverPolicy.ALL, inactive_threshold=30.0))
    msgs: list[Msg] = []
    deadline = time.monotonic() + 30
    try:
        while len(msgs) < total and time.monotonic() < deadline:
            with contextlib.suppress(TimeoutError):  # nats-py raises asyncio's (= builtin) TimeoutError
                msgs += await sub.fetch(min(1000, total - len(msgs)), timeout=5)
    finally:
        await sub.unsubscribe()
    return msgs
