"""The studios projection: studio events folded with the shared ``evolve`` into ``read.studios_v<n>``, and
workspace Studios settings into ``read.workspace_studio_settings_v<n>``.

Each row keeps the whole folded ``State`` as JSON (the DTO is built from it at read time) plus indexed columns for
filtering. The row remembers the stream position it has applied, so a replayed event is skipped, and an event
that does not follow it (a gap: an earlier one was parked or discarded) raises ``StreamGap``: the subscription
parks it and holds the studio's later events, so the row never shows position N+1 folded over a missing N. An
unknown event type raises as well (tried, backed off, parked; ``studios parked list``).
"""

from __future__ import annotations

from typing import Any

import asyncpg

from libs.contracts import studio, studio_settings
from libs.contracts.events import registry
from libs.contracts.studio_settings import StudioWorkspaceSettingsChanged
from libs.contracts.studio_state import INITIAL, State, evolve
from libs.eventstore import RecordedEvent
from libs.eventstore.subscription import Handler, StreamGap
from services.gateway.read.projections.base import Projection

NAME = "studios"


def studios_table(version: int) -> str:
    return f"read.studios_v{version}"


def settings_table(version: int) -> str:
    return f"read.workspace_studio_settings_v{version}"


_UPSERT = """INSERT INTO {t} (session_id, workspace_id, user_id, name, status, compute_env_id, template_url,
        is_private, deleted, created, updated, version, position, state)
 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
 ON CONFLICT (session_id) DO UPDATE SET workspace_id = $2, user_id = $3, name = $4, status = $5,
        compute_env_id = $6, template_url = $7, is_private = $8, deleted = $9, created = $10, updated = $11,
        version = $12, position = $13, state = $14"""


async def apply_studio(conn: asyncpg.Connection, table: str, event: RecordedEvent) -> None:
    row = await conn.fetchrow(f"SELECT version, state FROM {table} WHERE session_id = $1 FOR UPDATE",
                              event.stream_name.split("-", 1)[1])
    applied = row["version"] if row is not None else -1  # a studio's stream starts with StudioCreated at 0
    if applied >= event.stream_position:
        return  # already applied
    if event.stream_position != applied + 1:
        # an event in between is missing (parked, discarded): never fold over the hole
        raise StreamGap(event.stream_name, applied, event.stream_position)
    state = State.model_validate(row["state"]) if row is not None else INITIAL
    state = evolve(state, registry.load(event.event_type, event.schema_version, event.data))
    if not state.exists:
        return  # an event before the studio was created: nothing to show
    await conn.execute(_UPSERT.format(t=table), *_columns(state), event.stream_position, event.global_position,
                       state.model_dump(mode="json"))


def _columns(s: State) -> tuple[Any, ...]:
    return (s.session_id, s.workspace_id, s.user_id, s.name, s.status.value if s.status else None,
            s.compute_env_id, s.template.repository if s.template else None, s.is_private, s.deleted,
            s.created_at, s.updated_at)


async def apply_settings(conn: asyncpg.Connection, table: str, event: RecordedEvent) -> None:
    e = registry.load(event.event_type, event.schema_version, event.data)
    if not isinstance(e, StudioWorkspaceSettingsChanged):
        return
    await conn.execute(
        f"""INSERT INTO {table} (workspace_id, org_id, lifespan_hours, private_studio_by_default,
                   container_repository, name_strategy, updated, version)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
            ON CONFLICT (workspace_id) DO UPDATE SET org_id = $2, lifespan_hours = $3,
                   private_studio_by_default = $4, container_repository = $5, name_strategy = $6, updated = $7,
                   version = $8
            WHERE {table}.version < $8""",
        e.workspace_id, e.org_id, e.lifespan_hours, e.private_studio_by_default, e.container_repository,
        e.name_strategy, e.at, event.stream_position)


def handler(version: int) -> Handler:
    studios, settings = studios_table(version), settings_table(version)

    async def handle(conn: asyncpg.Connection, event: RecordedEvent) -> None:
        if event.category == studio.CATEGORY:
            await apply_studio(conn, studios, event)
        elif event.category == studio_settings.CATEGORY:
            await apply_settings(conn, settings, event)

    return handle


STUDIOS = Projection(
    name=NAME,
    categories=(studio.CATEGORY, studio_settings.CATEGORY),
    handler=handler,
    create_sql="SELECT read.create_studios_tables($1)",
    serve_sql="SELECT read.serve_studios_tables($1)",
    tables=("studios", "workspace_studio_settings"),
)
