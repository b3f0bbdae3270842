"""Command glue for webhook endpoints: ids, the secret (kept in ``webhooks.secrets``, never in an event), the
address check (it needs DNS, so it is not the aggregate's), ``execute``."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from libs.contracts.webhook import stream_name
from libs.eventstore import EventStore, execute
from services.gateway.domain import webhook as wh
from services.gateway.handlers.identity import meta
from services.gateway.handlers.resources import new_resource_id
from services.gateway.read import webhooks as q
from services.gateway.webhooks import signing
from services.gateway.webhooks.addresses import Resolver, system_resolver, target


async def _run(store: EventStore, webhook_id: str, cmd: wh.Command, actor: str) -> int | None:
    done = await execute(store, stream_name(webhook_id), cmd, wh.decide, wh.evolve, wh.INITIAL,
                         metadata=meta(actor))
    return done.position


async def register(store: EventStore, *, workspace_id: int, url: str, event_types: Sequence[str],
                   description: str | None, actor: str, now: datetime, allow_private: bool,
                   resolve: Resolver = system_resolver) -> tuple[str, str, int | None]:
    """``(webhook id, secret, position)``. The secret is saved before the event: an endpoint is never without one."""
    webhook_id = new_resource_id()
    cmd = wh.RegisterWebhook(webhook_id, str(workspace_id), url, event_types, description, now, actor)
    wh.decide(wh.INITIAL, cmd)  # bad input is a 400 before anything is stored or resolved
    await target(wh.checked_url(url), allow_private, resolve)
    secret = signing.new_secret()
    await q.save_secret(store.pool, webhook_id, secret)
    return webhook_id, secret, await _run(store, webhook_id, cmd, actor)


async def change(store: EventStore, *, webhook_id: str, actor: str, now: datetime, allow_private: bool,
                 url: str | None = None, event_types: Sequence[str] | None = None,
                 description: str | None = None, enabled: bool | None = None,
                 resolve: Resolver = system_resolver) -> int | None:
    if url is not None:
        await target(wh.checked_url(url), allow_private, resolve)
    cmd = wh.ChangeWebhook(webhook_id, now, actor, url, event_types, description, enabled)
    return await _run(store, webhook_id, cmd, actor)


async def disable(store: EventStore, *, webhook_id: str, reason: str, actor: str, now: datetime) -> int | None:
    return await _run(store, webhook_id, wh.DisableWebhook(webhook_id, reason, now, actor), actor)


async def delete(store: EventStore, *, webhook_id: str, actor: str, now: datetime) -> int | None:
    return await _run(store, webhook_id, wh.DeleteWebhook(webhook_id, now, actor), actor)
