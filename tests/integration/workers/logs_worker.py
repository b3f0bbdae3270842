"""The logs service in its own process, on a test's private streams, for kill tests:
``python -m tests.integration.workers.logs_worker --database-url … --nats-url … --tag …``."""

from __future__ import annotations

import argparse
import asyncio
import signal

from libs.bus.streams import Topology
from services.logs.main import create_app
from services.logs.settings import LogsSettings


async def main(ns: argparse.Namespace) -> None:
    topology = Topology(events_stream=ns.events_stream, events_prefix=ns.events_prefix,
                        replay_stream=ns.replay_stream, replay_prefix=ns.replay_prefix,
                        logs_stream=ns.logs_stream, logs_prefix=ns.logs_prefix, logs_max_bytes=ns.logs_max_bytes)
    settings = LogsSettings(DATABASE_URL=ns.database_url, NATS_URL=ns.nats_url, STUDIOS_LOGS_BATCH=ns.batch,
                            STUDIOS_LOGS_ACK_WAIT_SECONDS=ns.ack_wait)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    print("worker started", flush=True)
    await create_app(settings, topology).run(stop)


def args_for(topology: Topology) -> list[str]:
    return ["--events-stream", topology.events_stream, "--events-prefix", topology.events_prefix,
            "--replay-stream", topology.replay_stream, "--replay-prefix", topology.replay_prefix,
            "--logs-stream", topology.logs_stream, "--logs-prefix", topology.logs_prefix,
            "--logs-max-bytes", str(topology.logs_max_bytes)]


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    for name in ("database-url", "nats-url", "events-stream", "events-prefix", "replay-stream", "replay-prefix",
                 "logs-stream", "logs-prefix"):
        p.add_argument(f"--{name}", required=True)
    p.add_argument("--logs-max-bytes", type=int, required=True)
    p.add_argument("--batch", type=int, default=2000)
    p.add_argument("--ack-wait", type=float, default=30.0)
    asyncio.run(main(p.parse_args()))
