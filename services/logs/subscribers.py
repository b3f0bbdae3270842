"""Reactions to studio events: a deleted studio's log lines are deleted with it (durable consumer, idempotent)."""

from __future__ import annotations

from typing import Any

import asyncpg
from faststream import AckPolicy
from faststream.nats import ConsumerConfig, JStream, NatsBroker, PullSub

from libs.bus.streams import Topology
from libs.contracts.studio import StudioDeleted
from services.logs.handlers import forget


def register(broker: NatsBroker, pool: asyncpg.Pool, topology: Topology) -> None:
    @broker.subscriber(
        f"{topology.events_prefix}.studio.{StudioDeleted.event_type}",
        stream=JStream(name=topology.events_stream, declare=False),
        durable=f"logs-{StudioDeleted.event_type}",
        pull_sub=PullSub(batch_size=1, timeout=5.0),
        config=ConsumerConfig(max_deliver=20, ack_wait=60),
        ack_policy=AckPolicy.NACK_ON_ERROR,
    )
    async def on_deleted(body: dict[str, Any]) -> None:
        await forget(pool, "session", str(body["session_id"]))
