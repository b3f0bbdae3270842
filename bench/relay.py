"""Relay throughput into JetStream vs raw pipelined nats-py ``publish_async`` on the same server.

    python -m bench.relay [--events 100000]

Uses ``DATABASE_URL``/``NATS_URL`` when set, else embedded servers (``bench.common``). The store is
filled with ``--events`` events of ~300 bytes first (not timed). Then, each into a stream of its own:
``baseline`` publishes the same payloads with ``Nats-Msg-Id`` through ``publish_async`` as fast as nats-py lets it
(payloads and headers built beforehand), ``ours`` runs ``Relay.run_once()`` from checkpoint zero: read by commit
horizon from PostgreSQL, full header set, bounded ack window, leadership confirmed before each batch,
checkpoint advanced (under the leader epoch) as acks arrive; ``relay-public-publish`` is the same relay on
nats-py's public ``publish`` (the fallback when the private write buffer is not found).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Sequence

import nats

from bench.common import Stopwatch, infrastructure, parse_args, report, scratch_database
from libs.bus.relay import Relay
from libs.bus.streams import Topology, delete_streams, ensure_streams
from libs.eventstore import AppendRequest, EventStore, NewEvent


def event_data(i: int) -> dict[str, object]:
    return {"studio_id": str(uuid.UUID(int=i)), "n": i, "pad": "x" * 220}  # ~300 bytes as JSON


async def fill(store: EventStore, n: int) -> None:
    for start in range(0, n, 1000):
        await store.append_many([AppendRequest(f"studio-{start // 100 + k}", [
            NewEvent("StudioStarted", event_data(i), {"correlation_id": str(uuid.uuid4())})
            for i in range(start + 100 * k, min(start + 100 * (k + 1), n))]) for k in range(10)
            if start + 100 * k < n])


async def baseline(js: nats.js.JetStreamContext, topology: Topology, n: int) -> float:
    subject = f"{topology.events_prefix}.studio.StudioStarted"
    payloads = [json.dumps(event_data(i)).encode() for i in range(n)]
    headers = [{"Nats-Msg-Id": str(uuid.uuid4())} for _ in range(n)]
    with Stopwatch() as t:
        for payload, hdr in zip(payloads, headers, strict=True):
            await js.publish_async(subject, payload, headers=hdr)
        await js.publish_async_completed()
    return t.rate(n)


async def ours(store: EventStore, js: nats.js.JetStreamContext, topology: Topology, n: int,
               window: int, batch: int, fast_path: bool | None = None) -> float:
    relay = Relay(store, js, topology=topology, window=window, batch=batch, fast_path=fast_path)
    with Stopwatch() as t:
        published = await relay.run_once()
    await relay.step_down()
    assert published == n, f"relay published {published} of {n}"
    return t.rate(n)


async def run(events: int, database_url: str, nats_url: str, window: int = 1000, batch: int = 1000) -> None:
    async with scratch_database(database_url) as url:
        store = await EventStore.connect(url)
        try:
            await measure(store, nats_url, events, window, batch)
        finally:
            await store.close()


async def measure(store: EventStore, nats_url: str, events: int, window: int, batch: int) -> None:
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    base_t, ours_t, public_t = Topology.unique("bb"), Topology.unique("bo"), Topology.unique("bp")
    try:
        await fill(store, events)
        for t in (base_t, ours_t, public_t):
            await ensure_streams(js, t)
        raw = await baseline(js, base_t, events)
        mine = await ours(store, js, ours_t, events, window, batch)
        public = await ours(store, js, public_t, events, window, batch, fast_path=False)
        report("relay", mine, raw)
        report("relay-public-publish", public, raw)
    finally:
        for t in (base_t, ours_t, public_t):
            await delete_streams(js, t)
        await nc.drain()


def main(argv: Sequence[str] | None = None) -> None:
    events = parse_args(argv).events
    with infrastructure() as infra:
        asyncio.run(run(events, infra.database_url, infra.nats_url))


if __name__ == "__main__":
    main()
