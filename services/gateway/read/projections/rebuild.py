"""Blue/green rebuilds of a projection, and its status (``studios projections status|rebuild <name>``).

``rebuild`` creates version ``n+1`` of the tables, replays every event of the projection's categories into them
under checkpoint ``<name>_v<n+1>`` while version ``n`` keeps serving, then in one transaction points the views at
``n+1``. The running projection (``base.run``) reads the serving version before every batch, so it moves to the new
checkpoint by itself. The previous version is kept for a rollback; older ones are dropped.
"""

from __future__ import annotations

from libs.contracts.errors import Conflict, NotFound
from libs.eventstore import EventStore, parked
from libs.eventstore import checkpoints as cps
from libs.eventstore.projections import ProjectionStatus
from services.gateway.read.projections import PROJECTIONS
from services.gateway.read.projections.base import Projection, active_version, lag, plain, subscription

_LOCK = "SELECT pg_advisory_xact_lock(hashtext('projection:' || $1))"


def _projection(name: str) -> Projection:
    try:
        return PROJECTIONS[name]
    except KeyError:
        raise NotFound(f"unknown projection {name!r}; known: {', '.join(sorted(PROJECTIONS))}") from None


async def _start(store: EventStore, p: Projection) -> tuple[int, int]:
    async with store.pool.acquire() as conn, conn.transaction():
        await conn.execute(_LOCK, p.name)
        row = await conn.fetchrow("SELECT active, building FROM read.projection_versions WHERE name = $1 FOR UPDATE",
                                  p.name)
        if row is None:
            raise NotFound(f"projection {p.name!r} has no tables yet (migrations not applied?)")
        if row["building"] is not None:
            raise Conflict(f"projection {p.name!r} is already being rebuilt into version {row['building']}")
        old = int(row["active"])
        new = old + 1
        for table in p.tables:
            await conn.execute(f"DROP TABLE IF EXISTS read.{table}_v{new}")
        await conn.execute(p.create_sql, new)
        await conn.execute("UPDATE read.projection_versions SET building = $2 WHERE name = $1", p.name, new)
        await cps.reset(plain(conn), p.checkpoint(new))
        await conn.execute("DELETE FROM es.parked WHERE consumer = $1", p.checkpoint(new))  # of an earlier try
    return old, new


async def _swap(store: EventStore, p: Projection, old: int, new: int) -> None:
    async with store.pool.acquire() as conn, conn.transaction():
        await conn.execute(_LOCK, p.name)
        await conn.execute(p.serve_sql, new)
        for table in p.tables:
            await conn.execute(f"DROP TABLE IF EXISTS read.{table}_v{old - 1}")
        await conn.execute("DELETE FROM es.checkpoints WHERE name = $1", p.checkpoint(old - 1))
        await conn.execute("DELETE FROM es.parked WHERE consumer = $1", p.checkpoint(old - 1))


async def _abandon(store: EventStore, p: Projection) -> None:
    await store.pool.execute("UPDATE read.projection_versions SET building = NULL WHERE name = $1", p.name)


async def rebuild(store: EventStore, name: str) -> ProjectionStatus:
    """Rebuild ``name`` from position zero into a new table version, then swap it in; returns the new status."""
    p = _projection(name)
    old, new = await _start(store, p)
    try:
        sub = subscription(store, p, new)
        await sub.catch_up()
        await sub.catch_up()  # what was appended during the first pass
        await _swap(store, p, old, new)
    except BaseException:
        await _abandon(store, p)
        raise
    return await _status_of(store, p)


async def _status_of(store: EventStore, p: Projection) -> ProjectionStatus:
    async with store.pool.acquire() as conn:
        version = await active_version(conn, p.name)
        building = await conn.fetchval("SELECT building FROM read.projection_versions WHERE name = $1", p.name)
        cp = await cps.load(plain(conn), p.checkpoint(version))
        behind = await lag(conn, p.categories, cp.position)
        held = await parked.count(conn, cp.name)
    return ProjectionStatus(p.name, version, building, cp.name, cp.position, behind, held, cp.error, cp.updated_at,
                            cp.paused)


async def status(store: EventStore, name: str | None = None) -> list[ProjectionStatus]:
    """Every projection (or one) with its serving version, checkpoint, lag (events still to apply), parked events
    and last error."""
    names = [name] if name else sorted(PROJECTIONS)
    return [await _status_of(store, _projection(n)) for n in names]
