"""What the composition root starts for webhooks: the fan-out subscription and the delivery worker; and the
options the routes need (``app.state.webhooks``)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field

import httpx

from libs.eventstore import EventStore
from libs.platform.clock import Clock
from libs.platform.clock import now as wall_clock
from services.gateway.handlers import webhooks as h
from services.gateway.webhooks.addresses import Resolver, system_resolver
from services.gateway.webhooks.fanout import fanout
from services.gateway.webhooks.schedule import SCHEDULE, Jitter, proportional_jitter
from services.gateway.webhooks.worker import DeliveryWorker, http_client


@dataclass(frozen=True)
class WebhookOptions:
    #: STUDIOS_WEBHOOKS_ALLOW_PRIVATE: receivers on loopback and private addresses (tests, a trusted network)
    allow_private: bool = False
    resolve: Resolver = system_resolver
    schedule: Sequence[float] = SCHEDULE
    jitter: Jitter = field(default_factory=proportional_jitter)
    clock: Clock = wall_clock
    poll: float = 0.5


def tasks(store: EventStore, options: WebhookOptions, stop: asyncio.Event,
          http: httpx.AsyncClient | None = None) -> list[asyncio.Task[None]]:
    """Start both; they end when ``stop`` is set (the worker closes the client it made)."""
    client = http or http_client()

    async def disable(webhook_id: str, reason: str) -> None:
        await h.disable(store, webhook_id=webhook_id, reason=reason, actor="webhooks", now=options.clock())

    worker = DeliveryWorker(store.pool, disable, client, allow_private=options.allow_private,
                            schedule=options.schedule, jitter=options.jitter, clock=options.clock,
                            resolve=options.resolve, poll=options.poll)

    async def deliver() -> None:
        try:
            await worker.run(stop)
        finally:
            if http is None:
                await client.aclose()

    return [asyncio.create_task(fanout(store, poll_max=options.poll).run(stop), name="webhooks-fanout"),
            asyncio.create_task(deliver(), name="webhooks-deliveries")]
