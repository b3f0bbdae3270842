"""``read_all`` in a process that holds what a service imports, its startup heap frozen beside not frozen.

Each service freezes the heap it has once started (``libs.platform.heap``): the cyclic collector's full
collections otherwise walk those objects again and again while events are read. The baseline is the same reads
with that heap thawed, which is how services ran before; the two alternate in rounds. ``--events N`` (default
100,000, written ten to an append).
"""

from __future__ import annotations

import asyncio
import gc
import importlib
import statistics
from collections.abc import Sequence

from bench.common import infrastructure, parse_args, report, scratch_database
from bench.eventstore import event, read_ours
from libs.eventstore import EventStore, Expected
from libs.platform.heap import freeze_startup_heap

SERVICES = ("services.gateway.main", "services.lifecycle.main", "services.builder.main", "services.logs.main",
            "services.checkpoints.main")
ROUNDS = 8


async def measure(url: str, events: int) -> str:
    store = await EventStore.connect(url, min_size=1, max_size=2)
    try:
        for i in range(events // 10):
            await store.append(f"heap-{i}", [event() for _ in range(10)], Expected.NO_STREAM)
        await read_ours(store, events)  # warm the cache for both
        frozen, thawed = [], []
        for _ in range(ROUNDS):
            gc.unfreeze()
            thawed.append(await read_ours(store, events))
            freeze_startup_heap()
            frozen.append(await read_ours(store, events))
        print(f"# tracked objects: {gc.get_freeze_count()} frozen", flush=True)
        return report("read_all in a service's heap, frozen vs thawed", statistics.median(frozen),
                      statistics.median(thawed))
    finally:
        await store.close()


async def run(events: int) -> str:
    for name in SERVICES:
        importlib.import_module(name)
    with infrastructure(nats=False) as infra:
        async with scratch_database(infra.database_url) as url:
            return await measure(url, events)


def main(argv: Sequence[str] | None = None) -> str:
    return asyncio.run(run(parse_args(argv).events))


if __name__ == "__main__":
    main()
