"""Events to deliveries: a subscription over every category, exactly once with its checkpoint.

In one transaction with the checkpoint (``libs/eventstore/subscription.py``) it applies the endpoints' own events
to ``webhooks.endpoints`` and enqueues a delivery of every other event to each enabled endpoint of its workspace
whose filter wants it. Because both follow commit order, an endpoint receives exactly the events committed after
its registration. No network here: sending is the worker's (DESIGN §2).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import orjson

from libs.contracts.webhook import CATEGORY
from libs.eventstore import EventStore, Subscription
from libs.eventstore.types import RecordedEvent
from services.gateway.read import webhooks as q

NAME = "gateway.webhooks"

_APPLY: dict[str, Callable[[Any, dict[str, Any], Any], Awaitable[None]]] = {
    "WebhookRegistered": q.apply_registered,
    "WebhookChanged": q.apply_changed,
    "WebhookDisabled": q.apply_disabled,
    "WebhookDeleted": q.apply_deleted,
}


def body(e: RecordedEvent) -> str:
    """A delivery's body: the event as published on the bus, data and envelope in one JSON object."""
    return orjson.dumps({
        "type": e.event_type, "id": str(e.event_id), "timestamp": e.recorded_at.isoformat(),
        "schemaVersion": e.schema_version, "stream": e.stream_name, "streamPosition": e.stream_position,
        "globalPosition": e.global_position, "data": e.data, "metadata": e.metadata,
    }).decode()


def _named_workspace(data: dict[str, Any]) -> str | None:
    value = data.get("workspace_id", data.get("workspaceId"))
    return None if value is None or isinstance(value, (dict, list)) else str(value)


async def handle(conn: asyncpg.Connection, e: RecordedEvent) -> None:
    if e.category == CATEGORY:
        apply = _APPLY.get(e.event_type)
        if apply is not None:
            await apply(conn, e.data, e.recorded_at)
        return  # never delivered: a 410's own WebhookDisabled would be sent to the endpoints it disables
    workspace = await q.workspace_of(conn, e.stream_name, _named_workspace(e.data))
    if workspace is not None:
        await q.enqueue(conn, workspace, e.event_id, e.event_type, e.global_position, body(e))


def fanout(store: EventStore, **options: Any) -> Subscription:
    # ordered=False: a delivery depends on no earlier event of its stream, so one bad event holds back no other.
    return Subscription(store, NAME, handle, service="gateway", ordered=False, **options)
