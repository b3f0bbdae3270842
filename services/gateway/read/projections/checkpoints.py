"""The checkpoints projection: checkpoint events into ``read.checkpoints_v<n>``, one row per checkpoint.

Each event is applied by plain SQL (the gateway does not import the checkpoints service's aggregate), in stream
order: a row remembers the stream position it has applied, a replay is skipped, and a gap raises ``StreamGap``
(the subscription parks the event and holds the checkpoint's later ones), as the studios projection does.
"""

from __future__ import annotations

import asyncpg

from libs.contracts import checkpoint as ev
from libs.contracts.events import registry
from libs.eventstore import RecordedEvent
from libs.eventstore.subscription import Handler, StreamGap
from services.gateway.read.projections.base import Projection

NAME = "checkpoints"


def table(version: int) -> str:
    return f"read.checkpoints_v{version}"


_INSERT = """INSERT INTO {t} (checkpoint_id, session_id, workspace_id, run, name, status, author_id, path,
        restored_from, date_created, date_saved, version, position)
 VALUES ($1, $2, $3, $4, $5, 'empty', $6, $7, $8, $9, $9, $10, $11) ON CONFLICT (checkpoint_id) DO NOTHING"""

_SET = "UPDATE {t} SET {assignments}, version = $2, position = $3 WHERE checkpoint_id = $1"


async def apply(conn: asyncpg.Connection, t: str, event: RecordedEvent) -> None:
    e = registry.load(event.event_type, event.schema_version, event.data)
    if not isinstance(e, ev.CheckpointEvent):
        return
    applied = await conn.fetchval(f"SELECT version FROM {t} WHERE checkpoint_id = $1 FOR UPDATE", e.checkpoint_id)
    applied = -1 if applied is None else int(applied)
    if applied >= event.stream_position:
        return
    if event.stream_position != applied + 1:
        raise StreamGap(event.stream_name, applied, event.stream_position)
    pos = (e.checkpoint_id, event.stream_position, event.global_position)
    if isinstance(e, ev.CheckpointCreated):
        await conn.execute(_INSERT.format(t=t), e.checkpoint_id, e.session_id, e.workspace_id, e.run, e.name,
                           e.author_id, e.path, e.restored_from, e.at, event.stream_position, event.global_position)
    elif isinstance(e, ev.CheckpointSaved):
        await _set(conn, t, pos, "status = $4, saved = true, size = $5, file_count = $6, date_saved = $7, "
                   "message = NULL", e.status.value, e.size, e.file_count, e.at)
    elif isinstance(e, ev.CheckpointSaveFailed):
        await _set(conn, t, pos, "status = CASE WHEN saved THEN status ELSE 'invalid' END, message = $4", e.message)
    elif isinstance(e, ev.CheckpointInvalidated):
        await _set(conn, t, pos, "status = 'invalid', message = $4", e.message)
    elif isinstance(e, ev.CheckpointRenamed):
        await _set(conn, t, pos, "name = $4", e.name)
    elif isinstance(e, ev.CheckpointDeleted):
        await _set(conn, t, pos, "deleted = true")
    else:  # restored: nothing shown changes, the position still moves
        await _set(conn, t, pos, "deleted = deleted")


async def _set(conn: asyncpg.Connection, t: str, pos: tuple[int, int, int], assignments: str, *args: object) -> None:
    await conn.execute(_SET.format(t=t, assignments=assignments), *pos, *args)


def handler(version: int) -> Handler:
    t = table(version)

    async def handle(conn: asyncpg.Connection, event: RecordedEvent) -> None:
        await apply(conn, t, event)

    return handle


CHECKPOINTS = Projection(
    name=NAME,
    categories=(ev.CATEGORY,),
    handler=handler,
    create_sql="SELECT read.create_checkpoints_tables($1)",
    serve_sql="SELECT read.serve_checkpoints_tables($1)",
    tables=("checkpoints",),
)
