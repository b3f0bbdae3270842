"""Versioned projections: which table version serves, a runner that follows it, and read-your-writes waits.

A projection's tables are ``read.<table>_v<n>`` behind views ``read.<table>``; ``read.projection_versions`` says
which ``n`` serves. Each version has its own checkpoint (``<name>_v<n>``), so a rebuild into ``n+1`` runs from
position zero beside the serving one, and after the swap the runner simply follows the new checkpoint.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import cast

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from libs.eventstore import EventStore, Position, Subscription
from libs.eventstore.subscription import Handler, idle
from services.gateway.read import Db, consistency

log = logging.getLogger("studios.gateway.projections")

Conn = asyncpg.Connection | PoolConnectionProxy


def plain(conn: Conn) -> asyncpg.Connection:
    """A pooled connection where ``libs.eventstore`` is typed for a plain one (it works with both)."""
    return cast(asyncpg.Connection, conn)


@dataclass(frozen=True)
class Projection:
    name: str
    categories: tuple[str, ...]
    #: ``version -> handler`` writing that version's tables
    handler: Callable[[int], Handler]
    #: SQL functions ``(version int)`` that create a version's tables and point the views at one
    create_sql: str
    serve_sql: str
    tables: tuple[str, ...]

    def checkpoint(self, version: int) -> str:
        return f"{self.name}_v{version}"


async def active_version(conn: Db, name: str) -> int:
    v = await conn.fetchval("SELECT active FROM read.projection_versions WHERE name = $1", name)
    return int(v) if v is not None else 1


def subscription(store: EventStore, projection: Projection, version: int, **options: float) -> Subscription:
    return Subscription(store, projection.checkpoint(version), projection.handler(version),
                        categories=projection.categories, service="gateway", **options)  # type: ignore[arg-type]


_WAKE: dict[str, asyncio.Event] = {}


def _wake_event(name: str) -> asyncio.Event:
    return _WAKE.setdefault(name, asyncio.Event())


def wake(projection: Projection) -> None:
    """Tell this process's runner of ``projection`` that something was just written: no need to wait for the
    next poll. Read-your-writes waits call it, so a client's own write shows up in a few milliseconds."""
    _wake_event(projection.name).set()


async def run(store: EventStore, projection: Projection, stop: asyncio.Event,
              poll_min: float = 0.02, poll_max: float = 0.1, **options: float) -> None:
    """Follow the serving version until ``stop``; after a rebuild swaps versions, follow the new one. One
    ``Subscription`` per version is kept, with the back-off of an event that fails."""
    woken = _wake_event(projection.name)
    subscriptions: dict[int, Subscription] = {}
    delay = poll_min
    while not stop.is_set():
        backoff: float | None = None
        try:
            version = await active_version(store.pool, projection.name)
            sub = subscriptions.get(version)
            if sub is None:
                sub = subscriptions[version] = subscription(store, projection, version, **options)
            if await sub.run_once():
                delay = poll_min
                continue
            delay = min(delay * 2, poll_max)
            backoff = sub.retry_in()
        except Exception:
            log.exception("projection %s failed; retrying", projection.name)
            delay = poll_max
        if backoff is not None:  # a wake-up must not cut a back-off short
            await idle(stop, None, backoff)
        else:
            await idle(stop, woken, delay)


@dataclass
class Follower:
    """``run(stop)`` for one projection, e.g. in a service's lifespan."""

    store: EventStore
    projection: Projection
    options: dict[str, float] = field(default_factory=dict)

    async def run(self, stop: asyncio.Event) -> None:
        await run(self.store, self.projection, stop, **self.options)


async def wait_for_position(pool: asyncpg.Pool, projection: Projection, position: int | None,
                            within: float = 5.0) -> bool:
    """Wake the projection, then wait (bounded) until its serving version has passed ``position``."""
    if position is None:
        return True
    wake(projection)

    async def serving() -> str:  # re-read each poll: a rebuild may swap versions while a client waits
        return projection.checkpoint(await active_version(pool, projection.name))

    if await consistency.wait_for(pool, serving, position, categories=projection.categories, timeout=within):
        return True
    log.warning("projection %s has not reached %s after %.1fs", projection.name, position, within)
    return False


async def lag(conn: Db, categories: Sequence[str], after: Position) -> int:
    """How many events of these categories a reader at ``after`` has yet to apply (below the horizon)."""
    n = await conn.fetchval(
        """SELECT count(*) FROM es.events WHERE category = ANY($1::text[])
              AND (tx_id, global_position) > ($2::xid8, $3::bigint)
              AND tx_id < pg_snapshot_xmin(pg_current_snapshot())""",
        list(categories), after.tx_id, after.global_position)
    return int(n)
