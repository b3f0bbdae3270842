"""A relay in its own process, for kill tests: ``python -m tests.integration.workers.relay_worker ...``.

``--pace`` sleeps after each read so a test can SIGKILL it mid-run; SIGTERM stops it cleanly.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from typing import Any

import nats

from libs.bus import publishing
from libs.bus.relay import Relay
from libs.bus.streams import Topology
from libs.eventstore import EventStore, create_pool


def _paced(pace: float) -> Any:
    read = publishing.read_ready

    async def paced_read(*args: Any, **kwargs: Any) -> Any:
        rows = await read(*args, **kwargs)
        await asyncio.sleep(pace)
        return rows

    return paced_read


async def main(ns: argparse.Namespace) -> None:
    topology = Topology(events_stream=ns.events_stream, events_prefix=ns.events_prefix)
    if ns.pace:
        publishing.read_ready = _paced(ns.pace)  # type: ignore[assignment]
    store = EventStore(await create_pool(ns.database_url, min_size=1, max_size=3))
    nc = await nats.connect(ns.nats_url)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    relay = Relay(store, nc.jetstream(), topology=topology, batch=ns.batch, window=ns.window,
                  dsn=ns.database_url, leader_retry=0.2, lease_ttl=ns.lease_ttl,
                  ack_timeout=min(10.0, ns.lease_ttl / 3))
    print("worker started", flush=True)
    await relay.run(stop)
    await nc.drain()
    await store.close()


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    for arg in ("--database-url", "--nats-url", "--events-stream", "--events-prefix"):
        p.add_argument(arg, required=True)
    p.add_argument("--pace", type=float, default=0.0)
    p.add_argument("--batch", type=int, default=1000)
    p.add_argument("--window", type=int, default=1000)
    p.add_argument("--lease-ttl", type=float, default=30.0)
    logging.basicConfig(stream=sys.stdout, level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    asyncio.run(main(p.parse_args()))
