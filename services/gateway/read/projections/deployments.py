"""The deployments projection: every run of a studio (a session run) into ``read.deployments_v<n>``, one row per
``(session_id, run)``: who started it, with what template and resources, its status and the usage it recorded.

Studio events are applied in stream order: ``read.deployment_streams_v<n>`` remembers the position applied per
studio, a replay is skipped, and a gap raises ``StreamGap`` (parked, the studio's later events held), as the studios
projection does. Only the facts of a run are kept here; the studio itself is the studios projection's.
"""

from __future__ import annotations

import asyncpg

from libs.contracts import studio as ev
from libs.contracts.events import registry
from libs.eventstore import RecordedEvent
from libs.eventstore.subscription import Handler, StreamGap
from services.gateway.read.projections.base import Projection

NAME = "deployments"

_INSERT = """INSERT INTO {d} (session_id, run, user_id, template, cpu, memory, status, created_at, updated_at,
        position) VALUES ($1, $2, $3, $4, $5, $6, 'starting', $7, $7, $8) ON CONFLICT (session_id, run) DO NOTHING"""
_SET = "UPDATE {d} SET {assignments}, updated_at = $3, position = $4 WHERE session_id = $1 AND run = $2"


def tables(version: int) -> tuple[str, str]:
    return f"read.deployments_v{version}", f"read.deployment_streams_v{version}"


async def _applied(conn: asyncpg.Connection, streams: str, session_id: str) -> int:
    v = await conn.fetchval(f"SELECT version FROM {streams} WHERE session_id = $1 FOR UPDATE", session_id)
    return -1 if v is None else int(v)


async def apply(conn: asyncpg.Connection, d: str, streams: str, event: RecordedEvent) -> None:
    session_id = event.stream_name.split("-", 1)[1]
    applied = await _applied(conn, streams, session_id)
    if applied >= event.stream_position:
        return
    if event.stream_position != applied + 1:
        raise StreamGap(event.stream_name, applied, event.stream_position)
    e = registry.load(event.event_type, event.schema_version, event.data)
    await _fold(conn, d, e, session_id, event.global_position)
    await conn.execute(f"""INSERT INTO {streams} (session_id, version) VALUES ($1, $2)
                           ON CONFLICT (session_id) DO UPDATE SET version = $2""", session_id, event.stream_position)


async def _fold(conn: asyncpg.Connection, d: str, e: object, session_id: str, position: int) -> None:
    if isinstance(e, ev.StudioStartRequested):
        c = e.configuration
        await conn.execute(_INSERT.format(d=d), session_id, e.run, e.actor, e.template.repository, c.cpu, c.memory,
                           e.at, position)
        return
    if not isinstance(e, (ev.StudioBuildStarted, ev.StudioBuildSucceeded, ev.StudioBuildFailed,
                          ev.StudioSessionRunning, ev.StudioStartFailed, ev.StudioStopRequested,
                          ev.StudioSessionStopped)):
        return  # nothing a run shows changes
    key = (session_id, e.run, e.at, position)
    if isinstance(e, ev.StudioBuildStarted):
        await _set(conn, d, key, "status = 'building'")
    elif isinstance(e, ev.StudioBuildSucceeded):
        await _set(conn, d, key, "status = 'starting'")
    elif isinstance(e, ev.StudioBuildFailed):
        await _set(conn, d, key, "status = 'buildFailed', message = $5", e.message)
    elif isinstance(e, ev.StudioSessionRunning):
        await _set(conn, d, key, "status = 'running', message = NULL")
    elif isinstance(e, ev.StudioStartFailed):
        await _set(conn, d, key, "status = 'errored', message = $5", e.message)
    elif isinstance(e, ev.StudioStopRequested):
        if not e.force:
            await _set(conn, d, key, "status = 'stopping'")
    else:
        usage = e.usage
        await _set(conn, d, key, "status = $5, message = $6, max_memory_mb = $7, max_cpu_millicores = $8",
                   "errored" if e.errored else "stopped", e.message,
                   float(usage.peak_memory_mb) if usage else None,
                   float(usage.peak_cpu_millicores) if usage else None)


async def _set(conn: asyncpg.Connection, d: str, key: tuple[object, ...], assignments: str, *args: object) -> None:
    await conn.execute(_SET.format(d=d, assignments=assignments), *key, *args)


def handler(version: int) -> Handler:
    d, streams = tables(version)

    async def handle(conn: asyncpg.Connection, event: RecordedEvent) -> None:
        if event.category == ev.CATEGORY:
            await apply(conn, d, streams, event)

    return handle


DEPLOYMENTS = Projection(
    name=NAME,
    categories=(ev.CATEGORY,),
    handler=handler,
    create_sql="SELECT read.create_deployments_tables($1)",
    serve_sql="SELECT read.serve_deployments_tables($1)",
    tables=("deployments", "deployment_streams"),
)
