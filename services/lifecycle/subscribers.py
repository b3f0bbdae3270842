"""Reactions to studio events from JetStream: a start or stop request hands the studio to the session runner.

One durable pull consumer per event type the runner acts on, filtered by subject, shared by every lifecycle
process. The runner re-reads the studio before acting, so a redelivered or stale message does nothing; work that
a crash interrupted is picked up by the reconciler.

Each fetch asks for one message: nats-py's long poll, once a first message arrived, waits for the rest of a
larger batch until the pull request expires, which delayed starts by up to the poll time.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from faststream import AckPolicy
from faststream.nats import ConsumerConfig, JStream, NatsBroker, PullSub

from libs.bus.streams import DEFAULT, Topology
from libs.contracts.events import Event
from libs.contracts.studio import StudioStartRequested, StudioStopRequested
from services.lifecycle.sessions.runner import SessionRunner


def register(broker: NatsBroker, runner: SessionRunner, topology: Topology = DEFAULT) -> None:
    _react(broker, topology, StudioStartRequested, runner.start)
    _react(broker, topology, StudioStopRequested, runner.stop)

    # A build's end wakes the start waiting for it (``sessions/builds.py``). Core NATS, every process: a missed
    # message costs that start one poll, so nothing durable is needed.
    @broker.subscriber(f"{topology.events_prefix}.build.*")
    async def on_build(body: dict[str, Any]) -> None:
        if runner.builds is not None and "build_id" in body:
            runner.builds.notify(str(body["build_id"]))


def _react(broker: NatsBroker, topology: Topology, event: type[Event], act: Callable[[str, int], None]) -> None:
    @broker.subscriber(
        f"{topology.events_prefix}.studio.{event.event_type}",
        stream=JStream(name=topology.events_stream, declare=False),
        durable=f"lifecycle-{event.event_type}",
        pull_sub=PullSub(batch_size=1, timeout=5.0),
        config=ConsumerConfig(max_deliver=20, ack_wait=60),
        ack_policy=AckPolicy.NACK_ON_ERROR,
    )
    async def on_event(body: dict[str, Any]) -> None:
        act(body["session_id"], int(body["run"]))
