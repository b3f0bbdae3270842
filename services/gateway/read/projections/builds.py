"""The builds projection: the template registry (``template-*``) into ``read.templates_v<n>`` and
``read.template_versions_v<n>``, and builds (``build-*``) into ``read.builds_v<n>``. Operations are read from the
builds: ``read.operations_v<n>`` has one row per attempt of a build (its handle, ``operation_id``).

Each row remembers the stream position it applied: a replay is skipped, a gap raises ``StreamGap`` (parked, the
stream's later events held), as in the studios projection.
"""

from __future__ import annotations

from typing import Any

import asyncpg

from libs.contracts import build, template
from libs.contracts.events import Event, registry
from libs.eventstore import RecordedEvent
from libs.eventstore.subscription import Handler, StreamGap
from services.gateway.read.projections.base import Projection

NAME = "builds"


def operation_id(build_id: str, attempt: int) -> str:
    return f"build-{build_id}-{attempt}"


def _applied(row: asyncpg.Record | None, event: RecordedEvent) -> bool:
    """True when this event was applied already; a gap before it raises."""
    applied = int(row["stream_version"]) if row is not None else -1
    if applied >= event.stream_position:
        return True
    if event.stream_position != applied + 1:
        raise StreamGap(event.stream_name, applied, event.stream_position)
    return False


async def apply_template(conn: asyncpg.Connection, version: int, event: RecordedEvent) -> None:
    e = registry.load(event.event_type, event.schema_version, event.data)
    if not isinstance(e, template.TemplateRegistered | template.TemplateVersionAdded):
        return
    row = await conn.fetchrow(f"SELECT stream_version FROM read.templates_v{version} WHERE template_id = $1 "
                              "FOR UPDATE", e.template_id)
    if _applied(row, event):
        return
    definition = e.definition.model_dump(mode="json")  # the pool's codec encodes jsonb
    await conn.execute(
        f"""INSERT INTO read.templates_v{version} (template_id, repository, version, definition, created, updated,
                   stream_version) VALUES ($1, $2, $3, $4, $5, $5, $6)
            ON CONFLICT (template_id) DO UPDATE SET repository = $2, version = $3, definition = $4,
                   updated = $5, stream_version = $6""",
        e.template_id, e.definition.repository, e.version, definition, e.at, event.stream_position)
    await conn.execute(f"""INSERT INTO read.template_versions_v{version} (template_id, version, definition, actor,
                                  created) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING""",
                       e.template_id, e.version, definition, e.actor, e.at)


_INSERT_BUILD = """INSERT INTO read.builds_v{v} (build_id, key, status, attempt, spec, platform, template_id,
       requested_for, created, requested, stream_version, position)
 VALUES ($1, $2, 'queued', $3, $4, $5, $6, $7, $8, $8, $9, $10)
 ON CONFLICT (build_id) DO UPDATE SET status = 'queued', attempt = $3, spec = $4, platform = $5,
       requested = $8, artifact = NULL, message = NULL, duration_seconds = NULL, started = NULL, finished = NULL,
       stream_version = $9, position = $10"""


def _update(e: Event) -> tuple[str, list[Any]] | None:
    """The columns an event after ``BuildRequested`` sets, as ``(SET clause, values from $3 on)``."""
    if isinstance(e, build.BuildStarted):
        return "status = 'running', started = $3", [e.at]
    if isinstance(e, build.BuildSucceeded):
        return ("status = 'succeeded', finished = $3, artifact = $4, builds = builds + 1",
                [e.at, e.artifact.model_dump()])
    if isinstance(e, build.BuildFailed):
        return "status = 'failed', finished = $3, message = $4, builds = builds + 1", [e.at, e.message]
    if isinstance(e, build.BuildCancelled):
        return "status = 'cancelled', finished = $3, message = $4", [e.at, e.reason or "cancelled"]
    return None


async def apply_build(conn: asyncpg.Connection, version: int, event: RecordedEvent) -> None:
    e = registry.load(event.event_type, event.schema_version, event.data)
    if not isinstance(e, build.BuildEvent):
        return
    table = f"read.builds_v{version}"
    row = await conn.fetchrow(f"SELECT stream_version FROM {table} WHERE build_id = $1 FOR UPDATE", e.build_id)
    if _applied(row, event):
        return
    operations = f"read.operations_v{version}"
    if isinstance(e, build.BuildRequested):
        await conn.execute(_INSERT_BUILD.format(v=version), e.build_id, e.key, e.attempt,
                           e.spec.model_dump(mode="json"), e.platform, e.template_id, e.requested_for,
                           e.at, event.stream_position, event.global_position)
        await conn.execute(f"""INSERT INTO {operations} (operation_id, kind, build_id, attempt, status, created)
                               VALUES ($1, 'build', $2, $3, 'queued', $4) ON CONFLICT DO NOTHING""",
                           operation_id(e.build_id, e.attempt), e.build_id, e.attempt, e.at)
        return
    if row is None:
        return  # a report before any request: nothing to show
    change = _update(e)
    if change is not None:  # a report about another attempt changes nothing but the row's position
        clause, values = change
        attempt = getattr(e, "attempt", 0)
        await conn.execute(f"UPDATE {table} SET {clause} WHERE build_id = $1 AND attempt = $2",
                           e.build_id, attempt, *values)
        await conn.execute(f"UPDATE {operations} SET {clause.replace(', builds = builds + 1', '')} "
                           "WHERE build_id = $1 AND attempt = $2", e.build_id, attempt, *values)
    duration = e.duration_seconds if isinstance(e, build.BuildSucceeded) else None
    await conn.execute(f"""UPDATE {table} SET stream_version = $2, position = $3,
                                  duration_seconds = coalesce($4, duration_seconds) WHERE build_id = $1""",
                       e.build_id, event.stream_position, event.global_position, duration)


def handler(version: int) -> Handler:
    async def handle(conn: asyncpg.Connection, event: RecordedEvent) -> None:
        if event.category == template.CATEGORY:
            await apply_template(conn, version, event)
        elif event.category == build.CATEGORY:
            await apply_build(conn, version, event)

    return handle


BUILDS = Projection(
    name=NAME,
    categories=(template.CATEGORY, build.CATEGORY),
    handler=handler,
    create_sql="SELECT read.create_builds_tables($1)",
    serve_sql="SELECT read.serve_builds_tables($1)",
    tables=("templates", "template_versions", "builds", "operations"),
)
