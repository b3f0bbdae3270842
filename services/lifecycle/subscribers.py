"""Reactions to studio events from JetStream: a start or stop request hands the studio to the session runner.

A durable pull consumer shared by every lifecycle process. The runner re-reads the studio before acting, so a
redelivered or stale message does nothing; work that a crash interrupted is picked up by the reconciler.
"""

from __future__ import annotations

from typing import Any

from faststream import AckPolicy
from faststream.nats import ConsumerConfig, JStream, NatsBroker, NatsMessage, PullSub

from libs.bus.streams import DEFAULT, Topology
from libs.contracts.studio import StudioStartRequested, StudioStopRequested
from services.lifecycle.runner import SessionRunner

DURABLE = "lifecycle-sessions"


def register(broker: NatsBroker, runner: SessionRunner, topology: Topology = DEFAULT) -> None:
    @broker.subscriber(
        f"{topology.events_prefix}.studio.>",
        stream=JStream(name=topology.events_stream, declare=False),
        durable=DURABLE,
        # A long poll returns as soon as a message arrives; a short one races nats-py 2.16's own deadline check,
        # which raises a TimeoutError FastStream 0.7 does not suppress (logged and retried).
        pull_sub=PullSub(batch_size=50, timeout=2.0),
        config=ConsumerConfig(max_deliver=20, ack_wait=60),
        ack_policy=AckPolicy.NACK_ON_ERROR,
    )
    async def on_studio_event(body: dict[str, Any], msg: NatsMessage) -> None:
        event_type = msg.headers.get("Studios-Event-Type")
        if event_type == StudioStartRequested.event_type:
            runner.start(body["session_id"], int(body["run"]))
        elif event_type == StudioStopRequested.event_type:
            runner.stop(body["session_id"], int(body["run"]))
